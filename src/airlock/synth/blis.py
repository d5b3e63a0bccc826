"""A synthetic C4G BLIS 1.27 laboratory database of French patients, in SQLite or MariaDB.

Everything is drawn column-wise from one seed: the same seed gives the same
rows, byte for byte. Patients are made in chunks of ``CHUNK`` (each chunk with
its own generator, derived from the seed and the chunk number), so memory stays
bounded however many patients are asked for.

What it holds, BLIS style:

- ``patient``: name as "First Last" in one column, sex, date of birth, lab file
  number (``addl_id``) and local id (``surr_id``); French identity and contact
  data in custom fields ``NIR``, ``Adresse``, ``Code postal``, ``Ville``,
  ``Téléphone``, ``Email`` (``patient_custom_field`` ids 1..6). The first two
  patients are born in Corsica (2A, then 2B), so every database of two or more
  patients exercises the Corsican NIR key.
- ``specimen``: 1 to 8 per patient (about 3), collected 2015-01-01..2020-12-31,
  with the prescriber's name, the site and, now and then, a comment.
- ``test``: 1 to 4 per specimen, from ``catalogue.TEST_TYPES``; ``result``
  packs one value per measure (ascending ``measure_id``) and a 40-hex checksum,
  joined by ","; about 15% are pending (``''``).
- ``user``: lab staff with a 40-hex sha1 or 32-hex md5 in ``password``: the
  credentials a migration must never extract.

>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     s = generate(f"sqlite:///{pathlib.Path(d) / 'blis.db'}", patients=20, seed=1)
>>> s.counts["patient"], s.counts["patient_custom_field"]
(20, 6)
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import polars as pl

from airlock.errors import AirlockError
from airlock.synth import catalogue, notes
from airlock.synth.bulk import BulkLoader
from airlock.synth.people import DEPARTMENTS, TOWNS, Pools, ascii_slug, nirs, phones

CHUNK = 20_000
CUSTOM_FIELDS = ("NIR", "Adresse", "Code postal", "Ville", "Téléphone", "Email")
FIRST_DAY = np.datetime64("2015-01-01")
DAYS = int((np.datetime64("2020-12-31") - FIRST_DAY).astype(np.int64)) + 1
PENDING = 0.15  # share of tests without a result yet
STAFF = 36
PRESCRIBERS = 300
LAB_ID = 1
# BLIS user levels: 0 technician, 1 read-only technician, 2 administrator, 5 clerk.
LEVELS = np.array([0, 1, 5])


@dataclass(frozen=True)
class Summary:
    """What ``generate`` wrote: rows per table, packed result values, and the time it took."""

    counts: Mapping[str, int]
    results: int
    seconds: float


def generate(url: str, patients: int, seed: int, sites: int = 28, *, progress: Callable[[int], None] | None = None) -> Summary:
    """Write a BLIS database of ``patients`` synthetic patients at ``url`` (an empty SQLite file or MariaDB database).

    ``progress`` is called with the number of patients written after each chunk.
    """
    if patients < 1:
        raise AirlockError(f"--patients must be at least 1 (got {patients})")
    if seed < 0:
        raise AirlockError(f"--seed must be zero or positive (got {seed})")
    if not 1 <= sites <= len(TOWNS):
        raise AirlockError(f"--sites must be between 1 and {len(TOWNS)} (got {sites})")
    started = time.perf_counter()
    pools = Pools.draw(seed)
    lab = _Lab(np.random.default_rng([seed, 0]), pools, sites)
    counts: dict[str, int] = {}
    results = 0

    def write(db: BulkLoader, tables: Mapping[str, pl.DataFrame]) -> None:
        for table, frame in tables.items():
            db.append(table, frame)
            counts[table] = counts.get(table, 0) + frame.height

    with BulkLoader(url) as db:
        write(db, lab.tables())
        db.commit()
        ids = _Ids()
        for chunk, start in enumerate(range(0, patients, CHUNK)):
            n = min(CHUNK, patients - start)
            tables, packed = _patients(np.random.default_rng([seed, 1, chunk]), pools, lab, start + 1, n, ids)
            write(db, tables)
            db.commit()
            results += packed
            if progress is not None:
                progress(n)
    return Summary(MappingProxyType(counts), results, time.perf_counter() - started)


@dataclass
class _Ids:
    """Next free id of the tables whose rows are numbered across chunks."""

    specimen: int = 1
    test: int = 1
    custom: int = 1


class _Lab:
    """The laboratory's fixed data: sites, staff, prescribers and the test catalogue."""

    def __init__(self, rng: np.random.Generator, pools: Pools, sites: int):
        self.sites = sites
        # A few big sites, many small ones.
        weight = 1 / np.arange(1, sites + 1) ** 0.8
        self.site_weight = weight / weight.sum()
        self.town_department = np.array([DEPARTMENTS.index(t.department) for t in TOWNS])
        self.staff = self._staff(rng, pools)
        sex = np.where(rng.random(PRESCRIBERS) < 0.5, "F", "M")
        self.prescribers = "Dr " + pools.first_names(rng, sex) + " " + pools.last.gather(rng.integers(0, len(pools.last), PRESCRIBERS))
        self.test_types = catalogue.TEST_TYPES
        self.measure_ids: list[np.ndarray] = []
        next_measure = 1
        for t in self.test_types:
            self.measure_ids.append(np.arange(next_measure, next_measure + len(t.measures)))
            next_measure += len(t.measures)
        self.measures_per_type = np.array([len(t.measures) for t in self.test_types])
        # Specimen types are drawn as often as the tests made on them.
        by_specimen = np.array([sum(t.weight for t in self.test_types if t.specimen == s) for s in catalogue.SPECIMEN_TYPES])
        self.specimen_weight = by_specimen / by_specimen.sum()

    def _staff(self, rng: np.random.Generator, pools: Pools) -> pl.DataFrame:
        sex = np.where(rng.random(STAFF) < 0.7, "F", "M")
        first = pools.first_names(rng, sex)
        last = pools.last.gather(rng.integers(0, len(pools.last), STAFF))
        usernames: list[str] = []
        for f, la in zip(first, last, strict=True):  # a few dozen rows: not a hot path
            name = ascii_slug(f)[0] + ascii_slug(la)
            usernames.append(name if name not in usernames else f"{name}{len(usernames)}")
        secrets = rng.bytes(16 * STAFF)
        # Legacy mess: most passwords are unsalted sha1, some older ones md5 (hashes of random bytes, no real password).
        passwords = [
            (hashlib.md5 if i % 4 == 3 else hashlib.sha1)(secrets[16 * i : 16 * i + 16]).hexdigest() for i in range(STAFF)
        ]
        domain = f"@labo-{ascii_slug(TOWNS[0].name)}.fr"
        level = LEVELS[rng.integers(0, len(LEVELS), STAFF)]
        level[0] = 2  # the administrator
        return pl.DataFrame(
            {
                "user_id": np.arange(1, STAFF + 1),
                "username": usernames,
                "password": passwords,
                "actualname": first + " " + last,
                "email": [u + domain for u in usernames],
                "created_by": np.ones(STAFF, dtype=np.int64),
                "ts": "2014-12-01 09:00:00",
                "lab_config_id": LAB_ID,
                "level": level,
                "phone": phones(rng, STAFF),
                "lang_id": "fr",
            }
        )

    def tables(self) -> dict[str, pl.DataFrame]:
        ts = "2014-12-01 09:00:00"
        towns = TOWNS[: self.sites]
        types = self.test_types
        measures = [m for t in types for m in t.measures]
        measure_ids = np.concatenate(self.measure_ids)
        numeric = [(int(i), m.scale) for i, m in zip(measure_ids, measures, strict=True) if isinstance(m.scale, catalogue.Numeric)]
        return {
            "lab_config": pl.DataFrame(
                {"lab_config_id": [LAB_ID], "name": ["Laboratoire de biologie médicale"], "location": [TOWNS[0].name],
                 "admin_user_id": [1], "db_name": [f"blis_{LAB_ID}"], "dformat": ["d-m-Y"]}
            ),  # fmt: skip
            "sites": pl.DataFrame(
                {
                    "id": range(1, self.sites + 1),
                    "name": [f"Laboratoire {t.name}" for t in towns],
                    "lab_id": LAB_ID,
                    "Region": [t.region for t in towns],
                    "District": [t.name for t in towns],
                }
            ),
            "user": self.staff,
            "patient_custom_field": pl.DataFrame(
                {"id": range(1, 7), "field_name": CUSTOM_FIELDS, "field_options": "", "field_type_id": 1, "ts": ts}
            ),
            "specimen_type": pl.DataFrame(
                {"specimen_type_id": range(1, len(catalogue.SPECIMEN_TYPES) + 1), "name": catalogue.SPECIMEN_TYPES,
                 "description": "", "ts": ts, "disabled": 0}
            ),  # fmt: skip
            "test_category": pl.DataFrame(
                {"test_category_id": range(1, len(catalogue.CATEGORIES) + 1), "name": catalogue.CATEGORIES, "description": "", "ts": ts}
            ),
            "test_type": pl.DataFrame(
                {
                    "test_type_id": range(1, len(types) + 1),
                    "name": [t.name for t in types],
                    "description": "",
                    "test_category_id": [catalogue.CATEGORIES.index(t.category) + 1 for t in types],
                    "ts": ts,
                    "is_panel": [int(len(t.measures) > 1) for t in types],
                    "disabled": 0,
                }
            ),
            "measure": pl.DataFrame(
                {"measure_id": measure_ids, "name": [m.name for m in measures], "range": [m.range for m in measures],
                 "description": "", "ts": ts, "unit": [m.unit for m in measures]}
            ),  # fmt: skip
            "test_type_measure": pl.DataFrame(
                {"test_type_id": np.repeat(np.arange(1, len(types) + 1), self.measures_per_type), "measure_id": measure_ids, "ts": ts}
            ),
            "reference_range": pl.DataFrame(
                {
                    "id": range(1, len(numeric) + 1),
                    "measure_id": [i for i, _ in numeric],
                    "age_min": "0",
                    "age_max": "100",
                    "sex": "B",
                    "range_lower": [f"{s.low:.{s.decimals}f}" for _, s in numeric],
                    "range_upper": [f"{s.high:.{s.decimals}f}" for _, s in numeric],
                }
            ),
        }


def _days(day: np.ndarray) -> pl.Series:
    """'YYYY-MM-DD' of day numbers counted from FIRST_DAY."""
    return pl.Series((FIRST_DAY + day).astype("datetime64[D]")).cast(pl.String)


def _at(day: np.ndarray, minutes: np.ndarray) -> pl.Series:
    """'YYYY-MM-DD HH:MM:SS' of a day number and minutes since midnight."""
    moment = FIRST_DAY.astype("datetime64[m]") + day.astype("timedelta64[D]") + minutes.astype("timedelta64[m]")
    return pl.Series(moment.astype("datetime64[ms]")).dt.strftime("%Y-%m-%d %H:%M:%S")


def _working_minutes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(7 * 60, 19 * 60, n)


def _patients(
    rng: np.random.Generator, pools: Pools, lab: _Lab, first_id: int, n: int, ids: _Ids
) -> tuple[dict[str, pl.DataFrame], int]:
    """The rows of ``n`` patients numbered from ``first_id``, their specimens and tests; and the packed result count."""
    patient_id = np.arange(first_id, first_id + n)
    sex = np.where(rng.random(n) < 0.52, "F", "M")
    created = rng.integers(0, DAYS, n)
    age_days = (np.clip(rng.normal(48, 22, n), 0, 98) * 365.25).astype(np.int64) + rng.integers(0, 365, n)
    born = FIRST_DAY + (created - age_days).astype("timedelta64[D]")
    home_site = rng.choice(lab.sites, n, p=lab.site_weight)
    town = np.where(rng.random(n) < 0.75, home_site, rng.integers(0, len(TOWNS), n))
    birth_department = np.where(rng.random(n) < 0.5, lab.town_department[town], rng.integers(0, len(DEPARTMENTS), n))
    if first_id == 1:
        birth_department[:2] = [DEPARTMENTS.index("2A"), DEPARTMENTS.index("2B")][:n]
    first = pools.first_names(rng, sex)
    last = pools.last.gather(rng.integers(0, len(pools.last), n))
    nir = nirs(rng, sex, born, birth_department)
    phone = phones(rng, n)

    # Specimens: 1 to 8 per patient, the first on the day the patient was registered.
    per_patient = 1 + np.minimum(rng.poisson(2.0, n), 7)
    owner = np.repeat(np.arange(n), per_patient)
    m = len(owner)
    first_of_patient = np.r_[True, owner[1:] != owner[:-1]]
    day = created[owner] + (rng.random(m) * (DAYS - created[owner])).astype(np.int64)
    day[first_of_patient] = created[owner][first_of_patient]
    received = day + (rng.random(m) < 0.2)
    specimen_type = rng.choice(len(catalogue.SPECIMEN_TYPES), m, p=lab.specimen_weight)
    test_specimen, test_type = _tests(rng, lab, specimen_type, sex[owner])
    t = len(test_type)
    pending = rng.random(t) < PENDING
    # A specimen is reported when none of its tests is pending.
    reported = np.bincount(test_specimen, weights=pending, minlength=m) == 0
    report_day = received + rng.integers(1, 4, m)
    report_at = _at(report_day, _working_minutes(rng, m))
    specimen_id = np.arange(ids.specimen, ids.specimen + m)
    ids.specimen += m
    collected_minutes = _working_minutes(rng, m)
    # Received later the same day, or during the next working day.
    same_day = received == day
    received_at = _at(received, np.where(same_day, collected_minutes + rng.integers(10, 240, m), _working_minutes(rng, m)))
    created_at = received_at.filter(first_of_patient)  # a patient is registered with their first specimen
    site_id = np.where(rng.random(m) < 0.9, home_site[owner], rng.integers(0, lab.sites, m)) + 1
    regular_doctor = rng.integers(0, PRESCRIBERS, n)[owner]
    doctor = np.where(rng.random(m) < 0.8, regular_doctor, rng.integers(0, PRESCRIBERS, m))
    received_text = _days(received)
    specimen = pl.DataFrame(
        {
            "specimen_id": specimen_id,
            "patient_id": patient_id[owner],
            "specimen_type_id": specimen_type + 1,
            "user_id": rng.integers(1, STAFF + 1, m),
            "ts": received_at,
            "status_code_id": reported.astype(np.int64),
            "referred_to": 0,
            "comments": notes.free_text(rng, notes.SPECIMEN_NOTES, m, note=0.12, phone=phone.gather(owner), nir=nir.gather(owner)),
            "aux_id": "",
            "date_collected": _days(day),
            "date_recvd": received_text,
            "session_num": received_text.str.replace_all("-", "") + "-" + pl.Series(site_id).cast(pl.String),
            "time_collected": pl.Series(collected_minutes // 60).cast(pl.String).str.zfill(2)
            + ":"
            + pl.Series(collected_minutes % 60).cast(pl.String).str.zfill(2),
            "report_to": 1,
            "doctor": lab.prescribers.gather(doctor),
            "date_reported": pl.select(pl.when(pl.lit(pl.Series(reported))).then(pl.lit(report_at))).to_series(),
            "referred_to_name": "",
            "daily_num": "S" + pl.Series(specimen_id).cast(pl.String).str.zfill(7),
            "referred_from_name": "",
            "site_id": site_id,
        }
    )

    patient = pl.DataFrame(
        {
            "patient_id": patient_id,
            "addl_id": "D" + pl.Series(patient_id).cast(pl.String).str.zfill(8),
            "name": first + " " + last,
            "sex": sex,
            "dob": pl.Series(born).cast(pl.String),
            "created_by": rng.integers(1, STAFF + 1, n),
            "ts": created_at,
            # A local id of another numbering (BLIS "surrogate id").
            "surr_id": pl.Series(patient_id * 7 + 100_000_000).cast(pl.String),
        }
    )
    town_name = pl.Series([t.name for t in TOWNS]).gather(town)
    has_address = rng.random(n) < 0.92
    custom = [
        (nir, rng.random(n) < 0.95),
        (pools.streets.gather(rng.integers(0, len(pools.streets), n)), has_address),
        (pl.Series([t.postcode for t in TOWNS]).gather(town), has_address),
        (town_name, has_address),
        (phone, rng.random(n) < 0.88),
        (pools.emails(rng, first, last), rng.random(n) < 0.6),
    ]
    custom_data = (
        pl.concat(
            pl.DataFrame({"field_id": field_id, "patient_id": patient_id, "field_value": value, "ts": created_at}).filter(pl.Series(present))
            for field_id, (value, present) in enumerate(custom, start=1)
        )
        .sort("patient_id", "field_id")
        .with_row_index("id", offset=ids.custom)
        .with_columns(pl.col("id").cast(pl.Int64))
    )
    ids.custom += custom_data.height

    verified = ~pending & (rng.random(t) < 0.9)
    result, packed = _results(rng, lab, test_type, pending)
    test = pl.DataFrame(
        {
            "test_id": np.arange(ids.test, ids.test + t),
            "test_type_id": test_type + 1,
            "result": result,
            "comments": notes.free_text(rng, notes.TEST_NOTES, t, note=0.05, phone=None, nir=None),
            "user_id": rng.integers(1, STAFF + 1, t),
            "verified_by": np.where(verified, rng.integers(1, STAFF + 1, t), 0),
            "ts": received_at.gather(test_specimen),
            "specimen_id": specimen_id[test_specimen],
            "date_verified": pl.select(pl.when(pl.lit(pl.Series(verified))).then(pl.lit(report_at.gather(test_specimen)))).to_series(),
        }
    )
    ids.test += t
    return {"patient": patient, "patient_custom_data": custom_data, "specimen": specimen, "test": test}, packed


def _tests(rng: np.random.Generator, lab: _Lab, specimen_type: np.ndarray, sex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1 to 4 distinct tests per specimen, of its specimen type and the patient's sex: (specimen index, test type index)."""
    wanted = rng.choice(np.arange(1, 5), len(specimen_type), p=[0.15, 0.3, 0.3, 0.25])
    specimens, types = [], []
    for s, name in enumerate(catalogue.SPECIMEN_TYPES):  # a handful of specimen types
        rows = np.flatnonzero(specimen_type == s)
        candidates = [i for i, t in enumerate(lab.test_types) if t.specimen == name]
        weight = np.array([lab.test_types[i].weight for i in candidates])
        # Weighted draws without replacement: the top keys of log(weight) + Gumbel noise.
        key = np.log(weight) + rng.gumbel(size=(len(rows), len(candidates)))
        for j, i in enumerate(candidates):
            if lab.test_types[i].sex is not None:
                key[sex[rows] != lab.test_types[i].sex, j] = -np.inf
        order = np.argsort(-key, axis=1, kind="stable")
        count = np.minimum(wanted[rows], np.isfinite(key).sum(axis=1))
        for rank in range(min(4, len(candidates))):
            take = count > rank
            specimens.append(rows[take])
            types.append(np.asarray(candidates)[order[take, rank]])
    specimen = np.concatenate(specimens)
    by_specimen = np.argsort(specimen, kind="stable")
    return specimen[by_specimen], np.concatenate(types)[by_specimen]


def _results(rng: np.random.Generator, lab: _Lab, test_type: np.ndarray, pending: np.ndarray) -> tuple[pl.Series, int]:
    """test.result of each test ('' when pending) and the number of values packed in them."""
    # BLIS appends a sha1 to the packed values; random 40-hex digits have its shape without hashing row by row.
    checksum = np.frombuffer(rng.bytes(20 * len(test_type)).hex().encode(), dtype="S40").astype("U40")
    result = pl.Series("result", [""] * len(test_type), dtype=pl.String)
    for i, t in enumerate(lab.test_types):  # a few dozen test types
        rows = np.flatnonzero((test_type == i) & ~pending)
        if len(rows) == 0:
            continue
        parts = pl.DataFrame([_values(rng, m.scale, len(rows)).alias(str(j)) for j, m in enumerate(t.measures)])
        parts = parts.with_columns(checksum=pl.Series(checksum[rows]))
        result.scatter(rows, parts.select(pl.concat_str(pl.all(), separator=",")).to_series())
    return result, int(lab.measures_per_type[test_type[~pending]].sum())


def _values(rng: np.random.Generator, scale: catalogue.Numeric | catalogue.Coded, n: int) -> pl.Series:
    if isinstance(scale, catalogue.Coded):
        p = np.array(scale.weights) / sum(scale.weights)
        return pl.Series(scale.options).gather(rng.choice(len(p), n, p=p))
    span = scale.high - scale.low
    value = rng.normal((scale.low + scale.high) / 2, span / 4, n)
    # About one value in ten is clearly out of range, most often high.
    out = np.flatnonzero(rng.random(n) < 0.1)
    high = rng.random(len(out)) < 0.75
    distance = np.abs(rng.normal(0, span / 2, len(out)))
    value[out] = np.where(high, scale.high + distance, scale.low - distance)
    # Rounded as an integer of hundredths (or tenths...) so the text never depends on float printing.
    scaled = np.rint(np.maximum(value, 0) * 10**scale.decimals).astype(np.int64)
    whole = pl.Series(scaled // 10**scale.decimals).cast(pl.String)
    if scale.decimals == 0:
        return whole
    return whole + "." + pl.Series(scaled % 10**scale.decimals).cast(pl.String).str.zfill(scale.decimals)
