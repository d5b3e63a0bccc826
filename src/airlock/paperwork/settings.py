"""The deployment's live security settings: the single source of every claim the paperwork makes.

Annex III of the agreement, the records of processing and ``airlock doctor``
all read :func:`current`, so a measure that is switched off is never claimed.

=================================  ============================================  =========
Variable                           Meaning                                       Default
=================================  ============================================  =========
``AIRLOCK_KEY_PROVIDER``           ``passphrase`` (keyring file) or ``pkcs11``   passphrase
``AIRLOCK_MFA``                    ``required`` or ``off``                       required
``AIRLOCK_LOG_RETENTION_MONTHS``   months logs are kept, then deleted            12
``AIRLOCK_ALERT_EMAIL``            where security alerts are mailed              (none)
``AIRLOCK_ALERT_WEBHOOK``          where security alerts are posted              (none)
``AIRLOCK_TLS_CERT``/``_KEY``      certificate and key of the network interface  (none)
``AIRLOCK_BIND``                   address the network interface listens on      127.0.0.1
=================================  ============================================  =========

>>> s = current({"AIRLOCK_MFA": "off", "AIRLOCK_HOME": "/nonexistent"})
>>> s.cipher, s.key_provider, s.mfa_required, s.log_retention_months, s.tls
('AES-256-GCM', 'passphrase', False, 12, False)
>>> current({"AIRLOCK_LOG_RETENTION_MONTHS": "a year"})
Traceback (most recent call last):
...
airlock.errors.AirlockError: AIRLOCK_LOG_RETENTION_MONTHS: 'a year' is not a whole number of months; set it to 6..12 (CNIL 2021-122)
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from airlock.errors import AirlockError
from airlock.home import home_path
from airlock.vault import sealing
from airlock.vault.keyring import ARGON2ID, Argon2Cost

__all__ = ["Settings", "current"]

PROVIDERS = ("passphrase", "pkcs11")
MFA_VALUES = ("required", "off")


@dataclass(frozen=True)
class Settings:
    """What the running deployment actually does; built by :func:`current`, never by hand in production."""

    cipher: str  # staging cipher, as the vault seals chunks
    key_provider: str  # "passphrase" or "pkcs11"
    argon2id: Argon2Cost | None  # passphrase keyring's KDF cost; None with PKCS#11
    mfa_required: bool
    log_retention_months: int
    alert_email: str | None
    alert_webhook_host: str | None  # host only: a webhook URL often carries a secret token
    tls: bool  # certificate and key both configured
    tls_cert: Path | None
    tls_key: Path | None
    bind: str
    home: Path
    keyring: Path
    vault: Path

    @property
    def alerts(self) -> bool:
        return bool(self.alert_email or self.alert_webhook_host)

    @property
    def loopback_only(self) -> bool:
        """True when the network interface listens on the loopback only (nothing reachable from outside)."""
        host = self.bind.rsplit(":", 1)[0] if self.bind.count(":") == 1 else self.bind
        host = host.strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False  # a host name: assume reachable


def current(environ: Mapping[str, str] | None = None) -> Settings:
    """The live settings from the environment (``os.environ`` by default) and the keyring file.

    Raises AirlockError naming the variable when one holds a value Airlock does not know.
    """
    env = os.environ if environ is None else environ
    provider = _choice(env, "AIRLOCK_KEY_PROVIDER", PROVIDERS)
    mfa = _choice(env, "AIRLOCK_MFA", MFA_VALUES)
    raw = env.get("AIRLOCK_LOG_RETENTION_MONTHS") or "12"
    if not raw.strip().isdigit():
        raise AirlockError(f"AIRLOCK_LOG_RETENTION_MONTHS: {raw!r} is not a whole number of months; set it to 6..12 (CNIL 2021-122)")
    home = home_path(env)
    keyring = home / "keyring.json"
    cert, key = env.get("AIRLOCK_TLS_CERT") or None, env.get("AIRLOCK_TLS_KEY") or None
    webhook = env.get("AIRLOCK_ALERT_WEBHOOK") or None
    return Settings(
        cipher=f"AES-{8 * len(sealing.new_dek())}-GCM",  # the key size the vault really generates
        key_provider=provider,
        argon2id=_argon2_cost(keyring) if provider == "passphrase" else None,
        mfa_required=mfa == "required",
        log_retention_months=int(raw),
        alert_email=env.get("AIRLOCK_ALERT_EMAIL") or None,
        alert_webhook_host=(urlsplit(webhook).hostname or "?") if webhook else None,
        tls=bool(cert and key),
        tls_cert=Path(cert) if cert else None,
        tls_key=Path(key) if key else None,
        bind=env.get("AIRLOCK_BIND") or "127.0.0.1",
        home=home,
        keyring=keyring,
        vault=home / "vault",
    )


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name) or allowed[0]  # the first is the secure default
    if value not in allowed:
        raise AirlockError(f"{name}: {value!r} is not one of {', '.join(allowed)}; unset it for {allowed[0]}")
    return value


def _argon2_cost(keyring: Path) -> Argon2Cost:
    """The cost stored in the keyring file (what opening it really costs); the default for a keyring not yet made."""
    try:
        kdf = json.loads(keyring.read_text())["kdf"]
        return Argon2Cost(int(kdf["time_cost"]), int(kdf["memory_cost_kib"]), int(kdf["parallelism"]))
    except (OSError, ValueError, KeyError, TypeError):
        return ARGON2ID
