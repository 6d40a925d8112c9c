"""Raw-load throughput: the vault's loader against `psql \\copy` and dlt, same records, one run.

    .venv/bin/python bench/raw_load.py [--records 1000000] [--url postgresql://...]
        [--dlt-format insert_values|csv]

The first two paths write the same rows into tables of the same shape in a scratch schema:

1. the loader: `replace_partition` fed realistic usage records (the shape of the Anthropic
   usage report), paying for JSON encoding, key extraction and COPY framing;
2. `psql -c "\\copy ... from file"` of a file holding exactly the rows the loader stored
   (exported from its table first), so psql only parses text it is given;
3. dlt (the `bench` extra) loading the same records with a pipeline into its postgres
   destination, in a dataset schema of its own that is dropped afterwards. dlt flattens each
   record into typed columns (nested objects become `parent__child` columns) rather than
   keeping it as jsonb, and its state lives in a temporary pipelines folder.

The loader runs twice: fed from records built beforehand (its own cost: encoding, keys, COPY)
and fed by the generator as they are made (what a collector sees, generation included; memory
stays flat in that mode). The warehouse is `--url`, else `VAULT_DATABASE_URL`, else the embedded server.
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.warehouse.connection import warehouse_url
from orchestration.warehouse.embedded import postgres_bin_dir
from orchestration.warehouse.loader import replace_partition

MODELS = ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805"]
NATURAL_KEY = ("starting_at", "api_key_id", "workspace_id", "model", "service_tier")


def usage_records(count: int, seed: int = 1) -> Iterator[dict]:
    rng = random.Random(seed)
    day = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(count):
        start = day + timedelta(minutes=n % 1440)
        yield {
            "starting_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ending_at": (start + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "api_key_id": f"apikey_01{n // 1440:012d}",
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


def dlt_load(url: str, records, *, dataset: str, file_format: str) -> float:
    """Seconds dlt takes to extract, normalise and load `records` into `dataset`.usage."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    try:
        import dlt
        from dlt.destinations.impl.postgres.configuration import PostgresCredentials
    except ImportError:
        raise SystemExit("dlt is not installed: pip install -e '.[bench]'") from None

    credentials = PostgresCredentials()
    credentials.parse_native_representation(url)
    # A server with trust authentication needs no password, but dlt asks for one.
    credentials.password = credentials.password or ""
    credentials.resolve()
    with tempfile.TemporaryDirectory(prefix="vault-bench-dlt-") as pipelines_dir:
        pipeline = dlt.pipeline(
            pipeline_name="bench_raw_load",
            destination=dlt.destinations.postgres(credentials=credentials),
            dataset_name=dataset,
            pipelines_dir=pipelines_dir,
        )
        started = time.perf_counter()
        info = pipeline.run(
            records,
            table_name="usage",
            write_disposition="replace",
            loader_file_format=file_format,
            # Always null in these records: typed up front, so dlt creates the column too.
            columns={"inference_geo": {"data_type": "text"}},
        )
        seconds = time.perf_counter() - started
    info.raise_on_failed_jobs()
    return seconds


def _psql() -> str:
    return shutil.which("psql") or str(postgres_bin_dir() / "psql")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--url", default=os.environ.get("VAULT_DATABASE_URL"))
    parser.add_argument(
        "--dlt-format",
        choices=("insert_values", "csv"),
        default="insert_values",
        help="dlt's loader file format for postgres (insert_values, its default; csv is COPY)",
    )
    args = parser.parse_args()
    url = args.url or warehouse_url()
    table = "bench_raw_load"
    dataset = f"{table}_dlt"

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"drop table if exists raw.{table}, raw.{table}_psql")
        conn.execute(f"drop schema if exists {dataset} cascade")

        started = time.perf_counter()
        prepared = list(usage_records(args.records))
        generate_s = time.perf_counter() - started

        def load(records) -> float:
            started = time.perf_counter()
            result = replace_partition(
                conn,
                source="bench",
                table=table,
                partition_key="2026-11-01",
                run_id="bench",
                records=records,
                natural_key=NATURAL_KEY,
            )
            assert result.rows == args.records, result
            return time.perf_counter() - started

        loader_s = load(iter(prepared))
        try:
            dlt_s = dlt_load(url, iter(prepared), dataset=dataset, file_format=args.dlt_format)
            stored = conn.execute(f"select count(*) from {dataset}.usage").fetchone()[0]
            assert stored == args.records, stored
        finally:
            conn.execute(f"drop schema if exists {dataset} cascade")
        del prepared
        streaming_s = load(usage_records(args.records))

        conn.execute(f"create table raw.{table}_psql (like raw.{table} including all)")
        with tempfile.TemporaryDirectory() as scratch:
            data = Path(scratch) / "rows.tsv"
            columns = "partition_key, natural_key, load_seq, run_id, loaded_at, record"
            with (
                data.open("wb") as out,
                conn.cursor().copy(f"copy raw.{table} ({columns}) to stdout") as copy,
            ):
                for chunk in copy:
                    out.write(chunk)
            started = time.perf_counter()
            subprocess.run(
                [_psql(), url, "-q", "-c", f"\\copy raw.{table}_psql ({columns}) from '{data}'"],
                check=True,
            )
            psql_s = time.perf_counter() - started
            size_mb = data.stat().st_size / 1e6
        copied = conn.execute(f"select count(*) from raw.{table}_psql").fetchone()[0]
        assert copied == args.records, copied
        conn.execute(f"drop table raw.{table}, raw.{table}_psql")

    n = args.records
    print(f"records: {n:,} ({size_mb:,.0f} MB as COPY text)")
    print(f"generating the records      : {n / generate_s:>10,.0f} records/s  ({generate_s:.1f}s)")
    print(f"vault loader, records ready : {n / loader_s:>10,.0f} records/s  ({loader_s:.1f}s)")
    print(
        f"vault loader, from generator: {n / streaming_s:>10,.0f} records/s  ({streaming_s:.1f}s)"
    )
    print(f"psql \\copy of the same rows : {n / psql_s:>10,.0f} records/s  ({psql_s:.1f}s)")
    print(f"dlt, {args.dlt_format:<23}: {n / dlt_s:>10,.0f} records/s  ({dlt_s:.1f}s)")
    print(
        f"ratio loader / psql \\copy   : {psql_s / loader_s:.2f} (records ready), "
        f"{psql_s / streaming_s:.2f} (generated while loading)"
    )
    print(f"ratio loader / dlt          : {dlt_s / loader_s:.2f} (records ready)")


if __name__ == "__main__":
    main()
