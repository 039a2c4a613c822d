"""Access: the warehouse's roles and grants, analysts' province scopes, and `nhandao query`."""
