"""Conversations: follow-up questions made to stand alone (issue 80)."""
