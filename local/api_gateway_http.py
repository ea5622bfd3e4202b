"""The local API Gateway's HTTP/1.1 front: the standard library's server and parsing, with every failure answered in
the error contract's shape (``{"error": {"message", "type", "param", "code", "requestId"}}``, with ``x-request-id``)
instead of an HTML page or a silent close:
malformed request lines, headers and bodies (400), bodies over API Gateway's payload limit (413), oversized headers
(431), a body that never arrives (408); request framing as RFC 9112 requires (Content-Length or chunked), and
responses written whole or, for a streamed function response, chunked as they come."""

from __future__ import annotations

import email.errors
import json
import socket
import ssl
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fmgateway.aws.http import LARGE_INPUT_HINT, REQUEST_ID_HEADER
from fmgateway.values.errors import error_object

MAX_PAYLOAD = 10 * 1024 * 1024  # API Gateway's payload limit
ERROR_CODES = {  # the gateway's code per status (the type is OpenAI's for the status)
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    411: "invalid_request",
    413: "request_too_large",
    414: "request_too_large",
    431: "request_too_large",
    502: "internal_error",
}


def error_payload(status: int, code: str, message: str, request_id: str) -> bytes:
    """A body in the error contract's shape, the message also at the top level where botocore reads it (as the
    stack's gateway responses: ``infra/constructs/gateway_responses.py``, whose ``param`` is always null too)."""
    return json.dumps({"error": error_object(status, code, message, request_id), "message": message}).encode()


HEX_DIGITS = b"0123456789abcdefABCDEF"
HEADER_DEFECTS = (
    email.errors.MissingHeaderBodySeparatorDefect,  # a line without a colon
    email.errors.FirstHeaderLineIsContinuationDefect,
    email.errors.HeaderDefect,  # the parser's defects of one header's value
)


def _header_problem(headers) -> str | None:
    """What RFC 9112 refuses in a header section that the standard library's parser lets through."""
    # Only defects of the header section itself: the email parser also reports MIME body defects for a multipart/*
    # content type (no start boundary: it never sees the body), which say nothing about the header lines.
    if any(isinstance(defect, HEADER_DEFECTS) for defect in headers.defects):
        return "malformed header line (a line without a colon, or a continuation line)"
    for name, value in headers.items():
        if not name or name != name.strip() or any(c in name for c in " \t"):
            return f"malformed header name {name[:40]!r}"
        if any(c in value for c in "\x00\r\n"):
            return f"header {name[:40]}: control characters are not allowed in a value"
    return None


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 refuses connections under a burst
    tls: ssl.SSLContext | None = None  # FMGW_TLS (local/tls.py)

    def get_request(self):
        """With TLS, each accepted connection is wrapped here and its handshake done on the first read, in the
        connection's own thread: a client that never completes one cannot hold up the accept loop."""
        connection, address = super().get_request()
        if self.tls is not None:
            connection = self.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        return connection, address


class GatewayHttpHandler(BaseHTTPRequestHandler):
    """The standard library's HTTP/1.1 parsing with every failure answered in the error contract's shape; a subclass
    answers the requests themselves (``respond_to``)."""

    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.0"  # so that an error before the version is known still has a status line
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall
    server_version = "fmgw-local"
    sys_version = ""

    def respond_to(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        raise NotImplementedError

    def handle_one_request(self) -> None:
        """The standard loop, but every method goes to ``_serve`` (unknown ones too: the router answers
        405), and blank lines between keep-alive requests are skipped as RFC 9112 allows."""
        try:
            self._responded = False
            self.raw_requestline = self.rfile.readline(65537)
            for _ in range(4):
                if self.raw_requestline not in (b"\r\n", b"\n"):
                    break
                self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if len(self.raw_requestline) > 65536:
                self.requestline, self.request_version, self.command = "", "", ""
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG, explain="request line longer than 64 KiB")
                return
            if not self.parse_request():
                return
            self._serve()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True
            if not self._responded:  # a request line, headers or body that stopped arriving: 408, never silence
                if not getattr(self, "command", None):
                    self.requestline, self.request_version, self.command = "", self.default_request_version, ""
                self.send_error(HTTPStatus.REQUEST_TIMEOUT, explain="the request did not arrive in time")
        except (ConnectionError, OSError):
            self.close_connection = True  # the client went away: nobody to answer

    def parse_request(self) -> bool:
        ok = super().parse_request()
        parts = self.requestline.split(" ")
        # HTTP/0.9 ("GET /"), tabs or runs of spaces, or a path that is not absolute: API Gateway refuses them too
        if ok and (len(parts) != 3 or not parts[1].startswith("/")):
            self.send_error(HTTPStatus.BAD_REQUEST, explain="malformed request line: expected METHOD /PATH HTTP/1.1")
            return False
        if ok and (problem := _header_problem(self.headers)):
            self.send_error(HTTPStatus.BAD_REQUEST, explain=problem)
            return False
        if not ok and not self._responded:  # an empty request line: the standard library closes silently
            self.send_error(HTTPStatus.BAD_REQUEST, explain="malformed request line: expected METHOD PATH HTTP/1.1")
        return ok

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """JSON instead of the standard library's HTML page; the connection closes after it."""
        self._responded = True
        self.close_connection = True
        # an unsupported HTTP version is the client's error: 400, not 505, so that no bad input is a 5xx
        status = 400 if int(code) == HTTPStatus.HTTP_VERSION_NOT_SUPPORTED else int(code)
        detail = explain or message or HTTPStatus(status).phrase
        request_id = str(uuid.uuid4())
        payload = error_payload(status, ERROR_CODES.get(status, "invalid_request"), detail, request_id)
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id, REQUEST_ID_HEADER: request_id}
        self._write(status, headers, payload)

    def _write(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self._responded = True
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has the headers of the body it does not carry
            self.wfile.write(payload)
        self.wfile.flush()
        if self.close_connection:
            self._discard_unread()

    def _discard_unread(self) -> None:
        """Read what the client is still sending before closing: closing a socket with unread data
        resets the connection, and the client may lose the answer it has not read yet."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            for _ in range(256):  # at most 16 MiB
                if not self.connection.recv(65536):
                    break
        except OSError:
            pass

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except _BadRequest as err:
            self.send_error(err.status, explain=err.message)
            return
        path, _, query = self.path.partition("?")
        headers = {name: value for name, value in self.headers.items()}
        try:
            status, out_headers, payload = self.respond_to(self.command, path, query, headers, body)
        except Exception as exc:  # the router itself failed: still an answer in the error shape
            print(f"[local] {self.command} {path}: {exc!r}", flush=True)
            self.send_error(HTTPStatus.BAD_GATEWAY, explain="Internal server error")
            return
        if isinstance(payload, bytes):
            self._write(status, out_headers, payload)
        else:
            self._write_stream(status, out_headers, payload)

    def _write_stream(self, status: int, headers: dict[str, str], chunks) -> None:
        """A streamed function response, as API Gateway passes it on: chunked, each chunk as soon as it comes. A client
        that leaves breaks the write; closing ``chunks`` then tells the function."""
        self._responded = True
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in chunks:
                if chunk:
                    self.wfile.write(b"%X\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _read_body(self) -> bytes:
        """Framing as RFC 9112 §6 requires of a server, refused rather than guessed."""
        encodings = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if encodings:
            if lengths:
                raise _BadRequest(400, "Content-Length and Transfer-Encoding together are ambiguous")
            if [e.strip().lower() for e in ",".join(encodings).split(",")] != ["chunked"]:
                # RFC 9112 suggests 501, but the request is the client's to fix: a 4xx, as every bad input here
                raise _BadRequest(400, "only Transfer-Encoding: chunked is supported")
            return self._read_chunked()
        if len(lengths) > 1:
            raise _BadRequest(400, "more than one Content-Length header")
        if not lengths:
            return b""
        value = lengths[0].strip()
        if not value.isascii() or not value.isdigit():
            raise _BadRequest(400, f"Content-Length must be a non-negative integer, not {value[:20]!r}")
        if len(value) > 12 or int(value) > MAX_PAYLOAD:
            raise _BadRequest(413, f"Request Too Long: the limit is {MAX_PAYLOAD} bytes; {LARGE_INPUT_HINT}")
        length = int(value)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise _BadRequest(400, f"the body ended after {len(body)} of {length} bytes")
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(1024)
            size_text = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not size_text or len(size_text) > 8 or size_text.strip(HEX_DIGITS):
                raise _BadRequest(400, "malformed chunk size line")  # hex digits only: int() would take -5, +5, 0x5
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _BadRequest(400, "malformed chunk size line") from None
            if size == 0:
                for _ in range(100):  # trailers, ignored
                    if self.rfile.readline(65537) in (b"\r\n", b"\n", b""):
                        return bytes(body)
                raise _BadRequest(431, "too many trailer fields")
            if len(body) + size > MAX_PAYLOAD:
                raise _BadRequest(413, f"Request Too Long: the limit is {MAX_PAYLOAD} bytes; {LARGE_INPUT_HINT}")
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BadRequest(400, "truncated or malformed chunk")
            body += chunk

    def log_message(self, format, *args):  # quiet: the handler logs requests
        pass
