"""Sensitivity tags of lab tests: which results reveal HIV, pregnancy, a cancer, a gene...

A scope leaves out the results of sensitive tests unless the controller's
mandate names their tag. A test is tagged from three sources, most specific
first:

1. the *curated* table of the source profile (local test name -> tags), which
   the lab reviews and which wins outright, ``[]`` included;
2. the LOINC code of the result, from a short list of checked codes;
3. the test and measure names, searched with a French and English lexicon
   that ignores case and accents.

The LOINC list and the lexicon live in ``lexicon/sensitivity.yaml``.

>>> tags_for('Sérologie VIH')
('hiv',)
>>> tags_for('Pregnancy Test (HCG)')
('pregnancy',)
>>> tags_for('Charge virale VHC')
('hepatitis',)
>>> tags_for('Dosage', 'Lithémie')
('drug_therapy', 'psychiatry')
>>> tags_for('Blood Type (ABO/Rh)', 'Rhesus factor')
()
>>> tags_for('Panel', loinc='2857-1')
('oncology',)
>>> tags_for('ACE', curated={'ace': []})
()
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from airlock.errors import ProfileError
from airlock.model import Sensitivity

__all__ = ["fold", "tags_for", "tag_column", "loinc_codes"]

_TAGS = frozenset(s.value for s in Sensitivity)
# Letters NFKD does not decompose, spelled the way catalogues write them in ASCII.
_SPELLED = str.maketrans({"β": "beta", "α": "alpha", "œ": "oe", "æ": "ae", "ß": "ss"})


def fold(text: str) -> str:
    """Lower case, no accents, single spaces: the form the lexicon is written in.

    >>> fold('  Antigène   HBs ')
    'antigene hbs'
    >>> fold('β-hCG')
    'beta-hcg'
    >>> fold('Alpha-fœtoprotéine')
    'alpha-foetoproteine'
    """
    text = unicodedata.normalize("NFKD", text.casefold().translate(_SPELLED))
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).split())


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    unless: re.Pattern[str] | None
    tags: frozenset[str]

    def applies(self, text: str) -> bool:
        return bool(self.pattern.search(text)) and not (self.unless and self.unless.search(text))


@dataclass(frozen=True)
class _Lexicon:
    loinc: Mapping[str, frozenset[str]]
    rules: tuple[_Rule, ...]


@cache
def _lexicon() -> _Lexicon:
    data = yaml.safe_load((resources.files("airlock") / "lexicon" / "sensitivity.yaml").read_text("utf-8"))
    loinc: dict[str, set[str]] = {}
    rules = []
    for tag, entry in data.items():
        for code in entry.get("loinc", {}):
            loinc.setdefault(code, set()).add(tag)
        for rule in entry.get("names", ()):
            unless = rule.get("unless")
            rules.append(
                _Rule(re.compile(rule["pattern"]), re.compile(unless) if unless else None, frozenset([tag, *rule.get("also", ())]))
            )
    unknown = (set(data) | {t for r in rules for t in r.tags}) - _TAGS
    assert not unknown, f"sensitivity.yaml names tags the model does not have: {sorted(unknown)}"
    return _Lexicon({code: frozenset(tags) for code, tags in loinc.items()}, tuple(rules))


def loinc_codes() -> dict[str, tuple[str, ...]]:
    """The curated LOINC codes and their tags.

    >>> loinc_codes()['24467-3']
    ('hiv',)
    """
    return {code: tuple(sorted(tags)) for code, tags in sorted(_lexicon().loinc.items())}


def _curated_index(curated: Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
    """The profile's table keyed by folded test name, its tags checked against the model."""
    index = {}
    for name, tags in (curated or {}).items():
        unknown = sorted(set(tags) - _TAGS)
        if unknown:
            raise ProfileError(
                f"sensitivity table: test {name!r} has unknown tag(s) {', '.join(unknown)}; "
                f"use {', '.join(sorted(_TAGS))} or [] for none"
            )
        index[fold(name)] = tuple(sorted(set(tags)))
    return index


def _classify(test: str, measure: str, loinc: str, curated: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    test = fold(test)
    if test in curated:
        return curated[test]
    tags = set(_lexicon().loinc.get(loinc.strip(), ()))
    for text in {test, fold(measure)} - {""}:
        for rule in _lexicon().rules:
            if rule.applies(text):
                tags |= rule.tags
    return tuple(sorted(tags))


def tags_for(
    test_name: str | None,
    measure_name: str | None = None,
    loinc: str | None = None,
    curated: Mapping[str, Sequence[str]] | None = None,
) -> tuple[str, ...]:
    """The sorted sensitivity tags of one test (and measure); ``()`` when none applies.

    ``curated`` maps the lab's local test names (matched without regard to
    case, accents or spacing) to the tags the lab decided; a name found there
    gets exactly those tags.

    >>> tags_for('HIV Monitoring Panel', 'CD4')
    ('hiv',)
    >>> tags_for('Thyroglobulin', curated={'THYROGLOBULIN': ['oncology']})
    ('oncology',)
    >>> tags_for('Chlamydia pneumoniae IgG')
    ()
    """
    return _classify(test_name or "", measure_name or "", loinc or "", _curated_index(curated))


def tag_column(
    test_names: pa.Array,
    measure_names: pa.Array,
    loincs: pa.Array,
    curated: Mapping[str, Sequence[str]] | None = None,
) -> pa.ListArray:
    """Tags of each row, as a ``list<string>`` array: each distinct (test, measure, LOINC) is classified once.

    A result batch holds thousands of rows but a catalogue only a few hundred
    tests, so the triples are dictionary-encoded, classified, and the tag lists
    taken back to the rows by index.

    >>> tag_column(pa.array(['RPR', 'Sodium', 'RPR']), pa.array(['RPR', 'NA+', None]), pa.nulls(3)).to_pylist()
    [['sti'], [], ['sti']]
    """
    index = _curated_index(curated)
    columns = [_encoded(a) for a in (test_names, measure_names, loincs)]
    if len({len(indices) for indices, _ in columns}) != 1:
        raise ValueError("tag_column: test, measure and LOINC arrays must have the same length")
    # One int64 key per row from the three dictionary indices (mixed radix), then its own dictionary.
    key = pa.scalar(0, pa.int64())
    for indices, dictionary in columns:
        key = pc.add(pc.multiply(key, max(len(dictionary), 1)), indices)
    triples = pc.dictionary_encode(key)
    decoded = []
    for k in triples.dictionary.to_pylist():
        parts = []
        for _, dictionary in reversed(columns):
            k, i = divmod(k, max(len(dictionary), 1))
            parts.append(dictionary[i].as_py())
        loinc, measure, test = parts
        decoded.append(list(_classify(test, measure, loinc, index)))
    return pc.take(pa.array(decoded, pa.list_(pa.string())), triples.indices)


def _encoded(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Dictionary indices (int64) and dictionary of a text column, null read as empty."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(pc.fill_null(values.cast(pa.string()), ""))
    return encoded.indices.cast(pa.int64()), encoded.dictionary
