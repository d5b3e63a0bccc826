"""The posture self-check: the deployment against each finding of CNIL decision SAN-2022-009.

Each :class:`Check` passes, fails, or is skipped when what it needs does not
exist yet (the web interface, accounts, alerts and the ledger come with later
issues): a skip is never a pass.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from airlock.errors import AirlockError
from airlock.mandate import Mandate
from airlock.mandate.signatures import check_signatures
from airlock.paperwork.checker import SUFFIXES, check_agreement
from airlock.paperwork.settings import Settings

__all__ = ["Check", "agreement_path", "diagnose", "find_agreement"]

PASS, FAIL, SKIP = "pass", "fail", "skip"
#: The only routes that answer without authentication (docs/identity.md).
PUBLIC_ROUTES = frozenset({"GET /api/health", "GET /login", "POST /login", "POST /api/login"})
RETENTION_MONTHS = range(6, 13)  # CNIL deliberation 2021-122: 6 months to 1 year
#: Where a persisted passphrase would sit (besides files given with --config).
CONFIG_PLACES = (Path(".env"), Path("/etc/airlock"))
_PERSISTED = re.compile(r"^\s*(?:export\s+)?AIRLOCK_KEYRING_PASSPHRASE\s*[=:]\s*\S", re.MULTILINE)


@dataclass(frozen=True)
class Check:
    key: str
    title: str
    article: str
    status: str  # pass, fail or skip
    detail: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def agreement_path(mandate: Path | str, suffix: str) -> Path:
    """``mandate.yaml`` → ``mandate.yaml.agreement.<suffix>`` (next to it, like its ``.sig.json``)."""
    p = Path(mandate)
    return p.with_name(f"{p.name}.agreement.{suffix.lstrip('.')}")


def find_agreement(mandate: Path | str) -> Path | None:
    """The agreement file paired with a mandate, if any (md, pdf, txt or docx)."""
    return next((p for s in SUFFIXES if (p := agreement_path(mandate, s)).exists()), None)


def diagnose(
    settings: Settings,
    mandates: Sequence[Mandate] = (),
    *,
    configs: Iterable[Path] = (),
    today: dt.date | None = None,
    store_url: str | None = None,
    now: dt.datetime | None = None,
) -> list[Check]:
    """Every check, in the order of the case's findings. ``store_url``: the metadata store whose accounts to
    check (default: AIRLOCK_DATABASE_URL, or airlock.db under the deployment's home if it exists)."""
    today = today or dt.date.today()
    if store_url is None:
        default = settings.home / "airlock.db"
        store_url = os.environ.get("AIRLOCK_DATABASE_URL") or (f"sqlite:///{default}" if default.exists() else None)
    return [
        _tls(settings),
        _routes(),
        _mfa(settings),
        _accounts(store_url),
        _kek(settings, [*CONFIG_PLACES, settings.home, *configs]),
        _overdue(settings, mandates, today),
        *_watch(store_url, dt.datetime.now(dt.UTC) if now is None else now),
        _retention(settings),
        _signed(mandates),
        _agreements(mandates),
    ]


def _routes() -> Check:
    """Every route of the API server depends on authentication, but health and the login page and form."""
    from fastapi.routing import APIRoute

    from airlock.server import create_app
    from airlock.server.auth import authenticated

    def calls(dependant):  # type: ignore[no-untyped-def]
        yield dependant.call
        for d in dependant.dependencies:
            yield from calls(d)

    title, article = "no unauthenticated route", "Art. 32(1)(b)"
    routes = [r for r in create_app(None).routes if isinstance(r, APIRoute)]  # type: ignore[arg-type]
    open_ = {f"{m} {r.path}" for r in routes if authenticated not in set(calls(r.dependant)) for m in r.methods}
    unexpected = sorted(open_ - PUBLIC_ROUTES)
    if unexpected:
        return Check("authenticated_routes", title, article, FAIL, f"answer without authentication: {', '.join(unexpected)}")
    return Check("authenticated_routes", title, article, PASS, f"{len(routes)} routes; only {', '.join(sorted(open_))} are public")


def _accounts(store_url: str | None) -> Check:
    """No account named after a function or a shared mailbox (one account per person)."""
    title, article = "no generic or shared account", "Art. 32(1)(b), Art. 32(4)"
    if store_url is None:
        return Check("no_shared_accounts", title, article, SKIP, "no metadata store yet: no accounts to check")
    import sqlalchemy as sa

    from airlock import dburl
    from airlock.identity.names import is_generic

    engine = dburl.engine(store_url)
    try:
        with engine.connect() as c:
            if not sa.inspect(c).has_table("account"):
                return Check("no_shared_accounts", title, article, SKIP, "the store has no accounts yet")
            rows = c.exec_driver_sql("SELECT id, name, email FROM account WHERE disabled_at IS NULL").all()
    except sa.exc.OperationalError:
        return Check("no_shared_accounts", title, article, FAIL, f"cannot read the metadata store {dburl.describe(store_url)}")
    finally:
        engine.dispose()
    generic = [f"account {i}" for i, name, email in rows if is_generic(name) or is_generic(email.partition("@")[0])]
    if generic:
        return Check("no_shared_accounts", title, article, FAIL, f"generic or shared: {', '.join(generic)}; give each person an account")
    return Check("no_shared_accounts", title, article, PASS, f"{len(rows)} active account(s), each named after a person")


def _watch(store_url: str | None, now: dt.datetime) -> list[Check]:
    """Open alerts past their escalation limit, and the ledger's verification."""
    alerts = ("alerts_acknowledged", "no security alert unacknowledged beyond its limit", "Art. 32(1)(d), Art. 33")
    ledger = ("ledger_verifies", "the event ledger verifies", "Art. 5(2), Art. 32(1)(d)")
    if store_url is None:
        return [Check(*alerts, SKIP, "no metadata store yet: no alerts"), Check(*ledger, SKIP, "no metadata store yet: no ledger")]
    from airlock.ledger import Ledger
    from airlock.store import open_store
    from airlock.watch.alerts import Watch, WatchSettings
    from airlock.watch.rules import Severity

    limits = WatchSettings().escalate_after
    with open_store(store_url) as store:
        late = [a for a in Watch(store).alerts("open") if now - a.first_at > limits[Severity[a.severity]]]
        verification = Ledger(store).verify()
    checks = [
        Check(*alerts, FAIL, f"{len(late)} open alert(s) past their limit, e.g. {late[0].rule} ({late[0].id}); acknowledge them: airlock alerts ack")
        if late else Check(*alerts, PASS, "no open alert past its acknowledgement limit"),
        Check(*ledger, PASS, f"{verification.entries} entries, {verification.checkpoints} signed checkpoint(s) verify")
        if verification.ok else Check(*ledger, FAIL, f"{verification.first_problem}; investigate: airlock ledger verify"),
    ]
    return checks


def _tls(s: Settings) -> Check:
    title, article = "TLS on any non-loopback interface", "Art. 32(1)(a)"
    if s.tls:
        missing = [str(p) for p in (s.tls_cert, s.tls_key) if p is not None and not p.is_file()]
        if missing:
            return Check("tls", title, article, FAIL, f"TLS file(s) not found: {', '.join(missing)}; fix AIRLOCK_TLS_CERT/AIRLOCK_TLS_KEY")
        return Check("tls", title, article, PASS, f"TLS configured for {s.bind}")
    if s.loopback_only:
        return Check("tls", title, article, PASS, f"listens on loopback {s.bind} only")
    return Check("tls", title, article, FAIL,
                 f"AIRLOCK_BIND={s.bind} is reachable from the network without TLS; set AIRLOCK_TLS_CERT and AIRLOCK_TLS_KEY")


def _mfa(s: Settings) -> Check:
    status = PASS if s.mfa_required else FAIL
    detail = "multi-factor authentication required" if s.mfa_required else "AIRLOCK_MFA=off; unset it or set it to required"
    return Check("mfa", "multi-factor authentication enforced", "Art. 32(1)(b)", status, detail)


def _kek(s: Settings, places: list[Path]) -> Check:
    title, article = "key-encryption key not stored unprotected next to the data", "Art. 32(1)(a)"
    if s.key_provider == "pkcs11":
        return Check("kek_protected", title, article, PASS, "KEK held in a PKCS#11 token, not extractable")
    ring = s.keyring
    if not ring.is_file():
        return Check("kek_protected", title, article, FAIL, f"no keyring at {ring}; make one with 'airlock vault init'")
    if ring.stat().st_mode & 0o077:
        return Check("kek_protected", title, article, FAIL, f"{ring} is readable by others; run: chmod 600 {ring}")
    if ring.resolve().is_relative_to(s.vault.resolve()):
        return Check("kek_protected", title, article, FAIL, f"{ring} is inside the vault {s.vault}; keep the keyring outside it")
    if persisted := [str(p.absolute()) for p in _config_files(places, ring) if _PERSISTED.search(_head(p))]:
        return Check("kek_protected", title, article, FAIL,
                     f"AIRLOCK_KEYRING_PASSPHRASE is written in {', '.join(persisted)}; remove it and supply it at run time")
    return Check("kek_protected", title, article, PASS, f"{ring}: mode 0600, outside the vault, passphrase not persisted")


def _config_files(places: Iterable[Path], keyring: Path) -> list[Path]:
    files = []
    for place in places:
        if place.is_dir():
            files += sorted(p for p in place.iterdir() if p.is_file() and p != keyring)
        elif place.is_file():
            files.append(place)
    return files


def _head(path: Path) -> str:
    try:
        with path.open("rb") as f:
            return f.read(1 << 20).decode("utf-8", "replace")
    except OSError:
        return ""


def _overdue(s: Settings, mandates: Sequence[Mandate], today: dt.date) -> Check:
    title, article = "no staged data kept past its mandate's deadline", "Art. 28(3)(g), Art. 5(1)(e)"
    if not mandates:
        return Check("no_overdue_purge", title, article, SKIP, "no mandate given (--mandate): deadlines unknown")
    live = _live_runs(s.vault)
    # Runs do not name their mandate yet (the run store will): a live run created before an expired
    # mandate's deadline may be under it, so it counts as overdue.
    overdue = sorted({run for m in mandates if m.deadline < today for run, created in live.items() if created <= m.deadline})
    if overdue:
        return Check("no_overdue_purge", title, article, FAIL,
                     f"run(s) {', '.join(overdue)} still hold data past a mandate deadline; purge them: airlock purge --due --key "
                     "PROCESSOR_KEY (staging no run owns: airlock vault purge RUN)")
    return Check("no_overdue_purge", title, article, PASS, f"{len(live)} live run(s), none past a deadline")


def _live_runs(vault: Path) -> dict[str, dt.date]:
    """Runs whose wrapped key still exists (not purged), with the day they were created."""
    if not vault.is_dir():
        return {}
    return {
        key.parent.name: dt.datetime.fromtimestamp(key.stat().st_mtime).date()
        for key in vault.glob("*/key.json")
        if not (key.parent / "purge.json").exists()
    }


def _retention(s: Settings) -> Check:
    ok = s.log_retention_months in RETENTION_MONTHS
    return Check("log_retention", "log retention set within 6 to 12 months", "Art. 5(1)(e); CNIL deliberation 2021-122",
                 PASS if ok else FAIL,
                 f"logs kept {s.log_retention_months} months" + ("" if ok else "; set AIRLOCK_LOG_RETENTION_MONTHS to 6..12"))


def _signed(mandates: Sequence[Mandate]) -> Check:
    title, article = "every mandate signed by the controller and countersigned by the processor", "Art. 28(3)(a), Art. 29"
    if not mandates:
        return Check("mandates_signed", title, article, SKIP, "no mandate given (--mandate)")
    problems = []
    for m in mandates:
        try:
            check_signatures(m)
        except AirlockError as e:
            problems.append(str(e))
    if problems:
        return Check("mandates_signed", title, article, FAIL, "; ".join(problems))
    return Check("mandates_signed", title, article, PASS, f"{len(mandates)} mandate(s) signed and countersigned")


def _agreements(mandates: Sequence[Mandate]) -> Check:
    title, article = "every mandate paired with an agreement holding every Art. 28(3) mention", "Art. 28(3)"
    if not mandates:
        return Check("agreements_complete", title, article, SKIP, "no mandate given (--mandate)")
    problems = []
    for m in mandates:
        found = find_agreement(m.path)
        if found is None:
            problems.append(f"{m.path}: no {agreement_path(m.path, 'md').name} (or .pdf/.txt/.docx) next to it; "
                            "write one with 'airlock dpa generate'")
        elif missing := check_agreement(found).missing:
            problems.append(f"{found}: missing {', '.join(missing)} ('airlock dpa check' shows details)")
    if problems:
        return Check("agreements_complete", title, article, FAIL, "; ".join(problems))
    return Check("agreements_complete", title, article, PASS, f"{len(mandates)} agreement(s) complete")
