"""The raw loader tests of tests/test_raw_load.py, run against the Spark loader (`make test-spark`).

The same assertions on the same files: the Spark loader keeps the DuckDB loader's contract.
"""

from __future__ import annotations

import pytest
from raw_engines import SPARK_RAW
from test_raw_load import *  # noqa: F403 - the tests themselves, collected again here

pytestmark = pytest.mark.spark


@pytest.fixture
def engine():
    return SPARK_RAW
