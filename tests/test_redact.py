"""Redaction: planted identifiers and health terms never survive, counts match what was planted."""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa
import pytest
import yaml
from faker.providers.person.en_US import Provider as EnglishNames
from faker.providers.person.fr_FR import Provider as FrenchNames
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.fr import nir

from airlock.redact import TOKENS, RedactionCounts, redact_column


@st.composite
def nirs(draw: st.DrawFn) -> str:
    body = (
        draw(st.sampled_from("1278"))
        + f"{draw(st.integers(0, 99)):02d}{draw(st.integers(1, 12)):02d}"
        + draw(st.sampled_from(["2A", "2B", *(f"{d:02d}" for d in range(1, 96))]))
        + f"{draw(st.integers(1, 999)):03d}{draw(st.integers(1, 999)):03d}"
    )
    number = nir.validate(body + nir.calc_check_digits(body))  # a NIR stdnum accepts
    layout = draw(st.sampled_from(["compact", "spaced", "dotted", "no key"]))
    return {
        "compact": number,
        "spaced": nir.format(number),
        "dotted": nir.format(number, "."),
        "no key": nir.format(number)[:-3],
    }[layout]


@st.composite
def phones(draw: st.DrawFn) -> str:
    digits = [draw(st.integers(1, 9))] + [draw(st.integers(0, 99)) for _ in range(4)]
    sep = draw(st.sampled_from([" ", ".", "-", ""]))
    pairs = sep.join(f"{p:02d}" for p in digits[1:])
    prefix = draw(st.sampled_from(["0", "+33 ", "+33", "0033 ", "+33 (0)"]))
    return f"{prefix}{digits[0]}{sep}{pairs}"


MONTHS_FR = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"]


@st.composite
def dates(draw: st.DrawFn) -> str:
    d = draw(st.dates(dt.date(1900, 1, 1), dt.date(2030, 12, 31)))
    return draw(st.sampled_from([
        d.strftime("%d/%m/%Y"), d.strftime("%d.%m.%y"), d.strftime("%Y-%m-%d"), f"{d.day}-{d.month}-{d.year}",
        f"{d.day} {MONTHS_FR[d.month - 1]} {d.year}", f"{MONTHS_FR[d.month - 1].capitalize()} {d.year}",
        f"{d:%B} {d.day}, {d.year}", f"{d.isoformat()}T{d.day % 24:02d}:15",
    ]))


FIRST_NAMES = sorted({*FrenchNames.first_names, *EnglishNames.first_names})
SURNAMES = sorted(n for n in FrenchNames.last_names if " " not in n)
TITLES = ["M.", "Mme", "Mlle", "Madame", "Monsieur", "Dr", "Docteur", "Pr", "Mr", "Mrs", "Ms"]
names = st.one_of(
    st.builds("{} {}".format, st.sampled_from(TITLES), st.sampled_from(SURNAMES)),
    st.builds("{} {} {}".format, st.sampled_from(TITLES), st.sampled_from(FIRST_NAMES), st.sampled_from(SURNAMES)),
    st.builds("{} {}".format, st.sampled_from(FIRST_NAMES), st.sampled_from(SURNAMES)),
    st.builds("{} {}".format, st.sampled_from(SURNAMES).map(str.upper), st.sampled_from(FIRST_NAMES)),
)

emails = st.builds(
    "{}@{}.{}".format,
    st.from_regex(r"[a-z][a-z0-9._-]{0,10}[a-z0-9]", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,8}[a-z]", fullmatch=True),
    st.sampled_from(["fr", "com", "sante.fr", "aphp.fr"]),
)
HEALTH = [
    "VIH", "hiv", "sida", "AIDS", "séropositive", "Cancer", "cancers", "tumeur", "métastases", "leucémie",
    "lymphome", "chimiothérapie", "chemotherapy", "radiothérapie", "grossesse", "enceinte", "pregnant",
    "IVG", "abortion", "génétique", "trisomie", "hépatite", "Hepatitis", "syphilis", "diabète",
    "diabétique", "dépression", "psychiatrique", "toxicomanie", "addiction", "GROSSESSES",
]
# Words that cannot hold a target: consonant-only (every lexicon term and surname has a vowel; the titles
# that have none are left out) or quantities with a unit.
fillers = st.one_of(
    st.text(alphabet="bcdfghjklmnpqrstvwxzBCDFGHJKLMNPQRSTVWXZ", min_size=1, max_size=8).filter(lambda w: w not in {"Dr", "Drs", "Pr", "Mr", "Mrs", "Ms", "MM"}),
    st.builds("{}mg".format, st.integers(0, 999)),
    st.sampled_from(["Hémolyse", "légère", "prélèvement", "à", "refaire", "Cancéropôle", "Protein", "RAS", "contrôle"]),
)
planted = st.one_of(
    st.tuples(st.just("nir"), nirs()),
    st.tuples(st.just("phone"), phones()),
    st.tuples(st.just("email"), emails),
    st.tuples(st.just("health"), st.sampled_from(HEALTH)),
    st.tuples(st.just("date"), dates()),
    st.tuples(st.just("name"), names),
)


def test_every_health_term_has_a_vowel() -> None:
    """What makes the consonant-only fillers above safe."""
    from importlib import resources

    terms = yaml.safe_load((resources.files("airlock") / "lexicon" / "health_terms.yaml").read_text("utf-8"))
    assert all(re.search("[aeiouy]", t, re.I) for t in terms)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.one_of(fillers.map(lambda w: (None, w)), planted), max_size=12), min_size=1, max_size=8))
def test_planted_items_never_survive_and_are_counted(rows: list[list[tuple[str | None, str]]]) -> None:
    texts = [", ".join(w for _, w in row) for row in rows]
    out, counts = redact_column(pa.array(texts))
    expected = {kind: sum(k == kind for row in rows for k, _ in row) for kind in TOKENS}
    assert counts == RedactionCounts(**expected)
    for row, text in zip(rows, out.to_pylist()):
        assert text == ", ".join(TOKENS[k] if k else w for k, w in row)  # planted items replaced, fillers kept


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.lists(fillers).map(" ".join)), max_size=20))
def test_text_without_targets_is_unchanged(texts: list[str | None]) -> None:
    column = pa.array(texts, pa.string())
    out, counts = redact_column(column)
    assert out.equals(column)
    assert counts == RedactionCounts() and counts.total == 0


def test_nulls_type_and_idempotence() -> None:
    column = pa.array([None, "Patiente enceinte, tél 06.12.34.56.78", None, ""], pa.large_string())
    out, counts = redact_column(column)
    assert out.type == pa.large_string()
    assert out.to_pylist() == [None, "Patiente [santé], tél [téléphone]", None, ""]
    again, nothing = redact_column(out)
    assert again.equals(out) and nothing.total == 0
    assert counts + counts == RedactionCounts(health=2, phone=2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Cancéropôle de Lyon", "Cancéropôle de Lyon"),
        ("CANCER du sein", "[santé] du sein"),
        ("He\u0301patite B", "[santé] B"),  # combining accent
        ("hearing aids", "hearing aids"),
        ("NIR 1 84 12 2B 451 089", "NIR [NIR]"),
        ("ref 0612345678901234", "ref 0612345678901234"),
        ("Émile Zola, Élise Dupré.", "[nom], [nom]."),  # accented capitals at both ends
        ("(Dr Dupont)", "([nom])"),
        ("Madame Le Guen", "[nom]"),
        ("urine claire, Marie est venue", "urine claire, Marie est venue"),  # a first name alone stays
        ("en mai, 1.2.3, HbA1c 6.5 %", "en mai, 1.2.3, HbA1c 6.5 %"),
        ("12/03/2019 10:22", "[date] 10:22"),
    ],
)
def test_boundaries_and_forms(text: str, expected: str) -> None:
    assert redact_column(pa.array([text]))[0].to_pylist() == [expected]
