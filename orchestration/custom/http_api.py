"""A JSON HTTP API described in vault.yaml: requests for a window, pages, records, observations.

The window's bounds reach the request only as values: `{start}` and `{end}` in the URL, a query
parameter or a string of the JSON body are replaced by the bound's text (or, for a body string
that is nothing but the placeholder, by the bound itself, a number for unix formats). Query
values are URL-encoded by httpx and the body is encoded as JSON, so no value can change the
request's shape. Header values that name an environment variable are read when the collector
runs, never stored, and never shown: errors carry the URL with credential-like parameters
masked (`HttpSource`).

Paging styles: `cursor` (a path in the answer -> a request parameter; a repeated cursor is
refused rather than looped on), `page` (page numbers until an empty or short page), `offset`
(offset and limit until a short page) and `link` (the `Link` header's rel="next", which must
stay on the configured URL's origin so a credential header never goes elsewhere). A numbered
or offset page holding exactly the records of the page before it is refused too: an API that
ignores the page parameter would otherwise load every record twice. A page that is not JSON
is retried by `HttpSource` and then fails the partition, leaving its previous rows.
"""

import os
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from orchestration.collectors.framework import Window
from orchestration.collectors.http import HttpSource, JsonPage, MissingCredentialError, SourceError
from orchestration.custom.entries import EnvValue, HttpApiEntry
from orchestration.custom.jsonpath import parse
from orchestration.custom.mapping import compile_json_mapping
from orchestration.warehouse.loader import Rejected

_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]+)*)")
_REL = re.compile(r"""rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))""", re.IGNORECASE)


def vendor(entry: HttpApiEntry) -> str:
    """How errors name the entry."""
    return f"http_api {entry.name}"


def window_values(start: datetime, end: datetime, window_format: str) -> dict[str, Any]:
    """The values of `{start}` and `{end}` in `window_format`."""

    def bound(moment: datetime) -> Any:
        if window_format == "unix_s":
            return int(moment.timestamp())
        if window_format == "unix_ms":
            return int(moment.timestamp() * 1000)
        if window_format == "date":
            return moment.date().isoformat()
        return moment.isoformat().replace("+00:00", "Z")

    return {"{start}": bound(start), "{end}": bound(end)}


def substitute(value: Any, values: dict[str, Any], *, whole_typed: bool = False) -> Any:
    """`value` with every placeholder replaced, recursively through lists and objects.

    Only the exact placeholders are replaced (plain text replacement, no format strings). With
    `whole_typed`, a string that is exactly one placeholder becomes the bound itself.
    """
    if isinstance(value, str):
        if whole_typed and value in values:
            return values[value]
        for placeholder, bound in values.items():
            value = value.replace(placeholder, str(bound))
        return value
    if isinstance(value, list):
        return [substitute(item, values, whole_typed=whole_typed) for item in value]
    if isinstance(value, dict):
        return {
            key: substitute(item, values, whole_typed=whole_typed) for key, item in value.items()
        }
    return value


def _from_env(entry: HttpApiEntry, value: EnvValue) -> str:
    secret = os.environ.get(value.env)
    if not secret:
        raise MissingCredentialError(vendor(entry), value.env)
    return value.prefix + secret


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def collect(entry: HttpApiEntry, window: Window) -> Iterator[dict[str, Any] | Rejected]:
    """Every observation the entry's API gives for the window, page by page."""
    values = window_values(window.start, window.end, entry.window_format)
    headers = {
        name: _from_env(entry, value) if isinstance(value, EnvValue) else value
        for name, value in entry.headers.items()
    }
    params: list[tuple[str, str]] = [
        (
            name,
            _from_env(entry, value)
            if isinstance(value, EnvValue)
            else substitute(_param_text(value), values),
        )
        for name, value in entry.params.items()
    ]
    url = _url_with_bounds(entry.url, values)
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    body = substitute(entry.body, values, whole_typed=True)
    mapping = compile_json_mapping(entry.mapping, entry=entry.name, source_system=entry.system)
    records_path = parse(entry.records)
    outside = 0
    with HttpSource(
        vendor=vendor(entry),
        base_url=origin,
        headers=headers,
        timeout_s=entry.timeout_s,
        max_retries=entry.max_retries,
        backoff_s=entry.backoff_s,
    ) as http:
        for number, page in enumerate(_pages(http, entry, url, params, body), start=1):
            for index, record in enumerate(_records(entry, records_path, page.body, number)):
                if not isinstance(record, dict):
                    yield Rejected(
                        f"{entry.name}: page {number} record {index} is not a JSON object", record
                    )
                    continue
                try:
                    observed_at = mapping.observed_at(record)
                except ValueError as error:
                    yield Rejected(f"{entry.name}: page {number} record {index}: {error}", record)
                    continue
                if not entry.keep_outside_window and not window.start <= observed_at < window.end:
                    outside += 1
                    continue
                origin = {"url": entry.url, "page": number, "index": index}
                yield from mapping.observations(
                    record, observed_at, origin, where=f"page {number} record {index}"
                )
    if outside:
        window.log.info(
            f"{vendor(entry)}: {outside} record(s) outside {window.partition_key} "
            "were left to their own partitions"
        )


def _url_with_bounds(url: str, values: dict[str, Any]) -> str:
    """The configured URL with its placeholders replaced by URL-encoded bounds."""
    return substitute(url, {key: quote(str(value), safe="") for key, value in values.items()})


def _records(entry: HttpApiEntry, path: Any, body: Any, number: int) -> list[Any]:
    """The records of one page: the values the records path reaches, lists spread out."""
    found, _ = path.prefix_before_every().get(body)
    if not found:
        raise SourceError(
            f"{vendor(entry)}: page {number} has nothing at records path {entry.records!r}"
        )
    records: list[Any] = []
    for value in path.find(body):
        if isinstance(value, list):
            records.extend(value)
        elif value is not None:
            records.append(value)
    return records


def _pages(
    http: HttpSource,
    entry: HttpApiEntry,
    url: str,
    params: list[tuple[str, str]],
    body: Any,
) -> Iterator[JsonPage]:
    """Every page of the request, following the entry's paging style."""
    paging = entry.pagination
    records_path = parse(entry.records)
    seen: set[str] = set()
    extra: dict[str, Any] = {}
    if paging.style == "page":
        extra = {paging.page_param: paging.first_page}
        if paging.size_param:
            extra[paging.size_param] = paging.size
    elif paging.style == "offset":
        extra = {paging.offset_param: 0, paging.limit_param: paging.limit}
    next_url: str | None = None
    previous: list[Any] = []
    for number in range(1, entry.max_pages + 1):
        page = _request(http, entry, next_url or url, [] if next_url else params, body, extra)
        yield page
        records = _records(entry, records_path, page.body, number)
        count = len(records)
        if paging.style == "none":
            return
        if paging.style in ("page", "offset") and records and records == previous:
            raise SourceError(
                f"{vendor(entry)}: page {number} repeats page {number - 1} record for record; "
                "refusing to load duplicates"
            )
        previous = records
        if paging.style == "cursor":
            cursor = _next_cursor(entry, page.body, number)
            if cursor is None:
                return
            if cursor in seen:
                raise SourceError(
                    f"{vendor(entry)}: page {number} repeats cursor {cursor!r}; refusing to loop"
                )
            seen.add(cursor)
            extra = {paging.cursor_param: cursor}
        elif paging.style == "page":
            if count == 0 or (paging.size is not None and count < paging.size):
                return
            extra = {**extra, paging.page_param: extra[paging.page_param] + 1}
        elif paging.style == "offset":
            if count < paging.limit:
                return
            extra = {**extra, paging.offset_param: extra[paging.offset_param] + count}
        else:
            following = next_link(page.headers.get_list("link"))
            if following is None:
                return
            next_url = _same_origin(entry, urljoin(next_url or url, following))
            if next_url in seen:
                raise SourceError(
                    f"{vendor(entry)}: page {number} links to a page already read; refusing to loop"
                )
            seen.add(next_url)
    raise SourceError(
        f"{vendor(entry)}: more than max_pages ({entry.max_pages}) pages for one window; "
        "raise max_pages if the API really pages this much"
    )


def _request(
    http: HttpSource,
    entry: HttpApiEntry,
    url: str,
    params: list[tuple[str, str]],
    body: Any,
    extra: dict[str, Any],
) -> JsonPage:
    if entry.method == "GET":
        query = [*params, *((name, _param_text(value)) for name, value in extra.items())]
        return http.get_json_page(url, query or None)
    payload = {**(body or {}), **extra} if extra else body
    return http.post_json_page(url, payload, params or None)


def _next_cursor(entry: HttpApiEntry, body: Any, number: int) -> str | None:
    paging = entry.pagination
    if paging.has_more_path is not None:
        found, more = parse(paging.has_more_path).get(body)
        if found and more is False:
            return None
    found, cursor = parse(paging.cursor_path).get(body)
    if not found or cursor is None or cursor == "":
        return None
    if isinstance(cursor, dict | list | bool):
        raise SourceError(
            f"{vendor(entry)}: page {number}: the cursor at {paging.cursor_path!r} is "
            f"{type(cursor).__name__}, not text or a number"
        )
    return str(cursor)


def next_link(values: list[str]) -> str | None:
    """The rel="next" target of `Link` header values (RFC 8288), if any."""
    for value in values:
        for match in _LINK.finditer(value):
            for rel in _REL.finditer(match.group(2)):
                relations = (rel.group(1) or rel.group(2) or "").lower().split()
                if "next" in relations:
                    return match.group(1).strip()
    return None


def _same_origin(entry: HttpApiEntry, url: str) -> str:
    configured, following = urlsplit(entry.url), urlsplit(url)
    if (configured.scheme, configured.netloc) != (following.scheme, following.netloc):
        raise SourceError(
            f"{vendor(entry)}: the Link header leads to {following.scheme}://"
            f"{following.netloc}, another origin than the configured URL's; refusing to "
            "send its headers there"
        )
    return url
