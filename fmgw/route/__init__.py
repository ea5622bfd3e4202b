"""``fmgw route``: the router, offline (``score``: the ``auto`` decision for JSON-lines prompts)."""
