"""Fixed costs of a run, measured in a fresh interpreter (the benchmark runs this as a subprocess).

Prints one JSON object (seconds):
  import_s        import dagster, dagster_dbt and the code location (orchestration.definitions)
  parse_check_s   the manifest freshness check (walk of the dbt sources' mtimes)
  definitions_s   build_definitions(settings) + resolving the daily job, with the manifest as it is
  dbt_parse_s     a full `dbt parse` into a temporary target (what a changed dbt file costs, once)
  manifest_fresh  whether the shared manifest was fresh (if not, definitions_s included a parse)

The forced parse writes into a temporary folder only: the shared dbt_project/target is not touched.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

started = time.perf_counter()
import dagster  # noqa: E402, F401
import dagster_dbt  # noqa: E402, F401

import orchestration.definitions as definitions  # noqa: E402
from orchestration.config import Settings  # noqa: E402
from orchestration.dbt_manifest import DbtParseError, manifest_is_fresh, parse_project  # noqa: E402

imported = time.perf_counter()


def main() -> None:
    result: dict[str, float | bool] = {"import_s": imported - started}
    settings = Settings.from_env()

    t = time.perf_counter()
    fresh = manifest_is_fresh()
    result["parse_check_s"] = time.perf_counter() - t
    result["manifest_fresh"] = fresh

    t = time.perf_counter()
    defs = definitions.build_definitions(settings)
    defs.resolve_job_def(definitions.DAILY_JOB)
    result["definitions_s"] = time.perf_counter() - t

    with tempfile.TemporaryDirectory(prefix="bench-parse-") as tmp:
        t = time.perf_counter()
        try:
            parse_project(settings, Path(tmp))
            result["dbt_parse_ok"] = True
        except DbtParseError:
            result["dbt_parse_ok"] = False
        result["dbt_parse_s"] = time.perf_counter() - t
    result["total_s"] = time.perf_counter() - started
    print("OVERHEAD " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
