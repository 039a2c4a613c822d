"""nhandao: the humanitarian-reporting warehouse."""
