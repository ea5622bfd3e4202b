"""Helpers shared by the benchmarks: percentiles, tables, helper processes."""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    out = [line, "| " + " | ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True)) + " |", line]
    for row in cells[1:]:
        out.append("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    out.append(line)
    return "\n".join(out)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(args: list[str], ready_url: str, env: dict | None = None) -> subprocess.Popen:
    """Start a helper process and wait until ``ready_url`` answers."""
    process = subprocess.Popen(
        args, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(ready_url, timeout=1)
            return process
        except httpx.HTTPError:
            if process.poll() is not None:
                raise RuntimeError(f"{' '.join(args)} exited with {process.returncode}") from None
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{' '.join(args)} did not come up")


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def first_number(text: str) -> float:
    return float(re.search(r"[-\d.]+", text).group(0))


def start_backends() -> tuple[str, str, list[subprocess.Popen]]:
    """The Bedrock simulator and a moto server, each in a process of its own: their URLs and the processes."""
    sim_port, moto_port = free_port(), free_port()
    sim_url, moto_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{moto_port}"
    processes = [
        spawn(python("-m", "local.bedrock_simulator", "--port", str(sim_port)), f"{sim_url}/_sim/health"),
        spawn(python("-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)), f"{moto_url}/moto-api/"),
    ]
    return sim_url, moto_url, processes


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:  # never hide the measurement's own error behind a slow exit
            process.kill()


def bench_config() -> tuple[dict, Path]:
    """config/gateway.json with the benchmark's own usage plan (measure latency, not the throttle), written to a
    temporary file: the document and its path."""
    config = json.loads((ROOT / "config" / "gateway.json").read_text())
    config["plans"] = {"bench": {"rateLimit": 100000, "burstLimit": 100000, "quotaPerDay": 100000000}}
    config["stage"] = {"rateLimit": 100000, "burstLimit": 100000}
    path = Path(tempfile.mkdtemp()) / "gateway.json"
    path.write_text(json.dumps(config))
    return config, path


def latency_rows(
    timings: dict[str, list[float]],
    measured: list[tuple[str, str]],
    added: list[tuple[str, str]],
    percentiles: tuple[int, ...] = (50, 99),
    digits: int = 2,
    base: str = "a",
) -> list[list[str]]:
    """Rows of a latency table: each ``measured`` path's percentiles (label, key), then what each ``added`` path adds
    to the ``base`` path, percentile by percentile."""
    rows = [[label, *(f"{percentile(timings[key], p):.{digits}f}" for p in percentiles)] for label, key in measured]
    for label, key in added:
        rows.append([label, *(f"{percentile(timings[key], p) - percentile(timings[base], p):.{digits}f}" for p in percentiles)])
    return rows
