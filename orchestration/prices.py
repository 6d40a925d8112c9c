"""Loading a newer price list into the effective-dated price seed, `model_prices.csv`.

Every token row in the warehouse is priced from `dbt_project/seeds/model_prices.csv`, so a
price typed in by hand (a wrong zero, an edited past row) re-prices history on the next full
refresh without anyone noticing. `vault prices update FILE` makes the change instead, by the
seed's own rules:

- A price that differs from the row in force on the effective date is a new row starting on
  that date, and the row it supersedes is ended on that date. Rows are never edited in place
  and rows that ended before the effective date are never touched: they are the history that
  prices past usage.
- A model is priced through the pattern the dbt lookup would choose for it: the longest
  `model_pattern` that matches its id by SQL `LIKE`. A model nothing matches gets a pattern of
  its own, named after its id without the snapshot date, so that an alias
  (`claude-sonnet-4-5`) and its dated snapshot (`claude-sonnet-4-5-20250929`) share one.
- The same file applied twice changes nothing the second time, and the seed is then not
  rewritten at all; when it is rewritten, its rows are in a stable order.
- Anything doubtful (an unreadable file, wrong columns, a negative or non-numeric price, a
  price that would start before the latest one) stops the update before anything is written.

Two inputs are read: LiteLLM's `model_prices_and_context_window.json` (prices per token) and a
CSV in the seed's own columns (prices per million tokens, every row with its own
`effective_from`). Amounts stay `Decimal` from the file's text to the seed's text, never
floats: 3e-06 per token is exactly 3.00 per million.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

SEED_PATH = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds" / "model_prices.csv"

COLUMNS = (
    "provider",
    "model_pattern",
    "effective_from",
    "effective_to",
    "input_per_mtok",
    "output_per_mtok",
    "cache_read_per_mtok",
    "cache_write_5m_per_mtok",
    "cache_write_1h_per_mtok",
    "batch_multiplier",
    "currency",
)
CURRENCY = "USD"

# Providers the seed prices, each with the batch multiplier used when neither the file nor the
# seed states one: Anthropic's Message Batches and OpenAI's Batch API both charge half.
KNOWN_PROVIDERS: Mapping[str, Decimal] = {"anthropic": Decimal("0.5"), "openai": Decimal("0.5")}
DEFAULT_PROVIDERS = ("anthropic", "openai")

# Rates a provider does not charge, so that LiteLLM leaving them out is not worth a note:
# OpenAI bills no cache writes (the seed holds 0 for them).
_UNCHARGED = {"openai": {"cache_write_5m_per_mtok", "cache_write_1h_per_mtok"}}

# The seed's column types in dbt_project.yml: numeric(12, 6) rates, numeric(6, 4) multiplier.
_RATE_PLACES, _RATE_LIMIT = 6, Decimal(10) ** 6
_MULTIPLIER_PLACES, _MULTIPLIER_LIMIT = 4, Decimal(100)
_PER_MILLION = Decimal(1_000_000)

# The LiteLLM keys read, all per token, and the seed columns they become (per million).
LITELLM_RATE_KEYS = {
    "input_cost_per_token": "input_per_mtok",
    "output_cost_per_token": "output_per_mtok",
    "cache_read_input_token_cost": "cache_read_per_mtok",
    "cache_creation_input_token_cost": "cache_write_5m_per_mtok",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h_per_mtok",
}
# Batch prices, each beside the ordinary price it discounts.
LITELLM_BATCH_KEYS = {
    "input_cost_per_token_batches": "input_cost_per_token",
    "output_cost_per_token_batches": "output_cost_per_token",
}
# Modes billed per token. Images, audio, moderation, rerank and search are billed per image,
# second or call, for which the seed has no column.
PRICED_MODES = frozenset({"chat", "responses", "completion", "embedding"})

SKIP_NOT_A_MODEL = "not a model"
SKIP_OTHER_PROVIDER = "other provider"
SKIP_PREFIXED = "prefixed or fine-tuned id"
SKIP_MODE = "mode not priced per token"
SKIP_NO_PRICE = "no per-token input and output price"

_SNAPSHOT_DATE = re.compile(r"-(\d{4})-?(\d{2})-?(\d{2})$")


class PriceError(ValueError):
    """A price file or seed that cannot be applied; says which file, which entry and why."""

    def __init__(self, source: object, entry: str, reason: str) -> None:
        super().__init__(f"{source}: {entry}: {reason}")
        self.source, self.entry, self.reason = str(source), entry, reason


# -- values -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rates:
    """Per-million-token rates and the batch multiplier; None where a file does not say."""

    input_per_mtok: Decimal | None = None
    output_per_mtok: Decimal | None = None
    cache_read_per_mtok: Decimal | None = None
    cache_write_5m_per_mtok: Decimal | None = None
    cache_write_1h_per_mtok: Decimal | None = None
    batch_multiplier: Decimal | None = None

    def items(self) -> list[tuple[str, Decimal | None]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    def agrees_with(self, other: Rates) -> bool:
        """True when every rate both state is equal: two names for one price."""
        return all(
            mine is None or getattr(other, name) is None or mine == getattr(other, name)
            for name, mine in self.items()
        )

    def filled_from(self, other: Rates) -> Rates:
        """These rates, with the ones left unstated taken from `other`."""
        return Rates(
            **{name: getattr(other, name) if mine is None else mine for name, mine in self.items()}
        )

    def unstated(self) -> list[str]:
        return [name for name, value in self.items() if value is None]


@dataclass(frozen=True)
class PriceRow:
    """One row of the seed: a pattern's rates from effective_from until effective_to."""

    provider: str
    model_pattern: str
    effective_from: date
    effective_to: date | None
    rates: Rates
    currency: str = CURRENCY

    def sort_key(self) -> tuple[str, str, date]:
        return (self.provider, self.model_pattern, self.effective_from)


@dataclass(frozen=True)
class ModelPrice:
    """A model's price as a LiteLLM entry states it, converted to per million tokens."""

    provider: str
    model_id: str
    rates: Rates


@dataclass(frozen=True)
class Quote:
    """A price the file asks for on one pattern: what the merge applies to the seed.

    `effective_from` is None for a file without dates (LiteLLM), which takes the update's
    effective date. `first_used` is the earliest snapshot date of the models quoted, set only
    for models no pattern priced before: the first day they can have been used, from which a
    new pattern may start (the seed's convention for effective_from).
    """

    provider: str
    model_pattern: str
    rates: Rates
    entry: str
    effective_from: date | None = None
    effective_to: date | None = None
    first_used: date | None = None
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    """One row added to the seed, or one row ended."""

    kind: Literal["added", "closed"]
    row: PriceRow
    previous: PriceRow | None = None
    models: tuple[str, ...] = ()

    def describe(self) -> str:
        row = self.row
        head = f"{self.kind:<7}{row.provider} {row.model_pattern} from {row.effective_from}"
        if self.kind == "closed":
            return f"{head}: now ends {row.effective_to}"
        if row.effective_to:
            head += f" until {row.effective_to}"
        if self.previous is None:
            named = f" for {', '.join(self.models)}" if self.models else ""
            rates = ", ".join(f"{_label(n)} {_format(n, v)}" for n, v in row.rates.items())
            return f"{head}: new pattern{named}; {rates}"
        old = self.previous.rates
        moved = [
            f"{_label(name)} {_format(name, getattr(old, name))} -> {_format(name, value)}"
            for name, value in row.rates.items()
            if getattr(old, name) != value
        ]
        return f"{head}: {', '.join(moved)}"


@dataclass
class Merge:
    """The seed after a file's quotes were applied, and what changed."""

    rows: list[PriceRow]
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for change in self.changes if change.kind == kind)


@dataclass(frozen=True)
class PriceFile:
    """A price file, read and validated: its prices and, by reason, the entries it skipped."""

    path: Path
    kind: Literal["litellm", "csv"]
    models: tuple[ModelPrice, ...] = ()
    quotes: tuple[Quote, ...] = ()
    skipped: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class UpdateReport:
    """What `update_prices` read, changed and wrote."""

    file: PriceFile
    seed: Path
    effective_from: date
    merge: Merge
    written: bool
    dry_run: bool

    def lines(self) -> list[str]:
        """The report for the command line: two summary lines, then one line a change."""
        read = len(self.file.models) if self.file.kind == "litellm" else len(self.file.quotes)
        head = f"{self.file.path}: {read} prices read ({self.file.kind})"
        if self.file.skipped:
            reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.file.skipped.items()))
            head += f"; {sum(self.file.skipped.values())} entries skipped: {reasons}"
        merge = self.merge
        lines = [
            head,
            f"effective {self.effective_from}: added {merge.count('added')}, "
            f"closed {merge.count('closed')}, unchanged {merge.unchanged}",
        ]
        lines += [change.describe() for change in merge.changes]
        lines += [f"note: {note}" for note in merge.notes]
        if self.dry_run:
            lines.append(f"dry run: {self.seed} not written")
        elif self.written:
            lines.append(f"wrote {self.seed}")
        else:
            lines.append(f"no change: {self.seed} left as it is")
        return lines


# -- numbers, dates and patterns --------------------------------------------------------------


def _label(name: str) -> str:
    return name.removesuffix("_per_mtok").replace("_", " ")


def _format(name: str, value: Decimal | None) -> str:
    return "?" if value is None else format_amount(value, 1 if name == "batch_multiplier" else 2)


def format_amount(value: Decimal, min_places: int = 2) -> str:
    """The seed's style: plain digits, at least `min_places` decimals, more only when needed."""
    if value == 0:
        value = Decimal(0)
    whole, _, fraction = format(value.normalize(), "f").partition(".")
    return f"{whole}.{fraction.ljust(min_places, '0')}"


def per_million(per_token: Decimal) -> Decimal:
    """A per-token price as a per-million price, exactly."""
    return (per_token * _PER_MILLION).normalize()


def _check_amount(value: Decimal, name: str) -> str | None:
    """Why `value` cannot go in the seed's `name` column, or None when it can."""
    if not value.is_finite():
        return f"{name} is not a number"
    if value < 0:
        return f"{name} is negative ({value})"
    if name == "batch_multiplier":
        places, limit = _MULTIPLIER_PLACES, _MULTIPLIER_LIMIT
    else:
        places, limit = _RATE_PLACES, _RATE_LIMIT
    if value >= limit or value.normalize().as_tuple().exponent < -places:
        return f"{name} {value} does not fit the seed's column (below {limit}, {places} decimals)"
    return None


def like(pattern: str, text: str) -> bool:
    """SQL LIKE as PostgreSQL applies it: `%` any run, `_` one character, `\\` escapes."""
    return _like_regex(pattern).fullmatch(text) is not None


@functools.cache
def _like_regex(pattern: str) -> re.Pattern[str]:
    parts, chars = [], iter(pattern)
    for char in chars:
        if char == "\\":
            parts.append(re.escape(next(chars, "\\")))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), flags=re.DOTALL)


def longest_match(model_id: str, patterns: Iterable[str]) -> str | None:
    """The pattern the dbt lookup prices `model_id` with: the longest that matches, ties broken
    by the pattern's text, as `match_model_prices` orders them."""
    matching = [pattern for pattern in patterns if like(pattern, model_id)]
    return min(matching, key=lambda pattern: (-len(pattern), pattern)) if matching else None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def snapshot_date(model_id: str) -> date | None:
    """The date a snapshot id ends with (`-20250929`, `-2024-05-13`), if it is a real day."""
    found = _SNAPSHOT_DATE.search(model_id)
    if not found:
        return None
    try:
        return date(*(int(part) for part in found.groups()))
    except ValueError:
        return None


def _without_snapshot(model_id: str) -> str:
    found = _SNAPSHOT_DATE.search(model_id)
    return model_id[: found.start()] if found and snapshot_date(model_id) else model_id


def parse_day(text: str) -> date:
    """A `YYYY-MM-DD` date from the command line."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PriceError("--effective-from", repr(text), "not a date (YYYY-MM-DD)") from None


def parse_providers(text: str) -> tuple[str, ...]:
    """`anthropic,openai` as a tuple, refusing a provider the seed does not price."""
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in KNOWN_PROVIDERS]
    if unknown or not names:
        raise PriceError(
            "--providers", repr(text), f"unknown provider (known: {', '.join(KNOWN_PROVIDERS)})"
        )
    return names


# -- the seed's CSV ---------------------------------------------------------------------------


def _parse_row(record: Mapping[str, str | None], source: object, entry: str) -> PriceRow:
    def fail(reason: str) -> PriceError:
        return PriceError(source, entry, reason)

    provider = (record.get("provider") or "").strip()
    if provider not in KNOWN_PROVIDERS:
        raise fail(f"unknown provider {provider!r} (known: {', '.join(KNOWN_PROVIDERS)})")
    pattern = record.get("model_pattern") or ""
    if not pattern.strip() or pattern != pattern.strip():
        raise fail("model_pattern is empty or has spaces around it")
    days: dict[str, date | None] = {"effective_to": None}
    for name in ("effective_from", "effective_to"):
        text = (record.get(name) or "").strip()
        if text or name == "effective_from":
            try:
                days[name] = date.fromisoformat(text)
            except ValueError:
                raise fail(f"{name} {text!r} is not a date (YYYY-MM-DD)") from None
    start, end = days["effective_from"], days["effective_to"]
    assert start is not None
    if end is not None and end <= start:
        raise fail(f"effective_to {end} is not after effective_from {start}")
    values = {}
    for name, _ in Rates().items():
        text = (record.get(name) or "").strip()
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise fail(f"{name} {text!r} is not a number") from None
        problem = _check_amount(value, name)
        if problem:
            raise fail(problem)
        values[name] = value
    currency = (record.get("currency") or "").strip()
    if currency != CURRENCY:
        raise fail(f"currency {currency!r} is not {CURRENCY}, the only one the seed holds")
    return PriceRow(provider, pattern, start, end, Rates(**values), currency)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PriceError(path, "file", "does not exist") from None
    except UnicodeDecodeError:
        raise PriceError(path, "file", "is not UTF-8 text (neither JSON nor CSV)") from None


_EXTRA = "\0extra"


def _csv_rows(
    text: str, path: Path, required: Sequence[str], optional: Sequence[str] = ()
) -> list[tuple[int, PriceRow]]:
    """Rows of a CSV in the seed's columns, each with its line number; refused whole."""
    reader = csv.DictReader(io.StringIO(text), restkey=_EXTRA)
    header = reader.fieldnames or []
    missing = [name for name in required if name not in header]
    extra = [name for name in header if name not in required and name not in optional]
    if missing or extra or len(set(header)) != len(header):
        raise PriceError(
            path,
            "header",
            f"wrong columns (missing: {', '.join(missing) or 'none'}; "
            f"unexpected: {', '.join(extra) or 'none'}); the seed's are {','.join(COLUMNS)}",
        )
    rows: list[tuple[int, PriceRow]] = []
    seen: dict[tuple[str, str, date], int] = {}
    for record in reader:
        line = reader.line_num
        entry = f"line {line} ({record.get('model_pattern')})"
        if _EXTRA in record or None in record.values():
            raise PriceError(path, entry, f"does not have the header's {len(header)} fields")
        row = _parse_row(record, path, entry)
        if row.sort_key() in seen:
            raise PriceError(path, entry, f"starts on the same day as line {seen[row.sort_key()]}")
        seen[row.sort_key()] = line
        rows.append((line, row))
    return rows


def read_seed(path: Path = SEED_PATH) -> list[PriceRow]:
    """The seed's rows, checked as strictly as an input file and refused the same way."""
    text = _read_text(path)
    if text.split("\n", 1)[0].strip() != ",".join(COLUMNS):
        raise PriceError(path, "header", f"is not {','.join(COLUMNS)}")
    rows = [row for _, row in _csv_rows(text, path, COLUMNS)]
    problems = check_invariants(rows)
    if problems:
        raise PriceError(path, "rows", "; ".join(problems))
    return rows


def render_seed(rows: Iterable[PriceRow]) -> str:
    """The seed's text: its header, then the rows by provider, pattern and start date."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in sorted(rows, key=PriceRow.sort_key):
        writer.writerow(
            [
                row.provider,
                row.model_pattern,
                row.effective_from.isoformat(),
                row.effective_to.isoformat() if row.effective_to else "",
                *(_format(name, value) for name, value in row.rates.items()),
                row.currency,
            ]
        )
    return out.getvalue()


def _by_pattern(rows: Iterable[PriceRow]) -> dict[tuple[str, str], list[PriceRow]]:
    grouped: dict[tuple[str, str], list[PriceRow]] = {}
    for row in sorted(rows, key=PriceRow.sort_key):
        grouped.setdefault((row.provider, row.model_pattern), []).append(row)
    return grouped


def _in_force(history: Sequence[PriceRow], day: date) -> PriceRow | None:
    """The row of one pattern's history (sorted by start) that prices `day`. A row stops at its
    effective_to, else where the next row starts, as in dim_model_prices."""
    for index, row in enumerate(history):
        following = history[index + 1].effective_from if index + 1 < len(history) else None
        end = row.effective_to or following
        if row.effective_from <= day and (end is None or day < end):
            return row
    return None


def check_invariants(rows: Sequence[PriceRow]) -> list[str]:
    """What is wrong with a set of seed rows, in words; empty when nothing is.

    The rules dbt tests after a build (one start a day per pattern, no two rows in force on one
    day, no negative rate), checked before a file is written so that a bad seed never lands.
    """
    problems = []
    for (provider, pattern), history in _by_pattern(rows).items():
        name = f"{provider} {pattern}"
        for earlier, later in itertools.pairwise(history):
            if earlier.effective_from == later.effective_from:
                problems.append(f"{name} starts twice on {later.effective_from}")
            elif earlier.effective_to and earlier.effective_to > later.effective_from:
                problems.append(
                    f"{name}: the row from {earlier.effective_from} ends {earlier.effective_to}, "
                    f"after the next row starts ({later.effective_from})"
                )
        for row in history:
            if row.effective_to and row.effective_to <= row.effective_from:
                problems.append(f"{name} from {row.effective_from} ends before it starts")
            for rate, value in row.rates.items():
                problem = f"{rate} is missing" if value is None else _check_amount(value, rate)
                if problem:
                    problems.append(f"{name} from {row.effective_from}: {problem}")
    return problems


# -- input files ------------------------------------------------------------------------------


def _per_token(value: object, key: str, path: Path, model_id: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise PriceError(path, f"entry {model_id!r}", f"{key} {value!r} is not a number")
    return Decimal(value)


def _batch_multiplier(entry: Mapping[str, object], path: Path, model_id: str) -> Decimal | None:
    """The discount LiteLLM's batch prices imply, when they imply one, the same for input and
    output and fitting the seed; None otherwise, and the seed's current multiplier stands."""
    ratios = set()
    for batch_key, base_key in LITELLM_BATCH_KEYS.items():
        if entry.get(batch_key) is None or entry.get(base_key) is None:
            continue
        batch = _per_token(entry[batch_key], batch_key, path, model_id)
        base = _per_token(entry[base_key], base_key, path, model_id)
        if base > 0:
            ratios.add((batch / base).normalize())
    if len(ratios) != 1:
        return None
    (ratio,) = ratios
    return None if _check_amount(ratio, "batch_multiplier") else ratio


def _litellm_models(
    data: object, path: Path, providers: Sequence[str]
) -> tuple[list[ModelPrice], Counter[str]]:
    if not isinstance(data, dict):
        raise PriceError(path, "file", "is JSON but not an object keyed by model name")
    models: list[ModelPrice] = []
    skipped: Counter[str] = Counter()
    for model_id, entry in data.items():
        if model_id == "sample_spec" or not isinstance(entry, dict):
            skipped[SKIP_NOT_A_MODEL] += 1
            continue
        if entry.get("litellm_provider") not in providers:
            skipped[SKIP_OTHER_PROVIDER] += 1
            continue
        # `azure/...`, `bedrock/...` and `ft:...` repeat a model as sold through a proxy, in a
        # region or fine-tuned, at prices that are not the provider's list price.
        if "/" in model_id or ":" in model_id:
            skipped[SKIP_PREFIXED] += 1
            continue
        mode = entry.get("mode")
        if mode not in PRICED_MODES:
            skipped[SKIP_MODE] += 1
            continue
        if entry.get("input_cost_per_token") is None or (
            entry.get("output_cost_per_token") is None and mode != "embedding"
        ):
            skipped[SKIP_NO_PRICE] += 1
            continue
        rates: dict[str, Decimal | None] = {"output_per_mtok": Decimal(0)}  # embeddings
        for key, name in LITELLM_RATE_KEYS.items():
            if entry.get(key) is None:
                continue
            value = per_million(_per_token(entry[key], key, path, model_id))
            problem = _check_amount(value, name)
            if problem:
                raise PriceError(path, f"entry {model_id!r}", f"{key}: {problem}")
            rates[name] = value
        rates["batch_multiplier"] = _batch_multiplier(entry, path, model_id)
        models.append(ModelPrice(entry["litellm_provider"], model_id, Rates(**rates)))
    return models, skipped


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a price")


def read_price_file(path: Path, providers: Sequence[str] = DEFAULT_PROVIDERS) -> PriceFile:
    """A LiteLLM JSON price map or a CSV in the seed's columns, validated; refused whole.

    The format follows the suffix (`.json`, `.csv`), else whether the text opens like JSON.
    CSV rows of providers not asked for are skipped, as LiteLLM entries of other providers are.
    """
    text = _read_text(path)
    suffix = path.suffix.lower()
    if suffix == ".json" or (suffix != ".csv" and text.lstrip()[:1] in ("{", "[")):
        try:
            data = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
        except ValueError as error:
            raise PriceError(path, "file", f"is not valid JSON ({error})") from None
        models, skipped = _litellm_models(data, path, providers)
        return PriceFile(path, "litellm", models=tuple(models), skipped=dict(skipped))
    if not text.strip():
        raise PriceError(path, "file", "is empty")
    required = [name for name in COLUMNS if name != "effective_to"]
    quotes: list[Quote] = []
    skipped: Counter[str] = Counter()
    for line, row in _csv_rows(text, path, required, optional=("effective_to",)):
        if row.provider not in providers:
            skipped[SKIP_OTHER_PROVIDER] += 1
            continue
        quotes.append(
            Quote(
                row.provider,
                row.model_pattern,
                row.rates,
                entry=f"line {line} ({row.model_pattern})",
                effective_from=row.effective_from,
                effective_to=row.effective_to,
            )
        )
    return PriceFile(path, "csv", quotes=tuple(quotes), skipped=dict(skipped))


# -- merge rules ------------------------------------------------------------------------------


@dataclass
class _Claim:
    """A pattern, taken by the first (shortest) model mapped to it, and the models agreeing."""

    pattern: str
    rates: Rates
    models: list[str]
    # True when no pattern of the seed priced the model: its new pattern may then start at the
    # first snapshot date. A pattern split off a broader seed pattern starts on the effective
    # date, so the days the broader pattern priced keep their price.
    was_unpriced: bool = False


def assign_patterns(models: Iterable[ModelPrice], rows: Sequence[PriceRow]) -> list[Quote]:
    """Which pattern each model's price goes to: one quote per pattern.

    Models are taken shortest id first, so an alias (`claude-sonnet-4-5`) comes before its
    snapshots (`claude-sonnet-4-5-20250929`). A model goes to the longest pattern matching it,
    from the seed or made in this run, when that pattern is still free or its models state the
    same price; a new alias's snapshot thus lands on the alias's pattern. A model whose price
    differs from the one its pattern was given (`gpt-5-pro` under `gpt-5%`) gets a longer
    pattern of its own, which the dbt lookup then prefers for it. A new pattern is the id
    without its snapshot date (`claude-opus-4-7-20260416` -> `claude-opus-4-7%`), or the whole
    id when that shorter pattern is taken or would win the lookup for a model already placed.
    """
    existing = {(row.provider, row.model_pattern) for row in rows}
    claims: dict[tuple[str, str], _Claim] = {}
    placed: dict[str, dict[str, str]] = {}  # provider -> model id -> its pattern
    for model in sorted(models, key=lambda m: (m.provider, len(m.model_id), m.model_id)):
        provider = model.provider
        known = {pattern for prov, pattern in existing | claims.keys() if prov == provider}
        target = longest_match(model.model_id, known)
        claim = claims.get((provider, target)) if target else None
        if target and claim is None:
            pattern = target
            claims[(provider, pattern)] = _Claim(pattern, model.rates, [model.model_id])
        elif target and claim and claim.rates.agrees_with(model.rates):
            pattern = target
            claim.rates = claim.rates.filled_from(model.rates)
            claim.models.append(model.model_id)
        else:
            pattern = _new_pattern(model.model_id, known, placed.get(provider, {}))
            seeded = [seeded for prov, seeded in existing if prov == provider]
            unpriced = longest_match(model.model_id, seeded) is None
            claims[(provider, pattern)] = _Claim(
                pattern, model.rates, [model.model_id], was_unpriced=unpriced
            )
        placed.setdefault(provider, {})[model.model_id] = pattern
    quotes = []
    for (provider, pattern), claim in sorted(claims.items()):
        dates = [day for day in map(snapshot_date, claim.models) if day]
        quotes.append(
            Quote(
                provider,
                pattern,
                claim.rates,
                entry=f"entry {claim.models[0]!r}",
                first_used=min(dates) if dates and claim.was_unpriced else None,
                models=tuple(claim.models),
            )
        )
    return quotes


def _new_pattern(model_id: str, taken: set[str], placed: Mapping[str, str]) -> str:
    """A pattern for a model that needs its own: free, and taking no model placed before."""
    for base in dict.fromkeys((_without_snapshot(model_id), model_id)):
        pattern = _escape_like(base) + "%"
        steals = any(
            longest_match(other, (current, pattern)) == pattern for other, current in placed.items()
        )
        if pattern not in taken and not steals:
            return pattern
    raise PriceError("price file", f"entry {model_id!r}", "no pattern of its own is free")


def _complete(quote: Quote, base: Rates | None) -> tuple[Rates, list[str]]:
    """The quote's rates, with what it leaves unstated taken from the row in force, else from
    the provider's defaults (0, and its usual batch multiplier); also the rates that fell to 0
    though the provider may charge for them, which the report tells about."""
    rates = quote.rates.filled_from(base) if base else quote.rates
    unstated = rates.unstated()
    defaults = Rates(
        **{name: Decimal(0) for name in unstated if name != "batch_multiplier"},
        batch_multiplier=KNOWN_PROVIDERS[quote.provider],
    )
    uncharged = _UNCHARGED.get(quote.provider, set()) | {"batch_multiplier"}
    return rates.filled_from(defaults), [name for name in unstated if name not in uncharged]


def merge_prices(
    rows: Sequence[PriceRow], quotes: Iterable[Quote], effective_from: date, source: object = ""
) -> Merge:
    """The seed with `quotes` applied on their dates, its history left as it was.

    Each quote applies on its own effective_from, else on `effective_from` (D). Prices equal to
    the row in force on D change nothing. Otherwise a row starting D is added, and the
    pattern's latest row, when still open on D, is ended on D. A pattern made for a model no
    pattern priced starts at its first snapshot date when that is earlier than D (the first day
    the model can have been used). A quote dated on or before the latest start of its pattern
    is refused: it would re-price days that an existing row prices.
    """
    history_of = _by_pattern(rows)
    merge = Merge(rows=[])
    ordered = sorted(
        quotes, key=lambda q: (q.provider, q.model_pattern, q.effective_from or effective_from)
    )
    for quote in ordered:
        day = quote.effective_from or effective_from
        name = f"{quote.provider} {quote.model_pattern}"
        history = history_of.setdefault((quote.provider, quote.model_pattern), [])
        current = _in_force(history, day)
        latest = history[-1] if history else None
        base = current or latest
        rates, defaulted = _complete(quote, base.rates if base else None)
        if current and current.rates == rates:
            merge.unchanged += 1
            continue
        if latest is None:
            start = min(day, quote.first_used) if quote.first_used else day
            added = PriceRow(quote.provider, quote.model_pattern, start, quote.effective_to, rates)
            history.append(added)
            merge.changes.append(Change("added", added, None, quote.models))
            if defaulted:
                merge.notes.append(f"{name}: no {', '.join(defaulted)} in the file; 0 written")
            continue
        if day <= latest.effective_from:
            raise PriceError(
                source,
                quote.entry,
                f"prices for {name} from {day} would start on or before its latest row "
                f"({latest.effective_from}) and re-price days that row prices; "
                f"give an effective date after {latest.effective_from}",
            )
        if latest.effective_to is None or latest.effective_to > day:
            history[-1] = replace(latest, effective_to=day)
            merge.changes.append(Change("closed", history[-1], latest))
        added = PriceRow(quote.provider, quote.model_pattern, day, quote.effective_to, rates)
        history.append(added)
        merge.changes.append(Change("added", added, base, quote.models))
    merge.rows = sorted(
        (row for history in history_of.values() for row in history), key=PriceRow.sort_key
    )
    return merge


# -- the update -------------------------------------------------------------------------------


def update_prices(
    file: Path,
    *,
    seed: Path = SEED_PATH,
    effective_from: date | None = None,
    providers: Sequence[str] = DEFAULT_PROVIDERS,
    dry_run: bool = False,
) -> UpdateReport:
    """Apply a price file to the seed and write it back, unless `dry_run` or nothing changed.

    Everything is read, checked and merged before the seed is touched, and the new seed
    replaces the old in one rename, so a refused file or an interrupted run leaves it as it was.
    """
    price_file = read_price_file(file, providers)
    if price_file.kind == "csv" and effective_from is not None:
        raise PriceError(file, "--effective-from", "a CSV carries its own effective_from a row")
    day = effective_from or datetime.now(UTC).date()
    rows = read_seed(seed)
    if price_file.kind == "litellm":
        quotes = assign_patterns(price_file.models, rows)
    else:
        quotes = list(price_file.quotes)
    merge = merge_prices(rows, quotes, day, source=file)
    problems = check_invariants(merge.rows)
    if problems:
        raise PriceError(file, "result", "; ".join(problems))
    written = False
    if merge.changes and not dry_run:
        staging = seed.with_name(f".{seed.name}.tmp")
        staging.write_text(render_seed(merge.rows), encoding="utf-8")
        os.replace(staging, seed)
        written = True
    return UpdateReport(price_file, seed, day, merge, written, dry_run)
