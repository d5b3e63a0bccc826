"""Sensitivity tags on the real BLIS catalogue, French names, curated overrides and the vectorised column."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airlock.errors import ProfileError
from airlock.model import Sensitivity
from airlock.sensitivity import loinc_codes, tag_column, tags_for

_NAME = r"INSERT INTO `{table}` VALUES \(\d+,'((?:[^'\\]|\\.)*)'"


def _names(shared_data: Path, table: str) -> set[str]:
    seed = (shared_data / "blis" / "seed.sql").read_text("utf-8", errors="replace")
    return {m.group(1) for m in re.finditer(_NAME.format(table=table), seed)}


@pytest.fixture(scope="module")
def blis_tests(shared_data: Path) -> set[str]:
    return _names(shared_data, "test_type")


@pytest.fixture(scope="module")
def blis_measures(shared_data: Path) -> set[str]:
    return _names(shared_data, "measure")


@pytest.mark.parametrize(
    ("name", "tags"),
    [
        ("HIV DNA PCR", ("hiv",)),
        ("HIV Rapid Test", ("hiv",)),
        ("HIV Monitoring Panel", ("hiv",)),
        ("FACSCount", ("hiv",)),
        ("Western Blot", ("hiv",)),
        ("T-Lymphocytes CD4", ("hiv",)),
        ("Pregnancy Test (HCG)", ("pregnancy",)),
        ("Hepatitis B Surface Antigen", ("hepatitis",)),
        ("Hepatitis C Antibodies", ("hepatitis",)),
        ("RPR", ("sti",)),
        ("VDRL", ("sti",)),
        ("TPHA", ("sti",)),
        ("Chlamydia", ("sti",)),
        ("PSA", ("oncology",)),
        ("Full Blood Count", ()),
        ("Creatinine", ()),
        ("Sodium", ()),
        ("Malaria", ()),
        ("Blood Type (ABO/Rh)", ()),
        ("Stool Analysis", ()),
        ("Protein Count", ()),
        ("Rheumatoid Factor", ()),
        ("T Lymphocyte CD8", ()),
    ],
)
def test_blis_catalogue_names(blis_tests: set[str], name: str, tags: tuple[str, ...]) -> None:
    assert name in blis_tests  # the name is the catalogue's, not one made up for the test
    assert tags_for(name) == tags


@pytest.mark.parametrize(
    ("measure", "tags"),
    [("WB (Western Blot)", ("hiv",)), ("HCV", ("hepatitis",)), ("Rhesus factor", ()), ("Protein", ()), ("Blood Group", ())],
)
def test_blis_measure_names(blis_measures: set[str], measure: str, tags: tuple[str, ...]) -> None:
    assert measure in blis_measures
    assert tags_for("Panel", measure) == tags


def test_every_blis_name_classifies_to_model_tags(blis_tests: set[str], blis_measures: set[str]) -> None:
    known = {s.value for s in Sensitivity}
    for name in blis_tests | blis_measures:
        assert set(tags_for(name)) <= known


@pytest.mark.parametrize(
    ("name", "tags"),
    [
        ("Sérologie VIH", ("hiv",)),
        ("Charge virale VHC", ("hepatitis",)),
        ("Charge virale", ("hiv",)),
        ("CMV charge virale", ()),
        ("β-hCG", ("pregnancy",)),
        ("Mutation BRCA1", ("genetics",)),
        ("Mutations de résistance VIH", ("hiv",)),
        ("Facteur V Leiden", ("genetics",)),
        ("Facteur V", ()),
        ("Caryotype", ("genetics",)),
        ("Antigène HBs", ("hepatitis",)),
        ("Électrophorèse HbS", ()),
        ("ACE", ("oncology",)),
        ("Inhibiteur ACE", ()),
        ("Alpha-fœtoprotéine", ("oncology",)),
        ("Lithémie", ("drug_therapy", "psychiatry")),
        ("Ciclosporine", ("drug_therapy", "transplant")),
        ("Méthadone urinaire", ("addiction", "drug_therapy")),
        ("Alcoolémie", ("addiction",)),
        ("Chlamydia pneumoniae IgG", ()),
        ("Tumor necrosis factor", ()),
    ],
)
def test_french_and_tricky_names(name: str, tags: tuple[str, ...]) -> None:
    assert tags_for(name) == tags


def test_loinc_alone_tags_and_is_combined_with_names() -> None:
    assert tags_for(None, None, "24467-3") == ("hiv",)
    assert tags_for("Dosage", None, "14334-7") == ("drug_therapy", "psychiatry")
    assert tags_for("HIV EIA", None, "2106-3") == ("hiv", "pregnancy")
    assert tags_for("Sodium", None, "2951-2") == ()
    assert all(set(tags) <= {s.value for s in Sensitivity} for tags in loinc_codes().values())


def test_curated_table_wins_and_can_clear() -> None:
    curated = {"Western  blot": [], "Progesterone": ["pregnancy"], "HGB Electropherosis": ["genetics", "genetics"]}
    assert tags_for("WESTERN BLOT", "WB (Western Blot)", "5221-7", curated=curated) == ()
    assert tags_for("Progestérone", curated=curated) == tags_for("progesterone", curated=curated) == ("pregnancy",)
    assert tags_for("HGB Electropherosis", curated=curated) == ("genetics",)
    assert tags_for("RPR", curated=curated) == ("sti",)  # not in the table: lexicon applies


def test_curated_table_rejects_unknown_tags() -> None:
    with pytest.raises(ProfileError, match="unknown tag"):
        tags_for("RPR", curated={"RPR": ["venereal"]})


def test_tag_column_on_blis_catalogue(blis_tests: set[str]) -> None:
    names = sorted(blis_tests)
    column = tag_column(pa.array(names), pa.nulls(len(names), pa.string()), pa.nulls(len(names)))
    assert column.type == pa.list_(pa.string())
    assert column.to_pylist() == [list(tags_for(n)) for n in names]


_words = st.sampled_from(["HIV", "VIH", "CD4", "Sodium", "β-hCG", "Antigène HBs", "PSA", "Malaria", "", "ACE", "Lithium"])
_loincs = st.sampled_from(["24467-3", "2857-1", "2951-2", "", "2106-3"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), _words), st.one_of(st.none(), _words), st.one_of(st.none(), _loincs)), max_size=40))
def test_tag_column_equals_row_wise_tags_for(rows: list[tuple[str | None, str | None, str | None]]) -> None:
    tests, measures, loincs = (pa.array([r[i] for r in rows], pa.string()) for i in range(3))
    curated = {"Malaria": ["sti"]}
    assert tag_column(tests, measures, loincs, curated).to_pylist() == [list(tags_for(*r, curated=curated)) for r in rows]
