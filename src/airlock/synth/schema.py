"""The C4G BLIS 1.27 tables the generator writes, in SQLAlchemy Core so one definition serves SQLite and MariaDB.

Table and column names, nullability and (on MariaDB) types follow
``db/structure/blis_127.sql``; only the tables a lab migration reads are made.
Rows are always inserted with explicit values, so server defaults never make
two runs differ.

>>> sorted(TABLES) == sorted(t.name for t in METADATA.sorted_tables)
True
>>> [c.name for c in TABLES["patient"].columns][:4]
['patient_id', 'addl_id', 'name', 'sex']
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# BLIS keys are unsigned on MariaDB; SQLite has a single integer type.
UINT = sa.Integer().with_variant(mysql.INTEGER(unsigned=True), "mysql", "mariadb")
LONGTEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

METADATA = sa.MetaData()
_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def _table(name: str, *columns: sa.Column | sa.Index) -> sa.Table:
    return sa.Table(name, METADATA, *columns, **_OPTIONS)


def _ts() -> sa.Column:
    return sa.Column("ts", sa.TIMESTAMP, nullable=False, server_default=sa.func.current_timestamp())


def _key(name: str, **kw: object) -> sa.Column:
    return sa.Column(name, UINT, primary_key=True, autoincrement=False, **kw)


_table(
    "lab_config",
    _key("lab_config_id"),
    sa.Column("name", sa.String(45), nullable=False, server_default=""),
    sa.Column("location", sa.String(45), nullable=False, server_default=""),
    sa.Column("admin_user_id", UINT, nullable=False, server_default="0"),
    sa.Column("db_name", sa.String(45), nullable=False, server_default=""),
    # BLIS's display switches, with its defaults.
    *(
        sa.Column(name, UINT, nullable=False, server_default=str(default))
        for name, default in {
            "id_mode": 2, "p_addl": 0, "s_addl": 0, "daily_num": 1, "pid": 2, "pname": 1, "sex": 2, "age": 1,
            "dob": 1, "sid": 2, "refout": 1, "rdate": 2, "comm": 1,
        }.items()
    ),  # fmt: skip
    sa.Column("dformat", sa.String(45), nullable=False, server_default="d-m-Y"),
    sa.Column("dnum_reset", UINT, nullable=False, server_default="1"),
    sa.Column("doctor", UINT, nullable=False, server_default="1"),
    sa.Column("ageLimit", sa.Integer),
)
_table(
    "sites",
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(255)),
    sa.Column("lab_id", sa.Integer),
    sa.Column("Region", sa.String(40)),
    sa.Column("District", sa.String(40)),
)
_table(
    "user",
    _key("user_id"),
    sa.Column("username", sa.String(45), nullable=False, server_default=""),
    sa.Column("password", sa.String(45), nullable=False, server_default=""),
    sa.Column("actualname", sa.String(45)),
    sa.Column("email", sa.String(45)),
    sa.Column("created_by", UINT),
    _ts(),
    sa.Column("lab_config_id", UINT, index=True),
    sa.Column("level", UINT),
    sa.Column("phone", sa.String(45)),
    sa.Column("lang_id", sa.String(45), nullable=False, server_default="default"),
)
_table(
    "patient",
    _key("patient_id"),
    sa.Column("addl_id", sa.String(40)),
    sa.Column("name", sa.String(45)),
    sa.Column("sex", sa.String(1), nullable=False, server_default=""),
    sa.Column("age", sa.Numeric(10, 0)),
    sa.Column("dob", sa.Date),
    sa.Column("created_by", UINT, index=True),
    _ts(),
    sa.Column("partial_dob", sa.String(45)),
    sa.Column("surr_id", sa.String(45)),
    sa.Column("hash_value", sa.String(100)),
)
_table(
    "patient_custom_field",
    _key("id"),
    sa.Column("field_name", sa.String(45), nullable=False, server_default=""),
    sa.Column("field_options", sa.String(16000)),
    sa.Column("field_type_id", UINT, nullable=False, server_default="0", index=True),
    _ts(),
)
_table(
    "patient_custom_data",
    _key("id"),
    sa.Column("field_id", UINT, nullable=False, server_default="0", index=True),
    sa.Column("patient_id", UINT, nullable=False, server_default="0", index=True),
    sa.Column("field_value", sa.String(45), nullable=False, server_default=""),
    _ts(),
)
_table(
    "specimen_type",
    _key("specimen_type_id"),
    sa.Column("name", sa.String(45), nullable=False, server_default=""),
    sa.Column("description", sa.String(100)),
    _ts(),
    sa.Column("disabled", UINT, nullable=False, server_default="0"),
)
_table(
    "test_category",
    _key("test_category_id"),
    sa.Column("name", sa.String(45), nullable=False, server_default=""),
    sa.Column("description", sa.String(100)),
    _ts(),
)
_table(
    "test_type",
    _key("test_type_id"),
    sa.Column("name", sa.String(45), nullable=False, server_default=""),
    sa.Column("description", sa.String(100)),
    sa.Column("test_category_id", UINT, nullable=False, server_default="0", index=True),
    _ts(),
    sa.Column("is_panel", UINT),
    sa.Column("disabled", UINT, nullable=False, server_default="0"),
    sa.Column("clinical_data", LONGTEXT),
    sa.Column("hide_patient_name", sa.Integer),
    sa.Column("prevalence_threshold", sa.Integer, server_default="70"),
    sa.Column("target_tat", sa.Integer, server_default="24"),
    sa.Column("is_reporting_enabled", sa.SmallInteger, server_default="0"),
)
_table(
    "measure",
    _key("measure_id"),
    sa.Column("name", sa.String(45), nullable=False, server_default=""),
    sa.Column("unit_id", UINT, index=True),
    sa.Column("range", sa.String(500)),
    sa.Column("description", sa.String(500)),
    _ts(),
    sa.Column("unit", sa.String(30)),
)
_table(
    "test_type_measure",
    sa.Column("test_type_id", UINT, nullable=False, server_default="0", index=True),
    sa.Column("measure_id", UINT, nullable=False, server_default="0", index=True),
    _ts(),
)
_table(
    "reference_range",
    _key("id"),
    sa.Column("measure_id", UINT, nullable=False),
    sa.Column("age_min", sa.String(45)),
    sa.Column("age_max", sa.String(45)),
    sa.Column("sex", sa.String(10)),
    sa.Column("range_lower", sa.String(45), nullable=False),
    sa.Column("range_upper", sa.String(45), nullable=False),
)
_table(
    "specimen",
    _key("specimen_id"),
    sa.Column("patient_id", UINT, nullable=False, server_default="0", index=True),
    sa.Column("specimen_type_id", UINT, nullable=False, server_default="0", index=True),
    sa.Column("user_id", UINT, index=True),
    _ts(),
    sa.Column("status_code_id", UINT, index=True),
    sa.Column("referred_to", UINT, index=True),
    sa.Column("comments", sa.Text),
    sa.Column("aux_id", sa.String(45)),
    sa.Column("date_collected", sa.Date, nullable=False),
    sa.Column("date_recvd", sa.Date),
    sa.Column("session_num", sa.String(45)),
    sa.Column("time_collected", sa.String(45)),
    sa.Column("report_to", UINT),
    sa.Column("doctor", sa.String(45)),
    sa.Column("date_reported", sa.DateTime),
    sa.Column("referred_to_name", sa.String(70)),
    sa.Column("daily_num", sa.String(45), nullable=False, server_default=""),
    sa.Column("referred_from_name", sa.String(20)),
    sa.Column("site_id", sa.Integer),
)
_table(
    "test",
    _key("test_id"),
    sa.Column("test_type_id", UINT, nullable=False, server_default="0", index=True),
    sa.Column("result", sa.String(5000)),
    sa.Column("comments", sa.String(200)),
    sa.Column("user_id", UINT, index=True),
    sa.Column("verified_by", UINT),
    _ts(),
    sa.Column("specimen_id", UINT, index=True),
    sa.Column("date_verified", sa.DateTime),
)

TABLES: dict[str, sa.Table] = dict(METADATA.tables)
