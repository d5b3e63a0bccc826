"""The canonical model's promises: categories on every field, no credential field, docs in step."""

from pathlib import Path

import pyarrow as pa

from airlock import model
from airlock.cli.model import markdown


def test_every_field_has_a_category_and_none_is_a_credential() -> None:
    for e in model.ENTITIES.values():
        assert e.key == e.fields[0].name and not e.schema.field(e.key).nullable
        for f in e.schema:
            assert model.category_of(f) is not model.Category.CREDENTIAL


def test_projection_keeps_the_key_and_model_order() -> None:
    schema = model.RESULT.projection(["value_text", "patient_id"])
    assert schema.names == ["result_id", "patient_id", "value_text"]
    assert schema.field("value_text").metadata[b"category"] == b"clinical"
    assert model.RESULT.schema.field("sensitivity").type == pa.list_(pa.string())


def test_docs_model_md_is_generated_from_the_model() -> None:
    docs = Path(__file__).resolve().parents[1] / "docs" / "model.md"
    assert docs.read_text() == markdown(), "regenerate it: airlock model --markdown > docs/model.md"
