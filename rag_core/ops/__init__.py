"""Operators' work on the whole service: erasing a user everywhere, backup and restore."""
