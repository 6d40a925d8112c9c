"""The code location: what loads, how assets are keyed and grouped, and the pure helpers."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from orchestration.collectors.framework import Window, build_collector_asset, collector
from orchestration.collectors.registry import discover_collectors
from orchestration.config import load_config
from orchestration.custom.collectors import CUSTOM_TABLES
from orchestration.dbt.assets import dbt_build_args, dbt_vars
from orchestration.dbt.project import ensure_manifest
from orchestration.definitions import build_definitions
from orchestration.schedules import partitions_to_refresh
from orchestration.warehouse.push import PUSH_TABLES

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    ensure_manifest()
    return build_definitions(load_config(REPO_ROOT / "vault.example.yaml"))


def test_collectors_are_raw_assets_grouped_by_source_with_retries_and_pools(defs):
    graph = defs.resolve_asset_graph()
    raw = {
        key.to_user_string(): graph.get(key)
        for key in graph.get_all_asset_keys()
        if key.path[0] == "raw" and graph.get(key).is_materializable
    }
    assert {name: node.group_name for name, node in raw.items()} == {
        "raw/anthropic_messages_usage": "anthropic",
        "raw/anthropic_cost_report": "anthropic",
        "raw/anthropic_claude_code_usage": "anthropic",
        "raw/claude_code_messages": "claude_code",
        "raw/openai_usage_completions": "openai",
        "raw/openai_usage_embeddings": "openai",
        "raw/openai_usage_images": "openai",
        "raw/openai_usage_audio_speeches": "openai",
        "raw/openai_usage_audio_transcriptions": "openai",
        "raw/openai_costs": "openai",
    }
    for node in raw.values():
        assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
        assert node.partitions_def.start == datetime(2026, 1, 1, tzinfo=UTC)
        assert node.pools == {f"source_{node.group_name}"}
    assets_def = defs.resolve_assets_def(dg.AssetKey(["raw", "anthropic_cost_report"]))
    assert assets_def.op.retry_policy.max_retries == 3


def test_every_dbt_source_is_a_collector_so_lineage_is_continuous(defs):
    graph = defs.resolve_asset_graph()
    collector_keys = {spec.asset_key for spec in discover_collectors()} | {
        dg.AssetKey(["raw", table]) for table in PUSH_TABLES
    }
    # The tables the vault.yaml-only sources' entries share (fed by raw/<kind>_<name>).
    collector_keys |= {dg.AssetKey(["raw", table]) for table in CUSTOM_TABLES.values()}
    staging = [key for key in graph.get_all_asset_keys() if key.path[0] == "staging"]
    assert staging
    for key in staging:
        assert graph.get(key).parent_keys <= collector_keys | {
            k for k in graph.get_all_asset_keys() if k.path[0] == "seeds"
        }
        assert graph.get(key).parent_keys & collector_keys, key


def test_windowed_dbt_models_share_the_partitions_and_backfill_in_one_run(defs):
    graph = defs.resolve_asset_graph()
    fct = graph.get(dg.AssetKey(["marts", "fct_metrics"]))
    assert isinstance(fct.partitions_def, dg.DailyPartitionsDefinition)
    assert fct.backfill_policy == dg.BackfillPolicy.single_run()
    assert graph.get(dg.AssetKey(["seeds", "model_prices"])).partitions_def is None
    assert graph.get(dg.AssetKey(["marts", "fct_metrics"])).group_name == "marts_core"


def test_dbt_tests_are_asset_checks(defs):
    checks = defs.resolve_asset_graph().asset_check_keys
    names = {(check.asset_key.to_user_string(), check.name) for check in checks}
    assert any(asset == "marts/fct_metrics" and "unique" in name for asset, name in names)


def test_jobs_and_schedules(defs):
    assert {job.name for job in defs.resolve_all_job_defs()} >= {
        "collect_anthropic",
        "collect_claude_code",
        "transform",
    }
    assert {schedule.name: schedule.cron_schedule for schedule in defs.schedules} == {
        "collect_anthropic_schedule": "0 1 * * *",
        "collect_claude_code_schedule": "0 1 * * *",
        "collect_openai_schedule": "0 1 * * *",
        "transform_schedule": "0 3 * * *",
    }


def test_missing_credentials_do_not_break_loading(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_ADMIN_API_KEY", raising=False)
    loaded = build_definitions(load_config(REPO_ROOT / "vault.example.yaml"))
    assert loaded.resolve_assets_def(dg.AssetKey(["raw", "anthropic_cost_report"]))


def test_no_config_loads_with_dbt_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VAULT_CONFIG", raising=False)
    loaded = build_definitions(load_config())
    graph = loaded.resolve_asset_graph()
    assert not [
        k
        for k in graph.get_all_asset_keys()
        if k.path[0] == "raw" and graph.get(k).is_materializable
    ]
    assert dg.AssetKey(["marts", "fct_metrics"]) in graph.get_all_asset_keys()


def test_dbt_vars_are_the_window_min_inclusive_max_exclusive():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = datetime(2026, 11, 4, tzinfo=UTC)
    assert dbt_vars(start, end) == {
        "min_date": "2026-11-01T00:00:00+00:00",
        "max_date": "2026-11-04T00:00:00+00:00",
    }
    assert dbt_build_args((start, end)) == [
        "build",
        "--vars",
        '{"min_date": "2026-11-01T00:00:00+00:00", "max_date": "2026-11-04T00:00:00+00:00"}',
    ]
    assert dbt_build_args(None, full_refresh=True) == ["build", "--full-refresh"]


@pytest.mark.parametrize(
    ("now", "lookback", "expected"),
    [
        (datetime(2026, 12, 3, 1, tzinfo=UTC), 0, ["2026-12-02"]),
        (datetime(2026, 12, 3, 1, tzinfo=UTC), 2, ["2026-11-30", "2026-12-01", "2026-12-02"]),
        (datetime(2026, 11, 2, 1, tzinfo=UTC), 5, ["2026-11-01"]),
        (datetime(2026, 11, 1, 1, tzinfo=UTC), 5, []),
    ],
)
def test_a_tick_refreshes_the_last_complete_day_and_its_lookback(now, lookback, expected):
    daily = dg.DailyPartitionsDefinition(start_date="2026-11-01")
    assert partitions_to_refresh(daily, now, lookback) == expected


def test_a_collector_must_take_the_window_first():
    with pytest.raises(TypeError, match="window"):

        @collector(source="x", table="x_things", natural_key=("id",))
        def things(client, window):  # pragma: no cover - never called
            yield from ()


def test_collector_spec_names_its_resources():
    @collector(source="demo", table="demo_things", natural_key=("id",))
    def things(window: Window, client_a, client_b):
        """Things per day."""
        yield from ()

    assert things.resource_keys == ("client_a", "client_b")
    asset = build_collector_asset(things, start_date=date(2026, 1, 1))
    assert asset.key == dg.AssetKey(["raw", "demo_things"])
    assert asset.required_resource_keys - {"io_manager"} == {"warehouse", "client_a", "client_b"}
    assert asset.descriptions_by_key[asset.key] == "Things per day."


def test_every_collector_and_mart_has_a_freshness_policy_from_vault_yaml(defs):
    graph = defs.resolve_asset_graph()
    nodes = {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}
    collectors = [
        name for name, node in nodes.items() if name.startswith("raw/") and node.is_materializable
    ]
    marts = [name for name in nodes if name.startswith("marts/")]
    assert "marts/fct_costs" in marts and "marts/cost_forecasts" in marts
    for name in collectors:
        policy = nodes[name].freshness_policy
        assert policy.fail_window.to_timedelta() == timedelta(hours=36), name
        assert policy.warn_window.to_timedelta() == timedelta(hours=27), name
    for name in marts:
        assert nodes[name].freshness_policy.fail_window.to_timedelta() == timedelta(hours=30), name
    # Views upstream of the marts, and tables clients push into, carry no policy.
    assert nodes["staging/stg_anthropic__cost_items"].freshness_policy is None
    assert nodes["raw/product_usage_events"].freshness_policy is None


def test_freshness_ages_come_from_vault_yaml(tmp_path):
    path = tmp_path / "vault.yaml"
    path.write_text("freshness:\n  raw_max_age_hours: 8\n  marts_max_age_hours: 12\n")
    graph = build_definitions(load_config(path)).resolve_asset_graph()
    policy = graph.get(dg.AssetKey(["marts", "fct_costs"])).freshness_policy
    assert policy.fail_window.to_timedelta() == timedelta(hours=12)
    assert policy.warn_window.to_timedelta() == timedelta(hours=9)
