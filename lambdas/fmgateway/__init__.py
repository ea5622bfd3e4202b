"""FM Gateway core: configuration, routing, circuit breaker, invocation with fallback, cache, cost.

Pure Python with no AWS call at import time. AWS access goes through small ports (see ``ports.py``)
whose adapters live next to the logic that uses them.
"""
