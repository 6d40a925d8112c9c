"""Collector memory: peak resident memory of one partition's load, 1,000,000 records against 10,000.

    .venv/bin/python bench/collector_memory.py [--records 1000000] [--small 10000] [--url URL]

A collector should hold one page at a time, whatever the window holds: the client yields each
page's records as it reads them, and the raw loader `COPY`s each record as it comes. This
benchmark runs the real Anthropic usage collector (`anthropic_messages_usage` through
`run_collector`: the Admin API client, cursor paging over HTTP, the raw loader) once for a
window of `--small` records and once for `--records`, each in a child process of its own, and
compares their peak resident memory.

The pages come from a local HTTP server in this process, in the usage report's shape (one
daily bucket, `--page-size` results a page, `has_more` and `next_page`), made as they are
asked for: the sandbox's company is far too small to fill a million records. The record count
is a path prefix of the base URL the client is given (`/records/<N>`).

The child reports its own peak (`VmHWM` in /proc/self/status); `ru_maxrss` from `wait4` is
printed beside it, but Linux carries that figure over the `exec` from this parent, so it
cannot go below the parent's size. Everything happens in a scratch database on the server of
`--url`, else `VAULT_BENCH_DATABASE_URL`, else the embedded server, dropped at the end.
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.warehouse.connection import warehouse_url

DAY = datetime(2026, 11, 1, tzinfo=UTC)
MODELS = ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805"]
USAGE_PATH = re.compile(r"^/records/(\d+)/v1/organizations/usage_report/messages$")
API_KEY = "sk-ant-admin01-bench-not-a-real-key"


def usage_results(first: int, count: int) -> list[dict]:
    """Results `first` .. `first + count - 1` of the day's bucket, each a distinct group."""
    rng = random.Random(first)
    return [
        {
            "api_key_id": f"apikey_01{n:012d}",
            "workspace_id": f"wrkspc_01{rng.randrange(40):06d}",
            "model": MODELS[n % 3],
            "service_tier": "standard" if n % 5 else "batch",
            "context_window": "0-200k",
            "inference_geo": None,
            "uncached_input_tokens": rng.randrange(50_000),
            "cache_read_input_tokens": rng.randrange(500_000),
            "cache_creation": {
                "ephemeral_5m_input_tokens": rng.randrange(20_000),
                "ephemeral_1h_input_tokens": rng.randrange(5_000),
            },
            "output_tokens": rng.randrange(20_000),
            "server_tool_use": {"web_search_requests": rng.randrange(3)},
        }
        for n in range(first, first + count)
    ]


class _UsagePages(BaseHTTPRequestHandler):
    """The messages usage report of `DAY`, with as many results as the path asks for."""

    page_size = 1000
    # Keep-alive, as a vendor's API answers, and no Nagle delay between headers and body.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        match = USAGE_PATH.match(parts.path)
        if not match:
            self._answer(404, {"error": {"type": "not_found_error", "message": parts.path}})
            return
        if self.headers.get("x-api-key") != API_KEY:
            self._answer(401, {"error": {"type": "authentication_error", "message": "key"}})
            return
        total = int(match.group(1))
        page = parse_qs(parts.query).get("page", ["0"])[0]
        first = int(page) if page.isdigit() else 0
        count = max(0, min(self.page_size, total - first))
        following = first + count
        body = {
            "data": [
                {
                    "starting_at": DAY.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "ending_at": (DAY + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "results": usage_results(first, count),
                }
            ],
            "has_more": following < total,
            "next_page": str(following) if following < total else None,
        }
        self._answer(200, body)

    def _answer(self, status: int, body: dict) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


def collect(url: str, api_url: str) -> dict:
    """Child process: load one partition through the real collector; figures as a dict."""
    import logging

    from assets.anthropic import anthropic_messages_usage
    from orchestration.clients.anthropic import AnthropicAdminClient
    from orchestration.collectors.framework import run_collector
    from orchestration.warehouse.connection import WarehouseResource

    rss_before_mb = _memory_mb("VmRSS")
    result, _ = run_collector(
        anthropic_messages_usage,
        WarehouseResource(url=url),
        start=DAY,
        end=DAY + timedelta(days=1),
        partition_key=DAY.date().isoformat(),
        run_id="bench",
        log=logging.getLogger("bench"),
        resources={"anthropic": AnthropicAdminClient(base_url=api_url, api_key=API_KEY)},
    )
    return {
        "rows": result.rows,
        "rejected": result.rejected,
        "seconds": result.seconds,
        "rss_before_mb": rss_before_mb,
        "rss_peak_mb": _memory_mb("VmHWM"),
    }


def _memory_mb(field: str) -> float:
    """This process's resident memory now (VmRSS) or at its peak (VmHWM), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _run_child(url: str, api_url: str) -> dict:
    """Run `collect` in a child; its figures, plus `ru_maxrss` as `wait4` reports it."""
    with tempfile.TemporaryFile(mode="w+") as errors:
        # stderr goes to a file, so a chatty child never blocks on a pipe nobody reads.
        child = subprocess.Popen(
            [sys.executable, __file__, "--collect", api_url, "--url", url],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        out = child.stdout.read()
        child.stdout.close()
        # Reaped here rather than by Popen.wait, to have the child's resource usage.
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            raise RuntimeError(
                f"the collector failed ({child.returncode}):\n{errors.read()[-4000:]}"
            )
    figures = json.loads(out.strip().splitlines()[-1])
    figures["ru_maxrss_mb"] = usage.ru_maxrss / 1024
    return figures


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=_positive, default=1_000_000)
    parser.add_argument("--small", type=_positive, default=10_000)
    parser.add_argument("--page-size", type=_positive, default=_UsagePages.page_size)
    parser.add_argument("--url", default=os.environ.get("VAULT_BENCH_DATABASE_URL"))
    parser.add_argument("--collect", metavar="API_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.collect:
        print(json.dumps(collect(args.url, args.collect)))
        return

    if args.small >= args.records:
        parser.error(f"--small ({args.small:,}) must be below --records ({args.records:,})")
    _UsagePages.page_size = args.page_size
    server_url = args.url or warehouse_url()
    name = f"vault_bench_memory_{uuid.uuid4().hex[:8]}"
    url = urlsplit(server_url)._replace(path=f"/{name}").geturl()
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    server = ThreadingHTTPServer(("127.0.0.1", 0), _UsagePages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    runs = {}
    try:
        api_root = f"http://127.0.0.1:{server.server_address[1]}"
        for count in (args.small, args.records):
            started = time.perf_counter()
            runs[count] = _run_child(url, f"{api_root}/records/{count}")
            runs[count]["wall"] = time.perf_counter() - started
            assert runs[count]["rows"] == count, runs[count]
            with psycopg.connect(url) as conn:
                stored = conn.execute(
                    "select count(*) from raw.anthropic_messages_usage"
                ).fetchone()[0]
            assert stored == count, stored
    finally:
        server.shutdown()
        server.server_close()
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')

    print(
        f"Anthropic usage collector, one partition, pages of {args.page_size:,} results "
        "from a local HTTP server"
    )
    print(
        f"{'records':>10}  {'records/s':>9}  {'before MB':>9}  {'peak MB':>8}  {'ru_maxrss MB':>12}"
    )
    for count, run in runs.items():
        print(
            f"{count:>10,}  {count / run['seconds']:>9,.0f}  {run['rss_before_mb']:>9,.0f}  "
            f"{run['rss_peak_mb']:>8,.0f}  {run['ru_maxrss_mb']:>12,.0f}"
        )
    small, large = runs[args.small], runs[args.records]
    print(
        f"ratio of peaks {args.records:,} / {args.small:,}: "
        f"{large['rss_peak_mb'] / small['rss_peak_mb']:.2f} "
        f"(growth over the process before collecting: "
        f"{small['rss_peak_mb'] - small['rss_before_mb']:.0f} MB against "
        f"{large['rss_peak_mb'] - large['rss_before_mb']:.0f} MB)"
    )


if __name__ == "__main__":
    main()
