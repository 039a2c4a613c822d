"""Sample: realistic sample submissions for the units of Vietnam, and the demo that runs them
through the real DAGs."""
