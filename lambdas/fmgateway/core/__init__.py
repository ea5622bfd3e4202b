"""The loop: a request prepared into a plan of candidates (``prepared``), tried in order behind their breakers with a
pluggable invocation step (``gateway``), outcomes told to the breakers (``outcomes``), how ``auto`` picks a tier
with a model call (``auto_tier``), the state machine's step-by-step form of the same loop (``orchestration``),
streams (``streaming``) and the last-good-answer cache (``cache``).

May use ``routing``, ``health``, ``converse``, ``config`` and ``values``; adapters reach it through ports.
"""
