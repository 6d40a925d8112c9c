"""The FOCUS file importer end to end: locations, versions, refusals, the ledger.

Every test loads into a real PostgreSQL through the real reader, file collector and raw
loader. Remote locations are real servers of the vendors' protocols on loopback ports, read
with the vendors' own SDKs:

- S3: moto's `ThreadedMotoServer`; boto3 is pointed at it with the location's `endpoint_url`.
- GCS: `gcp-storage-emulator` (a Cloud Storage JSON API server); google-cloud-storage is
  pointed at it with `STORAGE_EMULATOR_HOST`, the library's own switch for emulators, which
  also makes it send no credentials. That environment variable is the only seam.

The FOCUS fixtures are small files written here by hand, one per version, plus the sandbox
provider's exports (orchestration/sandbox/focus_files.py) for the ledger.
"""

import csv
import dataclasses
import gzip
import hashlib
import io
import json
import logging
import os
import socket
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import boto3
import dagster as dg
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer

from assets.focus import focus_rows
from orchestration.clients.file_store import FileLocation, FileStore
from orchestration.clients.focus import MANDATORY_COLUMNS
from orchestration.collectors.files import build_file_collector_asset, run_file_collector
from orchestration.config import ConfigError, load_config
from orchestration.dbt.assets import ensure_sources_exist
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable
from orchestration.sandbox.cloud import GPU_CLOUD, cloud_costs_for_day
from orchestration.sandbox.company import build_company
from orchestration.sandbox.focus_files import (
    COLUMNS as SANDBOX_COLUMNS,
)
from orchestration.sandbox.focus_files import (
    PROVIDER,
    billed_cost_for_day,
    rows_for_day,
    write_focus_exports,
)
from orchestration.schedules import CHARGE_PERIOD_END_KEY, CHARGE_PERIOD_START_KEY
from orchestration.warehouse.connection import WarehouseResource, dbt_env

LOG = logging.getLogger("test_focus")

# FOCUS 1.0 as AWS Data Exports writes it: the 21 mandatory columns, 1.0's conditional ones,
# an x_ column; Tags a JSON object in a CSV cell.
FOCUS_1_0 = """\
AvailabilityZone,BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,\
BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,\
ChargeFrequency,ChargePeriodEnd,ChargePeriodStart,ConsumedQuantity,ConsumedUnit,\
ContractedCost,ContractedUnitPrice,EffectiveCost,InvoiceIssuerName,ListCost,ListUnitPrice,\
PricingCategory,PricingQuantity,PricingUnit,ProviderName,PublisherName,RegionId,RegionName,\
ResourceId,ServiceCategory,ServiceName,SkuId,SkuPriceId,SubAccountId,SubAccountName,Tags,\
x_UsageType
us-east-1a,4.416,111122223333,Acme,USD,2026-12-01T00:00:00Z,2026-11-01T00:00:00Z,Usage,,\
m6i.xlarge hours,Usage-Based,2026-11-04T00:00:00Z,2026-11-03T00:00:00Z,24,Hrs,4.416,0.184,\
4.416,AWS,4.608,0.192,Standard,24,Hrs,AWS,AWS,us-east-1,US East (N. Virginia),i-0abc,Compute,\
Amazon Elastic Compute Cloud,SKU1,SKU1.PRICE,444455556666,payments-prod,\
"{""team"":""payments"",""env"":""prod""}",USE1-BoxUsage:m6i.xlarge
,-1.25,111122223333,Acme,USD,2026-12-01T00:00:00Z,2026-11-01T00:00:00Z,Credit,,\
Promotional credit,One-Time,2026-11-04T00:00:00Z,2026-11-03T00:00:00Z,,,0,,-1.25,AWS,0,,,,,\
AWS,AWS,,,,Compute,Amazon Elastic Compute Cloud,,,444455556666,payments-prod,,
"""

# FOCUS 1.1 as a home-made converter might write it: snake_case headers, the
# columns 1.1 added (ServiceSubcategory, SkuMeter, CommitmentDiscount*), no x_ column.
FOCUS_1_1 = """\
billed_cost,billing_account_id,billing_account_name,billing_currency,billing_period_end,\
billing_period_start,charge_category,charge_class,charge_description,charge_period_end,\
charge_period_start,contracted_cost,effective_cost,invoice_issuer_name,list_cost,\
pricing_quantity,pricing_unit,provider_name,publisher_name,service_category,service_name,\
service_subcategory,sku_meter,commitment_discount_quantity,commitment_discount_unit,tags
0.75,01A2B3-C4D5E6,Acme billing,usd,2026-12-01 00:00:00,2026-11-01 00:00:00,Usage,,\
Standard storage,2026-11-04 00:00:00,2026-11-03 00:00:00,0.75,0.75,Google Cloud,0.75,\
28.8,GiB-Month,Google Cloud,Google Cloud,Storage,Cloud Storage,Object Storage,\
Standard Storage,,,"{""app"":""search""}"
"""

# FOCUS 1.2 with its version declared in x_FocusVersion, the columns 1.2 added, an x_ column,
# and one column outside FOCUS (CostCenter), which lands under _other_columns.
FOCUS_1_2 = """\
BilledCost,BillingAccountId,BillingAccountName,BillingAccountType,BillingCurrency,\
BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,\
ChargePeriodEnd,ChargePeriodStart,ContractedCost,EffectiveCost,InvoiceId,InvoiceIssuerName,\
ListCost,PricingCategory,PricingCurrency,PricingQuantity,PricingUnit,ProviderName,\
PublisherName,ServiceCategory,ServiceName,SubAccountId,SubAccountType,Tags,x_FocusVersion,\
x_Region,CostCenter
12.50,8a1f3c52,Acme EA,Enterprise Agreement,USD,2026-12-01T00:00:00Z,2026-11-01T00:00:00Z,\
Usage,,D4s v5 hours,2026-11-04T00:00:00Z,2026-11-03T00:00:00Z,12.50,12.50,INV-0042,\
Microsoft,13.1578947,Standard,USD,48,1 Hour,Microsoft,Microsoft,Compute,Virtual Machines,\
6f1c2d3e,Subscription,"{""team"":""platform"",""cost-center"":""R&D""}",1.2,eastus,CC-7
2.00,8a1f3c52,Acme EA,Enterprise Agreement,USD,2026-12-01T00:00:00Z,2026-11-01T00:00:00Z,\
Tax,,Sales tax,2026-11-05T00:00:00Z,2026-11-04T00:00:00Z,2.00,2.00,INV-0042,Microsoft,2.00,\
,USD,,,Microsoft,Microsoft,Compute,Virtual Machines,6f1c2d3e,Subscription,,1.2,eastus,
"""


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _write_csv(path: Path, rows: list[dict[str, str]], *, columns=None, encoding="utf-8"):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns or list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = buffer.getvalue().encode(encoding)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def _charges(count: int, *, day: int = 3, amount: str = "1.10") -> list[dict[str, str]]:
    """`count` FOCUS 1.2 usage rows of one day, one per resource."""
    base = _csv_rows(FOCUS_1_2)[0]
    return [
        {
            **base,
            "BilledCost": amount,
            "EffectiveCost": amount,
            "ContractedCost": amount,
            "ListCost": amount,
            "ChargePeriodStart": f"2026-11-{day:02d}T00:00:00Z",
            "ChargePeriodEnd": f"2026-11-{day + 1:02d}T00:00:00Z",
            "ChargeDescription": f"resource {n}",
        }
        for n in range(count)
    ]


def _store(*locations: FileLocation | Path) -> FileStore:
    return FileStore(
        locations=[
            place if isinstance(place, FileLocation) else FileLocation(uri=str(place))
            for place in locations
        ]
    )


def _run(database_url: str, store: FileStore, *, run_id: str = "run-1", spec=focus_rows):
    return run_file_collector(
        spec, WarehouseResource(url=database_url), store, run_id=run_id, log=LOG
    )


def _files(conn) -> dict[str, tuple[int, Decimal, str]]:
    """file URI -> (rows, total BilledCost, run id) in raw."""
    rows = conn.execute(
        """
        select partition_key, count(*), sum((record ->> 'BilledCost')::numeric), min(run_id)
        from raw.focus_rows group by 1 order by 1
        """
    ).fetchall()
    return {uri: (count, total, run_id) for uri, count, total, run_id in rows}


def _records(conn, uri: str) -> list[dict]:
    rows = conn.execute(
        "select record from raw.focus_rows where partition_key = %s order by load_seq", (uri,)
    ).fetchall()
    return [row[0] for row in rows]


def _rejections(conn) -> list[tuple[str, str, dict]]:
    rows = conn.execute(
        "select partition_key, reason, raw_text from raw._rejected "
        "where table_name = 'focus_rows' order by partition_key"
    ).fetchall()
    return [(uri, reason, json.loads(text)) for uri, reason, text in rows]


def _uri(path: Path) -> str:
    return path.resolve().as_uri()


def _parquet(path: Path, rows: list[dict[str, str]]) -> Path:
    """A Parquet file of `rows` typed as exporters type them: doubles, timestamps, a tag map."""
    columns = {}
    for name in rows[0]:
        values = [row[name] or None for row in rows]
        if name in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
            columns[name] = pa.array([None if v is None else float(v) for v in values])
        elif name.endswith(("PeriodStart", "PeriodEnd")):
            parsed = [datetime.fromisoformat(v) for v in values]
            columns[name] = pa.array(parsed, pa.timestamp("ms", tz="UTC"))
        elif name == "Tags":
            kind = pa.map_(pa.string(), pa.string())
            columns[name] = pa.array(
                [None if v is None else list(json.loads(v).items()) for v in values], kind
            )
        else:
            columns[name] = pa.array(values, pa.string())
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def test_csv_and_parquet_files_in_a_folder_load_one_partition_each(conn, database_url, tmp_path):
    csv_file = tmp_path / "exports" / "2026-11" / "azure.csv"
    csv_file.parent.mkdir(parents=True)
    csv_file.write_text(FOCUS_1_2)
    parquet_file = _parquet(tmp_path / "exports" / "aws.parquet", _csv_rows(FOCUS_1_0))
    (tmp_path / "exports" / "README.txt").write_text("not an export")

    report = _run(database_url, _store(tmp_path / "exports"))

    assert sorted(report.loaded) == sorted([_uri(csv_file), _uri(parquet_file)])
    assert (report.rows, report.refused, report.failed) == (4, {}, {})
    assert _files(conn) == {
        _uri(csv_file): (2, Decimal("14.50"), "run-1"),
        _uri(parquet_file): (2, Decimal("3.166"), "run-1"),
    }
    first = _records(conn, _uri(csv_file))[0]
    assert first["Tags"] == {"team": "platform", "cost-center": "R&D"}
    assert (first["x_FocusVersion"], first["x_Region"]) == ("1.2", "eastus")
    assert first["_other_columns"] == {"CostCenter": "CC-7"}
    assert first["_import"] == {"file": _uri(csv_file), "row": 1, "focus_version": "1.2"}
    assert "ChargeClass" not in first, "an empty cell is left out of the record"
    from_parquet = _records(conn, _uri(parquet_file))[0]
    assert (from_parquet["BilledCost"], from_parquet["PricingQuantity"]) == ("4.416", "24")
    assert from_parquet["ChargePeriodStart"] == "2026-11-03 00:00:00.000Z"
    assert from_parquet["Tags"] == {"team": "payments", "env": "prod"}
    assert report.period_start == datetime(2026, 11, 3, tzinfo=UTC)
    assert report.period_end == datetime(2026, 11, 5, tzinfo=UTC)


def test_parquet_tags_as_key_value_structs_and_a_declared_version_are_read(
    conn, database_url, tmp_path
):
    rows = _csv_rows(FOCUS_1_1)
    table = pa.table(
        {
            **{
                canonical: pa.array([row[name] or None for row in rows], pa.string())
                for name, canonical in (
                    (name, "".join(part.title() for part in name.split("_")))
                    for name in rows[0]
                    if name != "tags"
                )
            },
            "Tags": pa.array(
                [[{"key": "app", "value": "search"}, {"key": "env", "value": "prod"}]],
                pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())])),
            ),
        }
    ).replace_schema_metadata({"FocusVersion": "1.1"})
    path = tmp_path / "drop" / "bq.parquet"
    path.parent.mkdir()
    pq.write_table(table, path)

    report = _run(database_url, _store(path.parent))

    assert report.refused == {}
    [record] = _records(conn, _uri(path))
    assert record["Tags"] == {"app": "search", "env": "prod"}
    assert (record["_import"]["focus_version"], record["ServiceSubcategory"]) == (
        "1.1",
        "Object Storage",
    )


def test_a_file_is_loaded_once_by_name_and_checksum(conn, database_url, tmp_path):
    folder = tmp_path / "drop"
    export = _write_csv(folder / "a.csv", _charges(3))
    _run(database_url, _store(folder), run_id="run-1")

    second = _run(database_url, _store(folder), run_id="run-2")
    os.utime(export, (export.stat().st_atime, export.stat().st_mtime + 60))
    touched = _run(database_url, _store(folder), run_id="run-3")

    assert (second.loaded, second.unchanged) == ([], 1)
    assert (touched.loaded, touched.unchanged) == ([], 1), "same content, new mtime: not reread"
    assert _files(conn) == {_uri(export): (3, Decimal("3.30"), "run-1")}
    state = dict(conn.execute("select state_key, value from raw._collector_state").fetchall())
    loaded = state[f"loaded:{_uri(export)}"]
    assert loaded["sha256"] == hashlib.sha256(export.read_bytes()).hexdigest()
    assert loaded["version"].endswith(str(export.stat().st_mtime_ns))


def test_a_redelivered_file_replaces_exactly_its_own_rows(conn, database_url, tmp_path):
    folder = tmp_path / "drop"
    first = _write_csv(folder / "2026-11-03.csv", _charges(5, day=3, amount="2.00"))
    other = _write_csv(folder / "2026-11-04.csv", _charges(4, day=4, amount="3.00"))
    _run(database_url, _store(folder), run_id="run-1")

    _write_csv(first, _charges(2, day=2, amount="7.25"))
    report = _run(database_url, _store(folder), run_id="run-2")

    assert (report.loaded, report.unchanged, report.rows) == ([_uri(first)], 1, 2)
    assert _files(conn) == {
        _uri(first): (2, Decimal("14.50"), "run-2"),
        _uri(other): (4, Decimal("12.00"), "run-1"),
    }
    # The rebuild covers the days the old delivery had (the 3rd) and the new one has (the 2nd).
    assert (report.period_start, report.period_end) == (
        datetime(2026, 11, 2, tzinfo=UTC),
        datetime(2026, 11, 4, tzinfo=UTC),
    )


def test_focus_1_0_1_1_and_1_2_files_are_read_under_the_1_2_names(conn, database_url, tmp_path):
    folder = tmp_path / "versions"
    (folder / "v1_0.csv").parent.mkdir(parents=True)
    (folder / "v1_0.csv").write_text(FOCUS_1_0)
    (folder / "v1_1.csv").write_text(FOCUS_1_1)
    (folder / "v1_2.csv").write_text(FOCUS_1_2.replace("1.2,eastus", "v1.2,eastus"))

    report = _run(database_url, _store(folder))

    assert report.refused == {}
    versions = dict(
        conn.execute(
            "select distinct partition_key, record -> '_import' ->> 'focus_version' "
            "from raw.focus_rows"
        ).fetchall()
    )
    assert versions == {
        _uri(folder / "v1_0.csv"): "1.0",
        _uri(folder / "v1_1.csv"): "1.1",
        _uri(folder / "v1_2.csv"): "1.2",
    }
    row_1_1 = _records(conn, _uri(folder / "v1_1.csv"))[0]
    assert {key: row_1_1[key] for key in ("BilledCost", "ServiceSubcategory", "SkuMeter")} == {
        "BilledCost": "0.75",
        "ServiceSubcategory": "Object Storage",
        "SkuMeter": "Standard Storage",
    }
    assert set(MANDATORY_COLUMNS) - {"ChargeClass"} <= set(row_1_1)
    credit = _records(conn, _uri(folder / "v1_0.csv"))[1]
    assert (credit["ChargeCategory"], credit["BilledCost"]) == ("Credit", "-1.25")
    assert "x_UsageType" not in credit and "Tags" not in credit


def test_a_configured_version_overrides_the_columns_and_names_the_provider(
    conn, database_url, tmp_path
):
    folder = tmp_path / "pinned"
    folder.mkdir()
    (folder / "a.csv").write_text(FOCUS_1_1)
    location = FileLocation(
        uri=str(folder), options={"focus_version": "1.0", "provider_name": "GCP (reseller)"}
    )

    _run(database_url, _store(location))

    record = _records(conn, _uri(folder / "a.csv"))[0]
    assert record["_import"]["focus_version"] == "1.0"
    assert record["_import"]["provider_name"] == "GCP (reseller)"
    assert record["ProviderName"] == "Google Cloud", "the file's own value stays untouched"


def test_gzip_byte_order_marks_and_a_configured_encoding_are_read(conn, database_url, tmp_path):
    folder = tmp_path / "encodings"
    rows = _charges(2)
    rows[0]["ChargeDescription"] = "Réservé, façade ✓"
    _write_csv(folder / "gz" / "a.csv.gz", rows, encoding="utf-8-sig")
    _write_csv(folder / "utf16.csv", rows, encoding="utf-16")
    latin = [{**row, "ChargeDescription": "Réservé"} for row in rows]
    _write_csv(folder / "latin" / "b.csv", latin, encoding="cp1252")
    locations = [
        FileLocation(uri=str(folder), patterns=["gz/*.csv.gz", "*16.csv"]),
        FileLocation(uri=str(folder / "latin"), options={"encoding": "cp1252"}),
    ]

    report = _run(database_url, _store(*locations))

    assert (len(report.loaded), report.refused) == (3, {})
    descriptions = conn.execute(
        "select distinct record ->> 'ChargeDescription' from raw.focus_rows "
        "where record -> '_import' ->> 'row' = '1' order by 1"
    ).fetchall()
    assert descriptions == [("Réservé",), ("Réservé, façade ✓",)]
    names = conn.execute("select count(*) from raw.focus_rows where record ? 'BilledCost'")
    assert names.fetchone()[0] == 6, "a byte-order mark does not stick to the first column name"


def _drop_column(rows, column):
    return [{k: v for k, v in row.items() if k != column} for row in rows]


BAD_INPUTS = {
    "missing mandatory column": (
        lambda rows: _drop_column(rows, "ChargeClass"),
        "missing mandatory FOCUS 1.2 column(s)",
        [],
    ),
    "bad number": (
        lambda rows: [
            {**row, "BilledCost": "12,50"} if i == 1 else row for i, row in enumerate(rows)
        ],
        "BilledCost '12,50' is not a number",
        [2],
    ),
    "bad date": (
        lambda rows: [
            {**row, "ChargePeriodStart": "2026-02-30T00:00:00Z"} if i >= 2 else row
            for i, row in enumerate(rows)
        ],
        "ChargePeriodStart '2026-02-30T00:00:00Z' is not an ISO 8601 date and time",
        [3, 4],
    ),
    "NUL character": (
        lambda rows: [
            {**row, "SubAccountType": "Sub\x00scription"} if i == 0 else row
            for i, row in enumerate(rows)
        ],
        "SubAccountType contains a NUL character",
        [1],
    ),
    "unknown version": (
        lambda rows: [{**row, "x_FocusVersion": "1.3"} for row in rows],
        "FOCUS version '1.3' (from column x_FocusVersion) is not supported",
        [],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_a_bad_file_is_refused_whole_and_its_earlier_rows_survive(
    conn, database_url, tmp_path, case
):
    mutate, reason, offending = BAD_INPUTS[case]
    folder = tmp_path / "drop"
    export = _write_csv(folder / "2026-11.csv", _charges(4, amount="5.00"))
    _run(database_url, _store(folder), run_id="run-1")
    _write_csv(export, mutate(_charges(4, amount="9.00")))
    newcomer = _write_csv(folder / "2026-12.csv", _charges(3, day=5))

    report = _run(database_url, _store(folder), run_id="run-2")

    assert report.loaded == [_uri(newcomer)]
    assert reason in report.refused[_uri(export)]
    assert _files(conn) == {
        _uri(export): (4, Decimal("20.00"), "run-1"),
        _uri(newcomer): (3, Decimal("3.30"), "run-2"),
    }
    [(uri, stored_reason, details)] = _rejections(conn)
    assert uri == _uri(export)
    assert stored_reason.startswith(f"file refused: {_uri(export)}: ")
    assert reason in stored_reason
    assert details["file"] == _uri(export)
    assert [row["row"] for row in details["rows"]] == offending
    for row in details["rows"]:
        assert row["values"]["ChargeDescription"] == f"resource {row['row'] - 1}"


def test_a_bad_row_after_good_ones_rolls_the_whole_file_back(conn, database_url, tmp_path):
    folder = tmp_path / "drop"
    export = _write_csv(folder / "big.csv", _charges(3, amount="1.00"))
    _run(database_url, _store(folder), run_id="run-1")
    rows = _charges(30_000, amount="0.01")  # about 12 MB: several CSV blocks
    rows[-1]["ListCost"] = "n/a"
    _write_csv(export, rows)
    yielded = []

    def counting(file):
        for record in focus_rows.fn(file):
            yielded.append(record["_import"]["row"])
            yield record

    report = _run(
        database_url,
        _store(folder),
        run_id="run-2",
        spec=dataclasses.replace(focus_rows, fn=counting),
    )

    assert len(yielded) > 20_000, "rows streamed into the load before the bad one was read"
    assert (
        "1 row(s) hold values that cannot be read; the first, row 30000"
        in (report.refused[_uri(export)])
    )
    assert _files(conn) == {_uri(export): (3, Decimal("3.00"), "run-1")}
    [(_, _, details)] = _rejections(conn)
    assert details["rows"][0]["problems"] == ["ListCost 'n/a' is not a number"]


def test_a_refusal_stands_until_the_file_changes_and_a_good_delivery_clears_it(
    conn, database_url, tmp_path
):
    folder = tmp_path / "drop"
    export = _write_csv(folder / "a.csv", [{**_charges(1)[0], "BilledCost": "abc"}])
    first = _run(database_url, _store(folder), run_id="run-1")
    again = _run(database_url, _store(folder), run_id="run-2")
    _write_csv(export, _charges(2))
    fixed = _run(database_url, _store(folder), run_id="run-3")

    assert list(first.refused) == [_uri(export)]
    assert (again.refused, again.unchanged) == ({}, 1), "the same bad content is not reread"
    assert (fixed.loaded, fixed.refused) == ([_uri(export)], {})
    assert _rejections(conn) == []
    assert _files(conn) == {_uri(export): (2, Decimal("2.20"), "run-3")}


def test_an_empty_or_pre_1_0_file_is_refused_with_the_reason(conn, database_url, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "empty.csv").write_bytes(b"")
    (folder / "old.csv").write_text(
        FOCUS_1_2.replace("EffectiveCost", "AmortizedCost").replace(",x_FocusVersion", ",x_V")
    )

    report = _run(database_url, _store(folder))

    assert report.refused == {
        _uri(folder / "empty.csv"): "the file is empty: no header row",
        _uri(folder / "old.csv"): (
            "column(s) AmortizedCost are FOCUS 0.5 or 1.0-preview names; only FOCUS 1.0, "
            "1.1, 1.2 files are read"
        ),
    }


def test_a_missing_location_fails_the_run_but_not_the_other_locations(conn, database_url, tmp_path):
    folder = tmp_path / "drop"
    export = _write_csv(folder / "a.csv", _charges(2))

    report = _run(database_url, _store(tmp_path / "nowhere", folder))

    assert report.loaded == [_uri(export)]
    assert report.failed == {str(tmp_path / "nowhere"): f"{tmp_path / 'nowhere'}: no such folder"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def s3(monkeypatch):
    """A moto S3 server on a loopback port, and a boto3 client of it."""
    for variable, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(variable, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        yield endpoint, boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    finally:
        server.stop()


def test_an_s3_prefix_is_read_through_a_moto_server(conn, database_url, tmp_path, s3):
    endpoint, client = s3
    client.create_bucket(Bucket="billing-exports")
    day_1 = _write_csv(tmp_path / "d1.csv.gz", _charges(3, amount="1.50"))
    client.upload_file(str(day_1), "billing-exports", "focus/data/BILLING_PERIOD=2026-11/x.csv.gz")
    parquet = _parquet(tmp_path / "p.parquet", _csv_rows(FOCUS_1_0))
    client.upload_file(str(parquet), "billing-exports", "focus/data/part-0.parquet")
    client.upload_file(str(day_1), "billing-exports", "focus-other/not-mine.csv.gz")
    location = FileLocation(
        uri="s3://billing-exports/focus", endpoint_url=endpoint, region="us-east-1"
    )

    first = _run(database_url, _store(location), run_id="run-1")
    client.put_object(
        Bucket="billing-exports",
        Key="focus/data/BILLING_PERIOD=2026-11/x.csv.gz",
        Body=gzip.compress(_csv_text(_charges(1, amount="9.99")).encode()),
    )
    second = _run(database_url, _store(location), run_id="run-2")

    csv_uri = "s3://billing-exports/focus/data/BILLING_PERIOD=2026-11/x.csv.gz"
    assert sorted(first.loaded) == [csv_uri, "s3://billing-exports/focus/data/part-0.parquet"]
    assert (second.loaded, second.unchanged) == ([csv_uri], 1)
    assert _files(conn) == {
        csv_uri: (1, Decimal("9.99"), "run-2"),
        "s3://billing-exports/focus/data/part-0.parquet": (2, Decimal("3.166"), "run-1"),
    }


def test_a_missing_bucket_is_a_failed_location_with_the_reason(database_url, s3):
    endpoint, _ = s3
    location = FileLocation(uri="s3://no-such-bucket/x", endpoint_url=endpoint)

    report = _run(database_url, _store(location))

    assert list(report.failed) == ["s3://no-such-bucket/x"]
    reason = report.failed["s3://no-such-bucket/x"]
    assert reason.startswith("s3://no-such-bucket/x: cannot be listed: ")
    assert "NoSuchBucket" in reason


def _csv_text(rows) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@pytest.fixture
def gcs(monkeypatch):
    """gcp-storage-emulator in memory on a loopback port, with bucket `focus-exports`."""
    from gcp_storage_emulator.server import create_server
    from google.cloud import storage

    port = _free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="focus-exports")
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    try:
        yield storage.Client().bucket("focus-exports")
    finally:
        server.stop()


def test_a_gcs_prefix_is_read_through_the_storage_emulator(conn, database_url, tmp_path, gcs):
    gcs.blob("billing/focus/2026-11-03.csv").upload_from_string(FOCUS_1_2)
    gcs.blob("billing/focus/2026-11-04.csv").upload_from_string(_csv_text(_charges(2, day=4)))
    gcs.blob("billing/other/2026-11-03.csv").upload_from_string(FOCUS_1_2)
    location = FileLocation(uri="gs://focus-exports/billing/focus/")

    first = _run(database_url, _store(location), run_id="run-1")
    second = _run(database_url, _store(location), run_id="run-2")
    gcs.blob("billing/focus/2026-11-04.csv").upload_from_string(_csv_text(_charges(5, day=4)))
    third = _run(database_url, _store(location), run_id="run-3")

    assert len(first.loaded) == 2
    assert (second.loaded, second.unchanged) == ([], 2)
    assert third.loaded == ["gs://focus-exports/billing/focus/2026-11-04.csv"]
    assert _files(conn) == {
        "gs://focus-exports/billing/focus/2026-11-03.csv": (2, Decimal("14.50"), "run-1"),
        "gs://focus-exports/billing/focus/2026-11-04.csv": (5, Decimal("5.50"), "run-3"),
    }


def test_the_asset_reports_files_rows_and_charge_periods(conn, database_url, tmp_path):
    folder = tmp_path / "drop"
    _write_csv(folder / "good.csv", _charges(3, day=7))
    _write_csv(folder / "bad.csv", [{**_charges(1)[0], "EffectiveCost": ""}])
    asset = build_file_collector_asset(focus_rows, retry_policy=None)

    result = dg.materialize(
        [asset],
        resources={"warehouse": WarehouseResource(url=database_url), "focus": _store(folder)},
    )

    [event] = result.get_asset_materialization_events()
    metadata = {key: value.value for key, value in event.materialization.metadata.items()}
    assert event.materialization.partition is None
    assert {
        key: metadata[key] for key in ("files_loaded", "files_refused", "dagster/row_count")
    } == {
        "files_loaded": 1,
        "files_refused": 1,
        "dagster/row_count": 3,
    }
    assert "EffectiveCost is empty" in metadata["refused"]
    assert metadata[CHARGE_PERIOD_START_KEY] == "2026-11-07T00:00:00+00:00"
    assert metadata[CHARGE_PERIOD_END_KEY] == "2026-11-08T00:00:00+00:00"


def test_the_definitions_give_focus_an_unpartitioned_asset_and_its_own_schedule(tmp_path):
    from orchestration.dbt.project import ensure_manifest
    from orchestration.definitions import build_definitions

    path = tmp_path / "vault.yaml"
    path.write_text(
        "sources:\n  focus:\n    locations:\n"
        f"      - uri: {tmp_path}\n        focus_version: 1.2\n"
        "      - uri: s3://billing-exports/focus\n        region: eu-west-1\n"
    )
    ensure_manifest()
    defs = build_definitions(load_config(path))

    node = defs.resolve_asset_graph().get(dg.AssetKey(["raw", "focus_rows"]))
    assert (node.partitions_def, node.group_name, node.pools) == (None, "focus", {"source_focus"})
    schedules = {schedule.name: schedule.cron_schedule for schedule in defs.schedules}
    assert schedules["collect_focus_files_schedule"] == "17 * * * *"
    store = defs.resources["focus"]
    assert [(loc.uri, loc.region, loc.options) for loc in store.locations] == [
        (str(tmp_path), None, {"focus_version": "1.2"}),
        ("s3://billing-exports/focus", "eu-west-1", {}),
    ]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("locations: []", "sources.focus: Value error, locations: name at least one folder"),
        (
            "locations: [{uri: exports/focus}]",
            "sources.focus.locations.0.uri: Value error, 'exports/focus': a local folder must "
            "be an absolute path",
        ),
        (
            "locations: [{uri: 'https://example.com/x'}]",
            "scheme https:// is not supported; use a local folder, s3://bucket/prefix or gs://",
        ),
        (
            "locations: [{uri: 'gs://focus-exports/x', endpoint_url: 'http://127.0.0.1:1'}]",
            "endpoint_url applies to s3:// locations only",
        ),
        ("locations: [{uri: /x, focus_version: 1.3}]", "Input should be '1.0', '1.1' or '1.2'"),
        ("locations: [{uri: /x}]\n    schedule: '70 * * * *'", "minute '70' is not in 0-59"),
        ("locations: [{uri: /x, patterns: []}]", "sources.focus.locations.0.patterns"),
    ],
)
def test_bad_focus_configuration_is_refused_with_the_key_and_reason(tmp_path, section, expected):
    path = tmp_path / "vault.yaml"
    path.write_text(f"sources:\n  focus:\n    {section}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert expected in str(error.value)


def test_the_sandbox_exports_fill_every_mandatory_column_and_bill_what_was_spent(tmp_path):
    company = build_company(7)
    days = [date(2026, 11, 2), date(2026, 11, 3)]
    written = write_focus_exports(company, tmp_path, days[0], date(2026, 11, 4))

    assert [path.suffix for path in written] == [".parquet", ".csv"]
    rows = rows_for_day(company, days[1])
    assert set(MANDATORY_COLUMNS) <= set(SANDBOX_COLUMNS)
    for row in rows:
        empty = [name for name in MANDATORY_COLUMNS if name != "ChargeClass" and not row[name]]
        assert empty == []
        assert row["ProviderName"] == row["PublisherName"] == row["InvoiceIssuerName"] == PROVIDER
        assert row["SubAccountId"] == "eval-harness"
    lines = cloud_costs_for_day(company, GPU_CLOUD, days[1])
    assert billed_cost_for_day(company, days[1]) == sum(line.net_cost for line in lines) > 0
    with written[1].open(newline="") as stream:
        assert list(csv.DictReader(stream)) == rows


LEDGER_DAYS = (date(2026, 11, 2), date(2026, 11, 6))


@pytest.fixture(scope="module")
def ledger(module_database, tmp_path_factory):
    """The sandbox's exports and the hand-written 1.0-1.2 files imported, then dbt; the URL."""
    folder = tmp_path_factory.mktemp("focus-ledger")
    write_focus_exports(build_company(7), folder / "sandbox", *LEDGER_DAYS)
    for name, text in (("v1_0.csv", FOCUS_1_0), ("v1_1.csv", FOCUS_1_1), ("v1_2.csv", FOCUS_1_2)):
        (folder / "hand" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "hand" / name).write_text(text)
    warehouse = WarehouseResource(url=module_database)
    report = run_file_collector(focus_rows, warehouse, _store(folder), run_id="ledger", log=LOG)
    assert (len(report.loaded), report.refused) == (7, {})
    ensure_sources_exist(warehouse)
    target = tmp_path_factory.mktemp("dbt")
    # Everything fct_costs is built from, then the tests of the FOCUS models and of fct_costs
    # (the reconciliation among them). The other sources' own tests stay out: they are
    # hundreds, would double the module's time, and prove nothing about FOCUS files.
    for args in (
        ["build", "--select", "+fct_costs", "--resource-type", "seed", "--resource-type", "model"],
        ["test", "--select", "source:focus", "stg_focus__rows", "int_costs__focus", "fct_costs"],
    ):
        dbt = subprocess.run(
            [
                dbt_executable(),
                *args,
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
            ],
            env={
                **os.environ,
                **dbt_env(module_database),
                "DBT_TARGET_PATH": str(target / "target"),
                "DBT_LOG_PATH": str(target / "logs"),
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            },
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert dbt.returncode == 0, dbt.stdout[-4000:]
    assert "PASS assert_focus_cost_in_fct_costs_matches_raw" in dbt.stdout
    return module_database, folder


def _file_totals(folder: Path) -> dict[date, Decimal]:
    """BilledCost per charge day, read from the files themselves (not through the importer)."""
    totals: dict[date, Decimal] = {}

    def add(start: str, cost) -> None:
        day = datetime.fromisoformat(str(start).replace(" ", "T")).date()
        totals[day] = totals.get(day, Decimal(0)) + Decimal(str(cost))

    for path in sorted(folder.rglob("*.csv")):
        with path.open(newline="") as stream:
            for row in csv.DictReader(stream):
                row = {key.replace("_", "").lower(): value for key, value in row.items()}
                add(row["chargeperiodstart"], row["billedcost"])
    for path in sorted(folder.rglob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            add(row["ChargePeriodStart"].isoformat(), row["BilledCost"])
    return totals


def test_the_ledger_bills_what_the_files_bill_per_day_to_the_cent(ledger):
    url, folder = ledger
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            select (charge_period_start at time zone 'UTC')::date, sum(billed_cost)
            from marts.fct_costs where x_source_system = 'focus' group by 1 order by 1
            """
        ).fetchall()
    ledger_totals = dict(rows)
    expected = _file_totals(folder)
    assert ledger_totals.keys() == expected.keys()
    for day, total in expected.items():
        assert abs(ledger_totals[day] - total) < Decimal("0.005"), day
    # The hand-written files charge the 3rd and 4th only: the 5th is the sandbox's alone.
    sandbox_day = date(2026, 11, 5)
    assert ledger_totals[sandbox_day] == billed_cost_for_day(build_company(7), sandbox_day)


def test_ledger_lines_keep_the_files_columns_tags_and_attribution(ledger):
    url, _ = ledger
    with psycopg.connect(url) as conn:
        sandbox = conn.execute(
            """
            select provider_name, service_category, sub_account_id, x_team, x_department,
                x_project, x_environment, x_estimated, tags
            from marts.fct_costs
            where x_source_system = 'focus' and provider_name = %s
            order by charge_period_start, service_name limit 1
            """,
            (PROVIDER,),
        ).fetchone()
        hand = conn.execute(
            """
            select provider_name, tags, invoice_id, billing_account_type
            from marts.fct_costs
            where x_source_system = 'focus' and charge_category = 'Usage'
                and provider_name = 'Microsoft'
            """
        ).fetchone()
    assert sandbox[:8] == (
        PROVIDER,
        "Storage",
        "eval-harness",
        "platform",
        "engineering",
        "eval-harness",
        "development",
        False,
    )
    assert sandbox[8]["x_UsageType"] == "NVMe block storage"
    assert sandbox[8]["x_ClusterName"] == "eval-harness-us-east-1"
    assert hand == (
        "Microsoft",
        {
            "team": "platform",
            "cost-center": "R&D",
            "x_FocusVersion": "1.2",
            "x_Region": "eastus",
            "x_CostCenter": "CC-7",
        },
        "INV-0042",
        "Enterprise Agreement",
    )


def test_the_demo_imports_files_once_and_collects_partitions_per_day(database_url, tmp_path):
    from orchestration.demo import materialize_window

    folder = tmp_path / "drop"
    _write_csv(folder / "a.csv", _charges(2))
    days = dg.DailyPartitionsDefinition(start_date="2026-11-01")
    collected: list[str] = []

    @dg.asset(key=["raw", "daily_thing"], partitions_def=days)
    def daily_thing(context: dg.AssetExecutionContext) -> None:
        collected.append(context.partition_key)

    @dg.asset(key=["marts", "after"], deps=[daily_thing], partitions_def=days)
    def after() -> None:
        pass

    instance = dg.DagsterInstance.ephemeral()
    defs = dg.Definitions(
        assets=[build_file_collector_asset(focus_rows, retry_policy=None), daily_thing, after],
        jobs=[dg.define_asset_job("transform", selection=[after.key])],
        resources={"warehouse": WarehouseResource(url=database_url), "focus": _store(folder)},
    )

    materialize_window(defs, instance, ["2026-11-02", "2026-11-03"])

    imports = instance.fetch_materializations(dg.AssetKey(["raw", "focus_rows"]), limit=10)
    assert [record.partition_key for record in imports.records] == [None]
    assert collected == ["2026-11-02", "2026-11-03"]
