"""Alerts and the channels that carry them: a Slack-compatible webhook and e-mail.

An `Alert` says what happened in words a reader acts on; the `Notifier` built from
`vault.yaml`'s `alerts` section delivers it to every configured channel. Secrets stay out of
every message and log line: the webhook's URL is itself the credential (anyone holding it can
post), so errors name the environment variable that holds it, never the URL; the SMTP
password is read from its variable at send time and never repeated.

With no channel configured, an alert is written to the log and nothing else happens, so the
sensors can run (and be tried) before anyone has set up Slack or SMTP.
"""

import logging
import os
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal

import httpx

from orchestration.config import AlertsConfig, EmailConfig, WebhookConfig

logger = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]

# Slack's limits (Block Kit reference): a header's text, a section's text, a field's text,
# fields per section. Longer text is cut rather than refused by Slack with HTTP 400.
_HEADER_LIMIT = 150
_SECTION_LIMIT = 3000
_FIELD_LIMIT = 2000
_FIELDS_PER_SECTION = 10
_SEVERITY_MARK = {
    "info": ":information_source:",
    "warning": ":warning:",
    "critical": ":rotating_light:",
}
# How much of an unexpected answer body an error quotes: enough for Slack's one-word reasons
# (invalid_payload, no_service), never a page.
_BODY_EXCERPT = 200


class AlertConfigError(ValueError):
    """The alerts configuration cannot be used as it stands (an unset variable, a bad URL)."""


class AlertDeliveryError(RuntimeError):
    """A channel did not take an alert; the message says which and why, without secrets."""


@dataclass(frozen=True)
class Alert:
    """One thing to tell people, and the key that makes it once per threshold and period.

    `kind`, `subject`, `threshold` and `period` identify the alert: the same four are sent
    once (see `orchestration.alerts.state`). `implies` names lower thresholds of the same
    kind, subject and period that this alert makes redundant (a hard budget alert covers
    the soft one), so they are not sent after it.
    """

    kind: str
    subject: str
    threshold: str
    period: str
    title: str
    text: str
    severity: Severity = "warning"
    facts: Mapping[str, str] = field(default_factory=dict)
    link: str | None = None
    implies: Sequence[str] = ()

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.subject, self.threshold, self.period)

    def plain_text(self) -> str:
        """The alert as plain text: the e-mail body, the log line, Slack's fallback."""
        lines = [self.title, "", self.text]
        if self.facts:
            lines += ["", *(f"{name}: {value}" for name, value in self.facts.items())]
        if self.link:
            lines += ["", self.link]
        return "\n".join(lines)


def _slack_escape(text: str) -> str:
    # Slack reads &, < and > as markup (<!channel> would notify everyone).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(alert: Alert) -> dict:
    """The JSON a Slack incoming webhook takes: `text` (the notification and fallback) and
    `blocks` (a header, the text, the facts as fields, the link)."""
    blocks: list[dict] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(alert.title, _HEADER_LIMIT)},
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _cut(
                    f"{_SEVERITY_MARK[alert.severity]} {_slack_escape(alert.text)}", _SECTION_LIMIT
                ),
            },
        },
    ]
    facts = [
        {
            "type": "mrkdwn",
            "text": _cut(f"*{_slack_escape(name)}*\n{_slack_escape(value)}", _FIELD_LIMIT),
        }
        for name, value in alert.facts.items()
    ]
    for start in range(0, len(facts), _FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": facts[start : start + _FIELDS_PER_SECTION]})
    if alert.link:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{alert.link}|Open in the Dagster UI>"}],
            }
        )
    return {"text": _cut(f"{alert.title}: {alert.text}", _SECTION_LIMIT), "blocks": blocks}


def _required_env(name: str, what: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise AlertConfigError(f"{what}: environment variable {name} is not set")
    return value


class WebhookChannel:
    """POSTs alerts as Slack-compatible JSON to the URL in `config.url_env`."""

    name = "webhook"

    def __init__(self, config: WebhookConfig) -> None:
        self._url_env = config.url_env
        self._url = _required_env(config.url_env, "alerts.webhook")
        if not self._url.startswith(("https://", "http://")):
            raise AlertConfigError(f"alerts.webhook: {config.url_env} must hold an http(s) URL")
        self._timeout = config.timeout_s

    def send(self, alert: Alert) -> None:
        try:
            response = httpx.post(self._url, json=slack_payload(alert), timeout=self._timeout)
        except httpx.HTTPError as error:
            # httpx's messages can carry the URL; say what kind of failure it was instead.
            raise AlertDeliveryError(
                f"webhook ({self._url_env}): request failed: {type(error).__name__}"
            ) from None
        if response.status_code >= 300:
            body = response.text[:_BODY_EXCERPT].strip().replace(self._url, "<webhook URL>")
            raise AlertDeliveryError(
                f"webhook ({self._url_env}): HTTP {response.status_code}"
                + (f": {body}" if body else "")
            )


class EmailChannel:
    """Sends alerts as plain-text e-mail through the SMTP server of `config`."""

    name = "email"

    def __init__(self, config: EmailConfig) -> None:
        if config.username and not config.password_env:
            raise AlertConfigError(
                "alerts.email: username is set but password_env is not: name the environment "
                "variable that holds the SMTP password"
            )
        self._config = config
        self._password = (
            _required_env(config.password_env, "alerts.email") if config.password_env else None
        )

    def message(self, alert: Alert) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = f"[vault] {alert.title}"
        message["From"] = self._config.from_address
        message["To"] = ", ".join(self._config.to)
        message.set_content(alert.plain_text())
        return message

    def _connect(self) -> smtplib.SMTP:
        config = self._config
        if config.security == "ssl":
            return smtplib.SMTP_SSL(
                config.host,
                config.port,
                timeout=config.timeout_s,
                context=ssl.create_default_context(),
            )
        smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
        if config.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def send(self, alert: Alert) -> None:
        where = f"SMTP {self._config.host}:{self._config.port}"
        try:
            with self._connect() as smtp:
                if self._config.username:
                    smtp.login(self._config.username, self._password or "")
                smtp.send_message(self.message(alert))
        except smtplib.SMTPAuthenticationError as error:
            raise AlertDeliveryError(
                f"{where} refused the login of {self._config.username}: "
                f"{error.smtp_code} {_smtp_text(error.smtp_error)}"
            ) from None
        except smtplib.SMTPRecipientsRefused as error:
            refused = ", ".join(
                f"{address} ({code} {_smtp_text(text)})"
                for address, (code, text) in error.recipients.items()
            )
            raise AlertDeliveryError(f"{where} refused the recipients: {refused}") from None
        except smtplib.SMTPResponseException as error:
            raise AlertDeliveryError(
                f"{where} refused the message: {error.smtp_code} {_smtp_text(error.smtp_error)}"
            ) from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as error:
            raise AlertDeliveryError(f"{where}: {type(error).__name__}: {error}") from None


def _smtp_text(text: bytes | str) -> str:
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)


class Notifier:
    """Delivers alerts to the channels `vault.yaml` configures (`alerts.webhook`,
    `alerts.email`); with neither, logs them.

    Building one reads the channels' environment variables, so a missing one is reported
    when alerts are about to be sent (a sensor tick), not when the definitions load.
    """

    def __init__(self, channels: Sequence[WebhookChannel | EmailChannel]) -> None:
        self.channels = list(channels)

    @classmethod
    def from_config(cls, config: AlertsConfig) -> "Notifier":
        channels: list[WebhookChannel | EmailChannel] = []
        if config.webhook is not None:
            channels.append(WebhookChannel(config.webhook))
        if config.email is not None:
            channels.append(EmailChannel(config.email))
        return cls(channels)

    @property
    def channel_names(self) -> list[str]:
        """The channels alerts go to; `log` when none is configured."""
        return [channel.name for channel in self.channels] or ["log"]

    def send_to(self, channel_name: str, alert: Alert) -> None:
        """Deliver `alert` to one channel (`log`: write it to the log); raises
        AlertDeliveryError when the channel does not take it."""
        logger.info("alert %s: %s", "/".join(alert.key), alert.title)
        if channel_name == "log":
            logger.warning("alert (no channel configured): %s", alert.plain_text())
            return
        channel = next(channel for channel in self.channels if channel.name == channel_name)
        channel.send(alert)

    def send(self, alert: Alert) -> None:
        """Deliver `alert` to every channel now, with no record of it; each channel is tried
        even when another fails, and one AlertDeliveryError then names every failure."""
        failures = []
        for name in self.channel_names:
            try:
                self.send_to(name, alert)
            except AlertDeliveryError as error:
                failures.append(str(error))
        if failures:
            raise AlertDeliveryError("; ".join(failures))
