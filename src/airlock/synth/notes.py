"""Free-text comments as a real LIS holds them: mostly empty, sometimes clinical, now and then an identifier.

Comments are where a lab's database leaks: diagnoses, pregnancy, HIV status,
and phone numbers or NIRs typed by hand. The generator puts them there on
purpose, so redaction and scoping are tested against the mess.

>>> import numpy as np, polars as pl
>>> rng = np.random.default_rng(3)
>>> text = free_text(rng, SPECIMEN_NOTES, 1000, note=0.2, phone=pl.Series(["06 12 34 56 78"] * 1000), nir=None)
>>> (text == "").mean() > 0.7, text.str.contains("06 12 34 56 78").any()
(True, True)
"""

from __future__ import annotations

import numpy as np
import polars as pl

SPECIMEN_NOTES: tuple[str, ...] = (
    "Patiente enceinte, 12 SA",
    "Grossesse en cours, contrôle du 2e trimestre",
    "Suivi VIH sous trithérapie",
    "Patient VIH+ connu, bilan semestriel",
    "Suivi post-chimiothérapie, cancer du sein",
    "Cancer de la prostate sous hormonothérapie",
    "Diabète de type 2 déséquilibré",
    "Insuffisance rénale chronique stade 3",
    "Patient sous AVK (fluindione), INR cible 2-3",
    "Hépatite C traitée en 2016",
    "Prélèvement hémolysé, à recontrôler",
    "Patient à jeun depuis 12 h",
    "Dépistage IST à la demande du patient",
    "Bilan pré-opératoire",
    "Tuberculose pulmonaire en cours de traitement",
    "Trouble bipolaire, sous lithium",
    "Greffé rénal, sous tacrolimus",
    "Prélèvement à domicile",
)
TEST_NOTES: tuple[str, ...] = (
    "Résultat contrôlé sur un second prélèvement",
    "Compatible avec une anémie ferriprive",
    "Hypothyroïdie connue",
    "Profil compatible avec une hépatite B chronique",
    "Séroconversion VIH à confirmer par Western Blot",
    "Valeur critique téléphonée au prescripteur",
    "Contrôle à 3 mois conseillé",
    "Hémolyse : potassium ininterprétable",
    "Résultat compatible avec une grossesse évolutive",
)
PHONE_RATE = 0.02  # share of comments that carry the patient's phone number
NIR_RATE = 0.01  # ... and the patient's NIR


def free_text(
    rng: np.random.Generator, notes: tuple[str, ...], n: int, *, note: float, phone: pl.Series | None, nir: pl.Series | None
) -> pl.Series:
    """``n`` comments: a share ``note`` from ``notes``; with ``phone``/``nir`` given, some quote them; the rest ''."""
    kind = rng.random(n)
    text = pl.Series(notes).gather(rng.integers(0, len(notes), n))
    expr = pl.when(pl.lit(pl.Series(kind < note))).then(pl.lit(text))
    if phone is not None:
        expr = expr.when(pl.lit(pl.Series(kind > 1 - PHONE_RATE))).then(pl.lit("Rappeler le patient au ") + pl.lit(phone))
    if nir is not None:
        expr = expr.when(pl.lit(pl.Series(kind > 1 - PHONE_RATE - NIR_RATE))).then(pl.lit("NIR à vérifier : ") + pl.lit(nir))
    return pl.select(expr.otherwise(pl.lit(""))).to_series()
