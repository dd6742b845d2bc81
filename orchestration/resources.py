"""The Dagster resources, built once from the settings: the warehouse, dbt, the serving snapshot and the
progress display. Assets receive them; none of them reads the environment but the pseudonymization key,
which Dagster resolves from `EnvVar` when a run starts (so the secret never appears in the definitions).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from packaging.version import Version

from orchestration.config import DBT_PROJECT_DIR, ENV_PSEUDONYMIZATION_KEY, Settings
from orchestration.names import DBT_RESOURCE, PROGRESS_RESOURCE, SERVING_RESOURCE, WAREHOUSE_RESOURCE
from orchestration.progress import RunProgress
from orchestration.serving import ServingConfig
from orchestration.warehouse import open_warehouse

# The dbt installed beside this interpreter, so runs work without the venv on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


class ChatAnalyticsDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource without the two things it does before every invocation that a run
    of this project does not use (7 s of every dbt step, measured at 1e7 events; issue 13):

    - `dbt --version` in a subprocess (4 s) to learn the version of the executable: it is the dbt-core
      installed beside this interpreter (`DBT_EXECUTABLE`), whose version the package metadata gives;
    - a dbt adapter built in this process (imports, profile and project loading, 3 s), which dagster-dbt
      only uses to fetch row counts and column metadata: the row counts come from the warehouse after dbt
      exits (`dbt_assets.with_row_counts`), and column metadata is not fetched.

    Both override private members of dagster-dbt 0.29; `tests/test_dbt_project.py` fails when an upgrade
    renames them.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file; connections wait up to `lock_timeout_seconds` for another writer."""

    path: str
    lock_timeout_seconds: float = 60.0

    @property
    def file(self) -> Path:
        return Path(self.path)

    @contextmanager
    def open(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with open_warehouse(
            self.file, read_only=read_only, lock_timeout_seconds=self.lock_timeout_seconds
        ) as con:
            yield con


class ServingResource(dg.ConfigurableResource):
    """Where the read-only snapshot of the marts is published, and how customer ids are shown there."""

    serving_dir: str
    pseudonymize_customers: bool = False
    # An `EnvVar` when pseudonymizing: Dagster reads it at run start and never displays it.
    pseudonymization_key: str | None = None

    def config(self) -> ServingConfig:
        return ServingConfig(
            serving_dir=Path(self.serving_dir),
            pseudonymize_customers=self.pseudonymize_customers,
            pseudonymization_key=self.pseudonymization_key.encode() if self.pseudonymization_key else None,
        )


def build_resources(
    settings: Settings, *, lock_timeout_seconds: float = 60.0, progress: RunProgress | None = None
) -> dict[str, Any]:
    """Every resource of the code location, from one settings object."""
    return {
        WAREHOUSE_RESOURCE: WarehouseResource(
            path=str(settings.warehouse), lock_timeout_seconds=lock_timeout_seconds
        ),
        DBT_RESOURCE: ChatAnalyticsDbtCliResource(
            project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=DBT_EXECUTABLE
        ),
        SERVING_RESOURCE: ServingResource(
            serving_dir=str(settings.serving_path),
            pseudonymize_customers=settings.pseudonymize_customers,
            pseudonymization_key=(
                dg.EnvVar(ENV_PSEUDONYMIZATION_KEY) if settings.pseudonymize_customers else None
            ),
        ),
        PROGRESS_RESOURCE: dg.ResourceDefinition.hardcoded_resource(progress or RunProgress()),
    }
