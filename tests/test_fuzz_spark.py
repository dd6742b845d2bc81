"""The loader fuzz tests of tests/test_fuzz.py against the Spark loader, and both loaders side by side.

`test_both_loaders_agree_on_every_line` loads the same generated file with the DuckDB loader and the
Spark loader and requires the same outcome for every line: valid with the same values, or quarantined
with the same reason and text. The only differences allowed are the documented ones (docs/decisions.md
R12): JSON that DuckDB's parser reads and Spark's strict parser refuses (nesting deeper than 1000).
"""

from __future__ import annotations

import gzip
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from raw_engines import DUCKDB_RAW, SPARK_RAW
from test_fuzz import (
    DAY,
    FAST,
    files,
    test_arbitrary_lines_are_valid_or_quarantined_with_a_reason,  # noqa: F401
    test_nothing_is_lost_across_many_files_of_one_partition,  # noqa: F401
    workspace,  # noqa: F401
)

pytestmark = pytest.mark.spark

SPARK_EXAMPLES = settings(FAST, max_examples=12)
VALUE_COLUMNS = (
    "event_id, occurred_at, occurred_at_utc, customer_id, channel, event_type, sender, message_type, "
    "handover_id, agent_id, department, flow_type, text, _source_file, _is_duplicate"
)


@pytest.fixture(scope="module")
def engine():
    return SPARK_RAW


def _depth(line: bytes) -> int:
    depth = deepest = 0
    for byte in line:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


def _numbers_as_floats(value):
    """JSON values compared with every number as a float: the engines print big numbers differently."""
    if isinstance(value, dict):
        return {k: _numbers_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers_as_floats(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    number = float(value)
    return None if math.isinf(number) else number


def _json(text: str | None):
    return None if text is None else _numbers_as_floats(json.loads(text))


@SPARK_EXAMPLES
@given(file=files(), gz=st.booleans())
def test_both_loaders_agree_on_every_line(tmp_path_factory, file, gz) -> None:
    body, _ = file
    root = tmp_path_factory.mktemp("both")
    folder = root / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / ("f.ndjson.gz" if gz else "f.ndjson")).write_bytes(gzip.compress(body, 1) if gz else body)
    lines = body.split(b"\n")
    outcomes = {}
    for engine in (DUCKDB_RAW, SPARK_RAW):
        warehouse = engine.warehouse_in(root)
        engine.load(warehouse, root / "landing", DAY)
        quarantined = {
            n: (reason, raw_line, size)
            for n, reason, raw_line, size in engine.rows(
                warehouse, "select _line_number, reason, raw_line, raw_line_bytes from raw.quarantined_events"
            )
        }
        valid = {
            row[0]: (row[1:-2], _json(row[-2]), _json(row[-1]))
            for row in engine.rows(
                warehouse,
                f"select _line_number, {VALUE_COLUMNS}, properties::varchar, extra_fields::varchar "
                "from raw.chat_events",
            )
        }
        outcomes[engine.name] = (quarantined, valid)
    (duck_quarantined, duck_valid), (spark_quarantined, spark_valid) = outcomes["duckdb"], outcomes["spark"]
    for n in sorted(set(duck_quarantined) | set(duck_valid)):
        duck = duck_quarantined.get(n) or duck_valid.get(n)
        spark = spark_quarantined.get(n) or spark_valid.get(n)
        if (
            duck != spark
            and _depth(lines[n - 1]) > 1000
            and spark_quarantined.get(n, ("",))[0] == "invalid_json"
        ):
            continue  # decision R12: Spark's JSON parser refuses nesting deeper than 1000
        assert duck == spark, (n, lines[n - 1][:300], duck, spark)
    assert set(duck_quarantined) | set(duck_valid) == set(spark_quarantined) | set(spark_valid)
