"""The small contract between the sandbox HTTP server and the fake vendors behind it.

A vendor module exposes `ROUTES`, a mapping of (method, path) to a `Route`. A path is exact,
or a template whose `{name}` segments match any one segment (`/jobs/{job_id}`), for vendors
that put ids in their paths; exact paths win over templates. The server parses
the request, picks the route, and turns the `Response` into bytes; the vendor only deals in
plain data. Each route also says how its vendor answers an injected failure (a 429 or a 500),
because every vendor shapes its error bodies differently and clients parse them.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
