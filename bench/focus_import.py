"""FOCUS import throughput and memory: the importer against `psql \\copy` of the same rows.

    .venv/bin/python bench/focus_import.py [--rows 1000000] [--url postgresql://...]

Writes one FOCUS 1.2 file of `--rows` rows as CSV and the same rows as Parquet, then imports
each through the real file collector (`run_file_collector` with the `focus_rows` collector: a
local folder location, hashing, the FOCUS reader with its row checks, the raw loader's COPY)
in a child process of its own, whose peak resident memory is reported. The baseline is
`psql -c "\\copy ... from file"` of exactly the rows the importer stored (exported from its
table first) into a table of the same shape, in the same run: psql only parses text it is
given, so the ratio says what reading, checking and encoding FOCUS costs on top of Postgres'
own jsonb input, and survives a noisy machine better than the absolute figures.

Everything happens in a scratch database created on the server of `--url`, else
`VAULT_BENCH_DATABASE_URL`, else the embedded server, and dropped at the end.
"""

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.sandbox.focus_files import COLUMNS
from orchestration.warehouse.connection import warehouse_url
from orchestration.warehouse.embedded import postgres_bin_dir

SERVICES = (
    ("GPU Compute", "Compute", "Virtual Machines", "Hours", 2.49),
    ("Block Storage", "Storage", "Block Storage", "GB-Month", 0.0035),
    ("Object Storage", "Storage", "Object Storage", "GB-Month", 0.021),
    ("Managed Postgres", "Databases", "Relational Databases", "Hours", 0.34),
)
TAGS = (
    "",
    json.dumps({"team": "platform", "env": "prod"}),
    json.dumps({"team": "ml", "env": "dev", "project": "eval-harness"}),
    json.dumps({"Team": "checkout"}),
)
FLOAT_COLUMNS = {
    "BilledCost",
    "ConsumedQuantity",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "ListCost",
    "ListUnitPrice",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
}
TIME_COLUMNS = {"BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart"}


def focus_rows(count: int, seed: int = 1) -> Iterator[tuple[str, ...]]:
    """`count` FOCUS 1.2 rows (in `COLUMNS` order): hourly charges over November 2026."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    empty = dict.fromkeys(COLUMNS, "")
    for n in range(count):
        service, category, subcategory, unit, price = SERVICES[n % len(SERVICES)]
        hour = start + timedelta(hours=(n // 997) % 720)
        quantity = round(rng.uniform(0.1, 40.0), 4)
        cost = f"{quantity * price:.6f}"
        account = f"proj-{n % 53:03d}"
        row = {
            **empty,
            "BilledCost": cost,
            "BillingAccountId": "tenancy-01",
            "BillingAccountName": "Bench tenancy",
            "BillingAccountType": "Tenancy",
            "BillingCurrency": "USD",
            "BillingPeriodEnd": "2026-12-01T00:00:00Z",
            "BillingPeriodStart": "2026-11-01T00:00:00Z",
            "ChargeCategory": "Usage",
            "ChargeDescription": f"{service} in us-east",
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodEnd": (hour + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ChargePeriodStart": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ConsumedQuantity": str(quantity),
            "ConsumedUnit": unit,
            "ContractedCost": cost,
            "ContractedUnitPrice": str(price),
            "EffectiveCost": cost,
            "InvoiceId": "INV-202611",
            "InvoiceIssuerName": "Bench Cloud",
            "ListCost": cost,
            "ListUnitPrice": str(price),
            "PricingCategory": "Standard",
            "PricingCurrency": "USD",
            "PricingCurrencyContractedUnitPrice": str(price),
            "PricingCurrencyEffectiveCost": cost,
            "PricingCurrencyListUnitPrice": str(price),
            "PricingQuantity": str(quantity),
            "PricingUnit": unit,
            "ProviderName": "Bench Cloud",
            "PublisherName": "Bench Cloud",
            "RegionId": "us-east",
            "RegionName": "US East",
            "ResourceId": f"bench://{account}/r-{n % 4099:05d}",
            "ResourceName": f"r-{n % 4099:05d}",
            "ResourceType": "Instance",
            "ServiceCategory": category,
            "ServiceName": service,
            "ServiceSubcategory": subcategory,
            "SkuId": f"sku-{n % 4}",
            "SkuMeter": unit,
            "SkuPriceId": f"sku-{n % 4}-on-demand",
            "SubAccountId": account,
            "SubAccountName": account,
            "SubAccountType": "Project",
            "Tags": TAGS[n % len(TAGS)],
            "x_UsageType": f"{service}:{unit}",
            "ClusterName": f"cluster-{n % 7}",
        }
        yield tuple(row[name] for name in COLUMNS)


def write_csv(path: Path, count: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(focus_rows(count))


def write_parquet(path: Path, count: int, chunk: int = 100_000) -> None:
    """The same rows as Parquet, typed as exporters type them (doubles, UTC timestamps)."""
    fields = [
        pa.field(
            name,
            pa.float64()
            if name in FLOAT_COLUMNS
            else pa.timestamp("us", tz="UTC")
            if name in TIME_COLUMNS
            else pa.string(),
        )
        for name in COLUMNS
    ]
    schema = pa.schema(fields, metadata={"FocusVersion": "1.2"})
    rows = focus_rows(count)
    with pq.ParquetWriter(path, schema) as writer:
        while batch := [row for _, row in zip(range(chunk), rows, strict=False)]:
            columns = []
            for position, field in enumerate(fields):
                values = [row[position] or None for row in batch]
                if field.name in FLOAT_COLUMNS:
                    values = [None if v is None else float(v) for v in values]
                elif field.name in TIME_COLUMNS:
                    values = [datetime.fromisoformat(v) for v in values]
                columns.append(pa.array(values, field.type))
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))


def import_file(url: str, folder: Path) -> dict:
    """Child process: import the one file in `folder`; rows, seconds and memory as a dict."""
    import logging

    from assets.focus import focus_rows as collector
    from orchestration.clients.file_store import FileLocation, FileStore
    from orchestration.collectors.files import run_file_collector
    from orchestration.warehouse.connection import WarehouseResource

    rss_before_mb = _memory_mb("VmRSS")
    store = FileStore(locations=[FileLocation(uri=str(folder))])
    started = time.perf_counter()
    report = run_file_collector(
        collector,
        WarehouseResource(url=url),
        store,
        run_id="bench",
        log=logging.getLogger("bench"),
    )
    seconds = time.perf_counter() - started
    assert not report.refused and not report.failed, (report.refused, report.failed)
    return {
        "rows": report.rows,
        "seconds": seconds,
        "rss_before_mb": rss_before_mb,
        "rss_peak_mb": _memory_mb("VmHWM"),
    }


def _memory_mb(field: str) -> float:
    """This process's resident memory now (VmRSS) or at its peak (VmHWM), from /proc.

    Not `getrusage`'s ru_maxrss: Linux carries it over an exec, so a child would report the
    size of the parent it was forked from.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _psql() -> str:
    return shutil.which("psql") or str(postgres_bin_dir() / "psql")


def _scratch(server_url: str) -> tuple[str, str]:
    name = f"vault_bench_focus_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    return name, urlsplit(server_url)._replace(path=f"/{name}").geturl()


def _run_child(url: str, folder: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--import-folder", str(folder), "--url", url],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"import of {folder} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", default=os.environ.get("VAULT_BENCH_DATABASE_URL"))
    parser.add_argument("--import-folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.import_folder:
        print(json.dumps(import_file(args.url, args.import_folder)))
        return

    server_url = args.url or warehouse_url()
    name, url = _scratch(server_url)
    try:
        with tempfile.TemporaryDirectory(prefix="vault-bench-focus-") as scratch:
            root = Path(scratch)
            (root / "csv").mkdir()
            (root / "parquet").mkdir()
            csv_file, parquet_file = root / "csv" / "focus.csv", root / "parquet" / "focus.parquet"
            started = time.perf_counter()
            write_csv(csv_file, args.rows)
            write_parquet(parquet_file, args.rows)
            generate_s = time.perf_counter() - started

            csv_run = _run_child(url, root / "csv")
            parquet_run = _run_child(url, root / "parquet")
            with psycopg.connect(url, autocommit=True) as conn:
                stored = conn.execute("select count(*) from raw.focus_rows").fetchone()[0]
                assert stored == 2 * args.rows, stored
                conn.execute("create table raw.bench_psql (like raw.focus_rows including all)")
                data = root / "rows.tsv"
                columns = "partition_key, natural_key, load_seq, run_id, loaded_at, record"
                query = (
                    f"copy (select {columns} from raw.focus_rows "
                    f"where partition_key = '{csv_file.resolve().as_uri()}') to stdout"
                )
                with data.open("wb") as out, conn.cursor().copy(query) as copy:
                    for chunk in copy:
                        out.write(chunk)
                started = time.perf_counter()
                subprocess.run(
                    [_psql(), url, "-q", "-c", f"\\copy raw.bench_psql ({columns}) from '{data}'"],
                    check=True,
                )
                psql_s = time.perf_counter() - started
                copied = conn.execute("select count(*) from raw.bench_psql").fetchone()[0]
                assert copied == args.rows, copied
            sizes = {
                "csv": csv_file.stat().st_size / 1e6,
                "parquet": parquet_file.stat().st_size / 1e6,
                "copy": data.stat().st_size / 1e6,
            }
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')

    n = args.rows
    print(
        f"rows: {n:,} (CSV {sizes['csv']:,.0f} MB, Parquet {sizes['parquet']:,.0f} MB, "
        f"{sizes['copy']:,.0f} MB as COPY text); files written in {generate_s:.1f}s"
    )
    for label, run in (("CSV", csv_run), ("Parquet", parquet_run)):
        print(
            f"importer, {label:<8}: {n / run['seconds']:>8,.0f} rows/s ({run['seconds']:.1f}s), "
            f"peak RSS {run['rss_peak_mb']:,.0f} MB (before reading {run['rss_before_mb']:,.0f} MB)"
        )
    print(f"psql \\copy, same rows: {n / psql_s:>8,.0f} rows/s ({psql_s:.1f}s)")
    print(
        f"ratio importer / psql \\copy: {psql_s / csv_run['seconds']:.2f} (CSV), "
        f"{psql_s / parquet_run['seconds']:.2f} (Parquet)"
    )


if __name__ == "__main__":
    main()
