"""InvokeModel bodies of each model family, translated to and from Converse (issue 11).

Each family module translates four ways: a native request body to a Converse request (``request_to_converse``), a
Converse request to a native body (``converse_to_request``), a native response to a Converse response
(``response_to_converse``) and back (``converse_to_response``), plus ``StreamRenderer``, which turns ConverseStream
events into the family's InvokeModelWithResponseStream chunks. So a request sent in one family's shape can be answered
by another family's model and still come back in the shape the caller sent.

A Converse request here is the dict ``/v1/chat`` takes (``messages``, ``system``, ``inferenceConfig``, ``toolConfig``,
``additionalModelRequestFields``); a Converse response is ``{"output": {"message"}, "stopReason", "usage"}``.
A native field with no Converse equivalent goes to ``additionalModelRequestFields``, which only the same family can
take: ``converse_to_request`` raises ``Untranslatable`` for what the target family cannot express, and the caller drops
that candidate (or answers 400 when it was the one asked for).

Modules: ``bodies`` (what the family translations share), one module per family (``anthropic``, ``nova``, ``titan``,
``llama``, ``mistral``), ``families`` (which family a model or body is, and its module), ``invocation`` (the
``/model/{modelId}/invoke|converse`` paths through the candidate loop), ``eventstream`` (AWS event-stream frames) and
``containers`` (SageMaker chat containers' formats, issue 23).
This package sits among the request surfaces: it may use ``fmgateway.core`` and everything below it, never
``fmgateway.aws``, boto3, botocore or Powertools.
"""
