"""One loopback HTTP server that plays every sandboxed vendor at once.

Collectors point their `base_url` at `SandboxServer.url` and talk real HTTP to it, so the demo
and the tests exercise the same client code as production: headers, query strings, paging,
error bodies, retries. Vendors plug in through a route table (see `routing`); adding one is a
module with its own `ROUTES` merged into `DEFAULT_ROUTES`. A route's path may be a template
(`/jobs/{job_id}`); it is tried only when no exact path matches, so exact routes stay a dict
lookup.

Failures are injected per path: `server.faults[path] = [429, 500]` makes the next two requests
to that path answer those statuses in the vendor's error shape (a 429 carries a short
`Retry-After`) before normal answers resume. A queue may also hold `Fault`s, which the server
plays the same way for every vendor: `TIMEOUT` (no answer for `hold_s` seconds), `TRUNCATED`
(the normal answer cut to half its bytes), `REPEAT` (the path's previous answer once more, so a
page repeats its cursor) and `RESET` (the connection reset before an answer); and `None`, which
lets one request through, so that `[None, Fault.RESET]` breaks the second page of a list.
Every request is recorded in `server.requests`, so a test can count a client's attempts.
"""

import dataclasses
import functools
import json
import logging
import re
import socket
import struct
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from orchestration.sandbox import (
    anthropic_api,
    azure_cost,
    datadog_api,
    gcp_billing,
    github_api,
    internal_metrics,
    kubernetes_api,
    mixpanel_api,
    openai_api,
    prometheus_api,
    stripe_api,
)
from orchestration.sandbox.company import Company
from orchestration.sandbox.routing import Fault, FaultSpec, Request, Response, Route

logger = logging.getLogger(__name__)

DEFAULT_ROUTES: Mapping[tuple[str, str], Route] = {
    **anthropic_api.ROUTES,
    **openai_api.ROUTES,
    **azure_cost.ROUTES,
    **gcp_billing.ROUTES,
    **stripe_api.ROUTES,
    **github_api.ROUTES,
    **mixpanel_api.ROUTES,
    **internal_metrics.ROUTES,
    **prometheus_api.ROUTES,
    **datadog_api.ROUTES,
    **kubernetes_api.ROUTES,
}


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: "SandboxServer"


class _RequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as clients expect from a vendor API.
    protocol_version = "HTTP/1.1"
    server: _HttpServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        query: dict[str, list[str]] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        length = int(self.headers.get("content-length") or 0)
        request = Request(
            method=self.command,
            path=parts.path,
            query={name: tuple(values) for name, values in query.items()},
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        response = self.server.sandbox.handle(request)
        if response is Fault.TIMEOUT:
            self.server.sandbox.hold()
            self.close_connection = True
            return
        if response is Fault.RESET:
            # A zero linger makes closing send RST rather than FIN: a reset, not a clean close.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        # Bytes go out as they are: a vendor answering a truncated or garbled page.
        payload = _payload(response)
        self.send_response(response.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sandbox.verbose:
            logger.info("%s %s", self.address_string(), format % args)


@functools.lru_cache(maxsize=256)
def _template_pattern(template: str) -> re.Pattern[str]:
    """A route path with `{name}` segments as a pattern matching one segment per name."""
    parts = re.split(r"\{(\w+)\}", template)
    pattern = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
        for index, part in enumerate(parts)
    )
    return re.compile(f"^{pattern}$")


def _path_matches(template: str, path: str) -> dict[str, str] | None:
    """The URL-decoded `{name}` values if `path` fits `template` (exactly, if it has none)."""
    if "{" not in template:
        return {} if template == path else None
    match = _template_pattern(template).match(path)
    if match is None:
        return None
    return {name: unquote(value) for name, value in match.groupdict().items()}


def _payload(response: Response) -> bytes:
    """The bytes of a response's body: JSON, or bytes as they are."""
    if isinstance(response.body, bytes):
        return response.body
    return json.dumps(response.body, separators=(",", ":")).encode()


def _plain_error(status: int, kind: str, message: str) -> Response:
    return Response(status, {"error": {"type": kind, "message": message}})


class SandboxServer:
    """The sandbox vendors on `host:port` (port 0 picks a free one), served from a thread.

    Use it as a context manager in tests (`with SandboxServer(company) as server:`), or call
    `serve_forever()` from a command that should block until interrupted.
    """

    def __init__(
        self,
        company: Company,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        routes: Mapping[tuple[str, str], Route] | None = None,
        verbose: bool = False,
    ) -> None:
        self.company = company
        self.routes = dict(DEFAULT_ROUTES if routes is None else routes)
        self.verbose = verbose
        self.faults: dict[str, list[FaultSpec]] = {}
        self.requests: list[Request] = []
        self.hold_s = 10.0
        self._answered: dict[str, Response] = {}
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd = _HttpServer((host, port), _RequestHandler)
        self._httpd.sandbox = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def handle(self, request: Request) -> Response | Fault:
        """The answer to one parsed request: an injected fault, the route's, or an error.

        `Fault.TIMEOUT` and `Fault.RESET` come back as they are, for the connection to play;
        every other fault is already an answer.
        """
        with self._lock:
            self.requests.append(request)
            queued = self.faults.get(request.path)
            fault = queued.pop(0) if queued else None
            previous = self._answered.get(request.path)
        if fault is Fault.TIMEOUT or fault is Fault.RESET:
            return fault
        if fault is Fault.REPEAT and previous is not None:
            return previous
        route, params = self._match(request.method, request.path)
        if params:
            request = dataclasses.replace(request, path_params=params)
        if isinstance(fault, int) and not isinstance(fault, bool):
            if route is not None:
                return route.fault(fault)
            return _plain_error(fault, "sandbox_fault", f"fault injected: HTTP {fault}")
        if fault is not None and not isinstance(fault, Fault):
            return _plain_error(500, "sandbox_fault", f"unknown fault queued: {fault!r}")
        response = self._answer(request, route)
        if response.status < 400:
            with self._lock:
                self._answered[request.path] = response
        if fault is Fault.TRUNCATED:
            payload = _payload(response)
            return dataclasses.replace(response, body=payload[: len(payload) // 2])
        return response

    def hold(self) -> None:
        """Keep a request waiting for `hold_s` seconds, or until the server stops."""
        self._stopping.wait(self.hold_s)

    def _answer(self, request: Request, route: Route | None) -> Response:
        """The route's own answer, or the error for a path or method it does not serve."""
        if route is None:
            if any(_path_matches(path, request.path) is not None for _, path in self.routes):
                return _plain_error(405, "method_not_allowed", f"{request.method} not allowed")
            return _plain_error(404, "not_found", f"no sandbox route for {request.path}")
        try:
            return route.handler(self.company, request)
        except Exception:
            logger.exception("sandbox route %s %s failed", request.method, request.path)
            return _plain_error(500, "sandbox_error", "the sandbox failed to answer")

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        """The route for `method path`: an exact route first, else a template's, with its params."""
        route = self.routes.get((method, path))
        if route is not None:
            return route, {}
        for (route_method, template), candidate in self.routes.items():
            if route_method == method and "{" in template:
                params = _path_matches(template, path)
                if params is not None:
                    return candidate, params
        return None, {}

    def start(self) -> "SandboxServer":
        """Serve from a daemon thread until `stop()`."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, name="sandbox-http", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; requests held by `Fault.TIMEOUT` end at once."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (Ctrl-C), then release the port."""
        try:
            self._httpd.serve_forever()
        finally:
            self._stopping.set()
            self._httpd.server_close()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
