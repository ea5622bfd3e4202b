"""Failure isolation (README "Failure isolation"): one table of requests, run against every executor of the
candidate loop (the Lambda path's ``Gateway.run`` and the routing state machine).

A failure that follows the request rather than the model must not open breakers for every caller: when a model
fails a request with ModelErrorException (424) and the next model fails it the same way, the request ends with 502
and neither failure counts. Throttling, 5xx and timeouts count every time. Each row: the outcome of each candidate
of the medium tier in order (an error code, or ``ok``), the status the caller gets, and the failures then recorded
on each candidate's breaker.
"""

MEDIUM = ("claude-sonnet-4-5", "nova-pro", "llama4-maverick")
MODEL_ERROR, UNAVAILABLE, THROTTLED = "ModelErrorException", "ServiceUnavailableException", "ThrottlingException"

ISOLATION = {
    "two 424s in a row: 502, neither counts": ((MODEL_ERROR, MODEL_ERROR, "ok"), 502, (0, 0, 0)),
    "a 424 then an answer: the 424 was the model's": ((MODEL_ERROR, "ok", "ok"), 200, (1, 0, 0)),
    "a 424 then a 503: both count": ((MODEL_ERROR, UNAVAILABLE, "ok"), 200, (1, 1, 0)),
    "a 503, then two 424s: only the 503 counts": ((UNAVAILABLE, MODEL_ERROR, MODEL_ERROR), 502, (1, 0, 0)),
    "throttling counts": ((THROTTLED, "ok", "ok"), 200, (1, 0, 0)),
    "a 424 on the last candidate counts": ((UNAVAILABLE, UNAVAILABLE, MODEL_ERROR), 503, (1, 1, 1)),
}
