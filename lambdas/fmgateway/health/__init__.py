"""Model health: the circuit breaker (``breaker``), the live health window merged across sandboxes (``monitor``,
``stats``, the ``HealthStore`` port in ``store``) and the retry budget (``retry_budget``).

May use ``fmgateway.values`` only; the DynamoDB store and the EMF events are adapters in ``fmgateway.aws``.
"""
