"""``python -m local``: run the whole gateway locally (what ``make local`` does)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from local.environment import DEFAULT_CONFIG, STATE_FILE, LocalGateway


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("FMGW_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("FMGW_PORT", "8080")))
    parser.add_argument("--config", default=os.environ.get("FMGW_CONFIG", str(DEFAULT_CONFIG)))
    parser.add_argument("--bedrock", choices=("sim", "aws"), default=os.environ.get("BEDROCK", "sim"))
    parser.add_argument("--log-level", default=os.environ.get("FMGW_LOG_LEVEL", "WARNING"))
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        gateway = LocalGateway(args.port, args.host, args.bedrock, args.config, log_level=args.log_level).start()
    except OSError as exc:
        print(f"cannot start: {exc} (is port {args.port} in use? set FMGW_PORT)", file=sys.stderr)
        return 1
    print(gateway.banner(), flush=True)
    gateway.write_state(STATE_FILE)
    stop.wait()
    print("stopping...", flush=True)
    STATE_FILE.unlink(missing_ok=True)
    gateway.stop()
    print("stopped", flush=True)
    sys.stderr.flush()
    # The background writers (health statistics, cache) write to the embedded moto server, which has just stopped:
    # waiting for their threads at interpreter exit only waits for retries against a closed port.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
