"""Redaction of free-text fields kept with the policy "redact": a safety net, not a guarantee.

Each kind of finding is replaced by one token, whole match for whole match:

=========  ==============  ===================================================
kind       token           what it catches
=========  ==============  ===================================================
email      ``[e-mail]``    e-mail addresses
nir        ``[NIR]``       French NIR, 13 or 15 characters (2A/2B included),
                           with or without spaces or dots
phone      ``[téléphone]`` French numbers: 0X XX XX XX XX or +33 / 0033, with
                           spaces, dots or dashes
date       ``[date]``      dates: 12/03/2019, 12.03.19, 2019-03-12, 12 mars
                           2019, mars 2019, March 12, 2019 (an ISO date
                           with its time)
name       ``[nom]``       a person named with a title (M., Mme, Dr, Pr,
                           Madame, Mr, Mrs...) or a first name of Faker's
                           French and English lists, and a capitalised surname
                           ("Dr Martin", "Mme Claire Dubois", "Jean Dupont",
                           "DUPONT Jean")
health     ``[santé]``     the health terms of ``lexicon/health_terms.yaml``
=========  ==============  ===================================================

The kinds run in that order, each on the output of the previous one, and
each is counted on the same text it replaces, so the counts are the number of
replacements. The whole column goes through polars regular expressions: no
Python loop over rows. Nulls stay null.

>>> out, counts = redact_column(pa.array(['VIH+, rappeler Mme Dubois au 06 12 34 56 78', None, 'RAS, vu le 12/03/2019']))
>>> out.to_pylist()
['[santé]+, rappeler [nom] au [téléphone]', None, 'RAS, vu le [date]']
>>> counts
RedactionCounts(health=1, nir=0, phone=1, email=0, date=1, name=1)
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass, fields
from functools import cache
from importlib import resources

import polars as pl
import pyarrow as pa
import yaml

__all__ = ["TOKENS", "RedactionCounts", "redact_column"]

#: Every kind and its token, in the order the kinds run.
TOKENS: dict[str, str] = {"email": "[e-mail]", "nir": "[NIR]", "phone": "[téléphone]", "date": "[date]", "name": "[nom]", "health": "[santé]"}

_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
# Sex, year, month, department (2A/2B for Corsica), commune, order, optional key. The key is not
# required to check: a NIR typed with a wrong key still identifies its holder.
_NIR = r"(?i)\b[1-8][\s.]?\d{2}[\s.]?\d{2}[\s.]?(?:\d{2}|2[ab])[\s.]?\d{3}[\s.]?\d{3}(?:[\s.]?\d{2})?\b"
_PHONE = r"(?:(?:\+|\b00)33[\s.-]?(?:\(0\)[\s.-]?)?|\b0)[1-9](?:[\s.-]?\d{2}){4}\b"

_DAY, _MONTH, _YEAR = r"(?:0?[1-9]|[12]\d|3[01])", r"(?:0?[1-9]|1[0-2])", r"(?:\d{4}|\d{2})"
_MONTHS_FR = r"janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[ûu]t|septembre|octobre|novembre|d[ée]cembre|janv\.?|f[ée]vr?\.?|avr\.?|juil\.?|sept?\.?|oct\.?|nov\.?|d[ée]c\.?"
_MONTHS_EN = r"january|february|march|april|may|june|july|august|september|october|november|december|jan\.?|feb\.?|mar\.?|apr\.?|jun\.?|jul\.?|aug\.?"
# The same separator throughout (the regex engine has no back-references, hence one alternative each); a
# month name needs a four-digit year, so that "mai" or "mars" alone stay. ASCII word boundaries: Unicode ones
# make the regex engine leave its fast automaton on any accented text (a hundred times slower), and a date
# starts and ends with a digit or an ASCII letter.
_DATE = (r"(?i)(?-u:\b)(?:" + "|".join(f"{_DAY}{s}{_MONTH}{s}{_YEAR}|{_MONTH}{s}{_DAY}{s}{_YEAR}" for s in ("/", r"\.", "-"))
         + rf"|\d{{4}}-{_MONTH}-{_DAY}(?:[T ]\d{{1,2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?)?"
         + rf"|(?:{_DAY}(?:er|st|nd|rd|th)?\s+)?(?:{_MONTHS_FR}|{_MONTHS_EN})\s+\d{{4}}"
         + rf"|(?:{_MONTHS_EN})\s+{_DAY}(?:st|nd|rd|th)?,?\s+\d{{4}})(?-u:\b)")

_UPPER_VOWELS = "AEIOUYÀÂÄÉÈÊËÎÏÔÖÙÛÜŸ"
_VOWELS = "aeiouyàâäéèêëîïôöùûüÿ" + _UPPER_VOWELS
_WORD = r"[\p{L}'’-]*"
# A capitalised word with a vowel: a surname ("Dupont", "DUPONT", "Le Guen" counts its first word), not an
# abbreviation like "Dr" or "HbA1c"'s letters alone.
_SURNAME = rf"(?:[{_UPPER_VOWELS}]|\p{{Lu}}{_WORD}?[{_VOWELS}]){_WORD}"
_UPPER_SURNAME = rf"(?:\p{{Lu}}[\p{{Lu}}'’-]*[{_UPPER_VOWELS}][\p{{Lu}}'’-]*)"
_TITLES = r"M\.|MM\.|Mmes?|Mlles?|Madame|Mademoiselle|Monsieur|Messieurs|Drs?\.?|Docteur|Pr\.?|Professeur|Mrs?\.?|Ms\.?|Miss"

_ACCENTED = {"a": "àâä", "e": "éèêë", "i": "îï", "o": "ôö", "u": "ùûü", "c": "ç", "y": "ÿ"}


def accent_tolerant(pattern: str) -> str:
    r"""Make an unaccented lower-case pattern also match accented letters, precomposed or combining.

    Escapes, character classes and group headers are copied as they are.

    >>> accent_tolerant('ivgs?')
    '(?:[iîï]\\p{Mn}*)(?:v\\p{Mn}*)(?:g\\p{Mn}*)(?:s\\p{Mn}*)?'
    >>> accent_tolerant(r'hiv[\s-]')
    '(?:h\\p{Mn}*)(?:[iîï]\\p{Mn}*)(?:v\\p{Mn}*)[\\s-]'
    """
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if c == "[" or pattern.startswith("(?", i):
            end = pattern.index("]" if c == "[" else ":", i + 1)
            out.append(pattern[i : end + 1])
            i = end + 1
            continue
        if c.isalpha():
            # Grouped so that a following quantifier ("s?") still applies to the letter.
            out.append("(?:" + (f"[{c}{_ACCENTED[c]}]" if c in _ACCENTED else c) + r"\p{Mn}*)")
        else:
            out.append(c)
        i += 1
    return "".join(out)


@cache
def health_pattern() -> str:
    """One case-insensitive, whole-word regex for every term of ``lexicon/health_terms.yaml``."""
    terms = yaml.safe_load((resources.files("airlock") / "lexicon" / "health_terms.yaml").read_text("utf-8"))
    for term in terms:
        re.compile(term)  # fail at load on a malformed entry, naming it
    return r"(?i)\b(?:" + "|".join(accent_tolerant(t) for t in terms) + r")\b"


def _health_candidates(series: pl.Series) -> pl.Series:
    """Rows that may hold a health term: the terms anywhere, once combining marks are set aside.

    The exact pattern is slow (combining marks and Unicode word boundaries keep the regex engine off its fast
    automaton: 20 µs a comment), this one is not (0.3 µs); every exact match is also a match here, so the exact
    pattern runs only on these rows.
    """
    loose = health_pattern().replace(r"\p{Mn}*", "").replace(r"\b", "")
    return series.str.replace_all(r"\p{Mn}", "").str.contains(loose).fill_null(False).arg_true()


@cache
def name_pattern() -> str:
    """A titled name, or a first name of Faker's French and English lists with a surname (case-sensitive)."""
    from faker.providers.person.en_US import Provider as English
    from faker.providers.person.fr_FR import Provider as French

    first = "|".join(sorted({*French.first_names, *English.first_names}, key=lambda n: (-len(n), n)))
    # No word boundaries (Unicode ones are slow, ASCII ones fail next to "É"): the text before a name is
    # captured (group 1) and put back, and a name ends where its greedy last word does. After a title a second
    # capitalised word is taken too ("Madame Le Guen"): hiding a word too many is the safe side.
    return (rf"(^|[^\p{{L}}\p{{N}}_])(?:(?:{_TITLES})\s+(?:(?:{first})\s+)?{_SURNAME}(?:\s+{_SURNAME})?"
            rf"|(?:{first})\s+{_SURNAME}|{_UPPER_SURNAME}\s+(?:{first})\p{{L}}*)")


@dataclass(frozen=True)
class RedactionCounts:
    """How many replacements of each kind were made (never what was replaced)."""

    health: int = 0
    nir: int = 0
    phone: int = 0
    email: int = 0
    date: int = 0
    name: int = 0

    @property
    def total(self) -> int:
        return sum(astuple(self))

    def __add__(self, other: RedactionCounts) -> RedactionCounts:
        return RedactionCounts(*(a + b for a, b in zip(astuple(self), astuple(other))))


def _patterns() -> dict[str, str]:
    patterns = {"email": _EMAIL, "nir": _NIR, "phone": _PHONE, "date": _DATE, "name": name_pattern(), "health": health_pattern()}
    return {kind: patterns[kind] for kind in TOKENS}


def redact_column(texts: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, RedactionCounts]:
    """Replace identifiers and health terms in a text column; returns the new column and the counts.

    The result has the type of the input (string or large_string).

    >>> out, counts = redact_column(pa.array(['NIR 2 84 05 2A 123 456 64, écrire à a.b@lab.fr']))
    >>> out[0].as_py(), counts.total
    ('NIR [NIR], écrire à [e-mail]', 2)
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    series = pl.from_arrow(texts.cast(pa.large_string()))
    counts = {}
    for kind, pattern in _patterns().items():
        rows = _health_candidates(series) if kind == "health" else None
        part = series if rows is None else series.gather(rows)
        counts[kind] = int(part.str.count_matches(pattern).sum() or 0)
        part = part.str.replace_all(pattern, "${1}" + TOKENS[kind] if kind == "name" else TOKENS[kind])
        series = part if rows is None else series.clone().scatter(rows, part)
    redacted = series.to_arrow(compat_level=pl.CompatLevel.oldest())
    target = texts.type if pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type) else pa.string()
    return redacted.cast(target), RedactionCounts(**{f.name: counts[f.name] for f in fields(RedactionCounts)})
