"""Ledger exports: FHIR R4B AuditEvent (IHE Basic Audit Log Patterns) as NDJSON, and RFC 5424 syslog lines.

>>> from airlock.ledger.chain import Recorded
>>> from airlock.ledger.entry import Actor
>>> from datetime import datetime, UTC
>>> rec = Recorded(7, datetime(2026, 11, 29, 8, 0, tzinfo=UTC), "login_failure", "failure", Actor("acc-1", "Karim Benali", "operator"), {"address": "10.0.0.7"}, "0" * 64, "ab" * 32)
>>> syslog_line(rec, hostname="lis-gw")  # doctest: +NORMALIZE_WHITESPACE
'<108>1 2026-11-29T08:00:00Z lis-gw airlock - login_failure [airlock@32473 seq="7" outcome="failure" actor="acc-1" actor_name="Karim Benali" role="operator" address="10.0.0.7"] login_failure'
>>> audit_event(rec)["type"]["code"], audit_event(rec)["outcome"]
('110114', '4')
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from airlock.ledger.chain import Recorded

__all__ = ["audit_event", "audit_events_ndjson", "sd_element", "syslog_line", "syslog_message"]

#: RFC 5612's example enterprise number: SD-IDs carry one; Airlock has no registered PEN of its own.
ENTERPRISE = 32473
#: Facility 13, "log audit" (RFC 5424 §6.2.1).
FACILITY = 13
_DCM = "http://dicom.nema.org/resources/ontology/DCM"
_AIRLOCK = "urn:airlock:ledger-kind"

# IHE BALP: the event type (DICOM code) and action per kind of entry.
_AUTH = ({"system": _DCM, "code": "110114", "display": "User Authentication"}, "E")
_TYPES: dict[str, tuple[dict[str, str], str]] = {
    "login": _AUTH, "login_failure": _AUTH, "mfa": _AUTH,
    "export": ({"system": _DCM, "code": "110106", "display": "Export"}, "R"),
    "alert": ({"system": _DCM, "code": "110113", "display": "Security Alert"}, "E"),
}
_APPLICATION = ({"system": _DCM, "code": "110100", "display": "Application Activity"}, "E")


def _type(kind: str) -> tuple[dict[str, str], str]:
    if kind.startswith("identity."):
        return _AUTH
    if kind in ("scope.violation", "vault.integrity_failure"):
        return _TYPES["alert"]
    return _TYPES.get(kind, _APPLICATION)


def audit_event(rec: Recorded, observer: str = "Airlock") -> dict[str, Any]:
    """One FHIR R4B AuditEvent for a ledger entry: ids and digests only, like the entry."""
    coding, action = _type(rec.kind)
    return {
        "resourceType": "AuditEvent",
        "id": f"airlock-ledger-{rec.seq}",
        "type": coding,
        "subtype": [{"system": _AIRLOCK, "code": rec.kind}],
        "action": action,
        "recorded": rec.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "outcome": "0" if rec.outcome == "success" else "4",
        "agent": [{
            "who": {"identifier": {"system": "urn:airlock:actor", "value": rec.actor.id}, "display": rec.actor.name},
            "type": {"text": rec.actor.role},
            "requestor": rec.actor.role != "system",
        }],
        "source": {"observer": {"display": observer},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server"}]},
        "entity": [{"what": {"identifier": {"system": f"urn:airlock:{name}", "value": value}}, "name": name}
                   for name, value in sorted(rec.objects.items())]
        + [{"what": {"identifier": {"system": "urn:airlock:ledger-entry-hash", "value": rec.hash}}, "name": "ledger_entry"}],
    }


def audit_events_ndjson(entries: Iterable[Recorded]) -> Iterator[str]:
    """One NDJSON line (with its newline) per entry."""
    for rec in entries:
        yield json.dumps(audit_event(rec), separators=(",", ":"), ensure_ascii=False) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def sd_element(params: Mapping[str, object]) -> str:
    """An RFC 5424 structured-data element under Airlock's SD-ID (names cut to 32 printable characters)."""
    body = " ".join(f'{name[:32]}="{_escape(str(value))}"' for name, value in params.items())
    return f"[airlock@{ENTERPRISE} {body}]"


def syslog_message(at: datetime, severity: int, msgid: str, params: Mapping[str, object], text: str, hostname: str | None = None) -> str:
    """An RFC 5424 line: <PRI>1 TIMESTAMP HOST airlock - MSGID [SD] MSG (facility 13, log audit)."""
    host = (hostname or socket.gethostname() or "-")[:255]
    return f"<{FACILITY * 8 + severity}>1 {at.strftime('%Y-%m-%dT%H:%M:%SZ')} {host} airlock - {msgid[:32]} {sd_element(params)} {text}"


def syslog_line(rec: Recorded, hostname: str | None = None) -> str:
    """A ledger entry as an RFC 5424 line: notice (5) for a success, warning (4) for a failure."""
    params = {"seq": rec.seq, "outcome": rec.outcome, "actor": rec.actor.id, "actor_name": rec.actor.name, "role": rec.actor.role, **rec.objects}
    return syslog_message(rec.at, 5 if rec.outcome == "success" else 4, rec.kind, params, rec.kind, hostname)
