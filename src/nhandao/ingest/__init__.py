"""Ingest: load submission files (CSV, the Excel form, narrative reports) from the landing folder
into `raw`, each file once, rejecting bad rows and files with reports that say why."""
