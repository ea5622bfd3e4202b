"""The OpenAI Chat Completions surface: translation in and out, each direction in one pass.

``request`` translates an OpenAI body into the gateway's Converse-shaped ``ChatRequest`` (plus a ``Translation``: what
the answer needs); ``answer`` translates the Converse answer, whole or streamed, into ``chat.completion`` or
``chat.completion.chunk`` events, with usage and the gateway's headers. Both use ``structured_output``
(``response_format`` and ``strict`` tools); ``fields`` is the table of OpenAI fields and the refusals it implies;
``json_schema`` is a small JSON Schema checker. Imports go one way: ``answer`` uses ``request`` and
``structured_output``; ``request`` uses ``fields``, ``structured_output`` and ``json_schema``; ``structured_output``
uses ``json_schema``, a leaf.

The package sits above ``fmgateway.core``: it may use ``core``, ``routing``, ``health``, ``converse``, ``config`` and
``values``; never ``fmgateway.aws``, boto3, botocore or aws_lambda_powertools (the handlers bring those).
"""
