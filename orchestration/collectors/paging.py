"""Cursor paging for reports that answer time buckets with `has_more` and `next_page`.

Anthropic's and OpenAI's organisation reports page the same way: a body holds a `data` list of
time buckets, each with a `results` list, plus `has_more` and an opaque `next_page` token that
the next request sends back as `page`. Only the names of the bucket bounds differ
(`starting_at`/`ending_at` against `start_time`/`end_time`), so both clients share this loop.

A vendor that says `has_more` but gives no token, or a token it already gave, would make a
naive client loop for ever; that is refused with an error naming the request instead.
"""

from collections.abc import Iterator, Sequence
from typing import Any

from orchestration.collectors.http import HttpSource, SourceError
from orchestration.warehouse.loader import Rejected


def cursor_pages(http: HttpSource, path: str, params: Sequence[tuple[str, str]]) -> Iterator[Any]:
    """Every page body of `GET path`, following `next_page` until `has_more` is false."""
    seen_pages: set[str] = set()
    page: str | None = None
    while True:
        body = http.get_json(path, [*params, *([("page", page)] if page else [])])
        yield body
        if not isinstance(body, dict) or not body.get("has_more"):
            return
        page = body.get("next_page")
        if not page or not isinstance(page, str) or page in seen_pages:
            problem = "no" if not page else "a repeated" if isinstance(page, str) else "a non-text"
            raise SourceError(
                f"{http.vendor}: GET {path} said has_more but gave "
                f"{problem} next_page; refusing to loop"
            )
        seen_pages.add(page)


def bucket_results(
    http: HttpSource,
    path: str,
    params: Sequence[tuple[str, str]],
    bounds: tuple[str, str],
) -> Iterator[dict[str, Any] | Rejected]:
    """Each result of every page, with its bucket's `bounds` fields copied in.

    A result that is not a JSON object, or a bucket whose `results` is not a list, cannot be
    stored as records and is yielded as `Rejected`; a page without a `data` list is a broken
    answer and fails the fetch.
    """
    for body in cursor_pages(http, path, params):
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise SourceError(f"{http.vendor}: GET {path} answered without a data list")
        for bucket in body["data"]:
            if not isinstance(bucket, dict):
                yield Rejected(f"a bucket in {path} is not an object", bucket)
                continue
            results = bucket.get("results")
            if results is not None and not isinstance(results, list):
                yield Rejected(f"a bucket in {path} has results that are not a list", bucket)
                continue
            copied = {field: bucket.get(field) for field in bounds}
            for result in results or []:
                if isinstance(result, dict):
                    yield {**copied, **result}
                else:
                    yield Rejected(f"a result in {path} is not an object", result)
