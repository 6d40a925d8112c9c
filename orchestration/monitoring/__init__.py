"""Watching the vault itself: freshness checks on every source and mart, and `vault doctor`."""
