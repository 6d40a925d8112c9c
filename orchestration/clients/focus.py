"""FOCUS cost and usage files (versions 1.0, 1.1 and 1.2) read into one raw record per row.

A file is CSV (UTF-8 with or without a byte-order mark, UTF-16 with one, or the location's
`encoding`; plain or gzip-compressed, as AWS Data Exports writes `.csv.gz`) or Parquet; the
format is told by the file's first bytes, not its name. Both are read in batches (CSV blocks,
Parquet row groups), so memory stays flat however many rows a file holds.

The version is, first to answer: the location's `focus_version`; a Parquet file's schema
metadata (`FocusVersion`); an `x_FocusVersion` column (the first row's value); else the column
set: a column that 1.2 introduced means 1.2, else one that 1.1 introduced means 1.1, else 1.0.
A file with the column names of FOCUS 0.5 or 1.0-preview (AmortizedCost, ChargeType,
UsageQuantity ...), or declaring another version, is refused.

FOCUS renamed no column between 1.0 and 1.2 (1.1 and 1.2 only added columns), so a column of
any supported version is stored under its 1.2 name. Names are matched without regard to case,
spaces or underscores (`billed_cost`, `InvoiceID` are BilledCost, InvoiceId). A record holds:

- every FOCUS column under its FOCUS name, as text exactly as the file has it (Parquet numbers
  and timestamps are written as text: amounts must never pass through a float on the way);
  `Tags` and `SkuPriceDetails` as JSON objects; empty cells are left out;
- every `x_` column under its own name;
- `_other_columns`: the columns that are neither, by their own names (the ledger keeps them
  as tags `x_<name>`);
- `_import`: the file URI, the row number (1 for the first data row), the version, and the
  location's `provider_name` override if it has one.

A file is refused as a whole, never loaded in part, when a mandatory column (the 21 of its
version) is missing, when a cost or quantity is not a number, a period bound not a date and
time, a JSON column not a JSON object, or the file cannot be parsed. Rows are checked as they
stream; a bad row after good ones aborts the load, which rolls the file's transaction back.
The refusal names the first offending rows and how many there are.
"""

import codecs
import csv
import gzip
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from orchestration.collectors.files import MAX_REFUSED_ROWS, DeliveredFile, FileRefused

SUPPORTED_VERSIONS = ("1.0", "1.1", "1.2")

# Every FOCUS 1.2 column with the version that introduced it (1.0 for the columns 1.0 has).
FOCUS_COLUMNS: dict[str, str] = {
    **dict.fromkeys(
        (
            "AvailabilityZone",
            "BilledCost",
            "BillingAccountId",
            "BillingAccountName",
            "BillingCurrency",
            "BillingPeriodEnd",
            "BillingPeriodStart",
            "ChargeCategory",
            "ChargeClass",
            "ChargeDescription",
            "ChargeFrequency",
            "ChargePeriodEnd",
            "ChargePeriodStart",
            "CommitmentDiscountCategory",
            "CommitmentDiscountId",
            "CommitmentDiscountName",
            "CommitmentDiscountStatus",
            "CommitmentDiscountType",
            "ConsumedQuantity",
            "ConsumedUnit",
            "ContractedCost",
            "ContractedUnitPrice",
            "EffectiveCost",
            "InvoiceIssuerName",
            "ListCost",
            "ListUnitPrice",
            "PricingCategory",
            "PricingQuantity",
            "PricingUnit",
            "ProviderName",
            "PublisherName",
            "RegionId",
            "RegionName",
            "ResourceId",
            "ResourceName",
            "ResourceType",
            "ServiceCategory",
            "ServiceName",
            "SkuId",
            "SkuPriceId",
            "SubAccountId",
            "SubAccountName",
            "Tags",
        ),
        "1.0",
    ),
    **dict.fromkeys(
        (
            "CapacityReservationId",
            "CapacityReservationStatus",
            "CommitmentDiscountQuantity",
            "CommitmentDiscountUnit",
            "ServiceSubcategory",
            "SkuMeter",
            "SkuPriceDetails",
        ),
        "1.1",
    ),
    **dict.fromkeys(
        (
            "BillingAccountType",
            "InvoiceId",
            "PricingCurrency",
            "PricingCurrencyContractedUnitPrice",
            "PricingCurrencyEffectiveCost",
            "PricingCurrencyListUnitPrice",
            "SubAccountType",
        ),
        "1.2",
    ),
}

# Mandatory in each of 1.0, 1.1 and 1.2 alike (the column files' "Feature level").
MANDATORY_COLUMNS = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
)

# Names 1.0 retired (renamed or removed): a file that has them predates the supported versions.
PRE_1_0_COLUMNS = ("AmortizedCost", "ChargeType", "ChargeSubcategory", "UsageQuantity", "UsageUnit")

COST_COLUMNS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
NUMERIC_COLUMNS = (
    *COST_COLUMNS,
    "ListUnitPrice",
    "ContractedUnitPrice",
    "PricingQuantity",
    "ConsumedQuantity",
    "CommitmentDiscountQuantity",
    "PricingCurrencyListUnitPrice",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
)
PERIOD_COLUMNS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
JSON_COLUMNS = ("Tags", "SkuPriceDetails")
VERSION_COLUMN = "x_FocusVersion"
OTHER_COLUMNS_KEY = "_other_columns"
IMPORT_KEY = "_import"

# What staging's safe_numeric and safe_timestamptz (macros/json_casts.sql) read: a value the
# importer accepts is one the warehouse can cast, so staging never nulls an accepted amount.
NUMBER = r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?$"
_TIMESTAMP = re.compile(
    r"^(?P<date>[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))"
    r"([T ](?P<hour>[01][0-9]|2[0-3]):(?P<minute>[0-5][0-9])"
    r"(:(?P<second>[0-5][0-9])(\.(?P<fraction>[0-9]{1,9}))?)?"
    r"(?P<zone>[Zz]|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?)?$"
)
_DECLARED_VERSION = re.compile(r"^v?(?P<version>[0-9]+\.[0-9]+)(\.0)?(r[0-9]+)?$")

CSV_BLOCK_BYTES = 2 * 1024 * 1024
PARQUET_BATCH_ROWS = 8192
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class Columns:
    """How a file's columns map to the record: canonical name per position, and the version."""

    names: tuple[str, ...]
    """The record key of each column: its FOCUS 1.2 name, its x_ name, or its own name."""
    other: frozenset[str]
    """The names of the columns that are neither FOCUS nor x_ columns (kept under _other_columns)."""
    version: str


def read_focus(file: DeliveredFile) -> Iterator[dict[str, Any]]:
    """The records of one FOCUS file; raises `FileRefused` if any part of it is unreadable."""
    with file.path.open("rb") as stream:
        magic = stream.read(4)
    if not magic:
        raise FileRefused("the file is empty: no header row")
    if magic == _PARQUET_MAGIC:
        header, batches, declared = _parquet_batches(file)
    else:
        header, batches, declared = _csv_batches(file, gzipped=magic[:2] == _GZIP_MAGIC)
    first = next(batches, None)
    columns = map_columns(header, file.options.get("focus_version"), declared, first)
    file.log.info(f"{file.uri}: FOCUS {columns.version}, {len(header)} column(s)")
    yield from _records(file, columns, _chain(first, batches))


def canonical_name(name: str) -> str | None:
    """The FOCUS 1.2 name a column header stands for, or None if it is not a FOCUS column."""
    return _BY_KEY.get(re.sub(r"[\s_-]", "", name).lower())


_BY_KEY = {name.lower(): name for name in FOCUS_COLUMNS}


def map_columns(
    header: Sequence[str],
    configured: str | None,
    declared: str | None,
    first: pa.RecordBatch | None,
) -> Columns:
    """Record keys for the header and the file's version; refuses what cannot be read."""
    names: list[str] = []
    other: set[str] = set()
    for raw in header:
        name = raw.strip().lstrip("\ufeff")
        if name.lower().startswith("x_"):
            names.append(name)
        elif canonical := canonical_name(name):
            names.append(canonical)
        else:
            names.append(name)
            other.add(name)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise FileRefused(f"column(s) {', '.join(duplicates)} appear more than once")

    version, origin = configured, "the location's focus_version"
    if version is None and declared is not None:
        origin = "the Parquet schema metadata"
        version = _declared(declared, origin)
    if version is None:
        position = next(
            (i for i, name in enumerate(names) if name.lower() == VERSION_COLUMN.lower()), None
        )
        value = None if position is None else _first_value(first, position)
        if value is not None:
            origin = f"column {names[position]}"
            version = _declared(value, origin)
    if version is None:
        retired = [name for name in PRE_1_0_COLUMNS if name in other]
        if retired or ("Region" in other and "RegionId" not in names):
            raise FileRefused(
                f"column(s) {', '.join(retired or ['Region'])} are FOCUS 0.5 or 1.0-preview "
                f"names; only FOCUS {', '.join(SUPPORTED_VERSIONS)} files are read"
            )
        introduced = {FOCUS_COLUMNS[name] for name in names if name in FOCUS_COLUMNS}
        version = max(introduced | {"1.0"})
        origin = "the columns"

    missing = [name for name in MANDATORY_COLUMNS if name not in names]
    if missing:
        raise FileRefused(
            f"missing mandatory FOCUS {version} column(s) {', '.join(missing)} "
            f"(the version is from {origin})"
        )
    return Columns(names=tuple(names), other=frozenset(other), version=version)


def _declared(value: str, where: str) -> str:
    match = _DECLARED_VERSION.match(value.strip().lower())
    version = match.group("version") if match else None
    if version not in SUPPORTED_VERSIONS:
        raise FileRefused(
            f"FOCUS version {value!r} (from {where}) is not supported: only "
            f"{', '.join(SUPPORTED_VERSIONS)}; set focus_version for the location to read the "
            "files as one of them"
        )
    return version


def _first_value(batch: pa.RecordBatch | None, position: int) -> str | None:
    if batch is None or batch.num_rows == 0:
        return None
    value = batch.column(position)[0].as_py()
    return None if value in (None, "") else str(value)


def _csv_batches(
    file: DeliveredFile, *, gzipped: bool
) -> tuple[list[str], Iterator[pa.RecordBatch], None]:
    encoding = _csv_encoding(file, gzipped=gzipped)
    header = _csv_header(file, gzipped=gzipped, encoding=encoding)
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise FileRefused(f"column(s) {', '.join(duplicates)} appear more than once")

    def batches() -> Iterator[pa.RecordBatch]:
        source = pa.input_stream(str(file.path), compression="gzip" if gzipped else None)
        try:
            reader = pa_csv.open_csv(
                source,
                read_options=pa_csv.ReadOptions(
                    block_size=CSV_BLOCK_BYTES,
                    encoding="utf8" if encoding in ("utf-8", "utf-8-sig") else encoding,
                ),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(header, pa.string()),
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                    null_values=[""],
                ),
            )
            if reader.schema.names != header:
                raise FileRefused(
                    f"the header row reads differently as CSV ({reader.schema.names[:5]}...)"
                )
            yield from reader
        except (pa.ArrowInvalid, UnicodeDecodeError) as error:
            hint = "" if "UTF8" not in str(error) else " (set encoding for the location)"
            raise FileRefused(f"not readable as CSV: {_one_line(error)}{hint}") from None
        finally:
            source.close()

    return header, batches(), None


def _csv_encoding(file: DeliveredFile, *, gzipped: bool) -> str:
    opener = gzip.open if gzipped else open
    try:
        with opener(file.path, "rb") as stream:
            start = stream.read(4)
    except (OSError, EOFError) as error:
        raise FileRefused(f"not a readable gzip file: {_one_line(error)}") from None
    if start.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return file.options.get("encoding") or "utf-8"


def _csv_header(file: DeliveredFile, *, gzipped: bool, encoding: str) -> list[str]:
    try:
        opener = gzip.open if gzipped else open
        with opener(file.path, "rt", encoding=encoding, newline="") as text:
            header = next(csv.reader(text), None)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as error:
        raise FileRefused(f"the header row cannot be read: {_one_line(error)}") from None
    if not header or not any(name.strip() for name in header):
        raise FileRefused("the file has no header row")
    return header


def _parquet_batches(file: DeliveredFile) -> tuple[list[str], Iterator[pa.RecordBatch], str | None]:
    try:
        parquet = pq.ParquetFile(file.path)
    except (pa.ArrowException, OSError) as error:
        raise FileRefused(f"not a readable Parquet file: {_one_line(error)}") from None
    metadata = parquet.schema_arrow.metadata or {}
    declared = next(
        (
            value.decode("utf-8", "replace")
            for key, value in metadata.items()
            if key.decode("utf-8", "replace").lower().replace("_", "") == "focusversion"
        ),
        None,
    )

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
                yield _as_text(batch)
        except (pa.ArrowException, OSError) as error:
            raise FileRefused(f"not a readable Parquet file: {_one_line(error)}") from None
        finally:
            parquet.close()

    return list(parquet.schema_arrow.names), batches(), declared


def _as_text(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Scalar columns as text, so Parquet and CSV values reach the record in the same form."""
    arrays = []
    for name, array in zip(batch.schema.names, batch.columns, strict=True):
        kind = array.type
        if pa.types.is_nested(kind) and canonical_name(name) not in JSON_COLUMNS:
            # A list or struct outside the JSON columns: kept as its JSON text.
            texts = [
                None if v is None else orjson.dumps(v, default=str).decode()
                for v in array.to_pylist()
            ]
            arrays.append(pa.array(texts, pa.string()))
        elif pa.types.is_string(kind) or pa.types.is_nested(kind) or pa.types.is_large_string(kind):
            arrays.append(array)
        elif pa.types.is_dictionary(kind):
            arrays.append(array.dictionary_decode().cast(pa.string()))
        elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            arrays.append(array.cast(pa.string()))
        else:
            arrays.append(pc.cast(array, pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _chain(
    first: pa.RecordBatch | None, rest: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    if first is not None:
        yield first
    yield from rest


def _records(
    file: DeliveredFile, columns: Columns, batches: Iterator[pa.RecordBatch]
) -> Iterator[dict[str, Any]]:
    checker = _RowChecker(columns)
    stamp: dict[str, Any] = {"file": file.uri, "focus_version": columns.version}
    if file.options.get("provider_name"):
        stamp["provider_name"] = file.options["provider_name"]
    names = columns.names
    json_positions = [(i, name) for i, name in enumerate(names) if name in JSON_COLUMNS]
    json_set = {i for i, _ in json_positions}
    row = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        batch = pa.RecordBatch.from_arrays(batch.columns, names=list(names))
        values = [column.to_pylist() for column in batch.columns]
        parsed_json = {name: [_json_object(v) for v in values[i]] for i, name in json_positions}
        checker.check(batch, row, values, parsed_json)
        if checker.bad_rows:
            row += batch.num_rows
            continue
        file.covers(*checker.period(batch))
        for json_name, parsed in parsed_json.items():
            values[names.index(json_name)] = parsed
        # Columns with a value in every row of the batch need no test per cell, and columns
        # empty throughout (often most of the conditional ones) need no look at all.
        full, sparse, extra = [], [], []
        for position, name in enumerate(names):
            nulls = (
                sum(value is None for value in values[position])
                if position in json_set
                else (batch.column(position).null_count)
            )
            target = extra if name in columns.other else full if nulls == 0 else sparse
            if nulls < batch.num_rows:
                target.append((name, values[position]))
        full_names = [name for name, _ in full]
        # BilledCost and the other cost columns are never empty here, so `full` is not either.
        full_rows = zip(*(cells for _, cells in full), strict=True)
        for offset, full_row in enumerate(full_rows):
            record = dict(zip(full_names, full_row, strict=True))
            for name, cells in sparse:
                if cells[offset] is not None:
                    record[name] = cells[offset]
            others = {name: cells[offset] for name, cells in extra if cells[offset] is not None}
            if others:
                record[OTHER_COLUMNS_KEY] = others
            record[IMPORT_KEY] = {**stamp, "row": row + offset + 1}
            yield record
        row += batch.num_rows
    if checker.bad_rows:
        first = checker.details[0]
        raise FileRefused(
            f"{checker.bad_rows} row(s) hold values that cannot be read; the first, row "
            f"{first['row']}: {'; '.join(first['problems'])}",
            rows=checker.details,
        )


_NOT_JSON = object()


def _json_object(value: Any) -> Any:
    """A JSON column's value as a dict; None when empty; `_NOT_JSON` when it is not an object."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        # A Parquet map ([(key, value), ...]) or a BigQuery-style list of {key, value} structs.
        try:
            if all(isinstance(item, dict) and "key" in item for item in value):
                return {item["key"]: item.get("value") for item in value}
            return dict(value)
        except (TypeError, ValueError):
            return _NOT_JSON
    text = str(value).strip()
    if not text:
        return None
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _NOT_JSON
    return parsed if isinstance(parsed, dict) else _NOT_JSON


class _RowChecker:
    """Finds the rows whose amounts, periods or JSON columns cannot be read, batch by batch."""

    def __init__(self, columns: Columns) -> None:
        self.names = columns.names
        self.numeric = [name for name in NUMERIC_COLUMNS if name in columns.names]
        self.periods = [name for name in PERIOD_COLUMNS if name in columns.names]
        self.times: dict[str, datetime | None] = {}
        self.bad_rows = 0
        self.details: list[dict[str, Any]] = []

    def check(
        self,
        batch: pa.RecordBatch,
        first_row: int,
        values: list[list[Any]],
        parsed_json: Mapping[str, list[Any]],
    ) -> None:
        masks: dict[tuple[str, str], pa.Array] = {}
        for name in self.numeric:
            column = batch.column(name)
            readable = pc.match_substring_regex(pc.utf8_trim_whitespace(column), NUMBER)
            masks[name, "number"] = pc.invert(pc.fill_null(readable, name not in COST_COLUMNS))
        for name in self.periods:
            column = batch.column(name)
            unknown = [
                v for v in pc.unique(column).to_pylist() if v is not None and v not in self.times
            ]
            for value in unknown:
                self.times[value] = parse_timestamp(value)
            bad = [
                v for v in pc.unique(column).to_pylist() if v is not None and self.times[v] is None
            ]
            masks[name, "period"] = pc.or_(
                pc.is_null(column), pc.is_in(column, value_set=pa.array(bad, pa.string()))
            )
        for name, parsed in parsed_json.items():
            masks[name, "json"] = pa.array([value is _NOT_JSON for value in parsed])
        for name, column in zip(self.names, batch.columns, strict=True):
            # Postgres text and jsonb cannot hold NUL; the loader would drop such a row alone.
            if pa.types.is_string(column.type):
                nul = pc.match_substring_regex(column, r"\x00|\\u0000")
                masks[name, "nul"] = pc.fill_null(nul, False)
        if not masks:
            return
        combined = masks[next(iter(masks))]
        for mask in masks.values():
            combined = pc.or_(combined, mask)
        positions = pc.indices_nonzero(combined).to_pylist()
        self.bad_rows += len(positions)
        for position in positions[: MAX_REFUSED_ROWS - len(self.details)]:
            problems = [
                _problem(name, kind, batch.column(name)[position].as_py())
                for (name, kind), mask in masks.items()
                if mask[position].as_py()
            ]
            row_values = {
                name: column[position]
                for name, column in zip(self.names, values, strict=True)
                if column[position] is not None
            }
            self.details.append(
                {"row": first_row + position + 1, "problems": problems, "values": row_values}
            )

    def period(self, batch: pa.RecordBatch) -> tuple[datetime, datetime]:
        """The earliest ChargePeriodStart and latest ChargePeriodEnd of a batch without problems."""
        starts = [self.times[v] for v in pc.unique(batch.column("ChargePeriodStart")).to_pylist()]
        ends = [self.times[v] for v in pc.unique(batch.column("ChargePeriodEnd")).to_pylist()]
        return min(starts), max(ends)


def _problem(name: str, kind: str, value: Any) -> str:
    if kind == "nul":
        return f"{name} contains a NUL character (or its JSON escape), which Postgres cannot store"
    if value is None:
        return f"{name} is empty"
    if kind == "number":
        return f"{name} {value!r} is not a number"
    if kind == "period":
        return f"{name} {value!r} is not an ISO 8601 date and time"
    return f"{name} is not a JSON object"


def parse_timestamp(text: str) -> datetime | None:
    """An ISO 8601 date or date and time as an aware datetime (UTC when it names no zone)."""
    match = _TIMESTAMP.match(text.strip())
    if not match:
        return None
    try:
        moment = datetime.fromisoformat(match.group("date"))
        if match.group("hour"):
            fraction = (match.group("fraction") or "0")[:6].ljust(6, "0")
            moment = moment.replace(
                hour=int(match.group("hour")),
                minute=int(match.group("minute")),
                second=int(match.group("second") or 0),
                microsecond=int(fraction),
            )
    except ValueError:  # a day the month does not have
        return None
    return moment.replace(tzinfo=_zone(match.group("zone")))


def _zone(text: str | None) -> timezone:
    if not text or text in "Zz":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return timezone(sign * offset)


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
