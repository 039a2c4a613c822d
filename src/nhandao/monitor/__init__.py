"""Monitor: reporting completeness, each province's state, the status page and alerts."""
