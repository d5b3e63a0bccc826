"""Personal-data breaches (GDPR Art. 33 and 34): the record, the processor's notice, the 72-hour clock, the register.

A breach is declared on an incident. Its record is prefilled from the run and
its mandate: the approximate number of data subjects (patients read by the
run) and of records (rows of every entity read), the categories of data (the
data categories of the mandate's scope fields), the controller's DPO. The
processor tells the controller "without undue delay" (Art. 33(2)); the
controller has 72 hours from awareness to notify the supervisory authority
(Art. 33(1)); :meth:`Breaches.due_reminders` says when to remind (24, 48 and 66
hours in, and at 72). Art. 34 drafts to data subjects come in French and English;
:meth:`Breaches.register` is the Art. 33(5) register.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from airlock import model
from airlock.errors import AirlockError
from airlock.ledger import Actor, Kind, Ledger, LedgerEntry
from airlock.mandate import load_mandate
from airlock.mandate.signatures import check_signatures
from airlock.store import Store
from airlock.store.models import Run, RunEntity, utcnow
from airlock.watch.alerts import check_note
from airlock.watch.models import BreachRow, IncidentRow

__all__ = ["DEADLINE", "REMINDERS", "Breaches"]

#: Art. 33(1): the controller notifies the supervisory authority within 72 hours of becoming aware.
DEADLINE = timedelta(hours=72)
#: Hours after awareness at which the clock is recalled (72 = the deadline is reached).
REMINDERS = (24, 48, 66, 72)

_CONSEQUENCES = {
    "confidentiality": "disclosure of laboratory results and identity data to unauthorised persons: loss of confidentiality of "
                       "health data, discrimination, distress, identity theft",
    "integrity": "altered laboratory results or identities in the target system: wrong care decisions until corrected",
    "availability": "laboratory history unavailable in the target system: delayed care, repeated tests",
}


class Breaches:
    def __init__(self, store: Store, ledger: Ledger | None = None, *, clock: Callable[[], datetime] = utcnow):
        self.store, self.ledger, self.clock = store, ledger, clock

    def declare(self, incident_id: str, by: Actor, *, nature: str = "confidentiality", aware_at: datetime | None = None,
                consequences: str | None = None, measures: str | None = None) -> BreachRow:
        """Judge an incident a personal-data breach: its record, prefilled from the incident's run and mandate."""
        if nature not in _CONSEQUENCES:
            raise AirlockError(f"a breach's nature is one of {', '.join(_CONSEQUENCES)} (EDPB guidelines 9/2022)")
        with self.store.session() as s:
            incident = s.get(IncidentRow, incident_id)
            if incident is None:
                raise AirlockError(f"no incident {incident_id!r}; open one with 'airlock incidents open'")
            run = s.get(Run, incident.run_id) if incident.run_id else None
            read = dict(s.execute(sa.select(RunEntity.entity, RunEntity.rows_read).where(RunEntity.run_id == run.id)).all()) if run else {}
        categories, dpo, mandate_id = ["unknown: the incident names no run"], "unknown: the incident names no run", None
        if run is not None and run.mandate_path:
            mandate = check_signatures(load_mandate(run.mandate_path)).mandate
            mandate_id = mandate.id
            categories = sorted({model.entity(e).field(f).category.value for e, scope in mandate.scope.entities.items()
                                 for f in scope.fields if f in model.entity(e).field_names})
            person = mandate.controller.dpo
            dpo = ", ".join(x for x in (person.name, person.email, person.phone) if x)
        now = self.clock()
        breach = BreachRow(incident_id=incident_id, run_id=run.id if run else None, mandate_id=mandate_id, aware_at=aware_at or now,
                           nature=nature, categories=json.dumps(categories), data_subjects=read.get("patient", 0),
                           records=sum(read.values()), dpo=dpo, consequences=check_note(consequences) or _CONSEQUENCES[nature],
                           measures=check_note(measures) or _measures(run), reminders="[]")
        with self.store.session.begin() as s:
            s.add(breach)
        self._record(breach, by, "declared")
        return breach

    def update(self, breach_id: str, by: Actor, *, consequences: str | None = None, measures: str | None = None,
               authority_notified_at: datetime | None = None) -> BreachRow:
        """Complete the record; ``authority_notified_at`` (the controller's notification) stops the reminders."""
        with self.store.session.begin() as s:
            breach = self._get(s, breach_id)
            breach.consequences = check_note(consequences) or breach.consequences
            breach.measures = check_note(measures) or breach.measures
            breach.authority_notified_at = authority_notified_at or breach.authority_notified_at
        self._record(breach, by, "authority_notified" if authority_notified_at else "updated")
        return breach

    def notice_to_controller(self, breach_id: str, by: Actor) -> str:
        """The processor's notice to the controller (Art. 33(2)), in Markdown; records when it was given."""
        now = self.clock()
        with self.store.session.begin() as s:
            breach = self._get(s, breach_id)
            breach.controller_told_at = breach.controller_told_at or now
        self._record(breach, by, "controller_told")
        deadline = breach.aware_at + DEADLINE
        return "\n".join([
            f"# Personal data breach notice — breach {breach.id}",
            "",
            "From the processor to the controller, under GDPR Art. 33(2) (without undue delay) and the processing agreement.",
            "",
            f"- Processor aware since: {breach.aware_at:%Y-%m-%d %H:%M} UTC",
            f"- Your notification to the supervisory authority is due by: {deadline:%Y-%m-%d %H:%M} UTC (Art. 33(1), 72 hours)",
            f"- Run: {breach.run_id or 'none'}; mandate: {breach.mandate_id or 'none'}",
            f"- Nature: {breach.nature}",
            f"- Categories of data: {', '.join(json.loads(breach.categories))}",
            f"- Approximate number of data subjects: {breach.data_subjects}",
            f"- Approximate number of records: {breach.records}",
            f"- Your data protection officer on file: {breach.dpo}",
            f"- Likely consequences: {breach.consequences}",
            f"- Measures taken or proposed: {breach.measures}",
            "",
        ])

    def communication(self, breach_id: str, language: str = "fr") -> str:
        """A draft of the controller's communication to the data subjects (Art. 34), in French or English."""
        breach = self.get(breach_id)
        if language == "fr":
            return (
                "Madame, Monsieur,\n\n"
                "Nous vous informons qu'un incident de sécurité a touché des données vous concernant, confiées à notre laboratoire "
                f"(violation de données de nature : {_FR_NATURE[breach.nature]}).\n\n"
                f"Conséquences probables : {breach.consequences}.\n\n"
                f"Mesures prises ou envisagées : {breach.measures}.\n\n"
                f"Pour toute question, vous pouvez contacter notre délégué à la protection des données : {breach.dpo}. "
                "Vous pouvez également introduire une réclamation auprès de la CNIL (www.cnil.fr).\n"
            )
        if language == "en":
            return (
                "Dear Sir or Madam,\n\n"
                "We are informing you that a security incident affected data about you held by our laboratory "
                f"(a breach of {breach.nature}).\n\n"
                f"Likely consequences: {breach.consequences}.\n\n"
                f"Measures taken or proposed: {breach.measures}.\n\n"
                f"For any question, contact our data protection officer: {breach.dpo}. "
                "You may also lodge a complaint with the CNIL (www.cnil.fr).\n"
            )
        raise AirlockError("the communication to data subjects is drafted in 'fr' or 'en'")

    def due_reminders(self, now: datetime) -> list[tuple[BreachRow, int]]:
        """Breaches whose next reminder mark is reached (the latest one only if several were missed); marks them sent."""
        due = []
        with self.store.session.begin() as s:
            for breach in s.scalars(sa.select(BreachRow).where(BreachRow.authority_notified_at.is_(None))):
                sent = json.loads(breach.reminders)
                reached = [h for h in REMINDERS if now - breach.aware_at >= timedelta(hours=h) and h not in sent]
                if reached:
                    breach.reminders = json.dumps(sorted(set(sent) | set(reached)))
                    due.append((breach, reached[-1]))
        return due

    def get(self, breach_id: str) -> BreachRow:
        with self.store.session() as s:
            return self._get(s, breach_id)

    def register(self) -> list[dict[str, str]]:
        """The Art. 33(5) register: every breach, its facts, effects and remedial action, oldest first."""
        with self.store.session() as s:
            rows = s.scalars(sa.select(BreachRow).order_by(BreachRow.aware_at, BreachRow.id)).all()
        return [{
            "breach": b.id, "incident": b.incident_id, "aware_at": b.aware_at.isoformat(), "run": b.run_id or "",
            "mandate": b.mandate_id or "", "nature": b.nature, "categories": "; ".join(json.loads(b.categories)),
            "data_subjects": str(b.data_subjects), "records": str(b.records), "consequences": b.consequences, "measures": b.measures,
            "controller_told_at": b.controller_told_at.isoformat() if b.controller_told_at else "",
            "authority_notified_at": b.authority_notified_at.isoformat() if b.authority_notified_at else "",
        } for b in rows]

    def register_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.register())
        return out.getvalue()

    def register_markdown(self) -> str:
        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
        lines += ["| " + " | ".join(cell(row[c]) for c in _COLUMNS) + " |" for row in self.register()]
        return "\n".join(lines) + "\n"

    def _get(self, s: sa.orm.Session, breach_id: str) -> BreachRow:
        breach = s.get(BreachRow, breach_id)
        if breach is None:
            raise AirlockError(f"no breach {breach_id!r}; 'airlock incidents register' lists them")
        return breach

    def _record(self, breach: BreachRow, by: Actor, what: str) -> None:
        if self.ledger is not None:
            objects = {"breach": breach.id, "incident": breach.incident_id, "state": what} | ({"run": breach.run_id} if breach.run_id else {})
            self.ledger.append(LedgerEntry(Kind.INCIDENT, by, objects))


_COLUMNS = ["breach", "incident", "aware_at", "run", "mandate", "nature", "categories", "data_subjects", "records",
            "consequences", "measures", "controller_told_at", "authority_notified_at"]
_FR_NATURE = {"confidentiality": "atteinte à la confidentialité", "integrity": "atteinte à l'intégrité",
              "availability": "atteinte à la disponibilité"}


def _measures(run: Run | None) -> str:
    if run is None:
        return "to be completed: containment, investigation, notification"
    return (f"run {run.id} stopped and its staging purged (crypto-shredding: its keys destroyed); access of the accounts involved "
            "reviewed; the ledger verified and exported for the investigation")
