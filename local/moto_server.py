"""The embedded moto server of local mode, with DynamoDB requests taken one at a time.

moto's DynamoDB backend is not thread-safe: concurrent transactions fail inside it ("dictionary changed
size during iteration") and come back as HTML 500s, which local mode then had to report as 503s although
no real DynamoDB would fail that way. DynamoDB calls are short, so a lock costs little; the other
services (SQS long polls in particular) keep moto's threads.
"""

from __future__ import annotations

import threading

from moto.server import DomainDispatcherApplication, MotoRequestHandler, ThreadedMotoServer, create_backend_app
from werkzeug.serving import make_server


class SerializedDynamoDB:
    """A WSGI wrapper: each DynamoDB request runs alone, its whole response body produced under the lock."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        return [body]


class LocalMotoServer(ThreadedMotoServer):
    def _server_entry(self) -> None:
        app = SerializedDynamoDB(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()
