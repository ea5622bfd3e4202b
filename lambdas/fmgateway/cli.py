"""Command-line client for async jobs: submit prompts to a gateway, watch them, collect the results.

    python -m fmgateway.cli jobs --url URL --key KEY --prompt "Summarise ..." [--prompt ...]
    python -m fmgateway.cli jobs --url URL --key KEY --file prompts.jsonl --out results.jsonl

Each line of a JSONL file is either ``{"prompt": "...", "metadata": {...}}`` or a full ``POST /v1/chat``
body. Every submit carries an ``Idempotency-Key`` derived from the line, so running the same file again
picks up the same jobs instead of running them twice. Exit code: 0 when every job succeeded, 1 when any
failed or was cancelled, 2 on a usage or connection error, 3 when polling timed out.
(A client tool: it needs ``httpx``, which the Lambda functions never import.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


def _bodies(args) -> list[dict]:
    lines: list[str] = []
    if args.file:
        lines = [line for line in Path(args.file).read_text().splitlines() if line.strip()]
    bodies = []
    for number, line in enumerate(lines, 1):
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"{args.file}:{number}: not JSON ({exc.msg})") from None
        bodies.append(item)
    bodies += [{"prompt": prompt} for prompt in args.prompt or []]
    out = []
    for item in bodies:
        if "messages" not in item:
            if not isinstance(item.get("prompt"), str) or not item["prompt"]:
                raise SystemExit(f"each item needs 'prompt' or 'messages': {json.dumps(item)[:80]}")
            body = {"messages": [{"role": "user", "content": [{"text": item["prompt"]}]}]}
            if "metadata" in item:
                body["metadata"] = item["metadata"]
        else:
            body = dict(item)
        for field in ("tier", "model"):
            if getattr(args, field) and field not in body:
                body[field] = getattr(args, field)
        out.append(body)
    if not out:
        raise SystemExit("nothing to submit: give --prompt or --file")
    return out


def _progress(done: int, failed: int, total: int, stream) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    stream.write(f"\r[{'#' * filled}{'-' * (width - filled)}] {done}/{total} done, {failed} failed")
    stream.flush()


def run_jobs(args) -> int:
    import httpx

    bodies = _bodies(args)
    client = httpx.Client(base_url=args.url.rstrip("/"), headers={"x-api-key": args.key}, timeout=30)
    jobs: list[dict] = []
    try:
        for body in bodies:
            key = hashlib.sha256((args.key_prefix + json.dumps(body, sort_keys=True)).encode()).hexdigest()[:40]
            response = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": key})
            if response.status_code != 202:
                print(f"submit failed ({response.status_code}): {response.text}", file=sys.stderr)
                return 1 if response.status_code < 500 else 2
            jobs.append({"input": body, **response.json()})
        deadline = time.monotonic() + args.timeout
        states: dict[str, dict] = {}
        while True:
            for job in jobs:
                if states.get(job["jobId"], {}).get("status") in TERMINAL:
                    continue
                response = client.get(job["statusUrl"])
                response.raise_for_status()
                states[job["jobId"]] = response.json()
            done = sum(1 for s in states.values() if s["status"] in TERMINAL)
            failed = sum(1 for s in states.values() if s["status"] in ("FAILED", "CANCELLED"))
            if not args.quiet:
                _progress(done, failed, len(jobs), sys.stderr)
            if done == len(jobs):
                break
            if time.monotonic() > deadline:
                if not args.quiet:
                    sys.stderr.write("\n")
                print(f"timed out after {args.timeout} s with {len(jobs) - done} jobs unfinished", file=sys.stderr)
                return 3
            time.sleep(args.poll_interval)
        if not args.quiet:
            sys.stderr.write("\n")
        out = open(args.out, "w") if args.out else sys.stdout  # noqa: SIM115 - closed below unless stdout
        try:
            for job in jobs:
                state = states[job["jobId"]]
                result = state.get("result")
                if result is None and state.get("resultUrl"):
                    result = httpx.get(state["resultUrl"], timeout=30).json()
                text = None
                if result:
                    text = "".join(block.get("text", "") for block in result["output"]["message"]["content"])
                record = {
                    "jobId": job["jobId"],
                    "status": state["status"],
                    "input": job["input"],
                    "text": text,
                    "result": result,
                    "error": state.get("error"),
                }
                out.write(json.dumps(record) + "\n")
        finally:
            if out is not sys.stdout:
                out.close()
        unsuccessful = [job["jobId"] for job in jobs if states[job["jobId"]]["status"] != "SUCCEEDED"]
        print(f"{len(jobs) - len(unsuccessful)} succeeded, {len(unsuccessful)} failed", file=sys.stderr)
        return 1 if unsuccessful else 0
    except httpx.HTTPError as exc:
        print(f"cannot reach the gateway at {args.url}: {exc}", file=sys.stderr)
        return 2
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmgateway.cli", description="FM Gateway client")
    commands = parser.add_subparsers(dest="command", required=True)
    jobs = commands.add_parser("jobs", help="submit prompts as async jobs, wait, write results JSONL")
    jobs.add_argument("--url", default=os.environ.get("FMGW_URL", "http://127.0.0.1:8080"))
    jobs.add_argument("--key", default=os.environ.get("FMGW_API_KEY"), help="API key (or FMGW_API_KEY)")
    jobs.add_argument("--prompt", action="append", help="a prompt; repeat for several")
    jobs.add_argument("--file", help="JSONL: one {'prompt': ...} or chat body per line")
    jobs.add_argument("--tier", choices=("simple", "medium", "complex"))
    jobs.add_argument("--model")
    jobs.add_argument("--out", help="results JSONL (default: stdout)")
    jobs.add_argument("--poll-interval", type=float, default=1.0)
    jobs.add_argument("--timeout", type=float, default=900)
    jobs.add_argument("--key-prefix", default="", help="change it to run the same prompts again as new jobs")
    jobs.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.key:
        parser.error("an API key is required: --key or FMGW_API_KEY")
    return run_jobs(args)


if __name__ == "__main__":
    sys.exit(main())
