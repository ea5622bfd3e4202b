"""``make test-clients``: the client libraries people bring, each in a virtual environment of its own (their pins
conflict), against local mode over real HTTP (issue 20).

For each folder here with a ``requirements.txt``: a venv under ``.venv-clients/<client>-<hash of its requirements>``
(made once, reused while the requirements do not change, older ones removed), then ``pytest`` of that folder with
that venv's interpreter. Local mode runs twice, from the project's ``.venv``: over HTTP, and over HTTPS
(``FMGW_TLS=1``) for the clients that send a bearer token, which botocore sends only over HTTPS. The clients'
tests read ``FMGW_URL``, ``FMGW_API_KEY``, ``FMGW_TLS_URL`` and ``FMGW_TLS_CA_FILE``; no AWS credentials are set,
and ``LITELLM_LOCAL_MODEL_COST_MAP=True`` keeps litellm from fetching its price map from the internet when imported.

``python clients/run.py [client ...]`` runs some; ``--list`` names them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENVS = ROOT / ".venv-clients"
READY_LINE = "Ctrl-C stops everything"


def clients() -> list[str]:
    return sorted(path.parent.name for path in HERE.glob("*/requirements.txt"))


def venv_for(client: str) -> Path:
    """The client's venv, made if its requirements changed (pip output kept quiet unless it fails)."""
    requirements = HERE / client / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()[:12]
    venv = VENVS / f"{client}-{digest}"
    python = venv / "bin" / "python"
    if (venv / ".installed").exists():
        return python
    for old in VENVS.glob(f"{client}-*"):
        shutil.rmtree(old, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run([*pip, "-r", str(requirements)], capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        raise SystemExit(f"{client}: pip install failed\n{done.stdout}\n{done.stderr}")
    (venv / ".installed").touch()
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalMode:
    """``python -m local`` on a free port, until ``stop``."""

    def __init__(self, scratch: Path, tls: bool):
        self.port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "FMGW_LOCAL_STATE_FILE": str(scratch / f"state-{self.port}.json")}
        env.pop("FMGW_LOCAL_API_KEY", None)
        self.ca_file = scratch / "ca.pem" if tls else None
        if tls:
            env.update(FMGW_TLS="1", FMGW_TLS_CA_FILE=str(self.ca_file))
        self.process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "python"), "-m", "local", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        ready = threading.Event()

        def read() -> None:
            for line in self.process.stdout or ():
                self.lines.append(line)
                if READY_LINE in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(90):
            self.process.kill()
            raise SystemExit("local mode did not start:\n" + "".join(self.lines))
        banner = "".join(self.lines)
        self.key = re.findall(r"(fmgw-local-[\w-]+) \(plan", banner)[0]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def client_environment(plain: LocalMode, tls: LocalMode, scratch: Path) -> dict[str, str]:
    # the clients' own knobs (FMGW_SCHEMATHESIS_EXAMPLES, FMGW_SCHEMATHESIS_LOG) pass through; no other FMGW_ or AWS_
    kept = ("FMGW_SCHEMATHESIS_",)
    env = {
        key: value
        for key, value in os.environ.items()
        if key.startswith(kept) or not key.startswith(("AWS_", "OPENAI_", "FMGW_"))
    }
    env.update(
        FMGW_URL=plain.url,
        FMGW_API_KEY=plain.key,
        FMGW_TLS_URL=tls.url,
        FMGW_TLS_CA_FILE=str(tls.ca_file),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        AWS_CONFIG_FILE=str(scratch / "no-aws-config"),  # no profile, no credentials: the clients must not need them
        AWS_SHARED_CREDENTIALS_FILE=str(scratch / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clients/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="clients to run (default: all)")
    parser.add_argument("--list", action="store_true", help="name the clients and stop")
    args = parser.parse_args(argv)
    known = clients()
    if args.list:
        print("\n".join(known))
        return 0
    unknown = sorted(set(args.names) - set(known))
    if unknown:
        print(f"unknown client(s): {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    chosen = args.names or known
    VENVS.mkdir(exist_ok=True)
    started = time.perf_counter()
    pythons = {client: venv_for(client) for client in chosen}  # before local mode: installs can take minutes
    print(f"client venvs ready in {time.perf_counter() - started:.0f} s", flush=True)
    results: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="fmgw-clients-") as scratch_dir:
        scratch = Path(scratch_dir)
        plain, tls = LocalMode(scratch, tls=False), LocalMode(scratch, tls=True)
        try:
            env = client_environment(plain, tls, scratch)
            for client in chosen:
                began = time.perf_counter()
                print(f"\n=== {client} ===", flush=True)
                done = subprocess.run(
                    [str(pythons[client]), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE / client)],
                    cwd=HERE / client,
                    env=env,
                )
                results.append((client, done.returncode, time.perf_counter() - began))
        finally:
            plain.stop()
            tls.stop()
    print("\n| client | result | seconds |\n|---|---|---|")
    for client, code, seconds in results:
        print(f"| {client} | {'passed' if code == 0 else f'FAILED ({code})'} | {seconds:.1f} |")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
