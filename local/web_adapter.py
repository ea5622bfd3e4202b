"""What the AWS Lambda Web Adapter does for the streaming function, on one machine: the function's ASGI app runs in
uvicorn (as ``run.sh`` starts it in Lambda), and each API Gateway proxy event is forwarded to it as a plain HTTP
request with API Gateway's ``requestContext`` in the ``x-amzn-request-context`` header. The response comes back
chunk by chunk for the local API Gateway to pass on as it arrives; closing it (the client left) closes the
connection to the app, which stops the upstream read.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

# hop-by-hop or framing headers: each side of the adapter frames its own connection
NOT_FORWARDED = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "expect", "te", "upgrade"}
NOT_RETURNED = NOT_FORWARDED | {"date", "server"}  # the local API Gateway sets its own
READ_TIMEOUT_SECONDS = 330  # the stream budget's upper end plus margin: the app ends every stream itself


class StreamingFunction:
    """The streaming function (``handlers.streaming_app``) behind a local Web Adapter; call it like a Lambda handler."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host, self.port = host, 0
        self.server: Any = None
        self.thread: threading.Thread | None = None

    def start(self) -> StreamingFunction:
        import uvicorn

        from handlers.streaming_app import app

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, name="streaming-function", daemon=True)
        self.thread.start()
        for _ in range(500):  # uvicorn starts in well under a second
            if self.server.started:
                break
            threading.Event().wait(0.01)
        else:
            raise RuntimeError("the streaming function's server did not start")
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.server = self.thread = None

    def __call__(self, event: dict, context: Any) -> dict[str, Any]:
        headers = {name: value for name, value in (event.get("headers") or {}).items() if name.lower() not in NOT_FORWARDED}
        headers["x-amzn-request-context"] = json.dumps(event.get("requestContext") or {})
        body = (event.get("body") or "").encode("utf-8")
        connection = http.client.HTTPConnection(self.host, self.port, timeout=READ_TIMEOUT_SECONDS)
        connection.request(event["httpMethod"], event["path"], body=body, headers=headers)
        response = connection.getresponse()
        out_headers = {name: value for name, value in response.getheaders() if name.lower() not in NOT_RETURNED}
        if response.getheader("content-length") is not None:  # a plain response: whole, as API Gateway sends it
            payload = response.read()
            connection.close()
            return {"statusCode": response.status, "headers": out_headers, "body": payload}
        return {"statusCode": response.status, "headers": out_headers, "body": _chunks(response, connection)}


def _chunks(response: http.client.HTTPResponse, connection: http.client.HTTPConnection) -> Iterator[bytes]:
    try:
        while chunk := response.read1(65536):
            yield chunk
    finally:
        connection.close()
