"""Once per threshold per period: what was sent is recorded in the warehouse.

`vault_alerts.alerts_sent` holds one row per alert key (kind, subject, threshold, period) and
channel. Sending an alert to a channel is one transaction: insert the row, then send, then
commit. So

- an alert whose row exists is not sent again, however often a sensor evaluates;
- a send that fails rolls its row back, and the next evaluation sends it (to that channel
  only: a webhook that took it is not sent it twice because e-mail failed);
- two sensors evaluating at once cannot both send: the second insert waits on the first
  one's uncommitted row (the primary key) and, once that commits, finds the conflict.

The one duplicate this cannot rule out is a send that succeeded followed by a commit that
failed (the warehouse went away in between): that alert is sent again next time.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg

from orchestration.alerts.notifier import Alert, AlertDeliveryError, Notifier

SCHEMA = "vault_alerts"
TABLE = f"{SCHEMA}.alerts_sent"

_DDL = f"""
create schema if not exists {SCHEMA};
create table if not exists {TABLE} (
    alert_kind text not null,
    subject text not null,
    threshold text not null,
    period text not null,
    channel text not null,
    title text not null,
    sent_at timestamptz not null default now(),
    primary key (alert_kind, subject, threshold, period, channel)
);
"""

_INSERT = f"""
insert into {TABLE} (alert_kind, subject, threshold, period, channel, title)
values (%s, %s, %s, %s, %s, %s)
on conflict do nothing
returning 1
"""


@dataclass
class DeliveryReport:
    """What `send_once` did: alerts sent and already sent, as (key, channel), and failures."""

    sent: list[tuple[tuple[str, str, str, str], str]] = field(default_factory=list)
    already_sent: list[tuple[tuple[str, str, str, str], str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def raise_for_failures(self) -> None:
        """Raise one AlertDeliveryError naming every failed delivery, if there was any."""
        if self.failures:
            raise AlertDeliveryError(
                f"{len(self.failures)} alert deliveries failed and will be retried at the next "
                "evaluation: " + "; ".join(self.failures)
            )


def ensure_table(conn: psycopg.Connection) -> None:
    """Create the state table if needed; an advisory lock keeps concurrent callers from
    racing on `create ... if not exists`."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (TABLE,))
        conn.execute(_DDL)


def send_once(notifier: Notifier, alerts: Iterable[Alert], database_url: str) -> DeliveryReport:
    """Send each alert to each channel unless `alerts_sent` says it was; record what is sent.

    Failures do not stop the others: each is reported in the result, its row rolled back.
    """
    report = DeliveryReport()
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        ensure_table(conn)
        for alert in alerts:
            for channel in notifier.channel_names:
                try:
                    with conn.transaction():
                        if not _record(conn, alert, alert.threshold, channel):
                            report.already_sent.append((alert.key, channel))
                            continue
                        for threshold in alert.implies:
                            _record(conn, alert, threshold, channel)
                        notifier.send_to(channel, alert)
                except AlertDeliveryError as error:
                    report.failures.append(f"{'/'.join(alert.key)} to {channel}: {error}")
                    continue
                report.sent.append((alert.key, channel))
    return report


def _record(conn: psycopg.Connection, alert: Alert, threshold: str, channel: str) -> bool:
    row = conn.execute(
        _INSERT, (alert.kind, alert.subject, threshold, alert.period, channel, alert.title)
    ).fetchone()
    return row is not None
