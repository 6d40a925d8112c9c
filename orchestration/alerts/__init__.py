"""Alerts: budgets, feature health, freshness and failed runs, to Slack and e-mail.

The public API for code that raises alerts of its own (the freshness checks, for one):

    from orchestration.alerts import Alert, Notifier, send_once

    notifier = Notifier.from_config(load_config().alerts)
    report = send_once(notifier, [Alert(kind="freshness", subject="raw.aws_costs",
                                        threshold="stale", period="2026-12-03",
                                        title="raw.aws_costs is 40 hours old",
                                        text="...")], warehouse_url())
    report.raise_for_failures()

`send_once` sends each (kind, subject, threshold, period) once per channel and records it in
`vault_alerts.alerts_sent`; `Notifier.send` sends at once, without a record.
"""

from orchestration.alerts.notifier import (
    Alert,
    AlertConfigError,
    AlertDeliveryError,
    Notifier,
    slack_payload,
)
from orchestration.alerts.state import DeliveryReport, send_once

__all__ = [
    "Alert",
    "AlertConfigError",
    "AlertDeliveryError",
    "DeliveryReport",
    "Notifier",
    "send_once",
    "slack_payload",
]
