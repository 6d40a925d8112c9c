"""Dagster sensors that turn budgets, feature SLOs and failed runs into alerts.

- `budget_alerts` and `feature_health_alerts` are run-status sensors on the transform job:
  Dagster calls each once per successful transform run (its cursor remembers the runs it has
  seen), which is exactly when `marts.budget_status` and `marts.feature_health_daily` have
  been rebuilt. They read the periods the run can have changed: the current month (and the
  previous one, when the run's window reached into it) and the days of the run's window, at
  most `MAX_DAYS_BACK` days back, so a long backfill does not flood the channel with old news.
- `run_failure_alerts` tells of every failed run of this code location: job, run id, the
  failing steps and their errors, and a link to the run when `DAGSTER_WEBSERVER_URL` is set.

Every alert goes through `send_once`: once per threshold per period, and an alert a channel
did not take is sent at the sensor's next evaluation (the next successful transform run, or
for run failures the next failed run, which also retries the last day's undelivered ones).
A delivery failure fails the sensor's tick, so it shows on the sensor's page in the UI.

The sensors start RUNNING when `vault.yaml` configures a channel (that is what configuring one
asks for) and STOPPED otherwise, when they could only write alerts to the log.
"""

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import dagster as dg
import psycopg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_START_TAG, PARTITION_NAME_TAG

from orchestration.alerts.notifier import Alert, Notifier
from orchestration.alerts.state import send_once
from orchestration.config import AlertsConfig
from orchestration.warehouse.connection import warehouse_url

WEBSERVER_URL_ENV = "DAGSTER_WEBSERVER_URL"
BUDGET_SENSOR = "budget_alerts"
FEATURE_HEALTH_SENSOR = "feature_health_alerts"
RUN_FAILURE_SENSOR = "run_failure_alerts"
# Feature health is judged per day; a transform run's window older than this is history.
MAX_DAYS_BACK = 7
# A run-failure alert that no channel took is retried at the next failure for this long.
RUN_FAILURE_RETRY = timedelta(hours=24)
_ERROR_EXCERPT = 600

_BREACHES = {
    "error_rate": "is_error_rate_breached",
    "p95_latency": "is_latency_breached",
    "sla": "is_sla_breached",
}


def window_start(tags: Mapping[str, str]) -> date | None:
    """The first day a run rebuilt, from its partition tags; None for a run over all time."""
    key = tags.get(ASSET_PARTITION_RANGE_START_TAG) or tags.get(PARTITION_NAME_TAG)
    return date.fromisoformat(key[:10]) if key else None


def budget_months(tags: Mapping[str, str], today: date) -> list[date]:
    """The months a transform run can have changed: the current one, and the previous one
    unless the run's window began in the current month."""
    current = today.replace(day=1)
    previous = (current - timedelta(days=1)).replace(day=1)
    start = window_start(tags)
    return [current] if start is not None and start >= current else [previous, current]


def health_days(tags: Mapping[str, str], today: date) -> tuple[date, date]:
    """[first, last] day of feature health a transform run can have changed."""
    earliest = today - timedelta(days=MAX_DAYS_BACK)
    start = window_start(tags)
    return (max(start, earliest) if start else earliest), today


def _usd(amount: Decimal | None) -> str:
    return "n/a" if amount is None else f"${amount:,.2f}"


def _percent(fraction: Decimal | None) -> str:
    return "n/a" if fraction is None else f"{fraction * 100:.1f}%"


def budget_alerts(conn: psycopg.Connection, months: Sequence[date]) -> list[Alert]:
    """One alert per budget and month at or over a threshold: the highest one reached."""
    rows = conn.execute(
        """
        select budget, scope_type, scope, cost_kind, cost_category, budget_month,
            monthly_amount_usd, spend_usd, spent_fraction, status, soft_threshold,
            hard_threshold, projected_spend_usd
        from marts.budget_status
        where budget_month = any(%s) and status in ('soft', 'hard')
        order by budget, budget_month
        """,
        (list(months),),
    ).fetchall()
    alerts = []
    for (
        budget, scope_type, scope, cost_kind, cost_category, month,
        amount, spend, fraction, status, soft, hard, projected,
    ) in rows:  # fmt: skip
        threshold = hard if status == "hard" else soft
        what = " ".join(filter(None, [cost_kind, cost_category])) or "all"
        alerts.append(
            Alert(
                kind="budget",
                subject=budget,
                threshold=status,
                period=month.strftime("%Y-%m"),
                title=(
                    f"Budget {budget}: {_percent(fraction)} of {_usd(amount)} spent in "
                    f"{month:%B %Y}"
                ),
                text=(
                    f"The {scope_type} {scope} has spent {_usd(spend)} of its {what} budget "
                    f"for {month:%B %Y}, reaching the {status} threshold of "
                    f"{_percent(threshold)}."
                ),
                severity="critical" if status == "hard" else "warning",
                facts={
                    "Scope": f"{scope_type} {scope}",
                    "Costs counted": what,
                    "Spent": _usd(spend),
                    "Budget": _usd(amount),
                    "Threshold": f"{status} at {_percent(threshold)}",
                    "Projected month end": _usd(projected),
                },
                implies=("soft",) if status == "hard" else (),
            )
        )
    return alerts


def feature_health_alerts(conn: psycopg.Connection, first: date, last: date) -> list[Alert]:
    """One alert per breached target, feature, customer and day in [first, last]."""
    rows = conn.execute(
        """
        select feature, customer, request_date, requests, failed_requests, error_rate,
            most_common_error_type, p95_latency_ms, sla_compliance, max_error_rate,
            p95_latency_target_ms, sla_latency_ms, sla_target, is_error_rate_breached,
            is_latency_breached, is_sla_breached
        from marts.feature_health_daily
        where
            request_date between %s and %s
            and (is_error_rate_breached or is_latency_breached or is_sla_breached)
        order by feature, customer, request_date
        """,
        (first, last),
    ).fetchall()
    columns = [
        "feature", "customer", "request_date", "requests", "failed_requests", "error_rate",
        "most_common_error_type", "p95_latency_ms", "sla_compliance", "max_error_rate",
        "p95_latency_target_ms", "sla_latency_ms", "sla_target", *_BREACHES.values(),
    ]  # fmt: skip
    alerts = []
    for values in rows:
        row = dict(zip(columns, values, strict=True))
        for threshold, flag in _BREACHES.items():
            if row[flag]:
                alerts.append(_feature_alert(row, threshold))
    return alerts


def _feature_alert(row: dict, threshold: str) -> Alert:
    who = "all customers" if row["customer"] == "all" else f"customer {row['customer']}"
    day = row["request_date"]
    if threshold == "error_rate":
        measured = (
            f"{_percent(row['error_rate'])} of {row['requests']:,} requests failed "
            f"(target at most {_percent(row['max_error_rate'])})"
        )
        if row["most_common_error_type"]:
            measured += f"; most often {row['most_common_error_type']}"
    elif threshold == "p95_latency":
        measured = (
            f"p95 latency was {row['p95_latency_ms']:,} ms "
            f"(target at most {row['p95_latency_target_ms']:,} ms)"
        )
    else:
        measured = (
            f"{_percent(row['sla_compliance'])} of requests succeeded within "
            f"{row['sla_latency_ms']:,} ms (SLA {_percent(row['sla_target'])})"
        )
    return Alert(
        kind="feature_health",
        subject=f"{row['feature']}/{row['customer']}",
        threshold=threshold,
        period=day.isoformat(),
        title=f"{row['feature']} missed its {threshold.replace('_', ' ')} SLO on {day}",
        text=f"For {who} on {day} (UTC): {measured}.",
        severity="warning",
        facts={
            "Feature": row["feature"],
            "Customer": row["customer"],
            "Requests": f"{row['requests']:,}",
            "Failed": f"{row['failed_requests']:,}",
        },
    )


def run_url(run_id: str) -> str | None:
    base = os.environ.get(WEBSERVER_URL_ENV, "").strip().rstrip("/")
    return f"{base}/runs/{run_id}" if base else None


def run_failure_alert(
    run: dg.DagsterRun, step_failures: Sequence[dg.DagsterEvent], run_error: str | None
) -> Alert:
    """The alert for one failed run: which steps failed and with what error."""
    steps = {}
    for event in step_failures:
        error = getattr(event.event_specific_data, "error", None)
        # Dagster wraps the op's own exception ('Error occurred while executing op ...'):
        # the innermost cause is the one that says what went wrong.
        while error is not None and error.cause is not None:
            error = error.cause
        message = error.message.strip() if error is not None else (event.message or "")
        steps[event.step_key or "run"] = message[:_ERROR_EXCERPT]
    if not steps:
        steps["run"] = (run_error or "no error message was recorded")[:_ERROR_EXCERPT]
    first_step, first_error = next(iter(steps.items()))
    return Alert(
        kind="run_failure",
        subject=run.job_name,
        threshold="failed",
        period=run.run_id,
        title=f"Run of {run.job_name} failed",
        text=(f"Run {run.run_id} of job {run.job_name} failed at step {first_step}: {first_error}"),
        severity="critical",
        facts={
            "Job": run.job_name,
            "Run": run.run_id,
            **{f"Step {k}": v for k, v in steps.items()},
        },
        link=run_url(run.run_id),
    )


def _failure_alerts_for_runs(
    instance: dg.DagsterInstance, runs: Iterable[dg.DagsterRun]
) -> list[Alert]:
    alerts = []
    for run in runs:
        records = instance.get_records_for_run(
            run_id=run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
        ).records
        failures = [record.event_log_entry.dagster_event for record in records]
        alerts.append(run_failure_alert(run, [event for event in failures if event], None))
    return alerts


def _location(run: dg.DagsterRun) -> str | None:
    return run.remote_job_origin.location_name if run.remote_job_origin else None


def sensor_default_status(config: AlertsConfig) -> dg.DefaultSensorStatus:
    """Alert sensors run from the start when a channel is configured; else they wait to be
    turned on (their alerts would only be logged)."""
    if config.webhook is not None or config.email is not None:
        return dg.DefaultSensorStatus.RUNNING
    return dg.DefaultSensorStatus.STOPPED


def deliver(config: AlertsConfig, alerts: list[Alert]) -> str:
    """Send `alerts` once each through `config`'s channels; raise when a delivery failed (the
    sensor's tick then fails, and the next evaluation retries it); else say what was sent."""
    report = send_once(Notifier.from_config(config), alerts, warehouse_url())
    report.raise_for_failures()
    return f"{len(report.sent)} alert deliveries sent, {len(report.already_sent)} sent before"


def build_alert_sensors(config: AlertsConfig, transform_job: Any) -> list[dg.SensorDefinition]:
    """The budget, feature-health and run-failure sensors, delivering through `config`."""
    default_status = sensor_default_status(config)

    @dg.run_status_sensor(
        name=BUDGET_SENSOR,
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[transform_job],
        default_status=default_status,
        description="After each successful transform run: budgets at or over a threshold.",
    )
    def _budget_sensor(context: dg.RunStatusSensorContext):
        months = budget_months(context.dagster_run.tags, datetime.now(UTC).date())
        with psycopg.connect(warehouse_url(), connect_timeout=10) as conn:
            alerts = budget_alerts(conn, months)
        summary = deliver(config, alerts)
        return dg.SkipReason(f"budgets, {', '.join(f'{m:%Y-%m}' for m in months)}: {summary}")

    @dg.run_status_sensor(
        name=FEATURE_HEALTH_SENSOR,
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[transform_job],
        default_status=default_status,
        description="After each successful transform run: features that missed an SLO.",
    )
    def _feature_health_sensor(context: dg.RunStatusSensorContext):
        first, last = health_days(context.dagster_run.tags, datetime.now(UTC).date())
        with psycopg.connect(warehouse_url(), connect_timeout=10) as conn:
            alerts = feature_health_alerts(conn, first, last)
        summary = deliver(config, alerts)
        return dg.SkipReason(f"feature health, {first} .. {last}: {summary}")

    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        default_status=default_status,
        description="Every failed run: its job, failing steps, errors and link.",
    )
    def _run_failure_sensor(context: dg.RunFailureSensorContext):
        run = context.dagster_run
        alert = run_failure_alert(
            run, context.get_step_failure_events(), context.failure_event.message
        )
        # Failures of the last day whose alert no channel took: sent now, once.
        recent = context.instance.get_runs(
            filters=dg.RunsFilter(
                statuses=[dg.DagsterRunStatus.FAILURE],
                updated_after=datetime.now(UTC) - RUN_FAILURE_RETRY,
            ),
            limit=50,
        )
        earlier = [r for r in recent if r.run_id != run.run_id and _location(r) == _location(run)]
        summary = deliver(config, [alert, *_failure_alerts_for_runs(context.instance, earlier)])
        return dg.SkipReason(f"run {run.run_id} of {run.job_name}: {summary}")

    return [_budget_sensor, _feature_health_sensor, _run_failure_sensor]
