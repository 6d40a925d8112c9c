"""HTTP for collectors: retries that honour `Retry-After`, and errors that are safe to show.

Every HTTP source goes through `HttpSource.get_json`. It retries rate limits (429), server
errors (5xx), dropped connections, time-outs and bodies that are not valid JSON (a truncated
page), with exponential backoff or the server's `Retry-After`. Authentication failures and other
4xx answers fail at once. The error message names the vendor, the method and URL (with
credential-like query parameters masked) and the vendor's own error text; request headers are
never logged or shown, so an API key cannot leak through a failure.
"""

import functools
import json
import os
import random
import re
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

# 529 is Anthropic's "overloaded", transient like a 503.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 529})
_SECRET_PARAM_HINTS = ("key", "token", "secret", "password", "signature", "auth")
_MAX_ERROR_TEXT = 500
# Azure Resource Manager providers name one header per limit they enforce, e.g. Cost
# Management's x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after (query units).
_AZURE_RETRY_AFTER = re.compile(r"^x-ms-ratelimit-[a-z0-9.-]+-retry-after$")


class SourceError(RuntimeError):
    """A source failed; the message is safe to show (no secrets)."""


class HttpStatusError(SourceError):
    """The vendor gave a final HTTP error answer; `status` lets a client add what it knows,
    and the response `headers` (never the request's) what the vendor said beside the body,
    such as when a rate limit resets."""

    def __init__(self, message: str, status: int, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = httpx.Headers(headers or {})


@dataclass(frozen=True)
class JsonPage:
    """A JSON answer with its response headers, for vendors that page or meter in headers
    (GitHub's `Link` and `x-ratelimit-*`)."""

    body: Any
    headers: httpx.Headers


class MissingCredentialError(SourceError):
    """A source's credential variable is not set."""

    def __init__(self, vendor: str, variable: str) -> None:
        super().__init__(
            f"{vendor}: environment variable {variable} is not set; set it to the "
            f"{vendor} credential, or disable the source in vault.yaml"
        )
        self.variable = variable


def safe_url(url: httpx.URL | str) -> str:
    """`url` with the values of credential-like query parameters masked."""
    parts = urlsplit(str(url))
    if not parts.query:
        return str(url)
    masked = [
        (name, "***" if any(hint in name.lower() for hint in _SECRET_PARAM_HINTS) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return parts._replace(query=urlencode(masked, safe="[]:,*")).geturl()


def _vendor_error_text(response: httpx.Response) -> str:
    """The vendor's own error message, from the usual JSON error envelopes or the raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:_MAX_ERROR_TEXT].strip()
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            kind = error.get("type") or error.get("code") or ""
            message = error.get("message") or error.get("error_description") or ""
            text = f"{kind}: {message}".strip(": ")
            if text:
                return text[:_MAX_ERROR_TEXT]
        elif isinstance(error, str):
            return error[:_MAX_ERROR_TEXT]
    return json.dumps(body)[:_MAX_ERROR_TEXT]


def retry_after_seconds(
    response: httpx.Response, wait_headers: Collection[str] = ()
) -> float | None:
    """The wait the response asks for, if any: the longest of `Retry-After` (seconds or an
    HTTP date), Azure's per-limit `x-ms-ratelimit-<limit>-retry-after` headers (seconds) and
    the vendor's own `wait_headers` (lowercase names of headers in seconds, such as
    Datadog's `x-ratelimit-reset`)."""
    waits = [
        wait
        for name, value in response.headers.items()  # names come lowercased
        if name == "retry-after" or _AZURE_RETRY_AFTER.match(name) or name in wait_headers
        if (wait := _seconds_or_date(value)) is not None
    ]
    return max(waits) if waits else None


def _seconds_or_date(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str | bytes) -> Any:
    """Strict JSON: `NaN` and `Infinity`, which Python's parser accepts, are refused, and so
    is nesting too deep for the parser (a ValueError, as for any other text that is not JSON)."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply to parse") from None


@functools.lru_cache(maxsize=4)
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """httpx's default TLS context, made once per CA setting (`SSL_CERT_FILE`, `SSL_CERT_DIR`)
    and shared: loading the CA bundle takes about a tenth of a second per client otherwise."""
    return httpx.create_ssl_context()


class HttpSource:
    """A vendor's HTTP API as collectors see it: GET JSON, with retries and safe errors."""

    def __init__(
        self,
        *,
        vendor: str,
        base_url: str,
        headers: Mapping[str, str],
        timeout_s: float = 30.0,
        max_retries: int = 5,
        max_wait_s: float = 120.0,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        auth: httpx.Auth | None = None,
        wait_headers: Collection[str] = (),
        is_final: Callable[[httpx.Response], bool] | None = None,
    ) -> None:
        """`is_final(response)` marks an answer with a retryable status that must not be
        retried blindly but raised as `HttpStatusError` for the client to decide (GitHub's
        exhausted rate limit, whose reset may be an hour away).

        Without a `Retry-After`, the n-th retry waits `backoff_s * 2**(n-1)` seconds (at most
        a minute), less a random part of up to half.
        """
        if backoff_s < 0:
            raise ValueError(f"backoff_s must not be negative, not {backoff_s}")
        self.vendor = vendor
        self._is_final = is_final
        self._wait_headers = frozenset(name.lower() for name in wait_headers)
        self.max_retries = max_retries
        self.max_wait_s = max_wait_s
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=dict(headers),
            timeout=timeout_s,
            follow_redirects=False,
            auth=auth,
            verify=_tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "HttpSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_json(self, path: str, params: Any = None) -> Any:
        """GET `path` and return its JSON body, retrying what is worth retrying."""
        return self._send_json(self._client.build_request("GET", path, params=params))

    def get_json_page(self, path: str, params: Any = None) -> JsonPage:
        """`get_json`, with the response headers too (paging links, rate limit counters)."""
        request = self._client.build_request("GET", path, params=params)
        return self._send_json(request, with_headers=True)

    def post_json(self, path: str, body: Any, params: Any = None) -> Any:
        """POST `body` as JSON to `path` (or an absolute URL) and return the JSON answer.

        Retried like `get_json`: for the query APIs that use it (a POST that reads), sending
        the same body again is safe.
        """
        return self._send_json(self._client.build_request("POST", path, params=params, json=body))

    def post_json_page(self, path: str, body: Any, params: Any = None) -> JsonPage:
        """`post_json`, with the response headers too (a POST query paged by `Link`)."""
        request = self._client.build_request("POST", path, params=params, json=body)
        return self._send_json(request, with_headers=True)

    def _send_json(self, request: httpx.Request, *, with_headers: bool = False) -> Any:
        where = f"{self.vendor}: {request.method} {safe_url(request.url)}"
        for attempt in range(self.max_retries + 1):
            outcome = self._attempt(request, where, with_headers)
            if not isinstance(outcome, _Retry):
                return outcome
            if attempt == self.max_retries:
                raise SourceError(f"{outcome.problem} (gave up after {attempt + 1} attempts)")
            backoff = min(60.0, self.backoff_s * 2.0**attempt) * random.uniform(0.5, 1.0)
            wait = backoff if outcome.retry_after is None else outcome.retry_after
            self._sleep(min(wait, self.max_wait_s))
        raise AssertionError("unreachable")

    def _attempt(self, request: httpx.Request, where: str, with_headers: bool = False) -> Any:
        """One try: the parsed body, a `_Retry`, or a `SourceError` for a final answer."""
        try:
            response = self._client.send(request)
        except httpx.TimeoutException:
            return _Retry(f"{where} timed out")
        except httpx.TransportError as error:
            return _Retry(f"{where} failed: {type(error).__name__}: {error}")
        if response.status_code in RETRYABLE_STATUS and not (
            self._is_final is not None and self._is_final(response)
        ):
            text = _vendor_error_text(response)
            return _Retry(
                f"{where}: HTTP {response.status_code} {text}".rstrip(),
                retry_after_seconds(response, self._wait_headers),
            )
        if response.status_code >= 400:
            raise HttpStatusError(
                f"{where}: HTTP {response.status_code} {_vendor_error_text(response)}".rstrip(),
                response.status_code,
                response.headers,
            )
        try:
            body = parse_json(response.content)
        except ValueError as error:
            return _Retry(f"{where}: the response is not valid JSON ({error})")
        return JsonPage(body, response.headers) if with_headers else body


@dataclass(frozen=True)
class _Retry:
    problem: str
    retry_after: float | None = None
