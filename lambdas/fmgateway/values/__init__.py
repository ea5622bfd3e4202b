"""Values every layer passes around: a catalog ``Model`` (``model``), how it is invoked (``backends``), a ``Candidate``
(``candidates``), requests,
attempts and results (``exchange``), the error contract (``errors``) and the ports adapters implement (``ports``).

The bottom layer: imports nothing of the gateway's.
"""
