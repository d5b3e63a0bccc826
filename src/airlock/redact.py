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
health     ``[santé]``     the health terms of ``lexicon/health_terms.yaml``
=========  ==============  ===================================================

The kinds run in that order, each on the output of the previous one, and
each is counted on the same text it replaces, so the counts are the number of
replacements. The whole column goes through polars regular expressions: no
Python loop over rows. Nulls stay null.

>>> out, counts = redact_column(pa.array(['VIH+, rappeler au 06 12 34 56 78', None, 'RAS']))
>>> out.to_pylist()
['[santé]+, rappeler au [téléphone]', None, 'RAS']
>>> counts
RedactionCounts(health=1, nir=0, phone=1, email=0)
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

TOKENS: dict[str, str] = {"email": "[e-mail]", "nir": "[NIR]", "phone": "[téléphone]", "health": "[santé]"}

_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
# Sex, year, month, department (2A/2B for Corsica), commune, order, optional key. The key is not
# required to check: a NIR typed with a wrong key still identifies its holder.
_NIR = r"(?i)\b[1-8][\s.]?\d{2}[\s.]?\d{2}[\s.]?(?:\d{2}|2[ab])[\s.]?\d{3}[\s.]?\d{3}(?:[\s.]?\d{2})?\b"
_PHONE = r"(?:(?:\+|\b00)33[\s.-]?(?:\(0\)[\s.-]?)?|\b0)[1-9](?:[\s.-]?\d{2}){4}\b"

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


@dataclass(frozen=True)
class RedactionCounts:
    """How many replacements of each kind were made (never what was replaced)."""

    health: int = 0
    nir: int = 0
    phone: int = 0
    email: int = 0

    @property
    def total(self) -> int:
        return sum(astuple(self))

    def __add__(self, other: RedactionCounts) -> RedactionCounts:
        return RedactionCounts(*(a + b for a, b in zip(astuple(self), astuple(other))))


def _patterns() -> dict[str, str]:
    return {"email": _EMAIL, "nir": _NIR, "phone": _PHONE, "health": health_pattern()}


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
        counts[kind] = int(series.str.count_matches(pattern).sum() or 0)
        series = series.str.replace_all(pattern, TOKENS[kind])
    redacted = series.to_arrow(compat_level=pl.CompatLevel.oldest())
    target = texts.type if pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type) else pa.string()
    return redacted.cast(target), RedactionCounts(**{f.name: counts[f.name] for f in fields(RedactionCounts)})
