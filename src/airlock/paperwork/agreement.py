"""The controller–processor agreement (GDPR Art. 28(3)) written from a mandate and the live settings.

Clauses come from :mod:`airlock.paperwork.clauses`; Annex II from the mandate's
scope (data subjects and data categories from the model's categories of the
allowed fields), Annex III from :func:`airlock.paperwork.measures.measures`.

>>> from pathlib import Path
>>> from airlock.mandate import load_mandate
>>> from airlock.paperwork.settings import current
>>> m = load_mandate(Path(__file__).parents[3] / "examples" / "mandate.yaml")
>>> doc = agreement(m, current({}), "fr")
>>> doc.title
'Contrat de sous-traitance (article 28 du RGPD)'
>>> [p.title for p in doc.parts if p.elements == ("h_audits",)]
['Clause 7.6. Documentation et conformité']
"""

from __future__ import annotations

import datetime as dt

from airlock import model
from airlock.errors import AirlockError
from airlock.mandate import Mandate
from airlock.paperwork.clauses import CLAUSES, LABELS
from airlock.paperwork.document import Document, Part
from airlock.paperwork.measures import measures
from airlock.paperwork.settings import Settings

__all__ = ["LANGUAGES", "agreement"]

LANGUAGES = ("en", "fr")

_SUBJECTS = {  # entity -> who its records are about
    "patient": {"en": "patients whose specimens the laboratory analysed", "fr": "patients dont le laboratoire a analysé les prélèvements"},
    "practitioner": {"en": "prescribing practitioners", "fr": "médecins prescripteurs"},
}
_VALIDATORS = {"en": "laboratory staff who validated results (result.validator)",
               "fr": "personnel du laboratoire ayant validé des résultats (result.validator)"}
_CATEGORIES = {
    model.Category.IDENTITY: {"en": "identification", "fr": "identification"},
    model.Category.CONTACT: {"en": "contact details", "fr": "coordonnées"},
    model.Category.CLINICAL: {"en": "health (laboratory tests and results)", "fr": "santé (examens et résultats de biologie)"},
    model.Category.FREE_TEXT: {"en": "free-text comments", "fr": "commentaires en texte libre"},
    model.Category.OPERATIONAL: {"en": "identifiers and dates of the laboratory's work", "fr": "identifiants et dates de l'activité du laboratoire"},
}
_CHANNELS = {"database": {"en": "written directly into its database", "fr": "écriture directe dans sa base de données"},
             "files": {"en": "age-encrypted files for its key", "fr": "fichiers chiffrés par age pour sa clé"}}


def agreement(mandate: Mandate, settings: Settings, lang: str, *, today: dt.date | None = None) -> Document:
    """The agreement for ``mandate`` in ``lang`` ("en" or "fr"), Annex III from ``settings``."""
    if lang not in LANGUAGES:
        raise AirlockError(f"language {lang!r}: the agreement is written in {' or '.join(LANGUAGES)}")
    t = LABELS[lang]
    fill = {"controller": mandate.controller.name, "processor": mandate.processor.name, "mandate_id": mandate.id,
            "version": mandate.version, "digest": mandate.digest, "today": (today or dt.date.today()).isoformat()}
    parts: list[Part] = []
    for clause in CLAUSES:
        if clause.section:
            parts.append(Part(2, clause.section[lang]))
        parts.append(Part(3, f"Clause {clause.number}. {clause.title[lang]}",
                          tuple(p.format(**fill) for p in clause.text[lang].split("\n\n")),
                          note=f"{t['fulfils']}: {clause.cites[lang]}", elements=clause.elements))
    parts += _annex1(mandate, t, fill) + _annex2(mandate, lang, t)
    parts.append(Part(2, t["annex3"], (t["annex3_intro"],), tuple(measures(settings, lang, mandate))))
    parts.append(Part(2, t["annex4"], () if mandate.sub_processors else (t["sub_none"],),
                      tuple(t["sub_row"].format(name=s.name, country=s.country, role=s.role) for s in mandate.sub_processors)))
    return Document(t["title"], tuple(parts), t["intro"].format(**fill))


def _annex1(m: Mandate, t: dict[str, str], fill: dict) -> list[Part]:
    c, p = m.controller, m.processor
    ids = [f"SIRET {c.siret}"] * bool(c.siret) + [f"FINESS {c.finess}"] * bool(c.finess)
    return [
        Part(2, t["annex1"], (t["signature"].format(**fill),)),
        Part(3, t["controller"], (", ".join([c.name, *ids]),),
             (f"{t['address']}: {c.address}", f"{t['dpo']}: {c.dpo.name} <{c.dpo.email}>")),
        Part(3, t["processor"], (p.name,), (f"{t['address']}: {p.address}", f"{t['contact']}: {p.contact.name} <{p.contact.email}>")),
    ]


def _annex2(m: Mandate, lang: str, t: dict[str, str]) -> list[Part]:
    scopes = m.scope.entities
    subjects = [_SUBJECTS[e][lang] for e in _SUBJECTS if e in scopes]
    if "result" in scopes and "validator" in scopes["result"].fields:
        subjects.append(_VALIDATORS[lang])
    by_category: dict[model.Category, list[str]] = {}
    for name, scope in scopes.items():
        for field in scope.fields:
            by_category.setdefault(model.entity(name).field(field).category, []).append(f"{name}.{field}")
    data = tuple(f"{_CATEGORIES[c][lang]}: {', '.join(by_category[c])}" for c in model.Category if c in by_category)
    sensitive = [t["health"]] if model.Category.CLINICAL in by_category else []
    if m.scope.sensitivity:
        sensitive.append(t["opted_in"].format(tags=", ".join(sorted(m.scope.sensitivity))))
    sensitive.append(t["excluded"].format(tags=", ".join(sorted(m.scope.excluded_sensitivity))))
    changes = [f"{s.entity}.{f}: {how}" for s in scopes.values() for f, how in (*s.free_text.items(), *s.transformations.items())]
    if changes:
        sensitive.append(t["treatments"].format(items=", ".join(changes)))
    return [
        Part(2, t["annex2"]),
        Part(3, t["subject"], (t["subject_text"].format(
            source=m.source.name, source_kind=m.source.kind, target=m.target.name, target_kind=m.target.kind,
            deadline=m.deadline.isoformat(), grace_days=m.grace_days),), elements=("subject_matter_duration",)),
        Part(3, t["nature"], (t["nature_text"].format(channel=_CHANNELS[m.delivery.channel][lang], purpose=m.purpose),),
             elements=("nature_purpose",)),
        Part(3, t["subjects"], (), tuple(subjects), elements=("data_subjects",)),
        Part(3, t["data"], (t["data_intro"],), data, elements=("personal_data_types",)),
        Part(3, t["sensitive"], tuple(sensitive)),
    ]
