"""The small contract between the sandbox HTTP server and the fake vendors behind it.

A vendor module exposes `ROUTES`, a mapping of (method, path) to a `Route`. A path is exact,
or a template whose `{name}` segments match any one segment (`/jobs/{job_id}`), for vendors
that put ids in their paths; exact paths win over templates. The server parses
the request, picks the route, and turns the `Response` into bytes; the vendor only deals in
plain data. Each route also says how its vendor answers an injected failure (a 429 or a 500),
because every vendor shapes its error bodies differently and clients parse them. Failures that
are not statuses (a hung answer, a dropped connection, a cut or repeated page) are `Fault`s,
played by the server itself, the same for every vendor.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from orchestration.sandbox.company import Company


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, tuple[str, ...]]  # repeated parameters keep every value, in order
    headers: Mapping[str, str]  # names lowercased
    body: bytes = b""
    # The `{name}` segments of a templated route's path, URL-decoded (empty for exact routes).
    path_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Response:
    status: int
    body: Any  # anything `json.dumps` accepts, or bytes sent as they are (a garbled page)
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[Company, Request], Response]


@dataclass(frozen=True)
class Route:
    handler: Handler
    fault: Callable[[int], Response]  # the vendor's answer when a test injects this status


class Fault(Enum):
    """A failure the server injects below the vendor's error shapes, for any route.

    Queued beside HTTP statuses in `SandboxServer.faults[path]`; each one spends one request.
    """

    TIMEOUT = "timeout"
    """No answer: the request is held for `SandboxServer.hold_s`, then the connection closes.
    A client whose read time-out is shorter sees a time-out."""
    TRUNCATED = "truncated"
    """The route's normal answer, status and headers intact, with only the first half of its
    body's bytes (and a `content-length` that matches them): JSON cut off mid-value."""
    REPEAT = "repeat"
    """The previous successful answer to the same path again, whatever the query asked for:
    a page that hands back the cursor or `Link` it gave before. With no earlier answer to
    replay, the request is answered normally."""
    RESET = "reset"
    """The connection is reset (TCP RST) before any byte of the answer is sent."""


FaultSpec = int | Fault | None
"""One queued entry: an HTTP status in the vendor's error shape, a `Fault`, or None to let one
request through untouched (so a fault lands on a later page)."""
