"""``make bench``: the overhead, routing-time, cold-start, cost, orchestrated, streaming, model-health-at-scale,
throttling and right-sizing tables, in one run."""

from __future__ import annotations

import argparse
import re
import sys

from bench.common import ROOT

sys.path.insert(0, str(ROOT / "lambdas"))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per path (after warm-up)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per cold-start variant")
    parser.add_argument(
        "--only",
        choices=(
            "overhead", "routing", "cold-start", "cost", "orchestrated", "streaming", "authorizer", "health-scale",
            "throttling", "rightsizing", "brownout",
        ),
    )  # fmt: skip
    parser.add_argument("--stream-requests", type=int, default=200, help="streams (and non-streamed calls) per path")
    parser.add_argument("--brownout-requests", type=int, default=600, help="requests per brownout scenario (6 per second)")
    parser.add_argument("--orchestrated-requests", type=int, default=200, help="requests of the orchestrated comparison")
    args = parser.parse_args()

    from bench import authorizer, cold_start, cost, orchestrated, overhead, rightsizing, routing, streaming, throttling

    added = 1.0
    if args.only in (None, "overhead"):
        report = overhead.run(args.requests, args.warmup)
        print(report, end="\n\n", flush=True)
        match = re.search(r"added by handler \(b-a\)\s*\|\s*([\d.-]+)", report)
        added = float(match.group(1)) if match else added
    if args.only in (None, "routing"):
        print(routing.run(args.requests), end="\n\n", flush=True)
    if args.only in (None, "cold-start"):
        print(cold_start.run(args.runs), end="\n\n", flush=True)
    if args.only in (None, "cost"):
        print(cost.run(added), end="\n\n", flush=True)
    if args.only in (None, "authorizer"):
        print(authorizer.run(args.requests), end="\n\n", flush=True)
    if args.only in (None, "orchestrated"):
        print(orchestrated.latency(args.orchestrated_requests), end="\n\n", flush=True)
        print(orchestrated.cost_table(added), end="\n\n", flush=True)
    if args.only in (None, "streaming"):
        print(streaming.run(args.stream_requests), end="\n\n", flush=True)
    if args.only in (None, "health-scale"):
        from bench import health_scale

        print(health_scale.run(), end="\n\n", flush=True)
    if args.only in (None, "throttling"):
        print(throttling.run(300), end="\n\n", flush=True)
    if args.only in (None, "rightsizing"):
        print(rightsizing.run(500), end="\n\n", flush=True)
    if args.only in (None, "brownout"):
        from bench import brownout

        print(brownout.run(args.brownout_requests))


if __name__ == "__main__":
    main()
