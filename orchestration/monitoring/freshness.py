"""Freshness policies on every collected table and every mart, shown in the Dagster UI.

An asset turns Degraded (warn) and then Failed when it has not been materialised within the
ages `vault.yaml`'s `freshness` section allows: `raw_max_age_hours` for collectors,
`marts_max_age_hours` for dbt's marts and the forecasts; the warning comes at three quarters
of the age. Any materialisation counts, whichever partition it wrote: a daily collector that
ran last night is fresh even when it reloaded an older day.

Dagster's daemon evaluates the policies, no sensor needed (on by default; `freshness:
{enabled: false}` in dagster.yaml turns it off).

Push tables have no materialisations (clients insert into them directly). The data itself
is judged by the newest row's `loaded_at`: `vault doctor` shows it, and the `freshness_alerts`
sensor sends an alert (through `vault.yaml`'s `alerts` channels, once per source and day)
for every enabled source whose raw tables had no load within `raw_max_age_hours`.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg

from orchestration.alerts.notifier import Alert
from orchestration.alerts.sensors import deliver, sensor_default_status
from orchestration.config import FreshnessConfig, VaultConfig
from orchestration.monitoring.doctor import source_table_ages
from orchestration.warehouse.connection import warehouse_url

WARN_FRACTION = 0.75
FRESHNESS_SENSOR = "freshness_alerts"


def policy(hours: float) -> dg.FreshnessPolicy:
    """Fail after `hours` without a materialisation, warn after three quarters of it."""
    return dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=hours), warn_window=timedelta(hours=hours * WARN_FRACTION)
    )


def with_freshness(
    assets: Sequence[dg.AssetsDefinition], hours: float, *, marts_only: bool = False
) -> list[dg.AssetsDefinition]:
    """`assets` with a freshness policy of `hours` on each key (only `marts/...` keys when
    `marts_only`: dbt's staging and intermediate models are views, rebuilt with the marts)."""

    def attach(spec: dg.AssetSpec) -> dg.AssetSpec:
        if marts_only and spec.key.path[0] != "marts":
            return spec
        return spec.replace_attributes(freshness_policy=policy(hours))

    return list(dg.map_asset_specs(attach, assets))


def collector_freshness(
    assets: Sequence[dg.AssetsDefinition], config: FreshnessConfig
) -> list[dg.AssetsDefinition]:
    return with_freshness(assets, config.raw_max_age_hours)


def mart_freshness(
    assets: Sequence[dg.AssetsDefinition], config: FreshnessConfig
) -> list[dg.AssetsDefinition]:
    return with_freshness(assets, config.marts_max_age_hours, marts_only=True)


def stale_source_alerts(
    conn: psycopg.Connection, config: VaultConfig, now: datetime
) -> list[Alert]:
    """An alert per enabled source whose raw tables were not loaded within
    `raw_max_age_hours` (or never), once per source and UTC day."""
    limit = timedelta(hours=config.freshness.raw_max_age_hours)
    alerts = []
    for source, ages in source_table_ages(conn, config, now).items():
        late = {table: age for table, age in ages.items() if age is None or age > limit}
        if not late:
            continue
        facts = {
            f"raw.{table}": "never loaded" if age is None else f"last loaded {_hours(age)} h ago"
            for table, age in late.items()
        }
        alerts.append(
            Alert(
                kind="freshness",
                subject=source,
                threshold="stale",
                period=now.date().isoformat(),
                title=f"{source}: no new data for {config.freshness.raw_max_age_hours:g} h",
                text=(
                    f"{len(late)} of {source}'s raw tables were not loaded within "
                    f"{config.freshness.raw_max_age_hours:g} hours. Look at the failed "
                    f"collect_{source} runs in the Dagster UI, or turn on "
                    f"collect_{source}_schedule; `vault doctor` checks the credentials."
                ),
                facts=facts,
            )
        )
    return alerts


def _hours(age: timedelta) -> str:
    return f"{age.total_seconds() / 3600:.0f}"


def build_freshness_sensor(config: VaultConfig) -> dg.SensorDefinition:
    """Hourly: alert on every enabled source whose raw tables went stale (once a day each)."""

    @dg.sensor(
        name=FRESHNESS_SENSOR,
        minimum_interval_seconds=3600,
        default_status=sensor_default_status(config.alerts),
        description="Hourly: sources whose raw tables had no load within raw_max_age_hours.",
    )
    def _freshness_sensor(context: dg.SensorEvaluationContext):
        with psycopg.connect(warehouse_url(), connect_timeout=10) as conn:
            alerts = stale_source_alerts(conn, config, datetime.now(UTC))
        return dg.SkipReason(f"{len(alerts)} stale source(s); {deliver(config.alerts, alerts)}")

    return _freshness_sensor
