"""``fmgw customize``: start, follow, list and stop runs of the model customization workflow (issue 24)."""
