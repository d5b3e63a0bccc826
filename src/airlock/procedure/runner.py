"""The migration procedure: each step of a run, enforced, recorded, resumable.

A run goes plan → controller approval → extract → load → reconcile →
controller acceptance → purge (:mod:`airlock.procedure.lifecycle`). Extraction
seals every source batch into the run's vault with the batch's cursor, so a run
killed at any point resumes after the last sealed chunk without reading it
again; loading reads the vault, transforms, re-checks the scope and writes each
target in one transaction (replacing whatever a killed load may have
committed), so a resumed load leaves neither duplicates nor gaps. The load also
records, per entity, the fingerprints reconciliation compares against: it opens
every staged batch anyway, so reconciliation reads only the source and the
target. Within each step the stages overlap on threads
(:func:`airlock.pipeline.prefetch`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from airlock import dburl, model, reconcile, scope
from airlock.errors import AirlockError
from airlock.guard import ScopeGuard, ScopeViolation
from airlock.mandate import SignedMandate, load_mandate, verify_mandate
from airlock.mandate.signatures import check_signatures
from airlock.pipeline import prefetch
from airlock.plan import make_plan
from airlock.predicate import Extraction
from airlock.procedure.lifecycle import Actor, State, Step, check
from airlock.procedure.records import RunEntityRecord, RunEvent, RunRecord, RunStore
from airlock.signing import BadSignature, PublicIdentity, SigningIdentity, verify
from airlock.sources import profile as profiles
from airlock.sources.sql import Rejected, SqlSource
from airlock.targets import Target
from airlock.transform import Transformer
from airlock.vault import KeyProvider, RunVault, Vault, VaultIntegrityError
from airlock.vault.events import SecurityEvent, emit

CURSOR = b"airlock.cursor"
Progress = Callable[[str, str, int], None]  # (phase, entity, rows so far)


@dataclass(frozen=True)
class Targets:
    sql: str | None = None
    fhir: Path | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"sql": self.sql, "fhir": str(self.fhir) if self.fhir else None}

    @classmethod
    def from_json(cls, data: dict[str, str | None]) -> "Targets":
        return cls(data.get("sql"), Path(data["fhir"]) if data.get("fhir") else None)


def approval_statement(run: RunRecord) -> bytes:
    """What the controller signs to approve a run's plan: the run and its plan's digest."""
    return f"airlock plan approval {run.id} {run.plan_digest}".encode()


def acceptance_statement(run: RunRecord, entities: Iterable[RunEntityRecord]) -> bytes:
    """What the controller signs to accept a run's result: the run, its plan, and what reconciliation found
    per entity (counts and the target's digest), so that the signature covers the figures the controller read."""
    found = ";".join(f"{e.entity}:{e.source_rows}:{e.target_rows}:{e.target_digest}:{e.reconciled}" for e in sorted(entities, key=lambda e: e.entity))
    return f"airlock acceptance {run.id} {run.plan_digest} {hashlib.sha256(found.encode()).hexdigest()}".encode()


def actor(identity: SigningIdentity | PublicIdentity) -> Actor:
    public = identity.public if isinstance(identity, SigningIdentity) else identity
    return Actor(public.key_id, public.name, public.role)


class Procedure:
    """Runs, persisted in the metadata store, staged in the vault.

    Without a vault and keyring (the server) it takes the controller's steps and nothing that stages or purges.
    """

    def __init__(self, store: RunStore, vault: Vault | None = None, keyring: KeyProvider | None = None, *, batch_rows: int = 50_000):
        self.store, self._staging, self.keyring = store, vault, keyring
        #: Source rows per batch (and so per sealed chunk): bounds memory, sets the checkpoint granularity.
        self.batch_rows = batch_rows

    # -- steps ----------------------------------------------------------------------------------

    def create(self, mandate_path: Path, source_url: str, targets: Targets, operator: SigningIdentity, *, profile: str | None = None) -> RunRecord:
        """Draft a run, verify its mandate (the operator must be its countersigning processor), plan it."""
        if not (targets.sql or targets.fhir):
            raise AirlockError("a run needs a target: --sql URL and/or --fhir DIR")
        try:
            signed = verify_mandate(mandate_path)
        except AirlockError as e:
            # The watch raises an alert: someone tried to run under a mandate that is not in force.
            emit(SecurityEvent("mandate.refused", "", {"actor_key": operator.public.key_id, "actor_name": operator.public.name,
                                                        "actor_role": operator.public.role, "reason": type(e).__name__}))
            raise
        if targets.fhir and not signed.mandate.delivery.recipient:
            raise AirlockError(
                f"{mandate_path}: a file delivery (--fhir) is encrypted to the controller, but the mandate names no "
                "delivery.recipient (the controller's age public key, from 'airlock delivery keygen')"
            )
        if signed.processor.key_id != operator.public.key_id:
            raise AirlockError(
                f"{mandate_path}: countersigned by processor key {signed.processor.key_id}, not by the operator's key "
                f"{operator.public.key_id}; the operator runs the mandate the processor signed"
            )
        run = self.store.create(
            RunRecord(
                id=f"run-{dt.datetime.now(dt.UTC):%Y%m%d}-{secrets.token_hex(3)}",
                mandate_path=str(Path(mandate_path).resolve()),
                mandate_digest=signed.digest,
                mandate_id=signed.mandate.id,
                source=_without_password(source_url),
                target=", ".join(t for t in (targets.sql and dburl.describe(targets.sql), targets.fhir and f"FHIR {targets.fhir}") if t),
                profile=profile or signed.mandate.source.kind,
                targets=json.dumps(targets.to_json()),
                status=State.DRAFT,
                operator_key=operator.public.key_id,
                controller_key=signed.controller.key_id,
                deadline=signed.mandate.deadline,
            )
        )
        self._step(run, Step.VERIFY_MANDATE, actor(operator), {"mandate_digest": signed.digest})
        self.plan(run.id, operator, source_url)
        return self.store.get(run.id)

    def plan(self, run_id: str, operator: SigningIdentity, source_url: str | None = None) -> RunRecord:
        run = self.store.get(run_id)
        signed = self._mandate(run)
        computed = make_plan(self._source(run, source_url, on_bad_record="reject"), signed.mandate)
        run.plan, run.plan_digest = json.dumps({**computed.to_json(), "digest": computed.digest}), computed.digest
        self._step(run, Step.PLAN, actor(operator), {"plan_digest": computed.digest})
        return run

    def approve(self, run_id: str, controller: SigningIdentity) -> RunRecord:
        """The controller approves the plan: an Ed25519 signature over the plan digest, by the mandate's controller key."""
        run = self.store.get(run_id)
        self._controller(run, controller)
        return self.approve_signed(run_id, controller.sign(approval_statement(run)))

    def approve_signed(self, run_id: str, signature: bytes) -> RunRecord:
        """The approval signed elsewhere (the controller's own machine, for the web console): ``signature`` over
        :func:`approval_statement`, which must verify with the mandate's controller key."""
        run = self.store.get(run_id)
        controller = self._signed_by_controller(run, signature, approval_statement(run), "approval")
        run.plan_approval = base64.b64encode(signature).decode()
        self._step(run, Step.APPROVE_PLAN, actor(controller), {"plan_digest": run.plan_digest or ""})
        return run

    def extract(self, run_id: str, operator: SigningIdentity, source_url: str | None = None, progress: Progress | None = None) -> RunRecord:
        """Source → scope → vault, entity by entity, chunk by chunk; resumes after the last sealed chunk."""
        run = self.store.get(run_id)
        self._operator(run, operator)
        signed = self._mandate(run)
        self._approved(run, signed)
        self._step(run, Step.EXTRACT, actor(operator), {})
        with self._stops(run, operator):
            rejected: list[Rejected] = []
            source = self._source(run, source_url, on_bad_record="reject", on_reject=rejected.append)
            staged = self._vault(run, create=True)
            extractions = scope.compile_scope(signed.mandate.scope)
            for ex in extractions:
                if staged.is_finished(ex.entity):
                    continue
                last = staged.last_batch(ex.entity)
                after = json.loads(last.schema.metadata[CURSOR]) if last is not None and last.schema.metadata and CURSOR in last.schema.metadata else None
                rows = sum(r.rows for r in staged.chunk_refs(ex.entity))
                # Converting the next source batch overlaps sealing this one.
                for batch, cursor in prefetch(source.stream_from(ex, after=after)):
                    staged.seal(ex.entity, batch.replace_schema_metadata({**(batch.schema.metadata or {}), CURSOR: json.dumps(cursor).encode()}))
                    rows += batch.num_rows
                    if progress:
                        progress("extract", ex.entity, rows)
                staged.finish_entity(ex.entity)
            # Counted from the vault's manifest, which survives a crash between sealing and this record.
            for ex in extractions:
                self.store.update_entity(run.id, ex.entity, rows_read=sum(r.rows for r in staged.chunk_refs(ex.entity)))
            if rejected:
                keys = pa.record_batch({"entity": [r.entity for r in rejected], "key": [r.key for r in rejected], "field": [r.field for r in rejected]})
                staged.seal_rejects("source", keys, "records that could not be converted")
                staged.finish_entity("rejects/source")
        self._step(run, Step.FINISH_EXTRACT, actor(operator), {"rejected": str(len(rejected))})
        # For the large-read rule: how many records this person had read out of the source.
        emit(SecurityEvent("data.read", run.id, {"actor_key": operator.public.key_id, "actor_name": operator.public.name,
                                                  "actor_role": operator.public.role,
                                                  "rows": str(sum(r.rows for ex in extractions for r in staged.chunk_refs(ex.entity)))}))
        return run

    def load(self, run_id: str, operator: SigningIdentity, progress: Progress | None = None) -> RunRecord:
        """Vault → transform → scope guard → targets, each target in one transaction; idempotent.

        Per entity it records what reconciliation compares against (see :class:`_Recorded`); a load starts
        from scratch, and so do these, whenever it runs again.
        """
        run = self.store.get(run_id)
        self._operator(run, operator)
        self._step(run, Step.LOAD, actor(operator), {})
        with self._stops(run, operator):
            signed = self._mandate(run)
            staged = self._vault(run)
            profile = profiles.load(run.profile)
            transformer = Transformer(signed.mandate.scope, pseudonym_key=staged.derived_key("pseudonym"))
            guard = ScopeGuard(signed.mandate.scope, run_id=run.id)
            targets = self._targets(run, signed, replace=True)
            recorded: dict[str, _Recorded] = {}
            with ExitStack() as stack:
                opened = [stack.enter_context(t) for t in targets]
                loaded: dict[str, int] = {}
                for ex in scope.compile_scope(signed.mandate.scope):
                    rows = loaded[ex.entity] = 0
                    record = recorded[ex.entity] = _Recorded(_schema(profile, ex))
                    # Opening and transforming the next batches overlaps writing this one; every write of a
                    # target stays on this thread, in order, inside the target's transaction.
                    for out in prefetch(_transformed(staged, ex.entity, transformer, record)):
                        guard.check(ex.entity, out)
                        for t in opened:
                            t.write(ex.entity, out)
                        rows += out.num_rows
                        loaded[ex.entity] = rows
                        if progress:
                            progress("load", ex.entity, rows)
        for entity, rows in loaded.items():
            self.store.update_entity(run.id, entity, rows_written=rows, **recorded[entity].result())
        self._step(run, Step.FINISH_LOAD, actor(operator), {"redacted": json.dumps(transformer.redactions)})
        return run

    def reconcile(self, run_id: str, operator: SigningIdentity, source_url: str | None = None) -> RunRecord:
        """Per entity: the source (within scope) against the staging, and the SQL target against what the load
        wrote to it, as the load recorded both; the staging is opened again only to name the keys of a target
        that differs."""
        run = self.store.get(run_id)
        self._operator(run, operator)
        signed = self._mandate(run)
        staged = self._vault(run)
        source = self._source(run, source_url, on_bad_record="reject")
        transformer = Transformer(signed.mandate.scope, pseudonym_key=staged.derived_key("pseudonym"))
        targets = Targets.from_json(json.loads(run.targets))
        extractions = scope.compile_scope(signed.mandate.scope)
        schemas = {ex.entity: _schema(source.profile, ex) for ex in extractions}
        loaded = {e.entity: e for e in self.store.entities(run.id)}
        all_ok = True
        # The target (PostgreSQL, SQLite) is read back on a thread while the source is read here: two
        # independent servers, so the two reads overlap entity by entity.
        read_back = (prefetch(_read_back(targets.sql, extractions, schemas), depth=len(extractions)) if targets.sql
                     else (None for _ in extractions))
        with closing(read_back):
            for ex in extractions:
                schema = schemas[ex.entity]
                key = model.entity(ex.entity).key
                src = reconcile.fingerprint(source.stream(ex), schema)
                entity = loaded.get(ex.entity)
                if entity is not None and entity.expected_digest is not None and reconcile.comparable(entity.expected_digest):
                    expected = {"staged_digest": entity.staged_digest, "fields": entity.fields, "expected_digest": entity.expected_digest}
                else:
                    # Loaded before the load recorded these, or by another version (its digests are not
                    # comparable): one pass over the staging, as the load makes it.
                    again = _Recorded(schema)
                    for _ in _transformed(staged, ex.entity, transformer, again):
                        pass
                    expected = again.result()
                record: dict[str, Any] = {"source_rows": src.rows, "source_digest": src.digest, **expected}
                # A digest ends with its row count: equal digests mean equal counts too.
                ok = src.digest == expected["staged_digest"]
                tgt = next(read_back)
                if tgt is not None:
                    record.update(target_rows=tgt.rows, target_digest=tgt.digest)
                    if tgt.digest != expected["expected_digest"]:
                        ok = False
                        # Streams both sides again, keeping one key and one hash per record.
                        diff = reconcile.differences(_transformed(staged, ex.entity, transformer),
                                                     _read_target(targets.sql, ex.entity, schema), schema, key)
                        record["differences"] = json.dumps({"missing": len(diff.missing), "unexpected": len(diff.unexpected),
                                                            "altered": len(diff.altered), "duplicated": len(diff.duplicated)})
                        # The differing keys are evidence about patients: sealed in the vault, never in the store.
                        staged.seal_rejects(f"reconcile_{ex.entity}", pa.record_batch({
                            "kind": ["missing"] * len(diff.missing) + ["unexpected"] * len(diff.unexpected)
                            + ["altered"] * len(diff.altered) + ["duplicated"] * len(diff.duplicated),
                            "key": list(diff.missing + diff.unexpected + diff.altered + diff.duplicated),
                        }), "reconciliation differences")
                record["reconciled"] = ok
                all_ok &= ok
                self.store.update_entity(run.id, ex.entity, **record)
        run.reconciled_ok = all_ok
        self._step(run, Step.RECONCILE, actor(operator), {"ok": str(all_ok)})
        return run

    def accept(self, run_id: str, controller: SigningIdentity, *, waiver: str | None = None) -> RunRecord:
        """The controller accepts the result; refused while reconciliation fails, unless waived with a reason."""
        run = self.store.get(run_id)
        self._controller(run, controller)
        return self.accept_signed(run_id, controller.sign(acceptance_statement(run, self.store.entities(run.id))), waiver=waiver)

    def accept_signed(self, run_id: str, signature: bytes, *, waiver: str | None = None) -> RunRecord:
        """The acceptance signed elsewhere: ``signature`` over :func:`acceptance_statement`, by the mandate's
        controller key; kept in the step's record (and so in the ledger)."""
        run = self.store.get(run_id)
        controller = self._signed_by_controller(run, signature, acceptance_statement(run, self.store.entities(run.id)), "acceptance")
        if run.status == State.RECONCILED and not run.reconciled_ok:
            if not waiver or len(waiver.strip()) < 10:
                raise AirlockError(f"run {run.id}: reconciliation found differences; accepting needs a written waiver (--waive \"reason\", 10 characters at least)")
            run.waiver = waiver.strip()
        run.accepted_at = dt.datetime.now(dt.UTC)
        self._step(run, Step.ACCEPT, actor(controller), {"waived": str(bool(run.waiver)), "signature": base64.b64encode(signature).decode()})
        return run

    def abort(self, run_id: str, who: SigningIdentity, reason: str) -> RunRecord:
        run = self.store.get(run_id)
        run.error = reason
        self._step(run, Step.ABORT, actor(who), {"reason": reason[:200]})
        return run

    def purge(self, run_id: str, signer: SigningIdentity, reason: str, *, actor_name: str | None = None) -> RunRecord:
        """Crypto-shred the run's staging and record the signed deletion certificate."""
        run = self.store.get(run_id)
        if signer.public.role != "processor":
            raise AirlockError(f"run {run.id}: the deletion certificate is signed by the processor; {signer.public.name} signs as {signer.public.role}")
        check(Step.PURGE, State(run.status), actor(signer), operator_key=None)
        if run.id in self.vault.runs():
            certificate = self.vault.purge(run.id, actor_name or signer.public.name, reason, signer, mandate_digest=run.mandate_digest)
            run.certificate = json.dumps(certificate.to_json())
        self._step(run, Step.PURGE, actor(signer), {"reason": reason})
        return run

    def due(self, today: dt.date, grace_days: Callable[[RunRecord], int]) -> list[RunRecord]:
        """Runs whose staging must be destroyed now: past their mandate deadline, or accepted and past the grace."""
        out = []
        for run in self.store.list():
            if run.status == State.PURGED:
                continue
            accepted_due = run.accepted_at is not None and run.accepted_at.date() + dt.timedelta(days=grace_days(run)) <= today
            if (run.deadline is not None and run.deadline < today) or accepted_due or run.status in (State.ABORTED, State.FAILED):
                out.append(run)
        return out

    # -- helpers --------------------------------------------------------------------------------

    @contextmanager
    def _stops(self, run: RunRecord, who: SigningIdentity) -> Iterator[None]:
        """An error stops the run with its one-line message recorded. A scope violation or an integrity
        failure fails the run (its staging is then purged); anything else leaves it resumable."""
        try:
            yield
        except (ScopeViolation, VaultIntegrityError) as e:
            run.error = str(e)
            self._step(run, Step.FAIL, actor(who), {"error": type(e).__name__})
            raise
        except AirlockError as e:
            self.store.record_error(run.id, str(e))
            raise

    def _step(self, run: RunRecord, step: Step, who: Actor, detail: dict[str, str]) -> None:
        before = State(run.status)
        after = check(step, before, who, operator_key=run.operator_key)
        run.status = after.value
        if step not in (Step.FAIL, Step.ABORT):
            run.error = None  # a step that went through clears the error of an earlier, stopped attempt
        self.store.save(run, RunEvent(run_id=run.id, step=step.value, from_state=before.value, to_state=after.value,
                                      actor_key=who.key_id, actor_name=who.name, actor_role=who.role, detail=json.dumps(detail)))

    def _mandate(self, run: RunRecord) -> SignedMandate:
        signed = check_signatures(load_mandate(run.mandate_path))
        if signed.digest != run.mandate_digest:
            raise AirlockError(f"run {run.id}: the mandate at {run.mandate_path} is not the one the run was created with")
        return signed

    def _source(self, run: RunRecord, url: str | None, **kwargs: Any) -> SqlSource:
        url = url or run.source
        if _without_password(url) != run.source:
            raise AirlockError(f"run {run.id} reads {run.source}, not {dburl.describe(url)}")
        return SqlSource(url, profiles.load(run.profile), batch_rows=self.batch_rows, **kwargs)

    @property
    def vault(self) -> Vault:
        if self._staging is None:
            raise AirlockError("this procedure has no vault (the server takes the controller's steps only); stage and purge with the airlock CLI")
        return self._staging

    def _vault(self, run: RunRecord, create: bool = False) -> RunVault:
        if self.keyring is None:
            raise AirlockError("this procedure has no keyring (the server takes the controller's steps only); stage with the airlock CLI")
        if create and run.id not in self.vault.runs():
            return self.vault.create_run(run.id, self.keyring)
        return self.vault.open(run.id, self.keyring)

    def _targets(self, run: RunRecord, signed: SignedMandate, replace: bool) -> list[Target]:
        chosen = Targets.from_json(json.loads(run.targets))
        out: list[Target] = []
        if chosen.sql:
            from airlock.targets.sql import SqlTarget

            out.append(SqlTarget(chosen.sql, replace=replace))
        if chosen.fhir:
            from airlock.targets.fhir import FhirTarget

            # Files are delivered encrypted to the controller's age key, never in clear.
            out.append(FhirTarget(chosen.fhir, replace=replace, recipient=signed.mandate.delivery.recipient))
        return out

    def _operator(self, run: RunRecord, operator: SigningIdentity) -> None:
        if operator.public.key_id != run.operator_key:
            raise AirlockError(f"run {run.id} is operated with key {run.operator_key}, not {operator.public.key_id}")

    def _controller(self, run: RunRecord, controller: SigningIdentity) -> None:
        if controller.public.key_id != run.controller_key:
            raise AirlockError(
                f"run {run.id}: only the controller who signed the mandate (key {run.controller_key}) may approve or accept; "
                f"this is key {controller.public.key_id} ({controller.public.role} {controller.public.name})"
            )

    def _signed_by_controller(self, run: RunRecord, signature: bytes, statement: bytes, what: str) -> PublicIdentity:
        controller = self._mandate(run).controller.signer
        try:
            verify(controller, signature, statement)
        except BadSignature:
            raise AirlockError(f"run {run.id}: this {what} is not signed by the mandate's controller (key {controller.key_id}); "
                               f"sign the run's {what} statement with that key: airlock keys sign --key CONTROLLER.key.pem \"STATEMENT\"") from None
        return controller

    def _approved(self, run: RunRecord, signed: SignedMandate) -> None:
        if run.plan_approval is None:
            return  # check() refuses extraction before approval with the state-based message
        verify(signed.controller.signer, base64.b64decode(run.plan_approval), approval_statement(run))


def _strip(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A staged batch without the procedure's own metadata (the cursor)."""
    meta = {k: v for k, v in (batch.schema.metadata or {}).items() if k != CURSOR}
    return batch.replace_schema_metadata(meta)


def _schema(profile: profiles.Profile, ex: Extraction) -> pa.Schema:
    """The staged (and loaded) schema of an extraction: its fields that the profile maps, as the source
    connector delivers them."""
    return model.entity(ex.entity).projection([f for f in ex.fields if f in profile.entities[ex.entity].fields])


class _Recorded:
    """What the load records per entity for reconciliation: the staging's fingerprint and field report, and
    the fingerprint of what the targets should hold (the staging transformed)."""

    def __init__(self, schema: pa.Schema):
        self.staged, self.fields, self.expected = reconcile.Accumulator(schema), reconcile.FieldReport(schema), reconcile.Accumulator(schema)

    def add(self, staged: pa.RecordBatch, transformed: pa.RecordBatch) -> None:
        normalised = reconcile.normalise(staged, self.staged.schema)
        self.staged.add_normalised(normalised)
        self.fields.add(staged, normalised)
        self.expected.add(transformed)

    def result(self) -> dict[str, str]:
        return {"staged_digest": self.staged.result().digest, "fields": json.dumps(self.fields.result()),
                "expected_digest": self.expected.result().digest}


def _transformed(staged: RunVault, entity: str, transformer: Transformer, record: _Recorded | None = None) -> Iterator[pa.RecordBatch]:
    """The entity's staged batches as the targets receive them; opening (verify, decrypt, decompress) runs
    ahead on a thread. Each batch is added to ``record`` on the way, when one is given."""
    for batch in prefetch(staged.chunks(entity)):
        batch = _strip(batch)
        out = transformer.apply(entity, batch)
        if record is not None:
            record.add(batch, out)
        yield out


def _without_password(url: str) -> str:
    return dburl.parse(url).set(password=None).render_as_string(hide_password=False)


def _read_target(url: str, entity: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The target's rows of ``entity`` with the staged schema's columns, as canonical batches."""
    from airlock.targets import sql

    return reconcile.read_back(sql.read(url, entity, list(schema.names)), schema)


def _read_back(url: str, extractions: list[Extraction], schemas: dict[str, pa.Schema]) -> Iterator[reconcile.Fingerprint]:
    """The SQL target's fingerprint of each extraction's entity, in order."""
    for ex in extractions:
        yield reconcile.fingerprint(_read_target(url, ex.entity, schemas[ex.entity]), schemas[ex.entity])
