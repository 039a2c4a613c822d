"""Publish: copy what the gate passed from `audit` to `marts` in one transaction."""
