"""French identities built column-wise: names, NIRs, addresses, phones and e-mails.

Faker is called a few thousand times to fill *pools* (first names, family
names, streets); rows are then made by numpy indexing into the pools, so a
million patients cost no more Faker calls than a hundred.

NIRs carry a valid key, including for Corsica (2A/2B), whose key is computed
with 19/18 in place of the department:

>>> import numpy as np
>>> from stdnum.fr import nir
>>> rng = np.random.default_rng(1)
>>> born = np.array(["1980-07-14", "1955-02-01", "2001-12-31"], dtype="datetime64[D]")
>>> department = np.array([DEPARTMENTS.index("2A"), DEPARTMENTS.index("2B"), DEPARTMENTS.index("971")])
>>> numbers = nirs(rng, np.array(["M", "F", "F"]), born, department)
>>> [n[5:7] for n in numbers], all(nir.is_valid(n) for n in numbers)
(['2A', '2B', '97'], True)
>>> numbers[0][:5]
'18007'
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import polars as pl
from faker import Faker


@dataclass(frozen=True)
class Town:
    name: str
    postcode: str
    department: str
    region: str


# Real towns: sites are named after the first ones, and patients live in them.
# fmt: off
TOWNS: tuple[Town, ...] = (
    Town("Lyon", "69003", "69", "Auvergne-Rhône-Alpes"), Town("Marseille", "13005", "13", "Provence-Alpes-Côte d'Azur"),
    Town("Lille", "59000", "59", "Hauts-de-France"), Town("Toulouse", "31000", "31", "Occitanie"),
    Town("Nantes", "44000", "44", "Pays de la Loire"), Town("Strasbourg", "67000", "67", "Grand Est"),
    Town("Bordeaux", "33000", "33", "Nouvelle-Aquitaine"), Town("Rennes", "35000", "35", "Bretagne"),
    Town("Montpellier", "34000", "34", "Occitanie"), Town("Nice", "06000", "06", "Provence-Alpes-Côte d'Azur"),
    Town("Grenoble", "38000", "38", "Auvergne-Rhône-Alpes"), Town("Dijon", "21000", "21", "Bourgogne-Franche-Comté"),
    Town("Angers", "49000", "49", "Pays de la Loire"), Town("Reims", "51100", "51", "Grand Est"),
    Town("Le Havre", "76600", "76", "Normandie"), Town("Saint-Étienne", "42000", "42", "Auvergne-Rhône-Alpes"),
    Town("Toulon", "83000", "83", "Provence-Alpes-Côte d'Azur"), Town("Brest", "29200", "29", "Bretagne"),
    Town("Limoges", "87000", "87", "Nouvelle-Aquitaine"), Town("Tours", "37000", "37", "Centre-Val de Loire"),
    Town("Amiens", "80000", "80", "Hauts-de-France"), Town("Metz", "57000", "57", "Grand Est"),
    Town("Besançon", "25000", "25", "Bourgogne-Franche-Comté"), Town("Perpignan", "66000", "66", "Occitanie"),
    Town("Orléans", "45000", "45", "Centre-Val de Loire"), Town("Caen", "14000", "14", "Normandie"),
    Town("Ajaccio", "20000", "2A", "Corse"), Town("Bastia", "20200", "2B", "Corse"),
    Town("Clermont-Ferrand", "63000", "63", "Auvergne-Rhône-Alpes"), Town("Rouen", "76000", "76", "Normandie"),
    Town("Nancy", "54000", "54", "Grand Est"), Town("Poitiers", "86000", "86", "Nouvelle-Aquitaine"),
    Town("Pau", "64000", "64", "Nouvelle-Aquitaine"), Town("La Rochelle", "17000", "17", "Nouvelle-Aquitaine"),
    Town("Avignon", "84000", "84", "Provence-Alpes-Côte d'Azur"), Town("Créteil", "94000", "94", "Île-de-France"),
    Town("Versailles", "78000", "78", "Île-de-France"), Town("Saint-Denis", "93200", "93", "Île-de-France"),
    Town("Paris", "75011", "75", "Île-de-France"), Town("Fort-de-France", "97200", "972", "Martinique"),
)
# fmt: on

#: Birth departments of NIRs: metropolitan (Corsica as 2A/2B), overseas, and 99 (born abroad).
DEPARTMENTS: tuple[str, ...] = (
    *(f"{d:02d}" for d in range(1, 96) if d != 20),
    "2A", "2B", "971", "972", "973", "974", "976", "99",
)  # fmt: skip
# The NIR key treats 2A as 19 and 2B as 18; overseas departments take three digits and leave two for the commune.
_KEY_DEPARTMENT = np.array([{"2A": 19, "2B": 18}.get(d, None) or int(d) for d in DEPARTMENTS], dtype=np.int64)
_THREE_DIGITS = np.array([len(d) == 3 for d in DEPARTMENTS])
_CORSICA = pl.Series([d if d in ("2A", "2B") else None for d in DEPARTMENTS], dtype=pl.String)

EMAIL_DOMAINS = ("orange.fr", "free.fr", "laposte.net", "gmail.com", "hotmail.fr", "yahoo.fr", "sfr.fr", "wanadoo.fr")
# Compound first names are mostly built on these ("Marie-Claire", "Jean-Luc").
COMPOUND_PREFIX = {"F": ("Marie", "Anne"), "M": ("Jean", "Pierre")}
MAX_NAME = 14  # keeps "First-Name Family" within BLIS's varchar(45)


def nirs(rng: np.random.Generator, sex: np.ndarray, born: np.ndarray, department: np.ndarray) -> pl.Series:
    """Valid 15-character NIRs for people of ``sex`` ('M'/'F'), born on ``born`` in ``DEPARTMENTS[department]``."""
    n = len(sex)
    year = born.astype("datetime64[Y]").astype(np.int64) + 1970
    month = born.astype("datetime64[M]").astype(np.int64) % 12 + 1
    three = _THREE_DIGITS[department]
    commune = np.where(three, rng.integers(1, 100, n), rng.integers(1, 991, n))
    place = np.where(three, _KEY_DEPARTMENT[department] * 100, _KEY_DEPARTMENT[department] * 1000) + commune
    order = rng.integers(1, 1000, n)
    sex_digit = np.where(sex == "M", 1, 2)
    number = sex_digit * 10**12 + (year % 100) * 10**10 + month * 10**8 + place * 10**3 + order
    key = 97 - number % 97
    digits = pl.Series(number).cast(pl.String).str.zfill(13)
    corsica = _CORSICA.gather(department)
    body = pl.select(
        pl.when(corsica.is_not_null())
        .then(pl.concat_str(digits.str.slice(0, 5), corsica, digits.str.slice(7)))
        .otherwise(digits)
    ).to_series()
    return body + pl.Series(key).cast(pl.String).str.zfill(2)


def phones(rng: np.random.Generator, n: int) -> pl.Series:
    """French phone numbers, written the several ways people type them ("06 12 34 56 78", "+33 6 ...", "0612345678")."""
    prefix = rng.choice(np.array([1, 2, 3, 4, 5, 6, 7, 9]), n, p=[0.08, 0.06, 0.06, 0.08, 0.06, 0.42, 0.2, 0.04])
    pairs = [pl.Series(rng.integers(0, 100, n)).cast(pl.String).str.zfill(2) for _ in range(4)]
    lead = pl.Series(prefix).cast(pl.String)
    style = pl.Series(rng.choice(3, n, p=[0.7, 0.15, 0.15]))
    return pl.select(
        pl.when(style == 0)
        .then(pl.concat_str([pl.lit("0") + lead, *pairs], separator=" "))
        .when(style == 1)
        .then(pl.concat_str([pl.lit("+33"), lead, *pairs], separator=" "))
        .otherwise(pl.concat_str([pl.lit("0") + lead, *pairs]))
    ).to_series()


def ascii_slug(name: str) -> str:
    """The name as it appears in an e-mail address.

    >>> ascii_slug("Hélène-Françoise")
    'helene-francoise'
    """
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().replace(" ", "")


def _slugs(names: pl.Series) -> pl.Series:
    # Names repeat a lot: slug each distinct name once.
    distinct = names.unique().to_list()
    return names.replace_strict(distinct, [ascii_slug(v) for v in distinct], return_dtype=pl.String)


@dataclass(frozen=True)
class Pools:
    """Values pre-drawn from a seeded Faker fr_FR, combined per row by index."""

    first: dict[str, pl.Series]  # by sex
    last: pl.Series
    streets: pl.Series

    @classmethod
    def draw(cls, seed: int) -> Pools:
        fake = Faker("fr_FR")
        fake.seed_instance(seed)

        # dict.fromkeys de-duplicates in draw order, so pools depend on the seed only.
        def pool(draw, size: int, keep) -> pl.Series:  # type: ignore[no-untyped-def]
            return pl.Series([v for v in dict.fromkeys(draw() for _ in range(size)) if keep(v)], dtype=pl.String)

        short = lambda v: len(v) <= MAX_NAME and " " not in v  # noqa: E731
        return cls(
            first={"F": pool(fake.first_name_female, 2000, short), "M": pool(fake.first_name_male, 2000, short)},
            # The BLIS profile takes the last word of patient.name as the family name: no "Le Gall" here.
            last=pool(fake.last_name, 3000, short),
            streets=pool(fake.street_address, 5000, lambda v: len(v) <= 45),
        )

    def first_names(self, rng: np.random.Generator, sex: np.ndarray) -> pl.Series:
        """First names matching ``sex``, about 8% of them compound ("Marie-Claire")."""
        n = len(sex)
        out = pl.Series([None] * n, dtype=pl.String)
        for s in ("F", "M"):
            where = pl.Series(sex == s)
            pool, prefixes = self.first[s], pl.Series(COMPOUND_PREFIX[s])
            name = pool.gather(rng.integers(0, len(pool), n))
            compound = pl.Series(rng.random(n) < 0.08)
            prefix = prefixes.gather(rng.integers(0, len(prefixes), n))
            name = pl.select(pl.when(compound & (prefix != name)).then(prefix + "-" + name).otherwise(name)).to_series()
            out = pl.select(pl.when(where).then(name).otherwise(out)).to_series()
        return out

    def emails(self, rng: np.random.Generator, first: pl.Series, last: pl.Series) -> pl.Series:
        """Personal e-mail addresses derived from the person's name, within BLIS's varchar(45)."""
        n = len(first)
        f, la = _slugs(first), _slugs(last)
        sep = pl.Series(np.array([".", "_", ""])[rng.choice(3, n, p=[0.7, 0.1, 0.2])])
        suffix = pl.Series(np.where(rng.random(n) < 0.3, rng.integers(1, 99, n).astype(str), ""))
        domain = pl.Series(np.array(EMAIL_DOMAINS)[rng.integers(0, len(EMAIL_DOMAINS), n)])
        full = f + sep + la + suffix + "@" + domain
        short = f.str.slice(0, 1) + "." + la + suffix + "@" + domain
        return pl.select(pl.when(full.str.len_chars() <= 45).then(full).otherwise(short)).to_series()
