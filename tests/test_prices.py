"""`vault prices update`: loading a newer price list into the dated price seed.

The merge rules are pure functions, tested table by table; the files (a LiteLLM-shaped JSON
and a CSV in the seed's columns, both written here) go through `update_prices` against a
seed in a temporary folder, and once through the `vault` command in a subprocess. The last
tests read the shipped seed itself.
"""

import json
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from orchestration.prices import (
    COLUMNS,
    SEED_PATH,
    ModelPrice,
    PriceError,
    PriceRow,
    Quote,
    Rates,
    assign_patterns,
    check_invariants,
    format_amount,
    like,
    longest_match,
    merge_prices,
    per_million,
    read_price_file,
    read_seed,
    render_seed,
    snapshot_date,
    update_prices,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DAY = date(2026, 5, 1)
HEADER = ",".join(COLUMNS)

# A seed in the shipped one's format, already in the order the command writes, with one price
# change in its history (claude-3-5-haiku).
SEED = f"""{HEADER}
anthropic,claude-3-5-haiku%,2024-10-22,2024-12-01,1.00,5.00,0.10,1.25,2.00,0.5,USD
anthropic,claude-3-5-haiku%,2024-12-01,,0.80,4.00,0.08,1.00,1.60,0.5,USD
anthropic,claude-haiku-4-5%,2025-10-01,,1.00,5.00,0.10,1.25,2.00,0.5,USD
anthropic,claude-sonnet-4-5%,2025-09-29,,3.00,15.00,0.30,3.75,6.00,0.5,USD
openai,gpt-4o%,2024-05-13,,2.50,10.00,1.25,0.00,0.00,0.5,USD
openai,gpt-5%,2025-08-07,,1.25,10.00,0.125,0.00,0.00,0.5,USD
openai,text-embedding-3-small%,2024-01-25,,0.02,0.00,0.00,0.00,0.00,0.5,USD
"""


def _anthropic(inp, out, read, write_5m, write_1h=None, **extra):
    entry = {
        "cache_creation_input_token_cost": write_5m,
        "cache_read_input_token_cost": read,
        "input_cost_per_token": inp,
        "litellm_provider": "anthropic",
        "max_input_tokens": 200000,
        "max_output_tokens": 64000,
        "mode": "chat",
        "output_cost_per_token": out,
        "supports_prompt_caching": True,
        **extra,
    }
    if write_1h is not None:
        entry["cache_creation_input_token_cost_above_1hr"] = write_1h
    return entry


def _openai(inp, out, read=None, mode="chat", **extra):
    entry = {"input_cost_per_token": inp, "litellm_provider": "openai", "mode": mode, **extra}
    if out is not None:
        entry["output_cost_per_token"] = out
    if read is not None:
        entry["cache_read_input_token_cost"] = read
    return entry


def litellm_entries() -> dict:
    """The shape of LiteLLM's model_prices_and_context_window.json, prices per token as it
    writes them. Against SEED every price is unchanged except three patterns to add."""
    sonnet = _anthropic(3e-06, 1.5e-05, 3e-07, 3.75e-06, 6e-06)
    opus = _anthropic(5e-06, 2.5e-05, 5e-07, 6.25e-06, 1e-05)
    return {
        "sample_spec": {
            "input_cost_per_token": 0.0,
            "litellm_provider": "one of https://docs.litellm.ai/docs/providers",
            "mode": "one of: chat, embedding, completion, image_generation",
            "output_cost_per_token": 0.0,
        },
        "claude-sonnet-4-5": sonnet,
        "claude-sonnet-4-5-20250929": sonnet,
        "claude-haiku-4-5-20251001": _anthropic(1e-06, 5e-06, 1e-07, 1.25e-06, 2e-06),
        "claude-3-5-haiku-20241022": _anthropic(8e-07, 4e-06, 8e-08, 1e-06, 1.6e-06),
        # A release the seed does not know yet, as alias and snapshot.
        "claude-opus-4-7": opus,
        "claude-opus-4-7-20260416": opus,
        "gpt-4o": _openai(
            2.5e-06,
            1e-05,
            1.25e-06,
            input_cost_per_token_batches=1.25e-06,
            output_cost_per_token_batches=5e-06,
        ),
        # An older snapshot at another price than the alias the seed's gpt-4o% is priced by.
        "gpt-4o-2024-05-13": _openai(5e-06, 1.5e-05),
        "gpt-5": _openai(1.25e-06, 1e-05, 1.25e-07),
        "gpt-5-pro": _openai(1.5e-05, 0.00012, mode="responses"),
        "text-embedding-3-small": _openai(2e-08, 0.0, mode="embedding", output_vector_size=1536),
        "dall-e-3": {"litellm_provider": "openai", "mode": "image_generation"},
        "gpt-4o-transcribe": _openai(2.5e-06, 1e-05, mode="audio_transcription"),
        "ft:gpt-4o-mini-2024-07-18": _openai(3e-07, 1.2e-06),
        "azure/gpt-4o": {**_openai(2.75e-06, 1.1e-05), "litellm_provider": "azure"},
        "anthropic.claude-sonnet-4-5-20250929-v1:0": {**sonnet, "litellm_provider": "bedrock"},
        "gemini-2.5-pro": {
            **_openai(1.25e-06, 1e-05),
            "litellm_provider": "vertex_ai-language-models",
        },
    }


def write_json(path: Path, entries: dict) -> Path:
    path.write_text(json.dumps(entries, indent=4))
    return path


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    path = tmp_path / "model_prices.csv"
    path.write_text(SEED)
    return path


def row(provider, pattern, start, end, *rates) -> PriceRow:
    """A seed row; rates in the seed's column order, batch multiplier 0.5 unless given."""
    values = [Decimal(str(rate)) for rate in rates] + [Decimal("0.5")] * (6 - len(rates))
    return PriceRow(
        provider,
        pattern,
        date.fromisoformat(start),
        date.fromisoformat(end) if end else None,
        Rates(*values),
    )


def rates(*values, batch=None) -> Rates:
    """Rates as a file states them: None for the ones it leaves out."""
    padded = [None if v is None else Decimal(str(v)) for v in values] + [None] * (5 - len(values))
    return Rates(*padded, batch_multiplier=None if batch is None else Decimal(str(batch)))


SONNET = row("anthropic", "claude-sonnet-4-5%", "2025-09-29", None, 3, 15, 0.3, 3.75, 6)


# -- numbers, patterns, dates -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_token", "seed_text"),
    [
        ("3e-06", "3.00"),
        ("1.5e-05", "15.00"),
        ("3.75e-06", "3.75"),
        ("1.25e-07", "0.125"),
        ("2.1875e-06", "2.1875"),
        ("2e-08", "0.02"),
        ("0.0", "0.00"),
        ("0.00012", "120.00"),
        ("3.3e-06", "3.30"),
    ],
)
def test_per_token_prices_become_exact_per_million_prices(per_token, seed_text):
    assert format_amount(per_million(Decimal(per_token))) == seed_text


def test_the_conversion_floats_would_get_wrong_is_exact_from_the_file(tmp_path):
    assert float("3.3e-06") * 1_000_000 != 3.3  # why amounts never pass through a float
    path = write_json(tmp_path / "prices.json", litellm_entries())
    models = {model.model_id: model for model in read_price_file(path).models}
    sonnet = models["claude-sonnet-4-5"].rates
    assert sonnet == Rates(
        Decimal("3"), Decimal("15"), Decimal("0.3"), Decimal("3.75"), Decimal("6"), None
    )
    assert models["gpt-5"].rates.cache_read_per_mtok == Decimal("0.125")
    assert models["text-embedding-3-small"].rates.input_per_mtok == Decimal("0.02")


@pytest.mark.parametrize(
    ("pattern", "model_id", "matches"),
    [
        ("claude-sonnet-4-5%", "claude-sonnet-4-5-20250929", True),
        ("claude-sonnet-4-5%", "claude-sonnet-4-5", True),
        ("claude-sonnet-4-5%", "claude-sonnet-4-20250514", False),
        ("claude-opus-4-20%", "claude-opus-4-5-20251101", False),
        ("gpt-4.1%", "gpt-4o", False),  # "." is a plain character for LIKE
        ("gpt-4_", "gpt-4o", True),  # "_" is any one character
        ("gpt\\_4%", "gpt-4o", False),  # unless escaped
        ("gpt\\_4%", "gpt_4o", True),
        ("o3", "o3", True),
        ("o3", "o3-mini", False),
    ],
)
def test_like_matches_as_postgres_does(pattern, model_id, matches):
    assert like(pattern, model_id) is matches


def test_the_longest_matching_pattern_wins_and_ties_go_by_text():
    patterns = ["gpt-4o%", "gpt-4o-mini%", "gpt-%"]
    assert longest_match("gpt-4o-mini-2024-07-18", patterns) == "gpt-4o-mini%"
    assert longest_match("gpt-4o-2024-08-06", patterns) == "gpt-4o%"
    assert longest_match("claude-haiku-4-5", patterns) is None
    assert longest_match("gpt-4ab", ["gpt-4_b", "gpt-4a_"]) == "gpt-4_b"


@pytest.mark.parametrize(
    ("model_id", "day"),
    [
        ("claude-sonnet-4-5-20250929", date(2025, 9, 29)),
        ("gpt-4o-2024-05-13", date(2024, 5, 13)),
        ("claude-sonnet-4-5", None),
        ("gpt-5-pro", None),
        ("model-20251399", None),  # not a day
    ],
)
def test_snapshot_dates_are_read_from_ids(model_id, day):
    assert snapshot_date(model_id) == day


# -- model ids to patterns ---------------------------------------------------------------------


def model(model_id, *values, provider="anthropic", batch=None) -> ModelPrice:
    return ModelPrice(provider, model_id, rates(*values, batch=batch))


def placed(quotes):
    return {q.model_pattern: (q.models, q.first_used) for q in quotes}


@pytest.mark.parametrize(
    ("case", "rows", "models", "expected"),
    [
        (
            "alias and snapshot on the seed's pattern: one quote",
            [SONNET],
            [model("claude-sonnet-4-5-20250929", 3, 15), model("claude-sonnet-4-5", 3, 15)],
            {
                "claude-sonnet-4-5%": (
                    ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
                    None,
                )
            },
        ),
        (
            "a new alias and its snapshot share one new pattern, from the snapshot's day",
            [SONNET],
            [model("claude-opus-4-7-20260416", 5, 25), model("claude-opus-4-7", 5, 25)],
            {
                "claude-sonnet-4-5%": None,
                "claude-opus-4-7%": (
                    ("claude-opus-4-7", "claude-opus-4-7-20260416"),
                    date(2026, 4, 16),
                ),
            },
        ),
        (
            "a snapshot alone gets its pattern without the date",
            [],
            [model("claude-opus-4-7-20260416", 5, 25)],
            {"claude-opus-4-7%": (("claude-opus-4-7-20260416",), date(2026, 4, 16))},
        ),
        (
            "a model priced apart from its pattern's alias gets a longer pattern, not backdated",
            [row("openai", "gpt-5%", "2025-08-07", None, 1.25, 10, 0.125, 0, 0)],
            [
                model("gpt-5", 1.25, 10, provider="openai"),
                model("gpt-5-pro", 15, 120, provider="openai"),
                model("gpt-5-pro-2025-10-06", 15, 120, provider="openai"),
                model("gpt-5-2025-08-07", 1.25, 10, provider="openai"),
            ],
            {
                "gpt-5%": (("gpt-5", "gpt-5-2025-08-07"), None),
                "gpt-5-pro%": (("gpt-5-pro", "gpt-5-pro-2025-10-06"), None),
            },
        ),
        (
            "a snapshot priced apart from a new alias keeps its whole id",
            [],
            [model("claude-x-1", 1, 5), model("claude-x-1-20260101", 2, 10)],
            {
                "claude-x-1%": (("claude-x-1",), None),
                "claude-x-1-20260101%": (("claude-x-1-20260101",), date(2026, 1, 1)),
            },
        ),
        (
            "the longest seed pattern takes the model",
            [
                row("openai", "gpt-4o%", "2024-05-13", None, 2.5, 10, 1.25, 0, 0),
                row("openai", "gpt-4o-mini%", "2024-07-18", None, 0.15, 0.6, 0.075, 0, 0),
            ],
            [model("gpt-4o-mini-2024-07-18", 0.15, 0.6, provider="openai")],
            {"gpt-4o-mini%": (("gpt-4o-mini-2024-07-18",), None)},
        ),
        (
            "a short new pattern that would catch a model placed elsewhere is not made",
            [row("openai", "o%", "2024-01-01", None, 1, 4, 0, 0, 0)],
            [
                model("o1-pro", 1, 4, provider="openai"),
                model("o1-2024-12-17", 15, 60, provider="openai"),
            ],
            {"o%": (("o1-pro",), None), "o1-2024-12-17%": (("o1-2024-12-17",), None)},
        ),
        (
            "a short new pattern is made when every model it matches has a longer one",
            [row("openai", "o1-mini%", "2024-09-12", None, 1.1, 4.4, 0.55, 0, 0)],
            [
                model("o1-mini", 1.1, 4.4, provider="openai"),
                model("o1-2024-12-17", 15, 60, provider="openai"),
            ],
            {
                "o1-mini%": (("o1-mini",), None),
                "o1%": (("o1-2024-12-17",), date(2024, 12, 17)),
            },
        ),
        (
            "rates one entry leaves out do not make it disagree",
            [],
            [model("claude-y", 1, 5, None), model("claude-y-20260101", 1, 5, 0.1)],
            {"claude-y%": (("claude-y", "claude-y-20260101"), date(2026, 1, 1))},
        ),
        (
            "special LIKE characters in a new id are escaped",
            [],
            [model("my_model", 1, 2, provider="openai")],
            {"my\\_model%": (("my_model",), None)},
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_models_are_given_patterns(case, rows, models, expected):
    quotes = assign_patterns(models, rows)
    expected = {pattern: want for pattern, want in expected.items() if want is not None}
    assert placed(quotes) == expected
    assert len({(q.provider, q.model_pattern) for q in quotes}) == len(quotes)


def test_models_that_agree_pool_what_they_state():
    (quote,) = assign_patterns(
        [model("claude-y", 1, 5, None), model("claude-y-20260101", 1, 5, 0.1)], []
    )
    assert quote.rates == rates(1, 5, 0.1)


# -- merge rules -------------------------------------------------------------------------------


def quote(
    pattern, *values, provider="anthropic", start=None, end=None, first_used=None, batch=None
):
    return Quote(
        provider,
        pattern,
        rates(*values, batch=batch),
        entry=f"entry {pattern!r}",
        effective_from=date.fromisoformat(start) if start else None,
        effective_to=date.fromisoformat(end) if end else None,
        first_used=first_used,
    )


HAIKU_HISTORY = [
    row("anthropic", "claude-3-5-haiku%", "2024-10-22", "2024-12-01", 1, 5, 0.1, 1.25, 2),
    row("anthropic", "claude-3-5-haiku%", "2024-12-01", None, 0.8, 4, 0.08, 1, 1.6),
]


@pytest.mark.parametrize(
    ("case", "rows", "quotes", "expected_rows", "counts"),
    [
        (
            "the same prices change nothing",
            [SONNET],
            [quote("claude-sonnet-4-5%", 3, 15, 0.3, 3.75, 6)],
            [SONNET],
            (0, 0, 1),
        ),
        (
            "a changed price ends the open row on the day and starts a new one",
            [SONNET, *HAIKU_HISTORY],
            [quote("claude-sonnet-4-5%", 3.5, 17.5, 0.35, 4.375, 7)],
            [
                *HAIKU_HISTORY,
                row(
                    "anthropic",
                    "claude-sonnet-4-5%",
                    "2025-09-29",
                    "2026-05-01",
                    3,
                    15,
                    0.3,
                    3.75,
                    6,
                ),
                row(
                    "anthropic", "claude-sonnet-4-5%", "2026-05-01", None, 3.5, 17.5, 0.35, 4.375, 7
                ),
            ],
            (1, 1, 0),
        ),
        (
            "rates the file leaves out are the row in force's",
            [SONNET],
            [quote("claude-sonnet-4-5%", 3, 12, 0.3, 3.75)],
            [
                row(
                    "anthropic",
                    "claude-sonnet-4-5%",
                    "2025-09-29",
                    "2026-05-01",
                    3,
                    15,
                    0.3,
                    3.75,
                    6,
                ),
                row("anthropic", "claude-sonnet-4-5%", "2026-05-01", None, 3, 12, 0.3, 3.75, 6),
            ],
            (1, 1, 0),
        ),
        (
            "without batch prices the current multiplier stands",
            [row("openai", "gpt-5%", "2025-08-07", None, 1.25, 10, 0.125, 0, 0, 0.75)],
            [quote("gpt-5%", 1.25, 10, 0.125, provider="openai")],
            [row("openai", "gpt-5%", "2025-08-07", None, 1.25, 10, 0.125, 0, 0, 0.75)],
            (0, 0, 1),
        ),
        (
            "a batch multiplier the file implies is a change like any rate",
            [row("openai", "gpt-5%", "2025-08-07", None, 1.25, 10, 0.125, 0, 0, 0.75)],
            [quote("gpt-5%", 1.25, 10, 0.125, provider="openai", batch=0.5)],
            [
                row("openai", "gpt-5%", "2025-08-07", "2026-05-01", 1.25, 10, 0.125, 0, 0, 0.75),
                row("openai", "gpt-5%", "2026-05-01", None, 1.25, 10, 0.125, 0, 0, 0.5),
            ],
            (1, 1, 0),
        ),
        (
            "a new pattern starts on the day, or at the first snapshot day when that is earlier",
            [],
            [
                quote("gpt-5-pro%", 15, 120, provider="openai"),
                quote("claude-opus-4-7%", 5, 25, 0.5, 6.25, 10, first_used=date(2026, 4, 16)),
            ],
            [
                row("anthropic", "claude-opus-4-7%", "2026-04-16", None, 5, 25, 0.5, 6.25, 10),
                row("openai", "gpt-5-pro%", "2026-05-01", None, 15, 120, 0, 0, 0),
            ],
            (2, 0, 0),
        ),
        (
            "history is kept: rows that ended before the day are not touched",
            HAIKU_HISTORY,
            [quote("claude-3-5-haiku%", 0.7, 3.5, 0.07, 0.875, 1.4)],
            [
                HAIKU_HISTORY[0],
                row(
                    "anthropic",
                    "claude-3-5-haiku%",
                    "2024-12-01",
                    "2026-05-01",
                    0.8,
                    4,
                    0.08,
                    1,
                    1.6,
                ),
                row(
                    "anthropic", "claude-3-5-haiku%", "2026-05-01", None, 0.7, 3.5, 0.07, 0.875, 1.4
                ),
            ],
            (1, 1, 0),
        ),
        (
            "a price that had ended gets a new row and nothing is closed",
            [row("openai", "o3%", "2025-04-16", "2025-06-10", 10, 40, 2.5, 0, 0)],
            [quote("o3%", 2, 8, 0.5, provider="openai")],
            [
                row("openai", "o3%", "2025-04-16", "2025-06-10", 10, 40, 2.5, 0, 0),
                row("openai", "o3%", "2026-05-01", None, 2, 8, 0.5, 0, 0),
            ],
            (1, 0, 0),
        ),
        (
            "a row set to end after the day is ended on the day",
            [row("openai", "o3%", "2025-04-16", "2026-12-31", 10, 40, 2.5, 0, 0)],
            [quote("o3%", 2, 8, 2.5, provider="openai")],
            [
                row("openai", "o3%", "2025-04-16", "2026-05-01", 10, 40, 2.5, 0, 0),
                row("openai", "o3%", "2026-05-01", None, 2, 8, 2.5, 0, 0),
            ],
            (1, 1, 0),
        ),
        (
            "dated quotes (a CSV's) apply in date order and build a history",
            [],
            [
                quote("o3%", 2, 8, 0.5, provider="openai", start="2025-06-10"),
                quote("o3%", 10, 40, 2.5, provider="openai", start="2025-04-16", end="2025-06-10"),
            ],
            [
                row("openai", "o3%", "2025-04-16", "2025-06-10", 10, 40, 2.5, 0, 0),
                row("openai", "o3%", "2025-06-10", None, 2, 8, 0.5, 0, 0),
            ],
            (2, 0, 0),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_merge_rules(case, rows, quotes, expected_rows, counts):
    merge = merge_prices(rows, quotes, DAY)
    assert merge.rows == sorted(expected_rows, key=PriceRow.sort_key)
    assert (merge.count("added"), merge.count("closed"), merge.unchanged) == counts
    assert check_invariants(merge.rows) == []


@pytest.mark.parametrize(
    "day",
    [date(2025, 1, 1), date(2025, 9, 29)],
    ids=["before the latest row", "on the latest row's day"],
)
def test_a_price_that_would_go_back_in_time_is_refused(day):
    with pytest.raises(PriceError) as refused:
        merge_prices([SONNET], [quote("claude-sonnet-4-5%", 4, 20)], day, source="new.json")
    message = str(refused.value)
    assert message.startswith("new.json: entry 'claude-sonnet-4-5%': prices for anthropic")
    assert "on or before its latest row (2025-09-29)" in message


def test_the_same_old_price_on_an_old_date_is_not_refused():
    merge = merge_prices([SONNET], [quote("claude-sonnet-4-5%", 3, 15)], date(2025, 9, 30))
    assert (merge.changes, merge.unchanged) == ([], 1)


def test_a_new_pattern_tells_which_charged_rates_the_file_left_out():
    merge = merge_prices(
        [],
        [quote("claude-z%", 1, 5, 0.1, 1.25), quote("gpt-z%", 1, 4, provider="openai")],
        DAY,
    )
    assert merge.notes == [
        "anthropic claude-z%: no cache_write_1h_per_mtok in the file; 0 written",
        # OpenAI charges no cache writes: only the cache read is worth a note.
        "openai gpt-z%: no cache_read_per_mtok in the file; 0 written",
    ]


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        (
            [
                row("openai", "o3%", "2025-04-16", "2025-07-01", 10, 40),
                row("openai", "o3%", "2025-06-10", None, 2, 8),
            ],
            "openai o3%: the row from 2025-04-16 ends 2025-07-01, after the next row starts",
        ),
        (
            [
                row("openai", "o3%", "2025-04-16", None, 10, 40),
                row("openai", "o3%", "2025-04-16", None, 2, 8),
            ],
            "openai o3% starts twice on 2025-04-16",
        ),
        (
            [row("openai", "o3%", "2025-04-16", None, 10, -1)],
            "openai o3% from 2025-04-16: output_per_mtok is negative (-1)",
        ),
    ],
)
def test_invariants_name_what_is_wrong(rows, problem):
    assert any(found.startswith(problem) for found in check_invariants(rows)), check_invariants(
        rows
    )


# -- the files, end to end ---------------------------------------------------------------------


def test_a_litellm_file_adds_new_patterns_and_leaves_equal_prices_alone(tmp_path, seed):
    path = write_json(tmp_path / "model_prices_and_context_window.json", litellm_entries())
    report = update_prices(path, seed=seed, effective_from=DAY)
    assert report.written
    assert report.file.skipped == {
        "not a model": 1,
        "other provider": 3,
        "prefixed or fine-tuned id": 1,
        "mode not priced per token": 2,
    }
    merge = report.merge
    assert (merge.count("added"), merge.count("closed"), merge.unchanged) == (3, 0, 6)
    added = set(seed.read_text().splitlines()) - set(SEED.splitlines())
    assert added == {
        "anthropic,claude-opus-4-7%,2026-04-16,,5.00,25.00,0.50,6.25,10.00,0.5,USD",
        "openai,gpt-4o-2024-05-13%,2026-05-01,,5.00,15.00,0.00,0.00,0.00,0.5,USD",
        "openai,gpt-5-pro%,2026-05-01,,15.00,120.00,0.00,0.00,0.00,0.5,USD",
    }
    assert set(SEED.splitlines()) <= set(seed.read_text().splitlines())
    lines = report.lines()
    assert lines[1] == "effective 2026-05-01: added 3, closed 0, unchanged 6"
    assert (
        "added  anthropic claude-opus-4-7% from 2026-04-16: new pattern for claude-opus-4-7, "
        "claude-opus-4-7-20260416; input 5.00, output 25.00, cache read 0.50, "
        "cache write 5m 6.25, cache write 1h 10.00, batch multiplier 0.5"
    ) in lines
    assert lines[-1] == f"wrote {seed}"


def test_running_the_same_file_twice_writes_the_same_bytes(tmp_path, seed):
    path = write_json(tmp_path / "prices.json", litellm_entries())
    update_prices(path, seed=seed, effective_from=DAY)
    first = seed.read_bytes()
    again = update_prices(path, seed=seed, effective_from=date(2026, 6, 1))
    assert not again.written and again.merge.changes == []
    assert again.merge.unchanged == 9
    assert seed.read_bytes() == first
    assert again.lines()[-1] == f"no change: {seed} left as it is"


def test_a_changed_price_adds_a_dated_row_and_closes_the_old_one(tmp_path, seed):
    entries = litellm_entries()
    cheaper = _anthropic(2.5e-06, 1.25e-05, 2.5e-07, 3.125e-06, 5e-06)
    entries["claude-sonnet-4-5"] = entries["claude-sonnet-4-5-20250929"] = cheaper
    entries["claude-3-5-haiku-20241022"] = _anthropic(7e-07, 3.5e-06, 7e-08, 8.75e-07, 1.4e-06)
    path = write_json(tmp_path / "prices.json", entries)
    report = update_prices(path, seed=seed, effective_from=DAY)
    text = seed.read_text()
    assert (
        "anthropic,claude-sonnet-4-5%,2025-09-29,2026-05-01,3.00,15.00,0.30,3.75,6.00,0.5,USD\n"
        "anthropic,claude-sonnet-4-5%,2026-05-01,,2.50,12.50,0.25,3.125,5.00,0.5,USD\n"
    ) in text
    assert (
        "closed anthropic claude-sonnet-4-5% from 2025-09-29: now ends 2026-05-01" in report.lines()
    )
    assert (
        "added  anthropic claude-sonnet-4-5% from 2026-05-01: input 3.00 -> 2.50, "
        "output 15.00 -> 12.50, cache read 0.30 -> 0.25, cache write 5m 3.75 -> 3.125, "
        "cache write 1h 6.00 -> 5.00"
    ) in report.lines()
    assert (
        "anthropic,claude-3-5-haiku%,2024-12-01,2026-05-01,0.80,4.00,0.08,1.00,1.60,0.5,USD\n"
        "anthropic,claude-3-5-haiku%,2026-05-01,,0.70,3.50,0.07,0.875,1.40,0.5,USD\n"
    ) in text
    # Everything else, the row that ended before the day among it, byte for byte.
    moved = ("anthropic,claude-sonnet-4-5%,", "anthropic,claude-3-5-haiku%,2024-12-01,")
    kept = [line for line in SEED.splitlines() if not line.startswith(moved)]
    assert "anthropic,claude-3-5-haiku%,2024-10-22,2024-12-01,1.00" in kept[1]
    assert all(f"{line}\n" in text for line in kept)
    assert (report.merge.count("added"), report.merge.count("closed")) == (5, 2)


def test_a_dry_run_reports_the_changes_and_writes_nothing(tmp_path, seed):
    path = write_json(tmp_path / "prices.json", litellm_entries())
    report = update_prices(path, seed=seed, effective_from=DAY, dry_run=True)
    assert seed.read_text() == SEED
    assert not report.written
    assert report.merge.count("added") == 3
    assert report.lines()[-1] == f"dry run: {seed} not written"


def test_providers_not_asked_for_are_skipped(tmp_path, seed):
    path = write_json(tmp_path / "prices.json", litellm_entries())
    report = update_prices(path, seed=seed, effective_from=DAY, providers=["anthropic"])
    assert {change.row.provider for change in report.merge.changes} == {"anthropic"}
    assert report.file.skipped["other provider"] == 3 + 8


@pytest.mark.parametrize(
    ("batches", "multiplier"),
    [
        ({"input_cost_per_token_batches": 1.25e-06, "output_cost_per_token_batches": 5e-06}, "0.5"),
        ({"input_cost_per_token_batches": 1.25e-06}, "0.5"),
        ({"input_cost_per_token_batches": 1.25e-06, "output_cost_per_token_batches": 6e-06}, None),
        ({"input_cost_per_token_batches": 1.23457e-06}, None),  # finer than the seed holds
        ({}, None),
    ],
    ids=["consistent", "input only", "inconsistent", "too fine", "absent"],
)
def test_batch_multipliers_are_derived_only_when_consistent(tmp_path, batches, multiplier):
    path = write_json(tmp_path / "prices.json", {"gpt-4o": _openai(2.5e-06, 1e-05, **batches)})
    (found,) = read_price_file(path).models
    assert found.rates.batch_multiplier == (Decimal(multiplier) if multiplier else None)


def test_a_csv_in_the_seeds_columns_applies_its_rows_on_their_dates(tmp_path, seed):
    columns = [name for name in COLUMNS if name != "effective_to"]
    path = tmp_path / "prices.csv"
    path.write_text(
        ",".join(columns) + "\n"
        "anthropic,claude-sonnet-4-5%,2026-06-01,3.00,15.00,0.30,3.75,7.50,0.5,USD\n"
        "anthropic,claude-haiku-4-5%,2025-10-01,1.00,5.00,0.10,1.25,2.00,0.5,USD\n"
        "openai,o3%,2025-06-10,2.00,8.00,0.50,0.00,0.00,0.5,USD\n"
    )
    report = update_prices(path, seed=seed)
    assert (report.merge.count("added"), report.merge.count("closed")) == (2, 1)
    assert report.merge.unchanged == 1
    text = seed.read_text()
    assert "anthropic,claude-sonnet-4-5%,2025-09-29,2026-06-01,3.00" in text
    assert "anthropic,claude-sonnet-4-5%,2026-06-01,,3.00,15.00,0.30,3.75,7.50,0.5,USD" in text
    assert "openai,o3%,2025-06-10,,2.00,8.00,0.50,0.00,0.00,0.5,USD" in text
    assert report.effective_from  # the report still says which day "today" was


def test_the_seed_itself_read_as_a_csv_changes_nothing(tmp_path, seed):
    path = tmp_path / "same.csv"
    path.write_text(SEED)
    report = update_prices(path, seed=seed)
    assert (report.merge.changes, report.merge.unchanged) == ([], 7)


def test_a_csv_with_an_effective_date_on_the_command_line_is_refused(tmp_path, seed):
    path = tmp_path / "same.csv"
    path.write_text(SEED)
    with pytest.raises(PriceError, match="a CSV carries its own effective_from"):
        update_prices(path, seed=seed, effective_from=DAY)


CSV_COLUMNS = ",".join(name for name in COLUMNS if name != "effective_to")


@pytest.mark.parametrize(
    ("name", "content", "entry", "reason"),
    [
        ("prices.bin", b"\x89PNG\r\n\x1a\n\x00\x00", "file", "is not UTF-8 text"),
        ("prices.txt", "just some notes\n", "header", "wrong columns"),
        ("prices.json", '{"gpt-4o": {', "file", "is not valid JSON"),
        ("prices.json", "[1, 2]", "file", "is JSON but not an object keyed by model name"),
        (
            "prices.json",
            '{"gpt-4o": {"litellm_provider": "openai", "mode": "chat",'
            ' "input_cost_per_token": NaN, "output_cost_per_token": 1e-05}}',
            "file",
            "is not valid JSON (NaN is not a price)",
        ),
        (
            "prices.json",
            '{"gpt-4o": {"litellm_provider": "openai", "mode": "chat",'
            ' "input_cost_per_token": -2.5e-06, "output_cost_per_token": 1e-05}}',
            "entry 'gpt-4o'",
            "input_cost_per_token: input_per_mtok is negative (-2.5)",
        ),
        (
            "prices.json",
            '{"gpt-4o": {"litellm_provider": "openai", "mode": "chat",'
            ' "input_cost_per_token": "0.0000025", "output_cost_per_token": 1e-05}}',
            "entry 'gpt-4o'",
            "input_cost_per_token '0.0000025' is not a number",
        ),
        (
            "prices.json",
            '{"gpt-4o": {"litellm_provider": "openai", "mode": "chat",'
            ' "input_cost_per_token": 2.5e-13, "output_cost_per_token": 1e-05}}',
            "entry 'gpt-4o'",
            "does not fit the seed's column",
        ),
        ("prices.csv", "provider,model,price\nopenai,gpt-4o,2.5\n", "header", "wrong columns"),
        (
            "prices.csv",
            f"{CSV_COLUMNS}\nopenai,gpt-4o%,2026-01-01,-2.50,10.00,1.25,0,0,0.5,USD\n",
            "line 2 (gpt-4o%)",
            "input_per_mtok is negative",
        ),
        (
            "prices.csv",
            f"{CSV_COLUMNS}\nopenai,gpt-4o%,2026-01-01,2.50,ten,1.25,0,0,0.5,USD\n",
            "line 2 (gpt-4o%)",
            "output_per_mtok 'ten' is not a number",
        ),
        (
            "prices.csv",
            f"{CSV_COLUMNS}\nmistral,mistral-large%,2026-01-01,2,6,0,0,0,0.5,USD\n",
            "line 2 (mistral-large%)",
            "unknown provider 'mistral' (known: anthropic, openai)",
        ),
        (
            "prices.csv",
            f"{CSV_COLUMNS}\nopenai,gpt-4o%,01/05/2026,2.50,10.00,1.25,0,0,0.5,USD\n",
            "line 2 (gpt-4o%)",
            "effective_from '01/05/2026' is not a date",
        ),
        (
            "prices.csv",
            f"{CSV_COLUMNS}\nopenai,gpt-4o%,2026-01-01,2.50,10.00,1.25,0,0,0.5,EUR\n",
            "line 2 (gpt-4o%)",
            "currency 'EUR' is not USD",
        ),
        (
            "prices.csv",
            f"{CSV_COLUMNS}\nopenai,gpt-4o%,2026-01-01,2.50,10.00,1.25,0,0,0.5,USD,extra\n",
            "line 2 (gpt-4o%)",
            "does not have the header's 10 fields",
        ),
    ],
)
def test_a_bad_file_is_refused_with_file_entry_and_reason_and_nothing_written(
    tmp_path, seed, name, content, entry, reason
):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(PriceError) as refused:
        update_prices(path, seed=seed, effective_from=None if name.endswith(".csv") else DAY)
    assert str(refused.value).startswith(f"{path}: {entry}: ")
    assert reason in refused.value.reason
    assert seed.read_text() == SEED
    assert [p.name for p in seed.parent.iterdir() if p.name.startswith(".")] == []


def test_a_file_with_one_backdated_change_writes_nothing_at_all(tmp_path, seed):
    entries = litellm_entries()
    entries["claude-sonnet-4-5"] = _anthropic(2.5e-06, 1.25e-05, 2.5e-07, 3.125e-06, 5e-06)
    path = write_json(tmp_path / "prices.json", entries)
    with pytest.raises(PriceError, match="would start on or before its latest row"):
        update_prices(path, seed=seed, effective_from=date(2025, 6, 1))
    assert seed.read_text() == SEED


def test_the_command_updates_a_seed_end_to_end(tmp_path, seed):
    path = write_json(tmp_path / "prices.json", litellm_entries())

    def vault(*args):
        return subprocess.run(
            [sys.executable, "-m", "orchestration.cli", "prices", "update", *args],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=False,
            timeout=120,
        )

    dry = vault(str(path), "--effective-from", "2026-05-01", "--seed", str(seed), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "effective 2026-05-01: added 3, closed 0, unchanged 6" in dry.stdout
    assert seed.read_text() == SEED

    done = vault(str(path), "--effective-from", "2026-05-01", "--seed", str(seed))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"wrote {seed}"
    assert "openai,gpt-5-pro%,2026-05-01,,15.00,120.00" in seed.read_text()

    only_anthropic = vault(
        str(path), "--seed", str(seed), "--providers", "anthropic", "--effective-from", "2026-06-01"
    )
    assert only_anthropic.returncode == 0, only_anthropic.stderr
    assert "added 0, closed 0, unchanged 4" in only_anthropic.stdout

    bad = vault(str(path), "--seed", str(seed), "--effective-from", "May 1st")
    assert bad.returncode == 2
    assert "vault: --effective-from: 'May 1st': not a date (YYYY-MM-DD); nothing written" in (
        bad.stderr
    )
    unknown = vault(str(path), "--seed", str(seed), "--providers", "anthropic,mistral")
    assert unknown.returncode == 2
    assert "unknown provider (known: anthropic, openai)" in unknown.stderr


# -- the shipped seed -------------------------------------------------------------------------


def test_the_shipped_seed_parses_and_holds_its_invariants():
    rows = read_seed(SEED_PATH)
    assert rows
    assert check_invariants(rows) == []
    assert all(value >= 0 for row in rows for _, value in row.rates.items())
    for (provider, pattern, _start), count in _counts(rows).items():
        assert count == 1, f"{provider} {pattern} has {count} rows starting the same day"
    # Rewriting the seed reproduces every line, so an update only changes the rows it must.
    assert set(render_seed(rows).splitlines()) == set(SEED_PATH.read_text().splitlines())


def test_the_shipped_seed_read_as_a_price_list_changes_nothing(tmp_path):
    copy = tmp_path / "model_prices.csv"
    copy.write_bytes(SEED_PATH.read_bytes())
    report = update_prices(SEED_PATH, seed=copy)
    assert report.merge.changes == []
    assert copy.read_bytes() == SEED_PATH.read_bytes()


def _counts(rows):
    counts: dict = {}
    for found in rows:
        counts[found.sort_key()] = counts.get(found.sort_key(), 0) + 1
    return counts
