"""TOTP second factor (RFC 6238, 30-second steps, 6 digits), mandatory for every account.

A code is accepted once: :func:`verify` returns the time step it matched so the
caller stores it and refuses that step and older ones next time (no replay of
a code seen over someone's shoulder).

>>> secret = new_secret()
>>> step = verify(secret, pyotp.TOTP(secret).now(), last_step=None)
>>> step is not None, verify(secret, pyotp.TOTP(secret).now(), last_step=step)
(True, None)
>>> provisioning_uri(secret, "marie.curie@lab.example").startswith("otpauth://totp/Airlock:marie.curie%40lab.example?secret=")
True
"""

from __future__ import annotations

import time

import pyotp

__all__ = ["ISSUER", "new_secret", "provisioning_uri", "verify"]

ISSUER = "Airlock"
#: Steps either side of now still accepted, for clock drift.
DRIFT = 1


def new_secret() -> str:
    """A fresh base32 secret of 160 bits (RFC 4226 recommends at least 128)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def verify(secret: str, code: str, last_step: int | None, at: float | None = None) -> int | None:
    """The time step ``code`` matches (within :data:`DRIFT`), or None; steps up to ``last_step`` are spent."""
    totp = pyotp.TOTP(secret)
    current = int(time.time() if at is None else at) // totp.interval
    code = "".join(code.split())
    for step in range(current - DRIFT, current + DRIFT + 1):
        if (last_step is None or step > last_step) and pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None
