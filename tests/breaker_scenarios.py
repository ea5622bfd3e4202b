"""One scenario table for the circuit breaker, run against every executor of its rules.

Settings: threshold 3 failures in a 60 s window, 30 s cooldown, 1 half-open probe at a time,
2 probe successes to close. Each step: (seconds since start, event, expected decision or None,
expected state afterwards). Events: ``admit`` (expects allow/probe/skip), ``fail``, ``ok``.
"""

SETTINGS = {
    "failureThreshold": 3,
    "windowSeconds": 60,
    "cooldownSeconds": 30,
    "halfOpenMaxProbes": 1,
    "successesToClose": 2,
    "probeLeaseSeconds": 20,
    "stateCacheSeconds": 0,
}

SCENARIOS = {
    "opens at threshold and skips while open": [
        (0, "admit", "allow", "CLOSED"),
        (0, "fail", None, "CLOSED"),
        (1, "fail", None, "CLOSED"),
        (2, "fail", None, "OPEN"),
        (3, "admit", "skip", "OPEN"),
        (31, "admit", "skip", "OPEN"),
    ],
    "failures outside the window do not add up": [
        (0, "fail", None, "CLOSED"),
        (1, "fail", None, "CLOSED"),
        (61, "fail", None, "CLOSED"),
        (62, "fail", None, "CLOSED"),
        (63, "fail", None, "OPEN"),
    ],
    "half-open admits one probe, closes after enough successes": [
        (0, "fail", None, "CLOSED"),
        (0, "fail", None, "CLOSED"),
        (0, "fail", None, "OPEN"),
        (30, "admit", "probe", "HALF_OPEN"),
        (30, "admit", "skip", "HALF_OPEN"),
        (31, "ok", None, "HALF_OPEN"),
        (31, "admit", "probe", "HALF_OPEN"),
        (32, "ok", None, "CLOSED"),
        (32, "admit", "allow", "CLOSED"),
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
    "successes while closed change nothing": [
        (0, "fail", None, "CLOSED"),
        (1, "ok", None, "CLOSED"),
        (2, "fail", None, "CLOSED"),
        (3, "fail", None, "OPEN"),
    ],
}
