"""Canonical entities as FHIR R4 resources, built column-wise with polars expressions.

Each mapper takes a frame holding every field of its entity (fields the mandate
excluded are all-null columns) and returns a frame with the resource's ``id``
and the resource itself as a ``resource`` struct. Absent values come out as
JSON nulls, empty lists or empty objects, which :func:`to_ndjson` strips, since
FHIR forbids them. References go through :class:`Mapping.reference`, which
yields null for a resource that is not in the output, so no reference dangles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

import polars as pl

from airlock.targets.fhir_ids import fhir_id

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"
RPPS = "urn:oid:1.2.250.1.71.4.2.1"
FINESS = "urn:oid:1.2.250.1.71.4.2.2"
SENSITIVITY = "urn:airlock:sensitivity"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

REFERENCE = pl.Struct({"reference": pl.String})
EXTENSIONS = pl.List(pl.Struct({"url": pl.String, "valueCode": pl.String}))


@dataclass(frozen=True)
class Mapping:
    """What a mapper needs besides the rows."""

    #: ``reference(entity, column)``: a Reference struct to the written resource, else null.
    reference: Callable[[str, str], pl.Expr]
    #: The lab's wall-clock time zone: canonical timestamps are naive local times.
    timezone: str
    #: Prefix of the code and identifier systems local to the source lab.
    local_system: str

    def system(self, what: str) -> pl.Expr:
        return pl.lit(f"{self.local_system}:{what}")

    def datetime(self, column: str) -> pl.Expr:
        """A FHIR dateTime / instant with offset.

        A repeated hour (autumn DST change) is read as the first one; a skipped
        hour (spring) moves one hour on, as clocks did.
        """
        c = pl.col(column)
        local = c.dt.replace_time_zone(self.timezone, ambiguous="earliest", non_existent="null")
        shifted = (c + pl.duration(hours=1)).dt.replace_time_zone(
            self.timezone, ambiguous="earliest", non_existent="null"
        )
        return pl.coalesce(local, shifted).dt.to_string("%Y-%m-%dT%H:%M:%S%:z")


def listed(*items: pl.Expr) -> pl.Expr:
    """A JSON array of the items that are not null (null when none is), for the few items of a FHIR array.

    One branch per combination of present items, largest first: polars builds
    fixed-size lists fast, while dropping nulls from lists of structs is slow.
    """
    chain = None
    for size in range(len(items), 0, -1):
        for subset in combinations(items, size):
            present_all = pl.all_horizontal(i.is_not_null() for i in subset)
            as_list = pl.concat_arr(subset).arr.to_list()
            chain = pl.when(present_all).then(as_list) if chain is None else chain.when(present_all).then(as_list)
    assert chain is not None, "listed() needs at least one item"
    return chain


def present(*columns: str) -> pl.Expr:
    return pl.any_horizontal(pl.col(c).is_not_null() for c in columns)


def _coding(system: pl.Expr | str, code: pl.Expr, display: pl.Expr | None = None) -> pl.Expr:
    system = pl.lit(system) if isinstance(system, str) else system
    display = pl.lit(None, pl.String) if display is None else display  # one shape for every coding of a list
    return pl.when(code.is_not_null()).then(pl.struct(system=system, code=code, display=display))


def _identifier(system: pl.Expr | str, column: str, **extra: pl.Expr) -> pl.Expr:
    system = pl.lit(system) if isinstance(system, str) else system
    return pl.when(pl.col(column).is_not_null()).then(pl.struct(**extra, system=system, value=pl.col(column)))


def _note(column: str) -> pl.Expr:
    return listed(pl.when(pl.col(column).is_not_null()).then(pl.struct(text=pl.col(column))))


def _masked() -> pl.Expr:
    """A required element withheld under the mandate (data-absent-reason ``masked``)."""
    return pl.lit([{"url": DATA_ABSENT_REASON, "valueCode": "masked"}])


def _concept_or_masked(codings: pl.Expr, text: pl.Expr) -> pl.Expr:
    """A CodeableConcept (required where used), marked masked when the mandate left out all its parts."""
    return (
        pl.when(codings.is_not_null() | text.is_not_null())
        .then(pl.struct(coding=codings, text=text, extension=pl.lit(None, EXTENSIONS)))
        .otherwise(pl.struct(coding=codings, text=text, extension=_masked()))
    )


def _resources(rows: pl.DataFrame, resource_type: str, key: str, **fields: pl.Expr) -> pl.DataFrame:
    return rows.with_columns(id=fhir_id(key)).select(
        "id", resource=pl.struct(resourceType=pl.lit(resource_type), id=pl.col("id"), **fields)
    )


def organization(sites: pl.DataFrame, m: Mapping) -> pl.DataFrame:
    # The site id is always there, so an Organization always has a name or an identifier (org-1).
    return _resources(
        sites,
        "Organization",
        "site_id",
        identifier=listed(_identifier(FINESS, "finess"), _identifier(m.system("site"), "site_id")),
        name=pl.col("name"),
        address=listed(pl.when(present("city")).then(pl.struct(city=pl.col("city"), country=pl.lit("FR")))),
    )


def patient(patients: pl.DataFrame, m: Mapping) -> pl.DataFrame:
    address = pl.struct(
        line=listed(pl.col("address_line")),
        postalCode=pl.col("postal_code"),
        city=pl.col("city"),
        country=pl.lit("FR"),
    )
    given = pl.col("first_names").str.split(" ").list.eval(pl.element().filter(pl.element() != ""))
    return _resources(
        patients,
        "Patient",
        "patient_id",
        identifier=listed(
            _identifier(INS_NIR, "nir", use=pl.lit("official")),
            _identifier(m.system("patient"), "local_identifier", use=pl.lit("usual")),
        ),
        name=listed(
            pl.when(present("birth_name", "first_names")).then(
                pl.struct(use=pl.lit("official"), family=pl.col("birth_name"), given=given)
            )
        ),
        telecom=listed(
            _identifier(pl.lit("phone"), "phone"),
            _identifier(pl.lit("email"), "email"),
        ),
        gender=pl.when(pl.col("sex").is_in(["male", "female", "other", "unknown"])).then(pl.col("sex")),
        birthDate=pl.col("birth_date").dt.to_string("%Y-%m-%d"),
        address=listed(pl.when(present("address_line", "postal_code", "city")).then(address)),
    )


def practitioner(practitioners: pl.DataFrame, m: Mapping) -> pl.DataFrame:
    return _resources(
        practitioners,
        "Practitioner",
        "practitioner_id",
        identifier=listed(_identifier(RPPS, "rpps")),
        name=listed(pl.when(present("name")).then(pl.struct(text=pl.col("name")))),
    )


def service_request(orders: pl.DataFrame, m: Mapping) -> pl.DataFrame:
    accession_type = pl.struct(coding=pl.concat_list(pl.struct(system=pl.lit(IDENTIFIER_TYPE), code=pl.lit("ACSN"))))
    subject = m.reference("patient", "patient_id")
    return _resources(
        orders,
        "ServiceRequest",
        "order_id",
        identifier=listed(_identifier(m.system("accession"), "accession", type=accession_type)),
        status=pl.lit("completed"),
        intent=pl.lit("order"),
        # subject is required: when the Patient is not in the output, say it is withheld.
        subject=pl.when(subject.is_not_null())
        .then(subject.struct.with_fields(extension=pl.lit(None, EXTENSIONS)))
        .otherwise(pl.struct(reference=pl.lit(None, pl.String), extension=_masked())),
        authoredOn=m.datetime("ordered_at"),
        requester=m.reference("practitioner", "practitioner_id"),
        performer=listed(m.reference("site", "site_id")),
    )


def specimen(specimens: pl.DataFrame, m: Mapping) -> pl.DataFrame:
    kind = pl.struct(
        coding=listed(_coding(m.system("specimen-type"), pl.col("type_code"), pl.col("type_name"))),
        text=pl.col("type_name"),
    )
    return _resources(
        specimens,
        "Specimen",
        "specimen_id",
        type=kind,
        subject=m.reference("patient", "patient_id"),
        receivedTime=m.datetime("received_at"),
        request=listed(m.reference("order", "order_id")),
        collection=pl.struct(collectedDateTime=m.datetime("collected_at")),
        note=_note("comment"),
    )


def _quantity(column: str) -> pl.Expr:
    unit = pl.col("unit")
    return pl.when(pl.col(column).is_not_null()).then(
        pl.struct(
            value=pl.col(column),
            unit=unit,
            system=pl.when(unit.is_not_null()).then(pl.lit(UCUM)),
            code=unit,
        )
    )


def observation(results: pl.DataFrame, m: Mapping) -> pl.DataFrame:
    numeric = (pl.col("value_type") == "numeric") & pl.col("value_numeric").is_not_null()
    codings = listed(
        _coding(LOINC, pl.col("loinc")),
        _coding(m.system("measure"), pl.col("measure_code"), pl.col("measure_name")),
    )
    flag = pl.col("abnormal_flag")
    return _resources(
        results.with_columns(pl.col("value_numeric", "reference_low", "reference_high").fill_nan(None)),
        "Observation",
        "result_id",
        meta=pl.struct(
            tag=pl.col("sensitivity").list.drop_nulls().list.eval(
                pl.struct(system=pl.lit(SENSITIVITY), code=pl.element())
            )
        ),
        basedOn=listed(m.reference("order", "order_id")),
        status=pl.when(pl.col("status").is_in(["final", "preliminary", "registered"]))
        .then(pl.col("status"))
        .otherwise(pl.lit("unknown")),
        category=pl.lit([{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory"}]}]),
        code=_concept_or_masked(codings, pl.col("measure_name")),
        subject=m.reference("patient", "patient_id"),
        effectiveDateTime=m.datetime("collected_at"),
        issued=m.datetime("result_at"),
        valueQuantity=pl.when(numeric).then(_quantity("value_numeric")),
        valueString=pl.when(~numeric).then(pl.col("value_text")),
        interpretation=listed(
            pl.when(flag.is_in(["L", "H", "N", "A"])).then(
                pl.struct(coding=pl.concat_list(pl.struct(system=pl.lit(INTERPRETATION), code=flag)))
            )
        ),
        note=_note("comment"),
        specimen=m.reference("specimen", "specimen_id"),
        referenceRange=listed(
            pl.when(present("reference_low", "reference_high", "reference_text")).then(
                pl.struct(
                    low=_quantity("reference_low"),
                    high=_quantity("reference_high"),
                    text=pl.col("reference_text"),
                )
            )
        ),
    )


def diagnostic_report(results: pl.DataFrame, m: Mapping) -> pl.DataFrame:
    """One DiagnosticReport per ``report_id`` of this batch, over the Observations of the batch.

    The source keeps all results of one report in the same batch, so grouping
    within a batch is grouping over the whole load.
    """
    status = pl.col("status").fill_null("unknown")
    reports = (
        results.filter(pl.col("report_id").is_not_null())
        .with_columns(observation=pl.struct(reference=pl.lit("Observation/") + fhir_id("result_id")))
        .group_by("report_id", maintain_order=True)
        .agg(
            pl.col("test_code", "test_name", "patient_id", "specimen_id", "order_id").drop_nulls().first(),
            pl.col("collected_at").min(),
            pl.col("result_at").max(),
            pl.col("observation"),
            status=pl.when((status == "final").all())
            .then(pl.lit("final"))
            .when((status == "preliminary").all())
            .then(pl.lit("preliminary"))
            .when((status == "registered").all())
            .then(pl.lit("registered"))
            .when(status.is_in(["final", "preliminary", "registered"]).all())
            .then(pl.lit("partial"))
            .otherwise(pl.lit("unknown")),
        )
    )
    codings = listed(_coding(m.system("test"), pl.col("test_code"), pl.col("test_name")))
    return _resources(
        reports,
        "DiagnosticReport",
        "report_id",
        basedOn=listed(m.reference("order", "order_id")),
        status=pl.col("status"),
        category=pl.lit([{"coding": [{"system": DIAGNOSTIC_SERVICE, "code": "LAB"}]}]),
        code=_concept_or_masked(codings, pl.col("test_name")),
        subject=m.reference("patient", "patient_id"),
        effectiveDateTime=m.datetime("collected_at"),
        issued=m.datetime("result_at"),
        specimen=listed(m.reference("specimen", "specimen_id")),
        result=pl.col("observation"),
    )


# A key always follows "{" or ",": inside a JSON string every quote is escaped, so these never match text.
_EMPTY = r'"[A-Za-z]+":(?:null|\{\}|\[\])'
_EMPTY_AFTER_COMMA = "," + _EMPTY
_EMPTY_FIRST = r"\{" + _EMPTY + ",?"


def resource_json(resources: pl.DataFrame) -> pl.Series:
    """One JSON text per resource, without the nulls, empty arrays and empty objects FHIR forbids.

    >>> frame = pl.DataFrame({"resource": [{"id": "1", "note": None, "meta": {"tag": []}, "gender": "male"}]})
    >>> resource_json(frame).to_list()
    ['{"id":"1","gender":"male"}']
    """
    text = resources.get_column("resource").struct.json_encode()
    while True:  # an emptied object or array empties its parent: one pass per level
        stripped = text.str.replace_all(_EMPTY_AFTER_COMMA, "").str.replace_all(_EMPTY_FIRST, "{")
        if stripped.str.len_bytes().sum() == text.str.len_bytes().sum():
            return stripped
        text = stripped
