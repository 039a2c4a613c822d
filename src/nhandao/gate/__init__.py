"""Gate: validate the audit build with Great Expectations, per province slice, and decide what
may be published."""
