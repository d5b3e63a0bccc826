"""Notifications of alerts: e-mail (SMTP), signed webhooks (HMAC-SHA256), syslog (RFC 5424 over UDP).

A notification carries the alert's id, rule, severity, subject (an account,
address, run or breach id), count and state — never patient data. Channels are
configured from the environment:

=============================  ===================================================
``AIRLOCK_ALERT_EMAIL``        recipients (comma-separated)
``AIRLOCK_SMTP_HOST``/``PORT`` the SMTP relay (default localhost:25); STARTTLS is
                               required unless the relay is on loopback
``AIRLOCK_ALERT_WEBHOOK``      a URL (https unless on loopback) that receives JSON
``AIRLOCK_WEBHOOK_SECRET``     the shared secret (16 characters at least) of the
                               ``X-Airlock-Signature: sha256=<hex>`` header
``AIRLOCK_SYSLOG``             host:port of a syslog collector (UDP)
``AIRLOCK_ALERT_MIN_SEVERITY`` low, medium (default), high or critical
=============================  ===================================================

>>> sign(b'{"alert":"a1"}', "a shared secret for tests")[:7]
'sha256='
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import smtplib
import socket
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import urlsplit

from airlock.errors import AirlockError
from airlock.ledger.export import syslog_message
from airlock.watch.rules import Severity

__all__ = ["Email", "Notice", "Notifier", "Syslog", "Webhook", "sign"]

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Airlock-Signature"
_SYSLOG_SEVERITY = {Severity.LOW: 5, Severity.MEDIUM: 4, Severity.HIGH: 3, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class Notice:
    """What a notification says: ids and figures only."""

    alert: str
    rule: str
    severity: str
    subject: str
    count: int
    state: str  # open, escalated or reminder
    at: str
    run: str | None = None

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    def summary(self) -> str:
        run = f", run {self.run}" if self.run else ""
        return f"[{self.severity}] {self.rule} on {self.subject} ({self.state}, {self.count} event(s){run}); alert {self.alert}"


class Channel(Protocol):
    name: str

    def send(self, notice: Notice) -> None: ...


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def sign(body: bytes, secret: str) -> str:
    """The webhook signature header value: ``sha256=`` and the HMAC-SHA256 of the body under the shared secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Email:
    to: tuple[str, ...]
    host: str = "localhost"
    port: int = 25
    sender: str = "airlock@localhost"
    name: str = "e-mail"

    def send(self, notice: Notice) -> None:
        message = EmailMessage()
        message["From"], message["To"] = self.sender, ", ".join(self.to)
        message["Subject"] = f"Airlock alert [{notice.severity}] {notice.rule}"
        message.set_content(notice.summary() + "\n\nAcknowledge with: airlock alerts ack " + notice.alert + "\n")
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
            elif not _loopback(self.host):
                raise AirlockError(f"SMTP relay {self.host}:{self.port} offers no STARTTLS; alerts are not mailed in clear beyond loopback")
            smtp.send_message(message)


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str
    name: str = "webhook"

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname or "")):
            raise AirlockError("AIRLOCK_ALERT_WEBHOOK must be an https:// URL (http:// only on loopback)")
        if len(self.secret) < 16:
            raise AirlockError("AIRLOCK_WEBHOOK_SECRET must have 16 characters at least; the webhook's receiver checks it")

    def send(self, notice: Notice) -> None:
        body = notice.to_json()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, self.secret)})
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


@dataclass(frozen=True)
class Syslog:
    host: str
    port: int = 514
    name: str = "syslog"

    def send(self, notice: Notice) -> None:
        params = {k: v for k, v in asdict(notice).items() if v is not None}
        line = syslog_message(datetime.fromisoformat(notice.at), _SYSLOG_SEVERITY[Severity.named(notice.severity)], "alert", params, notice.summary())
        with socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(line.encode(), (self.host, self.port))


class Notifier:
    """Sends each notice at or above ``min_severity`` to every channel; one failing channel does not stop the others."""

    def __init__(self, channels: Sequence[Channel] = (), min_severity: Severity = Severity.MEDIUM):
        self.channels, self.min_severity = list(channels), min_severity

    def notify(self, notice: Notice) -> list[str]:
        """Send ``notice``; returns the names of the channels that failed (logged with the error type only)."""
        if Severity.named(notice.severity) < self.min_severity:
            return []
        failed = []
        for channel in self.channels:
            try:
                channel.send(notice)
            except (OSError, smtplib.SMTPException, AirlockError) as e:
                log.warning("alert %s: %s notification failed (%s)", notice.alert, channel.name, type(e).__name__)
                failed.append(channel.name)
        return failed

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        channels: list[Channel] = []
        if env.get("AIRLOCK_ALERT_EMAIL"):
            to = tuple(a.strip() for a in env["AIRLOCK_ALERT_EMAIL"].split(",") if a.strip())
            channels.append(Email(to, env.get("AIRLOCK_SMTP_HOST", "localhost"), int(env.get("AIRLOCK_SMTP_PORT", "25")),
                                  env.get("AIRLOCK_SMTP_FROM", "airlock@localhost")))
        if env.get("AIRLOCK_ALERT_WEBHOOK"):
            channels.append(Webhook(env["AIRLOCK_ALERT_WEBHOOK"], env.get("AIRLOCK_WEBHOOK_SECRET", "")))
        if env.get("AIRLOCK_SYSLOG"):
            host, _, port = env["AIRLOCK_SYSLOG"].rpartition(":")
            if not host or not port.isdigit():
                raise AirlockError("AIRLOCK_SYSLOG is host:port, e.g. 127.0.0.1:514")
            channels.append(Syslog(host.strip("[]"), int(port)))
        try:
            minimum = Severity.named(env.get("AIRLOCK_ALERT_MIN_SEVERITY", "medium"))
        except KeyError:
            raise AirlockError("AIRLOCK_ALERT_MIN_SEVERITY is low, medium, high or critical") from None
        return cls(channels, minimum)
