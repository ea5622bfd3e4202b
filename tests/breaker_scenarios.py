"""One scenario table for the circuit breaker, run against every executor of its rules.

Settings: the breaker opens when at least 3 calls of the recent window (the newest 10 s bucket, the two newest ...
the whole 60 s) fail at a rate of 50 % or more; 30 s cooldown, 1 half-open probe at a time, 2 probe successes to
close; the per-key cap at 0.5; ``rateConfidence`` 50, the observed rate as it is, so that each row's arithmetic is
plain (the confidence bound on the rate, default 95, has its own tests in tests/unit/test_breaker_confidence.py).
``HEALTH`` is the configuration's ``health`` section (10 s buckets). Each step: (seconds since start, event, expected
decision or None, expected state afterwards). Events: ``admit`` (expects allow/probe/skip), ``fail``, ``ok``, each by
API key ``t`` unless the event names another (``fail:a``).
The scenario's clock starts on a bucket boundary. A closing probe answers in the second it was admitted: the state
machine records a success at the time its Invoke state was entered (its clock inside a task), the Python executor at
the time the call ends, and closing starts the window at that time. Slow-call rows (``slowCallMs``) are in
tests/unit/test_breaker.py only: the state machine measures real latency, which a held call in the conformance harness
cannot set; it records each success's latency through the same ``Gateway.record_success`` as the Lambda path.
"""

SETTINGS = {
    "failureRateThreshold": 50,
    "minimumCalls": 3,
    "rateConfidence": 50,
    "windowSeconds": 60,
    "cooldownSeconds": 30,
    "halfOpenMaxProbes": 1,
    "successesToClose": 2,
    "probeLeaseSeconds": 20,
    "stateCacheSeconds": 0,
    "maxKeyShare": 0.5,
}
DEFAULT_KEY = "t"


def event_key(event: str) -> tuple[str, str]:
    """``fail:a`` -> (``fail``, ``a``); a bare event is by ``DEFAULT_KEY``."""
    name, _, key = event.partition(":")
    return name, key or DEFAULT_KEY


HEALTH = {"bucketSeconds": 10, "flushIntervalSeconds": 1, "shards": 1}
BREAKER = {**SETTINGS, "health": HEALTH}  # what the core's breaker reads (GatewayConfig.breaker)

SCENARIOS = {
    "opens at the rate threshold and skips while open": [
        (0, "admit", "allow", "CLOSED"),
        (0, "fail", None, "CLOSED"),
        (1, "fail", None, "CLOSED"),
        (2, "fail", None, "OPEN"),
        (3, "admit", "skip", "OPEN"),
        (31, "admit", "skip", "OPEN"),
    ],
    "below the minimum number of calls never opens": [
        (0, "fail", None, "CLOSED"),
        (1, "fail", None, "CLOSED"),
        (2, "admit", "allow", "CLOSED"),
    ],
    "a rate under the threshold stays closed, at the threshold opens": [
        (0, "ok", None, "CLOSED"),
        (1, "ok", None, "CLOSED"),
        (2, "ok", None, "CLOSED"),
        (3, "fail", None, "CLOSED"),
        (4, "ok", None, "CLOSED"),
        (5, "fail", None, "CLOSED"),
        (6, "fail", None, "CLOSED"),
        (7, "fail", None, "OPEN"),
    ],
    "successes in the window dilute the rate": [
        (0, "ok", None, "CLOSED"),
        (1, "ok", None, "CLOSED"),
        (2, "fail", None, "CLOSED"),
        (3, "fail", None, "OPEN"),
    ],
    "failures outside the window do not add up": [
        (0, "fail", None, "CLOSED"),
        (1, "fail", None, "CLOSED"),
        (61, "fail", None, "CLOSED"),
        (62, "fail", None, "CLOSED"),
        (63, "fail", None, "OPEN"),
    ],
    "a failing recent stretch opens it despite healthy history": [
        (0, "ok", None, "CLOSED"),
        (1, "ok", None, "CLOSED"),
        (2, "ok", None, "CLOSED"),
        (3, "ok", None, "CLOSED"),
        (4, "ok", None, "CLOSED"),
        (5, "ok", None, "CLOSED"),
        (10, "fail", None, "CLOSED"),
        (11, "fail", None, "CLOSED"),
        (12, "fail", None, "OPEN"),
    ],
    "half-open admits one probe, closes after enough successes": [
        (0, "fail", None, "CLOSED"),
        (0, "fail", None, "CLOSED"),
        (0, "fail", None, "OPEN"),
        (30, "admit", "probe", "HALF_OPEN"),
        (30, "admit", "skip", "HALF_OPEN"),
        (31, "ok", None, "HALF_OPEN"),
        (31, "admit", "probe", "HALF_OPEN"),
        (31, "ok", None, "CLOSED"),
        (32, "admit", "allow", "CLOSED"),
    ],
    "closing starts a fresh window: the failures that opened it no longer count": [
        (0, "fail", None, "CLOSED"),
        (0, "fail", None, "CLOSED"),
        (0, "fail", None, "OPEN"),
        (30, "admit", "probe", "HALF_OPEN"),
        (31, "ok", None, "HALF_OPEN"),
        (32, "admit", "probe", "HALF_OPEN"),
        (32, "ok", None, "CLOSED"),
        (33, "fail", None, "CLOSED"),
        (34, "fail", None, "OPEN"),
    ],
    "a failed probe reopens for a new cooldown": [
        (0, "fail", None, "CLOSED"),
        (0, "fail", None, "CLOSED"),
        (0, "fail", None, "OPEN"),
        (30, "admit", "probe", "HALF_OPEN"),
        (31, "fail", None, "OPEN"),
        (50, "admit", "skip", "OPEN"),
        (61, "admit", "probe", "HALF_OPEN"),
    ],
    "a probe that never reports back frees its slot after the lease": [
        (0, "fail", None, "CLOSED"),
        (0, "fail", None, "CLOSED"),
        (0, "fail", None, "OPEN"),
        (30, "admit", "probe", "HALF_OPEN"),
        (40, "admit", "skip", "HALF_OPEN"),
        (51, "admit", "probe", "HALF_OPEN"),
    ],
    # The per-key cap isolates a caller, never a model's only caller.
    "one key failing alone opens it: the model's only caller": [
        (0, "fail:a", None, "CLOSED"),
        (1, "fail:a", None, "CLOSED"),
        (2, "fail:a", None, "OPEN"),
        (3, "admit:a", "skip", "OPEN"),
    ],
    "one key failing while another key succeeds is capped": [
        (0, "ok:b", None, "CLOSED"),
        (0, "ok:b", None, "CLOSED"),
        (1, "fail:a", None, "CLOSED"),
        (1, "fail:a", None, "CLOSED"),
        (2, "fail:a", None, "CLOSED"),
        (2, "fail:a", None, "CLOSED"),
        (3, "fail:a", None, "CLOSED"),
        (4, "admit:b", "allow", "CLOSED"),
    ],
    "two keys both failing open it": [
        (0, "fail:a", None, "CLOSED"),
        (1, "fail:b", None, "CLOSED"),
        (2, "fail:a", None, "OPEN"),
        (3, "admit:b", "skip", "OPEN"),
    ],
}
