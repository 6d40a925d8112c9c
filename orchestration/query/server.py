"""`vault serve`: the read side of Prometheus's HTTP API, answered from marts.fct_metrics.

Grafana's Prometheus data source, `promtool`, prometheus-api-client and anything else that
speaks Prometheus's query API can read the vault's metrics through it. The paths, parameters,
JSON shapes, error types and status codes are Prometheus 2.42's:

- `/api/v1/query` and `/api/v1/query_range` run PromQL through `orchestration.query.promql`,
  which compiles it to one SQL statement over marts.fct_metrics (see that module for the
  subset it supports and the label model);
- `/api/v1/series`, `/api/v1/labels` and `/api/v1/label/<name>/values` list what exists;
- `/api/v1/metadata` calls every metric a gauge, with a help text naming its metric_type and
  source systems and the unit from fct_metrics.unit;
- `/api/v1/status/buildinfo` reports version `BUILD_VERSION`, the Prometheus release whose
  semantics the engine implements, so clients turn on the features of that API level;
- `/api/v1/query_exemplars`, `/api/v1/rules` and `/api/v1/alerts`, which Grafana calls on
  the way, answer an empty success: the vault has no exemplars, rules or alerts;
- `/-/healthy` and `/-/ready` answer as Prometheus's do, without the token, for load
  balancers' checks;
- anything else is `404 page not found`, as Prometheus says it.

Every endpoint takes GET and POST (`application/x-www-form-urlencoded`, what Grafana sends
by default); as in Prometheus, a form field in the body wins over the same one in the URL.

The server reads as the reader role (`vault_reader`, see `orchestration.warehouse.roles`):
it connects with `VAULT_READER_DATABASE_URL` when set, else with the warehouse URL the rest
of the CLI uses, and on every connection becomes the reader (`set role vault_reader`; `set
session authorization` when the login is a superuser, such as the embedded warehouse's) in
read-only transactions, so it can read the marts and nothing else whoever it logs in as. It
refuses to start when the role is missing, cannot be assumed, may not read marts.fct_metrics
or would see only some departments' rows (row-level security).

Bound to anything but loopback it refuses to start without a bearer token (the variable
`serve.token_env` names, `VAULT_SERVE_TOKEN` by default); with a token set every request must
carry `Authorization: Bearer <token>`. The token is compared in constant time and is never
logged or repeated in an error.
"""

import hmac
import ipaddress
import json
import logging
import math
import os
import queue
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl

import promql_parser
import psycopg
import uvicorn
from psycopg import sql
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from orchestration.config import ServeConfig, prometheus_duration
from orchestration.query import promql
from orchestration.warehouse.connection import redact, warehouse_url
from orchestration.warehouse.roles import READER_ROLE

log = logging.getLogger(__name__)

READER_URL_ENV = "VAULT_READER_DATABASE_URL"
# The Prometheus release whose query semantics orchestration.query.promql implements (see
# its docstring). Grafana reads buildinfo to tell Prometheus from Mimir or Thanos and picks
# the API features it uses by this version, so it asks only for what 2.42 answers.
BUILD_VERSION = "2.42.0"
MAX_POINTS = 11_000
POOL_SIZE = 4
METRICS_TABLE = ("marts", "fct_metrics")

_STATUS = {"bad_data": 400, "execution": 422, "timeout": 503, "internal": 500}
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_FLOAT = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_RFC3339 = re.compile(
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
# Prometheus's own spellings of the earliest and latest time, which clients send to mean
# "no bound" on the series and label endpoints.
_UNBOUNDED = ("-292273086-05-16T16:47:06Z", "292277025-08-18T07:12:54.999999999Z")
_NAME_OUTSIDE = re.compile(r"[^a-zA-Z0-9_:]")


class ServeError(RuntimeError):
    """The server cannot start: no token for a public address, or no reader to read as."""


class _Lost(Exception):
    """The warehouse dropped the connection a request was using."""


class ApiError(Exception):
    """An answer in Prometheus's error shape: `error_type` decides the status code."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


# -- parameters ------------------------------------------------------------------------------


def _quote(text: str) -> str:
    """`text` quoted as Go's %q does for the printable strings a request carries."""
    return json.dumps(text, ensure_ascii=False)


def _invalid(name: str, reason: str) -> ApiError:
    return ApiError("bad_data", f"invalid parameter {_quote(name)}: {reason}")


def parse_time(text: str) -> datetime:
    """A Prometheus timestamp: unix seconds (a float, ms precision) or RFC 3339.

    Prometheus keeps milliseconds: fractions of unix seconds are rounded to them, RFC 3339
    fractions are cut to them.
    """
    if _FLOAT.match(text):
        seconds = float(text)
        if math.isfinite(seconds):
            whole = math.trunc(seconds)
            millis = math.floor(abs(seconds - whole) * 1000 + 0.5) * (1 if seconds >= 0 else -1)
            try:
                return datetime.fromtimestamp(whole, UTC) + timedelta(milliseconds=millis)
            except (ValueError, OverflowError, OSError):
                pass  # outside the years 1-9999 that Python's datetime holds
    elif match := _RFC3339.match(text):
        stamp, fraction, zone = match.groups()
        try:
            parsed = datetime.fromisoformat(stamp + ("+00:00" if zone == "Z" else zone))
        except ValueError:
            pass
        else:
            millis = int((fraction or "0")[:3].ljust(3, "0"))
            return parsed.astimezone(UTC) + timedelta(milliseconds=millis)
    raise ValueError(f"cannot parse {_quote(text)} to a valid timestamp")


def parse_duration(text: str) -> timedelta:
    """A Prometheus duration parameter: float seconds or `5m`, `1h30m`, ... (ms precision)."""
    if _FLOAT.match(text):
        seconds = float(text)
        if abs(seconds) * 1e9 < 2**63:  # Go's time.Duration: int64 nanoseconds
            return timedelta(milliseconds=math.trunc(seconds * 1000))
        raise ValueError(f"cannot parse {_quote(text)} to a valid duration. It overflows int64")
    try:
        return prometheus_duration(text)
    except ValueError:
        raise ValueError(f"cannot parse {_quote(text)} to a valid duration") from None


class Form:
    """A request's parameters: the urlencoded body's first, then the URL's (as Go merges them)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = list(pairs)

    def get(self, name: str) -> str:
        return next((value for key, value in self.pairs if key == name), "")

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def time(self, name: str, default: datetime | None, *, wrapped: bool = True) -> datetime | None:
        """Parameter `name` as a time; `default` when absent. `wrapped`: say "Invalid time
        value for ..." as Prometheus does for the parameters that have a default."""
        text = self.get(name)
        if not text:
            if default is None and not wrapped:
                raise _invalid(name, f"cannot parse {_quote(text)} to a valid timestamp")
            return default
        if wrapped and default is None and text in _UNBOUNDED:
            return None
        try:
            return parse_time(text)
        except ValueError as error:
            if wrapped:
                raise _invalid(name, f"Invalid time value for '{name}': {error}") from None
            raise _invalid(name, str(error)) from None

    def duration(self, name: str) -> timedelta:
        try:
            return parse_duration(self.get(name))
        except ValueError as error:
            raise _invalid(name, str(error)) from None


async def _form(request: Request) -> Form:
    pairs: list[tuple[str, str]] = []
    if request.method == "POST":
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/x-www-form-urlencoded":
            body = (await request.body()).decode("utf-8", errors="replace")
            pairs += parse_qsl(body, keep_blank_values=True)
    pairs += parse_qsl(request.url.query, keep_blank_values=True)
    return Form(pairs)


# -- rendering -------------------------------------------------------------------------------


def format_value(value: float) -> str:
    """`value` as Go's strconv.FormatFloat(value, 'f', -1, 64): shortest digits, no exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_time(seconds: float) -> int | float:
    """A sample time as Prometheus writes it: seconds, with milliseconds only when there are."""
    millis = round(seconds * 1000)
    return millis // 1000 if millis % 1000 == 0 else millis / 1000


def _point(point: tuple[float, float]) -> list:
    return [format_time(point[0]), format_value(point[1])]


def _labels(labels: Mapping[str, str]) -> dict[str, str]:
    """A label set in Prometheus's order: by name."""
    return dict(sorted(labels.items()))


def render_result(result: promql.Result) -> dict:
    """The `data` of a query answer: resultType and result in Prometheus's shapes."""
    if result.result_type == "scalar":
        return {"resultType": "scalar", "result": _point(result.series[0].points[0])}
    if result.result_type == "vector":
        rendered = [
            {"metric": _labels(series.labels), "value": _point(series.points[0])}
            for series in result.series
            if series.points
        ]
    else:
        rendered = [
            {
                "metric": _labels(series.labels),
                "values": [_point(point) for point in series.points],
            }
            for series in result.series
            if series.points
        ]
    return {"resultType": result.result_type, "result": rendered}


def _json(body: dict, status: int = 200) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Response(text, status_code=status, media_type="application/json")


def success(data: object) -> Response:
    return _json({"status": "success", "data": data})


def error_response(error_type: str, message: str, status: int | None = None) -> Response:
    body = {"status": "error", "errorType": error_type, "error": message}
    return _json(body, status or _STATUS.get(error_type, 500))


# -- the reader's connections ----------------------------------------------------------------


class ReaderPool:
    """A few psycopg connections, each `set role` to the reader and read-only.

    Connections are made when first needed and reused; one that broke is thrown away. A
    caller waits at most `wait_s` for a free one.
    """

    def __init__(self, url: str, role: str = READER_ROLE, size: int = POOL_SIZE) -> None:
        self.url = url
        self.role = role
        self.size = size
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    def connect(self) -> psycopg.Connection:
        """A new connection acting as the reader; ServeError if the role cannot be assumed."""
        try:
            conn = psycopg.connect(self.url, autocommit=True, application_name="vault serve")
        except psycopg.Error as error:
            raise ServeError(
                f"cannot connect to the warehouse {redact(self.url)}: {error}"
            ) from None
        # A superuser login (the embedded warehouse's) becomes the reader for the whole
        # session: row-level security asks for session_user, and a superuser's counts as a
        # department reader of no department, which would see no rows of the marts.
        superuser = conn.info.parameter_status("is_superuser") == "on"
        switch = "set session authorization {}" if superuser else "set role {}"
        try:
            conn.execute(sql.SQL(switch).format(sql.Identifier(self.role)))
            conn.execute("set default_transaction_read_only = on")
        except psycopg.Error as error:
            conn.close()
            raise ServeError(
                f"cannot act as the reader role {self.role} on {redact(self.url)} "
                f"({error.diag.message_primary or error}); run `vault db roles`, which creates "
                f"it and prints its URL, and set {READER_URL_ENV} to that URL"
            ) from None
        return conn

    @contextmanager
    def connection(self, wait_s: float) -> Iterator[psycopg.Connection]:
        if not self._slots.acquire(timeout=max(wait_s, 0)):
            raise ApiError("timeout", "query timed out in query queue")
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self.connect()
            yield conn
        finally:
            if conn is not None:
                if conn.broken or conn.closed or self._closed:
                    conn.close()
                else:
                    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                        conn.rollback()
                    self._idle.put(conn)
            self._slots.release()

    def discard_idle(self) -> None:
        """Close the idle connections: after one was found dropped, the rest likely were."""
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def close(self) -> None:
        self._closed = True
        self.discard_idle()


def check_reader(pool: ReaderPool) -> None:
    """Refuse to start unless the reader can read marts.fct_metrics."""
    with pool.connection(wait_s=30) as conn:
        try:
            conn.execute(sql.SQL("select from {} limit 0").format(sql.Identifier(*METRICS_TABLE)))
        except psycopg.errors.UndefinedTable:
            raise ServeError(
                "marts.fct_metrics does not exist yet: build the marts first "
                "(the nightly transform, or `vault demo`)"
            ) from None
        except psycopg.errors.InsufficientPrivilege:
            raise ServeError(
                f"the reader role {pool.role} may not read marts.fct_metrics; "
                "run `vault db roles` to grant it"
            ) from None
        scoped = conn.execute(
            "select to_regprocedure('vault_access.session_departments()') is not null"
        ).fetchone()[0]
        if (
            scoped
            and conn.execute("select vault_access.session_departments() is not null").fetchone()[0]
        ):
            raise ServeError(
                f"this login counts as a department reader, so row-level security would show "
                f"{pool.role} only some departments' rows; log in as {pool.role} itself "
                f"({READER_URL_ENV}, the URL `vault db roles` prints)"
            )


# -- the application -------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What the handlers need besides the pool; built from vault.yaml's `serve:`."""

    query_timeout: timedelta = timedelta(minutes=2)
    lookback: timedelta | None = None
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, config: ServeConfig, environ: Mapping[str, str]) -> "Settings":
        return cls(
            query_timeout=config.query_timeout,
            lookback=config.lookback,
            token=serve_token(config, environ),
        )


Handler = Callable[[Request, Form], Awaitable[Response]]


class PrometheusApi:
    """The request handlers; each database call runs in a worker thread, off the event loop."""

    def __init__(self, pool: ReaderPool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings

    def _timeout_s(self, form: Form) -> float:
        timeout = self.settings.query_timeout
        if form.get("timeout"):
            timeout = min(timeout, form.duration("timeout"))
        if timeout < timedelta(milliseconds=1):
            raise ApiError("timeout", "query timed out in query queue")
        return timeout.total_seconds()

    async def _run(self, timeout_s: float, work: Callable[[psycopg.Connection], object]) -> object:
        """`work(conn)` on a pooled connection in a worker thread, errors as ApiError.

        A connection the warehouse dropped (a restart, an idle timeout) is only found out when
        used; the work is then tried once more on a new connection, as it only reads.
        """
        started = time.monotonic()

        def attempt() -> object:
            remaining = timeout_s - (time.monotonic() - started)
            with self.pool.connection(wait_s=remaining) as conn:
                remaining = timeout_s - (time.monotonic() - started)
                if remaining < 0.001:
                    raise ApiError("timeout", "query timed out in query queue")
                try:
                    conn.execute(
                        "select set_config('statement_timeout', %s, false)",
                        (f"{math.ceil(remaining * 1000)}ms",),
                    )
                    return work(conn)
                except (promql.QueryError, psycopg.Error):
                    if conn.broken:
                        raise _Lost from None
                    raise

        def call() -> object:
            try:
                return attempt()
            except _Lost:
                self.pool.discard_idle()
            try:
                return attempt()
            except _Lost:
                raise ApiError("internal", "lost the connection to the warehouse") from None

        try:
            return await run_in_threadpool(call)
        except promql.QueryError as error:
            raise ApiError(error.error_type, str(error)) from None
        except psycopg.errors.QueryCanceled:
            raise ApiError("timeout", "query timed out in expression evaluation") from None
        except psycopg.Error as error:
            raise ApiError("execution", f"the warehouse failed: {error}") from None
        except ServeError as error:
            raise ApiError("internal", str(error)) from None

    @property
    def _lookback(self) -> dict:
        return {"lookback": self.settings.lookback} if self.settings.lookback else {}

    @staticmethod
    def _query(form: Form) -> str:
        text = form.get("query")
        try:
            promql_parser.parse(text)
        except ValueError as error:
            raise _invalid("query", f"parse error: {error}") from None
        return text

    async def query(self, request: Request, form: Form) -> Response:
        at = form.time("time", datetime.now(UTC))
        timeout_s = self._timeout_s(form)
        text = self._query(form)
        result = await self._run(
            timeout_s,
            lambda conn: promql.instant_query(
                conn, text, at, timeout_s=timeout_s, **self._lookback
            ),
        )
        return success(render_result(result))

    async def query_range(self, request: Request, form: Form) -> Response:
        start = form.time("start", None, wrapped=False)
        end = form.time("end", None, wrapped=False)
        if end < start:
            raise _invalid("end", "end timestamp must not be before start time")
        step = form.duration("step")
        if step <= timedelta(0):
            raise _invalid(
                "step",
                "zero or negative query resolution step widths are not accepted. "
                "Try a positive integer",
            )
        if (end - start) // step > MAX_POINTS:
            raise ApiError(
                "bad_data",
                "exceeded maximum resolution of 11,000 points per timeseries. "
                "Try decreasing the query resolution (?step=XX)",
            )
        timeout_s = self._timeout_s(form)
        text = self._query(form)
        result = await self._run(
            timeout_s,
            lambda conn: promql.range_query(
                conn, text, start, end, step, timeout_s=timeout_s, **self._lookback
            ),
        )
        return success(render_result(result))

    def _bounds(self, form: Form) -> tuple[datetime | None, datetime | None]:
        return form.time("start", None), form.time("end", None)

    async def series(self, request: Request, form: Form) -> Response:
        matchers = form.all("match[]")
        if not matchers:
            raise ApiError("bad_data", "no match[] parameter provided")
        start, end = self._bounds(form)
        try:
            found = await self._run(
                self.settings.query_timeout.total_seconds(),
                lambda conn: promql.find_series(conn, matchers, start, end),
            )
        except ApiError as error:
            if error.error_type == "bad_data":
                raise _invalid("match[]", str(error)) from None
            raise
        return success([_labels(labels) for labels in found])

    async def labels(self, request: Request, form: Form) -> Response:
        matchers = form.all("match[]")
        start, end = self._bounds(form)
        names = await self._run(
            self.settings.query_timeout.total_seconds(),
            lambda conn: promql.label_names(conn, matchers, start, end),
        )
        return success(names)

    async def label_values(self, request: Request, form: Form) -> Response:
        name = request.path_params["name"]
        if not _LABEL_NAME.match(name):
            raise ApiError("bad_data", f"invalid label name: {_quote(name)}")
        matchers = form.all("match[]")
        start, end = self._bounds(form)
        values = await self._run(
            self.settings.query_timeout.total_seconds(),
            lambda conn: promql.label_values(conn, name, matchers, start, end),
        )
        return success(values)

    async def metadata(self, request: Request, form: Form) -> Response:
        limit = -1
        if form.get("limit"):
            try:
                limit = int(form.get("limit"))
            except ValueError:
                raise ApiError("bad_data", "limit must be a number") from None
        wanted = form.get("metric")
        rows = await self._run(self.settings.query_timeout.total_seconds(), _metadata_rows)
        found: dict[str, list[dict[str, str]]] = {}
        for metric_type, unit, sources in rows:
            name = metric_name(metric_type)
            if wanted and name != wanted:
                continue
            if name not in found and 0 <= limit <= len(found):
                continue
            systems = ", ".join(sources) or "none recorded"
            help_text = f"{metric_type} from marts.fct_metrics (source systems: {systems})"
            entry = {"type": "gauge", "help": help_text, "unit": unit}
            found.setdefault(name, []).append(entry)
        return success(found)

    async def buildinfo(self, request: Request, form: Form) -> Response:
        from importlib.metadata import PackageNotFoundError, version

        try:
            vault_version = version("observability-vault")
        except PackageNotFoundError:
            vault_version = "unknown"
        return success(
            {
                "version": BUILD_VERSION,
                "revision": f"observability-vault {vault_version}",
                "branch": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": "",
            }
        )

    @staticmethod
    async def exemplars(request: Request, form: Form) -> Response:
        return success([])

    @staticmethod
    async def rules(request: Request, form: Form) -> Response:
        return success({"groups": []})

    @staticmethod
    async def alerts(request: Request, form: Form) -> Response:
        return success({"alerts": []})


def metric_name(metric_type: str) -> str:
    """The Prometheus name of a metric_type, by the engine's label model (`ai.cost` ->
    `ai_cost`)."""
    name = _NAME_OUTSIDE.sub("_", metric_type)
    return f"_{name}" if name[:1].isdigit() else name


def _metadata_rows(conn: psycopg.Connection) -> list[tuple[str, str, list[str]]]:
    return conn.execute(
        sql.SQL(
            """
            select
                metric_type,
                coalesce(unit, ''),
                array_remove(array_agg(distinct source_system order by source_system), null)
            from {}
            group by 1, 2
            order by 1, 2
            """
        ).format(sql.Identifier(*METRICS_TABLE))
    ).fetchall()


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def build_app(pool: ReaderPool, settings: Settings) -> Starlette:
    """The Starlette application answering Prometheus's read API from `pool`."""
    api = PrometheusApi(pool, settings)

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            if settings.token is not None and not _authorized(request, settings.token):
                response = error_response(
                    "unauthorized",
                    "missing or wrong bearer token in the Authorization header",
                    status=401,
                )
                response.headers["WWW-Authenticate"] = 'Bearer realm="vault serve"'
                return response
            try:
                return await handler(request, await _form(request))
            except ApiError as error:
                return error_response(error.error_type, str(error))
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                return error_response("internal", "internal error; see the server's log")

        return answer

    both = ["GET", "POST"]
    routes = [
        Route("/api/v1/query", endpoint(api.query), methods=both),
        Route("/api/v1/query_range", endpoint(api.query_range), methods=both),
        Route("/api/v1/series", endpoint(api.series), methods=both),
        Route("/api/v1/labels", endpoint(api.labels), methods=both),
        Route("/api/v1/label/{name}/values", endpoint(api.label_values), methods=both),
        Route("/api/v1/metadata", endpoint(api.metadata), methods=both),
        Route("/api/v1/status/buildinfo", endpoint(api.buildinfo), methods=both),
        Route("/api/v1/query_exemplars", endpoint(api.exemplars), methods=both),
        Route("/api/v1/rules", endpoint(api.rules), methods=both),
        Route("/api/v1/alerts", endpoint(api.alerts), methods=both),
        Route("/-/healthy", lambda request: PlainTextResponse("Prometheus Server is Healthy.\n")),
        Route("/-/ready", lambda request: PlainTextResponse("Prometheus Server is Ready.\n")),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("404 page not found\n", status_code=404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("Method Not Allowed\n", status_code=405)

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})


# -- starting it -----------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def reader_url(environ: Mapping[str, str] = os.environ) -> str:
    """`VAULT_READER_DATABASE_URL`, else the warehouse URL (the embedded server if unset)."""
    return environ.get(READER_URL_ENV, "").strip() or warehouse_url()


def serve_token(config: ServeConfig, environ: Mapping[str, str]) -> str | None:
    """The bearer token from the variable `serve.token_env` names; None when unset or blank."""
    return environ.get(config.token_env, "").strip() or None


def check_exposure(config: ServeConfig, host: str, environ: Mapping[str, str]) -> None:
    """Refuse a non-loopback address without a token."""
    if not is_loopback(host) and serve_token(config, environ) is None:
        raise ServeError(
            f"refusing to listen on {host} without a token: set {config.token_env} to a long "
            "random secret (clients send it as `Authorization: Bearer <token>`), or listen "
            "on 127.0.0.1"
        )


@dataclass
class RunningServer:
    """A uvicorn server answering in a thread of this process; `stop()` ends it."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    pool: ReaderPool

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.pool.close()


def prepare(
    config: ServeConfig,
    host: str,
    environ: Mapping[str, str] = os.environ,
    *,
    url: str | None = None,
    role: str = READER_ROLE,
) -> tuple[Starlette, ReaderPool]:
    """Check the exposure and the reader, then build the app: everything but listening."""
    check_exposure(config, host, environ)
    pool = ReaderPool(url or reader_url(environ), role)
    try:
        check_reader(pool)
    except BaseException:
        pool.close()
        raise
    return build_app(pool, Settings.from_config(config, environ)), pool


def start_in_thread(app: Starlette, pool: ReaderPool, host: str, port: int) -> RunningServer:
    """Serve `app` on host:port from a background thread; returns once it listens."""
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="vault-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pool.close()
            raise ServeError(f"could not listen on {host}:{port}")
        time.sleep(0.02)
    shown = f"[{host}]" if ":" in host else host
    return RunningServer(f"http://{shown}:{port}", server, thread, pool)


def serve_forever(app: Starlette, pool: ReaderPool, host: str, port: int) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM), logging one line per request."""
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        pool.close()
