"""The canonical lab model: one Arrow schema per entity.

Every connector speaks this model. Sources map their tables onto it, targets
write it out, and the scope (mandate) is expressed against it: a field
allow-list per entity plus row predicates on its fields. Each field carries a
data *category* in its Arrow metadata so that a scope, a report or a guard
can reason about "all contact data" without a list of column names.

Ids are strings, namespaced by the source (``"blis:123"`` is not needed: one
run reads one source), and references between entities use those ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa


class Category(StrEnum):
    """What kind of personal data a field holds; scopes and reports group by it."""

    IDENTITY = "identity"  # names, birth date, NIR, ids that point at a person
    CONTACT = "contact"  # address, phone, e-mail
    CLINICAL = "clinical"  # what was tested and found
    FREE_TEXT = "free_text"  # comments: may say anything, including diagnoses
    CREDENTIAL = "credential"  # passwords, hashes, tokens: never extracted
    OPERATIONAL = "operational"  # keys, codes, dates of the lab's work


class Sensitivity(StrEnum):
    """Sensitivity tags a test type can carry; a scope excludes them unless opted in."""

    HIV = "hiv"
    STI = "sti"
    HEPATITIS = "hepatitis"
    PREGNANCY = "pregnancy"
    GENETICS = "genetics"
    ONCOLOGY = "oncology"
    DRUG_THERAPY = "drug_therapy"
    TRANSPLANT = "transplant"
    PSYCHIATRY = "psychiatry"
    ADDICTION = "addiction"


@dataclass(frozen=True)
class Field:
    name: str
    type: pa.DataType
    category: Category
    description: str
    nullable: bool = True

    def arrow(self) -> pa.Field:
        return pa.field(
            self.name,
            self.type,
            nullable=self.nullable,
            metadata={"category": self.category.value, "description": self.description},
        )


@dataclass(frozen=True)
class Entity:
    name: str
    key: str
    fields: tuple[Field, ...]
    description: str

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([f.arrow() for f in self.fields], metadata={"entity": self.name})

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def projection(self, names: list[str] | tuple[str, ...]) -> pa.Schema:
        """The schema restricted to ``names`` (kept in model order), key always first."""
        wanted = set(names) | {self.key}
        return pa.schema([f.arrow() for f in self.fields if f.name in wanted], metadata={"entity": self.name})


_S, _TS, _D, _F = pa.string(), pa.timestamp("s"), pa.date32(), pa.float64()
I, C, K, T, O = (
    Category.IDENTITY,
    Category.CONTACT,
    Category.CLINICAL,
    Category.FREE_TEXT,
    Category.OPERATIONAL,
)

SITE = Entity(
    "site",
    "site_id",
    (
        Field("site_id", _S, O, "Site id in the source", nullable=False),
        Field("name", _S, O, "Site or laboratory name"),
        Field("city", _S, O, "Town of the site"),
        Field("finess", _S, O, "FINESS number of the site, where known"),
    ),
    "A collection or analysis site of the laboratory.",
)

PATIENT = Entity(
    "patient",
    "patient_id",
    (
        Field("patient_id", _S, O, "Patient id in the source", nullable=False),
        Field("nir", _S, I, "French social security number (NIR, 15 characters with key), validated"),
        Field("local_identifier", _S, I, "The lab's own patient number (file number, barcode)"),
        Field("birth_name", _S, I, "Birth (family) name"),
        Field("first_names", _S, I, "First names, space separated"),
        Field("sex", _S, I, "male, female, other or unknown (FHIR administrative gender)"),
        Field("birth_date", _D, I, "Date of birth"),
        Field("address_line", _S, C, "Street address"),
        Field("postal_code", _S, C, "Postal code"),
        Field("city", _S, C, "Town"),
        Field("phone", _S, C, "Phone number"),
        Field("email", _S, C, "E-mail address"),
    ),
    "A person whose specimens the laboratory analysed.",
)

PRACTITIONER = Entity(
    "practitioner",
    "practitioner_id",
    (
        Field("practitioner_id", _S, O, "Practitioner id (derived from the source)", nullable=False),
        Field("name", _S, I, "Name of the prescribing doctor"),
        Field("rpps", _S, I, "RPPS number (French practitioner register), where known"),
    ),
    "A prescribing doctor.",
)

ORDER = Entity(
    "order",
    "order_id",
    (
        Field("order_id", _S, O, "Order (request) id", nullable=False),
        Field("patient_id", _S, O, "The patient the order is for"),
        Field("practitioner_id", _S, O, "The prescriber"),
        Field("site_id", _S, O, "Where the order was received"),
        Field("ordered_at", _TS, O, "When the request was registered"),
        Field("accession", _S, O, "The lab's accession / request number"),
    ),
    "A request for one or more tests.",
)

SPECIMEN = Entity(
    "specimen",
    "specimen_id",
    (
        Field("specimen_id", _S, O, "Specimen id", nullable=False),
        Field("order_id", _S, O, "The order this specimen answers"),
        Field("patient_id", _S, O, "The patient the specimen was taken from"),
        Field("type_code", _S, K, "Specimen type code in the source"),
        Field("type_name", _S, K, "Specimen type (serum, whole blood, urine, ...)"),
        Field("collected_at", _TS, K, "When the specimen was collected"),
        Field("received_at", _TS, O, "When the lab received it"),
        Field("site_id", _S, O, "Where it was collected"),
        Field("comment", _S, T, "Free-text comment on the specimen"),
    ),
    "A sample taken from a patient.",
)

RESULT = Entity(
    "result",
    "result_id",
    (
        Field("result_id", _S, O, "Result id (one per test and measure)", nullable=False),
        Field("report_id", _S, O, "Groups the results reported together (one test of one order)"),
        Field("order_id", _S, O, "The order"),
        Field("specimen_id", _S, O, "The specimen analysed"),
        Field("patient_id", _S, O, "The patient"),
        Field("site_id", _S, O, "Site of the specimen (denormalised for scoping)"),
        Field("collected_at", _TS, K, "Collection time of the specimen (denormalised for scoping)"),
        Field("test_code", _S, K, "Local test (test type) code"),
        Field("test_name", _S, K, "Local test name"),
        Field("measure_code", _S, K, "Local code of the measured analyte"),
        Field("measure_name", _S, K, "Name of the measured analyte"),
        Field("loinc", _S, K, "LOINC code where the profile maps it"),
        Field("sensitivity", pa.list_(_S), K, "Sensitivity tags of the test (hiv, pregnancy, ...)"),
        Field("value_type", _S, K, "numeric, coded or text"),
        Field("value_numeric", _F, K, "Numeric value"),
        Field("value_text", _S, K, "Coded or text value as written by the lab"),
        Field("unit", _S, K, "UCUM unit"),
        Field("reference_low", _F, K, "Lower bound of the reference range"),
        Field("reference_high", _F, K, "Upper bound of the reference range"),
        Field("reference_text", _S, K, "Reference range as text (coded ranges)"),
        Field("abnormal_flag", _S, K, "L, H or N against the reference range; A for abnormal coded values"),
        Field("status", _S, O, "final, preliminary or registered"),
        Field("result_at", _TS, K, "When the result was produced"),
        Field("validated_at", _TS, O, "When a biologist validated it"),
        Field("validator", _S, O, "Who validated it (staff id in the source)"),
        Field("comment", _S, T, "Free-text comment on the result"),
    ),
    "One measured value of one test on one specimen.",
)

#: Entities in load order: referenced before referencing.
ENTITIES: dict[str, Entity] = {
    e.name: e for e in (SITE, PATIENT, PRACTITIONER, ORDER, SPECIMEN, RESULT)
}


def entity(name: str) -> Entity:
    try:
        return ENTITIES[name]
    except KeyError:
        raise KeyError(f"unknown entity {name!r}; the model has {', '.join(ENTITIES)}") from None


def category_of(field: pa.Field) -> Category:
    """The data category recorded in a schema field's metadata."""
    return Category(field.metadata[b"category"].decode())
