"""The Converse request as the gateway accepts it: body validation (``validation``), the Converse fields forwarded
or answered (``fields``) and ``requestMetadata``, the tags every Bedrock call carries (``request_metadata``).

May use ``fmgateway.config`` and ``fmgateway.values``.
"""
