"""Personal data: message text never leaves the raw layer, and customer ids can be pseudonymized in the
serving copy (HMAC-SHA256 with a secret key) while the warehouse keeps the real ones.

Both run on the real build shared with tests/test_serving.py: generated events plus a handcrafted
conversation whose messages carry recognisable sentinel texts.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import dagster as dg
import duckdb
import pytest
from test_serving import MARTS, SENTINEL_CUSTOMER, SENTINEL_TEXTS, Build, query, shared_build

from orchestration import serving
from orchestration.config import (
    ENV_LANDING_DIR,
    ENV_PSEUDONYMIZATION_KEY,
    ENV_PSEUDONYMIZE,
    ENV_SERVING_DIR,
    ENV_WAREHOUSE,
    ConfigError,
    Settings,
)
from orchestration.resources import build_resources
from orchestration.serving import ServingConfig, pseudonymize, publish_snapshot

TEXT_COLUMN = re.compile(r"(^|_)text($|_)", re.IGNORECASE)
KEY = "a-long-and-secret-pseudonymization-key-0123456789"


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return shared_build(tmp_path_factory)


def relations(
    con: duckdb.DuckDBPyConnection, catalog: str, skip_schemas: tuple[str, ...] = ()
) -> list[tuple]:
    """(schema, table, [(column, type)]) of every table and view of an attached database."""
    rows = con.execute(
        """
        select table_schema, table_name, list(column_name order by ordinal_position),
            list(data_type order by ordinal_position)
        from information_schema.columns
        where table_catalog = ? and table_schema not in ('information_schema', 'pg_catalog')
        group by all order by all
        """,
        [catalog],
    ).fetchall()
    return [(s, t, list(zip(c, d, strict=True))) for s, t, c, d in rows if s not in skip_schemas]


def leaks(
    con: duckdb.DuckDBPyConnection, source: str, columns: list[tuple[str, str]], label: str
) -> list[str]:
    """Columns of `source` named like text, or holding a raw message text (equal, or a sentinel inside)."""
    found = []
    for column, _type in columns:
        if TEXT_COLUMN.search(column):
            found.append(f"{label}.{column}: a text column")
            continue
        value = f"cast({serving._ident(column)} as varchar)"
        (equal,) = con.execute(
            f"select count(*) from {source} where {value} in (select text from raw_texts)"
        ).fetchone()
        (inside,) = con.execute(
            f"select count(*) from {source} where "
            + " or ".join(f"contains({value}, {serving._literal(t)})" for t in SENTINEL_TEXTS)
        ).fetchone()
        if equal or inside:
            found.append(f"{label}.{column}: {equal} values equal to raw texts, {inside} containing one")
    return found


@pytest.fixture(scope="module")
def inspector(build: Build):
    con = duckdb.connect()
    con.execute(f"attach {serving._literal(str(build.settings.warehouse))} as wh (read_only)")
    con.execute(f"attach {serving._literal(str(build.serving.serving_file))} as snap (read_only)")
    con.execute(
        "create temp table raw_texts as select distinct text from wh.raw.chat_events "
        "where text is not null and length(trim(text)) >= 4"
    )
    yield con
    con.close()


def test_the_raw_layer_holds_the_sentinel_texts(inspector) -> None:
    """The checks below are not vacuous: raw has the texts, and many of them."""
    texts = {t for (t,) in inspector.execute("select text from raw_texts").fetchall()}
    assert set(SENTINEL_TEXTS) <= texts and len(texts) > 20
    raw_columns = {
        column
        for schema, table, columns in relations(inspector, "wh")
        if (schema, table) == ("raw", "chat_events")
        for column, _type in columns
    }
    assert "text" in raw_columns


def test_no_relation_past_raw_carries_message_text(inspector) -> None:
    found = []
    checked = 0
    for schema, table, columns in relations(inspector, "wh", skip_schemas=("raw",)):
        source = f"wh.{serving._ident(schema)}.{serving._ident(table)}"
        found += leaks(inspector, source, columns, f"{schema}.{table}")
        checked += 1
    assert checked >= len(MARTS) + 5, "every staging, intermediate and mart relation is listed"
    assert found == []


def test_the_serving_copy_carries_no_message_text(build: Build, inspector) -> None:
    found = []
    for schema, table, columns in relations(inspector, "snap"):
        source = f"snap.{serving._ident(schema)}.{serving._ident(table)}"
        found += leaks(inspector, source, columns, f"serving {schema}.{table}")
    parquet_files = sorted(build.serving.current_parquet_dir.glob("*.parquet"))
    assert len(parquet_files) == len(MARTS)
    for path in parquet_files:
        source = f"read_parquet({serving._literal(str(path))})"
        columns = inspector.execute(f"describe select * from {source}").fetchall()
        found += leaks(inspector, source, [(c[0], c[1]) for c in columns], f"parquet {path.name}")
    assert found == []


def test_the_raw_layer_is_not_published(build: Build) -> None:
    schemas = {
        s for (s,) in query(build.serving.serving_file, "select distinct schema_name from duckdb_tables()")
    }
    assert schemas == {"marts", "meta"}


# ---------------------------------------------------------------------------------------------------
# Pseudonymized customer ids in the serving copy
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pseudonymized(build: Build, tmp_path_factory: pytest.TempPathFactory) -> ServingConfig:
    """A snapshot published with the documented option (environment variables) from the real build:
    the settings read the flag, the serving resource the key, through Dagster's EnvVar."""
    serving_dir = tmp_path_factory.mktemp("pseudonymized") / "serving"
    env = {
        ENV_LANDING_DIR: str(build.settings.landing_dir),
        ENV_WAREHOUSE: str(build.settings.warehouse),
        ENV_SERVING_DIR: str(serving_dir),
        ENV_PSEUDONYMIZE: "1",
        ENV_PSEUDONYMIZATION_KEY: KEY,
    }
    settings = Settings.from_env(env)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_PSEUDONYMIZATION_KEY, KEY)
        with dg.build_resources({"serving": build_resources(settings)["serving"]}) as resources:
            config = resources.serving.config()
    publish_snapshot(settings.warehouse, config)
    return config


def test_customer_ids_are_replaced_by_keyed_hashes(build: Build, pseudonymized: ServingConfig) -> None:
    con = duckdb.connect()
    try:
        con.execute(f"attach {serving._literal(str(build.settings.warehouse))} as wh (read_only)")
        con.execute(f"attach {serving._literal(str(pseudonymized.serving_file))} as snap (read_only)")
        real_ids = {
            c
            for (c,) in con.execute("select distinct customer_id from wh.staging.stg_chat__events").fetchall()
        }
        assert SENTINEL_CUSTOMER in real_ids
        customer_columns = 0
        for schema, table, columns in relations(con, "snap"):
            for column, _type in columns:
                value = f"cast({serving._ident(column)} as varchar)"
                source = f"snap.{serving._ident(schema)}.{serving._ident(table)}"
                (real,) = con.execute(
                    f"select count(*) from {source} where {value} in "
                    "(select customer_id from wh.staging.stg_chat__events)"
                ).fetchone()
                assert real == 0, f"{schema}.{table}.{column} holds real customer ids"
                if column == "customer_id":
                    customer_columns += 1
                    (bad,) = con.execute(
                        f"select count(*) from {source} where not regexp_full_match({value}, '[0-9a-f]{{64}}')"
                    ).fetchone()
                    assert bad == 0
        assert customer_columns == 3  # fct_conversations, fct_handover_requests, fct_agent_replies
        # Same keyed hash as Python's hmac; one pseudonym per customer, so distinct counts are kept.
        pairs = con.execute(
            """
            select w.customer_id, s.customer_id
            from wh.marts.fct_conversations as w
            join snap.marts.fct_conversations as s using (conversation_id)
            """
        ).fetchall()
        assert pairs and all(
            hmac.new(KEY.encode(), r.encode(), hashlib.sha256).hexdigest() == p for r, p in pairs
        )
        assert all(pseudonymize(r, KEY.encode()) == p for r, p in pairs)
        assert len({r for r, _ in pairs}) == len({p for _, p in pairs})
        # The warehouse keeps the real ids.
        ((sentinel,),) = con.execute(
            "select count(*) from wh.marts.fct_conversations where customer_id = ?", [SENTINEL_CUSTOMER]
        ).fetchall()
        assert sentinel > 0
        ((flag, pseudonymized_columns),) = con.execute(
            "select pseudonymized_customers, pseudonymized_columns from snap.meta.snapshot"
        ).fetchall()
        assert flag and sorted(pseudonymized_columns) == [
            "fct_agent_replies.customer_id",
            "fct_conversations.customer_id",
            "fct_handover_requests.customer_id",
        ]
    finally:
        con.close()


def test_parquet_files_are_pseudonymized_too_and_the_key_is_stored_nowhere(
    build: Build, pseudonymized: ServingConfig
) -> None:
    folder = pseudonymized.current_parquet_dir
    con = duckdb.connect()
    try:
        for name in ("fct_conversations", "fct_handover_requests", "fct_agent_replies"):
            source = f"read_parquet({serving._literal(str(folder / (name + '.parquet')))})"
            assert con.execute(
                f"select count(*) from {source} where customer_id = ?", [SENTINEL_CUSTOMER]
            ).fetchone() == (0,)
            assert (
                con.execute(
                    f"select count(*) from {source} where customer_id = ?",
                    [pseudonymize(SENTINEL_CUSTOMER, KEY.encode())],
                ).fetchone()[0]
                > 0
            ), name
    finally:
        con.close()
    for path in [pseudonymized.serving_file, *folder.iterdir()]:
        assert KEY.encode() not in path.read_bytes(), path


def test_the_key_is_required_and_never_shown(build: Build) -> None:
    paths = {ENV_LANDING_DIR: str(build.settings.landing_dir), ENV_WAREHOUSE: str(build.settings.warehouse)}
    with pytest.raises(ConfigError, match=ENV_PSEUDONYMIZATION_KEY):
        Settings.from_env({**paths, ENV_PSEUDONYMIZE: "1"})
    with pytest.raises(ConfigError, match=ENV_PSEUDONYMIZATION_KEY):
        ServingConfig(serving_dir=build.serving.serving_dir, pseudonymize_customers=True)
    settings = Settings.from_env({**paths, ENV_PSEUDONYMIZE: "1", ENV_PSEUDONYMIZATION_KEY: KEY})
    config = ServingConfig.from_settings(settings, KEY.encode())
    resource = build_resources(settings)["serving"]
    for shown in (settings, config, resource):
        assert KEY not in repr(shown) and KEY not in str(shown)


def test_the_default_snapshot_keeps_real_ids(build: Build) -> None:
    assert query(
        build.serving.serving_file,
        "select count(*) > 0 from marts.fct_conversations where customer_id = ?",
        [SENTINEL_CUSTOMER],
    ) == [(True,)]


def test_the_leak_check_finds_a_leak(inspector) -> None:
    """A negative control: text copied under another name, or a text column, is reported."""
    inspector.execute(
        "create temp table leaky as select event_id, text as note from wh.raw.chat_events where text is not null"
    )
    found = leaks(inspector, "leaky", [("event_id", "VARCHAR"), ("note", "VARCHAR")], "leaky")
    assert len(found) == 1 and found[0].startswith("leaky.note")
    assert leaks(inspector, "wh.raw.chat_events", [("text", "VARCHAR")], "raw") == ["raw.text: a text column"]
