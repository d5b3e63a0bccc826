"""The synthetic lab's test catalogue, as data: test types, their measures, units and reference ranges.

Names are those a French LIS shows (French, or the English abbreviation in use);
units are UCUM; ranges follow BLIS: ``"low:high"`` for a numeric measure,
options joined by ``"/"`` for a coded one. The catalogue deliberately holds the
sensitive families a migration must be able to leave out: HIV, hepatitis B and C,
syphilis, pregnancy, genetics and tumour markers.

>>> nfs = TEST_TYPES[0]
>>> nfs.name, len(nfs.measures), nfs.measures[0].range, nfs.measures[0].unit
('NFS', 13, '4.0:10.0', '10*9/L')
>>> next(t for t in TEST_TYPES if t.name == 'Sérologie VIH').measures[0].range
'Négatif/Positif/Douteux'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Numeric:
    """A numeric measure: values spread around the reference range, some out of it."""

    low: float
    high: float
    decimals: int

    @property
    def range(self) -> str:
        return f"{self.low:.{self.decimals}f}:{self.high:.{self.decimals}f}"


@dataclass(frozen=True)
class Coded:
    """A coded measure: one of ``options`` drawn with ``weights``; no option contains ','."""

    options: tuple[str, ...]
    weights: tuple[float, ...]

    @property
    def range(self) -> str:
        return "/".join(self.options)


@dataclass(frozen=True)
class Measure:
    name: str
    unit: str
    scale: Numeric | Coded

    @property
    def range(self) -> str:
        return self.scale.range


@dataclass(frozen=True)
class TestType:
    name: str
    category: str
    specimen: str
    weight: float  # relative frequency among the tests of its specimen type
    measures: tuple[Measure, ...]
    sex: str | None = None  # "F" or "M" when only prescribed to one sex


def num(name: str, unit: str, low: float, high: float, decimals: int = 0) -> Measure:
    return Measure(name, unit, Numeric(low, high, decimals))


def coded(name: str, *options: tuple[str, float]) -> Measure:
    return Measure(name, "", Coded(tuple(o for o, _ in options), tuple(w for _, w in options)))


NEG_POS = (("Négatif", 0.96), ("Positif", 0.04))
NOT_DETECTED = (("Non détecté", 0.95), ("Détecté", 0.05))

SPECIMEN_TYPES = ("Sang total EDTA", "Sérum", "Plasma citraté", "Plasma fluoré", "Urines", "Écouvillon")

# fmt: off
TEST_TYPES: tuple[TestType, ...] = (
    # Hématologie
    TestType("NFS", "Hématologie", "Sang total EDTA", 20, (
        num("Leucocytes", "10*9/L", 4.0, 10.0, 1), num("Hématies", "10*12/L", 4.20, 5.70, 2),
        num("Hémoglobine", "g/dL", 12.0, 17.0, 1), num("Hématocrite", "%", 37.0, 50.0, 1),
        num("VGM", "fL", 80, 100), num("TCMH", "pg", 27.0, 32.0, 1), num("CCMH", "g/dL", 32.0, 36.0, 1),
        num("Plaquettes", "10*9/L", 150, 400), num("Polynucléaires neutrophiles", "10*9/L", 1.80, 7.50, 2),
        num("Lymphocytes", "10*9/L", 1.00, 4.00, 2), num("Monocytes", "10*9/L", 0.20, 1.00, 2),
        num("Polynucléaires éosinophiles", "10*9/L", 0.00, 0.50, 2), num("Polynucléaires basophiles", "10*9/L", 0.00, 0.10, 2))),
    TestType("Réticulocytes", "Hématologie", "Sang total EDTA", 1, (num("Réticulocytes", "10*9/L", 20, 120),)),
    TestType("HbA1c", "Biochimie", "Sang total EDTA", 4, (num("Hémoglobine glyquée", "%", 4.0, 6.0, 1),)),
    TestType("Vitesse de sédimentation", "Hématologie", "Sang total EDTA", 1, (num("VS 1re heure", "mm/h", 0, 20),)),
    TestType("Groupe sanguin ABO-RhD", "Immuno-hématologie", "Sang total EDTA", 2, (
        coded("Groupe ABO", ("A", 0.45), ("B", 0.09), ("AB", 0.03), ("O", 0.43)),
        coded("Rhésus D", ("Positif", 0.85), ("Négatif", 0.15)))),
    TestType("Lymphocytes T CD4", "Immunologie", "Sang total EDTA", 0.6, (
        num("CD4", "/uL", 500, 1500), num("CD4 %", "%", 30, 60))),
    TestType("Charge virale VIH", "Virologie", "Sang total EDTA", 0.6, (num("ARN VIH-1", "{copies}/mL", 0, 50),)),
    TestType("Caryotype", "Génétique", "Sang total EDTA", 0.3, (
        coded("Formule chromosomique", ("46XX", 0.49), ("46XY", 0.49), ("47XX+21", 0.01), ("47XY+21", 0.01)),)),
    TestType("Facteur V Leiden", "Génétique", "Sang total EDTA", 0.4, (
        coded("Mutation G1691A", ("Non muté", 0.95), ("Hétérozygote", 0.045), ("Homozygote", 0.005)),)),
    TestType("Mutation BRCA1", "Génétique", "Sang total EDTA", 0.2, (
        coded("BRCA1", ("Absence de variant pathogène", 0.9), ("Variant pathogène", 0.05),
              ("Variant de signification inconnue", 0.05)),), sex="F"),
    # Hémostase
    TestType("TP / INR", "Hémostase", "Plasma citraté", 5, (num("TP", "%", 70, 100), num("INR", "{INR}", 0.80, 1.20, 2))),
    TestType("TCA", "Hémostase", "Plasma citraté", 3, (num("TCA ratio", "{ratio}", 0.80, 1.20, 2),)),
    TestType("Fibrinogène", "Hémostase", "Plasma citraté", 2, (num("Fibrinogène", "g/L", 2.0, 4.0, 1),)),
    TestType("D-dimères", "Hémostase", "Plasma citraté", 1.5, (num("D-dimères", "ng/mL", 0, 500),)),
    # Biochimie
    TestType("Glycémie à jeun", "Biochimie", "Plasma fluoré", 8, (num("Glucose", "mmol/L", 3.90, 6.10, 2),)),
    TestType("Glycémie post-prandiale", "Biochimie", "Plasma fluoré", 1, (num("Glucose PP", "mmol/L", 3.90, 7.80, 2),)),
    TestType("Lactates", "Biochimie", "Plasma fluoré", 0.5, (num("Lactates", "mmol/L", 0.5, 2.2, 1),)),
    TestType("Créatinine", "Biochimie", "Sérum", 8, (num("Créatinine", "umol/L", 45, 104),)),
    TestType("Urée", "Biochimie", "Sérum", 3, (num("Urée", "mmol/L", 2.5, 7.5, 1),)),
    TestType("Ionogramme sanguin", "Biochimie", "Sérum", 9, (
        num("Sodium", "mmol/L", 136, 145), num("Potassium", "mmol/L", 3.5, 5.1, 1),
        num("Chlore", "mmol/L", 98, 107), num("Bicarbonates", "mmol/L", 22, 29), num("Protides totaux", "g/L", 64, 83))),
    TestType("Bilan lipidique", "Biochimie", "Sérum", 8, (
        num("Cholestérol total", "mmol/L", 3.90, 5.20, 2), num("HDL-cholestérol", "mmol/L", 1.00, 2.00, 2),
        num("LDL-cholestérol", "mmol/L", 2.00, 4.10, 2), num("Triglycérides", "mmol/L", 0.50, 1.70, 2))),
    TestType("Bilan hépatique", "Biochimie", "Sérum", 7, (
        num("ASAT", "U/L", 10, 40), num("ALAT", "U/L", 7, 40), num("GGT", "U/L", 9, 55),
        num("Phosphatases alcalines", "U/L", 40, 130), num("Bilirubine totale", "umol/L", 3, 21),
        num("Bilirubine conjuguée", "umol/L", 0, 5))),
    TestType("CRP", "Biochimie", "Sérum", 5, (num("Protéine C réactive", "mg/L", 0.0, 5.0, 1),)),
    TestType("Acide urique", "Biochimie", "Sérum", 1.5, (num("Acide urique", "umol/L", 150, 420),)),
    TestType("Calcémie", "Biochimie", "Sérum", 1.5, (num("Calcium", "mmol/L", 2.15, 2.55, 2),)),
    TestType("Ferritine", "Biochimie", "Sérum", 2, (num("Ferritine", "ug/L", 30, 300),)),
    TestType("Vitamine D", "Biochimie", "Sérum", 2, (num("25-OH vitamine D", "ng/mL", 30, 100),)),
    TestType("Albumine", "Biochimie", "Sérum", 1, (num("Albumine", "g/L", 35, 52),)),
    TestType("Troponine Ic", "Biochimie", "Sérum", 0.5, (num("Troponine Ic", "ng/L", 0, 34),)),
    # Hormonologie
    TestType("TSH", "Hormonologie", "Sérum", 5, (num("TSH", "m[IU]/L", 0.40, 4.00, 2),)),
    TestType("T4 libre", "Hormonologie", "Sérum", 1.5, (num("T4L", "pmol/L", 12.0, 22.0, 1),)),
    TestType("β-hCG", "Hormonologie", "Sérum", 1, (num("β-hCG plasmatique", "[IU]/L", 0, 5),), sex="F"),
    # Sérologies
    TestType("Sérologie VIH", "Sérologie", "Sérum", 1.5, (coded("Ac anti-VIH 1/2 et Ag p24", ("Négatif", 0.97), ("Positif", 0.02), ("Douteux", 0.01)),)),
    TestType("Antigène HBs", "Sérologie", "Sérum", 1, (coded("Ag HBs", ("Négatif", 0.98), ("Positif", 0.02)),)),
    TestType("Anticorps anti-HBs", "Sérologie", "Sérum", 0.6, (num("Ac anti-HBs", "m[IU]/mL", 10, 1000),)),
    TestType("Sérologie hépatite C", "Sérologie", "Sérum", 1, (coded("Ac anti-VHC", *NEG_POS),)),
    TestType("Sérologie syphilis TPHA/VDRL", "Sérologie", "Sérum", 0.8, (coded("TPHA", *NEG_POS), coded("VDRL", *NEG_POS))),
    TestType("Sérologie toxoplasmose", "Sérologie", "Sérum", 0.8, (
        coded("IgG anti-toxoplasme", ("Négatif", 0.6), ("Positif", 0.38), ("Douteux", 0.02)),
        coded("IgM anti-toxoplasme", ("Négatif", 0.98), ("Positif", 0.02))), sex="F"),
    TestType("Sérologie rubéole", "Sérologie", "Sérum", 0.5, (coded("IgG anti-rubéole", ("Positif", 0.9), ("Négatif", 0.1)),), sex="F"),
    # Marqueurs tumoraux
    TestType("PSA", "Marqueurs tumoraux", "Sérum", 1.5, (num("PSA total", "ug/L", 0.00, 4.00, 2),), sex="M"),
    TestType("CA 125", "Marqueurs tumoraux", "Sérum", 0.5, (num("CA 125", "U/mL", 0, 35),), sex="F"),
    TestType("ACE", "Marqueurs tumoraux", "Sérum", 0.5, (num("Antigène carcino-embryonnaire", "ug/L", 0.0, 5.0, 1),)),
    TestType("CA 19-9", "Marqueurs tumoraux", "Sérum", 0.3, (num("CA 19-9", "U/mL", 0, 37),)),
    TestType("Alpha-foetoprotéine", "Marqueurs tumoraux", "Sérum", 0.3, (num("AFP", "ug/L", 0.0, 7.0, 1),)),
    # Urines
    TestType("ECBU", "Microbiologie", "Urines", 5, (
        num("Leucocyturie", "10*3/mL", 0, 10), num("Hématurie", "10*3/mL", 0, 10),
        coded("Culture", ("Stérile", 0.8), ("Escherichia coli", 0.12), ("Polymicrobienne", 0.08)))),
    TestType("Protéinurie", "Biochimie", "Urines", 1, (num("Protéines urinaires", "g/L", 0.00, 0.15, 2),)),
    TestType("Microalbuminurie", "Biochimie", "Urines", 1, (num("Microalbumine", "mg/L", 0, 20),)),
    TestType("Test de grossesse urinaire", "Hormonologie", "Urines", 0.8, (coded("hCG urinaire", ("Négatif", 0.8), ("Positif", 0.2)),), sex="F"),
    TestType("Chlamydia trachomatis PCR", "Microbiologie", "Urines", 0.6, (coded("ADN Chlamydia trachomatis", *NOT_DETECTED),)),
    # Écouvillons
    TestType("Prélèvement vaginal", "Microbiologie", "Écouvillon", 2, (
        coded("Flore", ("Flore normale", 0.75), ("Vaginose bactérienne", 0.12), ("Candida albicans", 0.1),
              ("Streptocoque B", 0.03)),), sex="F"),
    TestType("Neisseria gonorrhoeae PCR", "Microbiologie", "Écouvillon", 0.6, (coded("ADN Neisseria gonorrhoeae", *NOT_DETECTED),)),
    TestType("Streptocoque A (test rapide)", "Microbiologie", "Écouvillon", 1, (coded("Antigène streptocoque A", ("Négatif", 0.8), ("Positif", 0.2)),)),
    TestType("Recherche de grippe A/B", "Microbiologie", "Écouvillon", 1, (
        coded("Grippe A", ("Non détecté", 0.85), ("Détecté", 0.15)), coded("Grippe B", ("Non détecté", 0.95), ("Détecté", 0.05)))),
)
# fmt: on

CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(t.category for t in TEST_TYPES))
