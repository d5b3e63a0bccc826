"""The processor's record of processing activities (GDPR Art. 30(2)) from its mandates.

One entry per mandate, grouped by controller: (a) names and contact details,
(b) the categories of processing, (c) transfers outside the EEA (sub-processors
in a third country), (d) a general description of the security measures, from
the live settings.

>>> from pathlib import Path
>>> from airlock.mandate import load_mandate
>>> from airlock.paperwork.settings import current
>>> entry, = entries([load_mandate(Path(__file__).parents[3] / "examples" / "mandate.yaml")], current({}), "en")
>>> entry.transfers
'none'
>>> outside_eea("CH"), outside_eea("fr")
(True, False)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

from airlock import model
from airlock.errors import AirlockError
from airlock.mandate import Mandate
from airlock.paperwork.agreement import LANGUAGES
from airlock.paperwork.document import Document, Part
from airlock.paperwork.measures import measures
from airlock.paperwork.settings import Settings

__all__ = ["Entry", "entries", "outside_eea", "to_csv", "to_document"]

#: EU member states and the three other EEA states (ISO 3166-1 alpha-2; Greece as GR).
EEA = frozenset(["AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "IS", "LI", "NO"])

_T = {
    "en": {"title": "Record of processing activities carried out as processor (GDPR Art. 30(2))",
           "processing": "Migration of laboratory data from {source} to {target}: read-only extraction, encrypted staging, "
                         "transformation, loading, reconciliation, deletion (mandate {id} version {version}, until {deadline})",
           "none": "none", "controller": "Controller", "dpo": "DPO", "processor": "Processor", "mandate": "Mandate",
           "categories": "Categories of processing", "data": "Personal data", "transfers": "Transfers outside the EEA",
           "security": "Security measures (Art. 32(1))"},
    "fr": {"title": "Registre des activités de traitement effectuées en tant que sous-traitant (article 30.2 du RGPD)",
           "processing": "Migration des données du laboratoire de {source} vers {target} : extraction en lecture seule, "
                         "stockage intermédiaire chiffré, transformation, chargement, rapprochement, effacement (mandat {id} "
                         "version {version}, jusqu'au {deadline})",
           "none": "aucun", "controller": "Responsable du traitement", "dpo": "DPD", "processor": "Sous-traitant",
           "mandate": "Mandat", "categories": "Catégories de traitements", "data": "Données à caractère personnel",
           "transfers": "Transferts hors EEE", "security": "Mesures de sécurité (art. 32.1)"},
}


@dataclass(frozen=True)
class Entry:
    controller: str
    controller_address: str
    controller_dpo: str
    processor: str
    processor_contact: str
    mandate: str
    processing: str
    data_categories: str
    transfers: str
    security_measures: str


def outside_eea(country: str) -> bool:
    return country.upper() not in EEA


def entries(mandates: Sequence[Mandate], settings: Settings, lang: str) -> list[Entry]:
    """The record's entries, sorted by controller then mandate."""
    if lang not in LANGUAGES:
        raise AirlockError(f"language {lang!r}: the record is written in {' or '.join(LANGUAGES)}")
    t = _T[lang]
    security = " ".join(measures(settings, lang))
    out = []
    for m in mandates:
        categories = sorted({model.entity(e).field(f).category.value for e, s in m.scope.entities.items() for f in s.fields})
        transfers = [f"{s.name} ({s.country}): {s.role}" for s in m.sub_processors if outside_eea(s.country)]
        out.append(Entry(
            controller=m.controller.name,
            controller_address=m.controller.address,
            controller_dpo=f"{m.controller.dpo.name} <{m.controller.dpo.email}>",
            processor=m.processor.name,
            processor_contact=f"{m.processor.contact.name} <{m.processor.contact.email}>, {m.processor.address}",
            mandate=f"{m.id} v{m.version} ({m.digest[:16]})",
            processing=t["processing"].format(source=m.source.name, target=m.target.name, id=m.id, version=m.version,
                                              deadline=m.deadline.isoformat()),
            data_categories=", ".join(categories),
            transfers="; ".join(transfers) or t["none"],
            security_measures=security,
        ))
    return sorted(out, key=lambda e: (e.controller, e.mandate))


def to_csv(rows: Sequence[Entry]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, [f.name for f in fields(Entry)], lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    return buffer.getvalue()


def to_document(rows: Sequence[Entry], lang: str) -> Document:
    """The record as a document (Markdown or PDF): one part per controller, one per mandate under it."""
    t = _T[lang]
    parts: list[Part] = []
    previous = None
    for row in rows:  # sorted by controller: a new controller opens a new part
        if row.controller != previous:
            previous = row.controller
            parts.append(Part(2, row.controller, (), (row.controller_address, f"{t['dpo']}: {row.controller_dpo}")))
        parts.append(Part(3, f"{t['mandate']} {row.mandate}", (), (
            f"{t['processor']}: {row.processor} — {row.processor_contact}",
            f"{t['categories']}: {row.processing}",
            f"{t['data']}: {row.data_categories}",
            f"{t['transfers']}: {row.transfers}",
            f"{t['security']}: {row.security_measures}",
        )))
    return Document(t["title"], tuple(parts))
