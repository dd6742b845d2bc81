"""dbt for dbt users: from dbt_project/, plain `dbt ls`, `dbt build`, `dbt test` and `dbt docs generate`
work with no environment set, on the repository's data/warehouse.duckdb, with the settings' defaults.

The commands run in a copy of the repository's dbt files (so the real data/ is never touched), in a
subprocess whose environment has no CHAT_ANALYTICS_* or DBT_* variable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version as importlib_version
from pathlib import Path

import duckdb
import pytest
from dbt_helpers import create_raw_tables, insert_raw_events, raw_event

from orchestration.config import (
    DEFAULT_DATA_DIR,
    DEFAULT_INACTIVITY_MINUTES,
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_TIMEZONE,
    PROJECT_ROOT,
    Settings,
)

DBT = Path(sys.executable).parent / "dbt"
PROJECT_FILES = ("dbt_project", "models", "seeds", "tests/dbt")


def env_var_default(text: str, variable: str) -> str:
    match = re.search(rf"env_var\('{variable}', '([^']*)'\)", text)
    assert match, f"no default for {variable}"
    return match.group(1)


def test_project_vars_and_profile_default_to_the_settings_defaults() -> None:
    project = (PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text()
    profile = (PROJECT_ROOT / "dbt_project" / "profiles.yml").read_text()
    defaults = Settings.from_env({})
    assert env_var_default(project, "CHAT_ANALYTICS_TIMEZONE") == DEFAULT_TIMEZONE == defaults.timezone
    assert int(env_var_default(project, "CHAT_ANALYTICS_INACTIVITY_MINUTES")) == DEFAULT_INACTIVITY_MINUTES
    assert (
        float(env_var_default(project, "CHAT_ANALYTICS_HANDOVER_TIMEOUT_HOURS"))
        == defaults.handover_timeout_hours
    )
    assert env_var_default(profile, "CHAT_ANALYTICS_DUCKDB_MEMORY_LIMIT") == DEFAULT_MEMORY_LIMIT
    # relative to dbt_project/, where a dbt user runs dbt
    path = env_var_default(profile, "CHAT_ANALYTICS_WAREHOUSE")
    assert (
        (PROJECT_ROOT / "dbt_project" / path).resolve()
        == DEFAULT_DATA_DIR / "warehouse.duckdb"
        == defaults.warehouse
    )
    # the keys of Settings.dbt_vars() are the names the project and the profile read
    for name in defaults.dbt_vars():
        assert f"var('{name}'" in profile or f"{name}:" in project, name


def plain_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_ANALYTICS_", "DBT_", "DAGSTER_"))}


def dbt(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(DBT), *args], cwd=cwd, env=plain_env(), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's dbt files, with raw events in its data/warehouse.duckdb."""
    root = tmp_path_factory.mktemp("repository")
    for name in PROJECT_FILES:
        shutil.copytree(
            PROJECT_ROOT / name, root / name, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
        )
    warehouse = create_raw_tables(root / "data" / "warehouse.duckdb")
    insert_raw_events(
        warehouse,
        [
            raw_event("e1", "2026-03-02T10:00:00Z"),
            raw_event("e2", "2026-03-02T10:00:05Z", sender="bot", flow_type="support"),
            raw_event("e3", "2026-03-02T10:01:00Z"),
            # a channel the seed does not know: reported, and labelled with its code
            raw_event("t1", "2026-03-03T08:00:00Z", customer_id="c2", channel="telegram"),
        ],
    )
    return root


def test_plain_dbt_commands_work_with_no_environment(repository: Path) -> None:
    project = repository / "dbt_project"
    listed = dbt(["ls", "--resource-type", "seed"], project).stdout
    assert {"chat_analytics.outcomes", "chat_analytics.days_of_week"} <= set(listed.split())
    dbt(["build"], project)
    dbt(["docs", "generate"], project)
    assert (project / "target" / "catalog.json").exists()
    dbt(["test", "--select", "outcomes"], project)
    with duckdb.connect(str(repository / "data" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from seeds.outcomes").fetchone() == (5,)
        assert con.execute("select count(distinct channel) from marts.kpi_daily").fetchone() == (2,)
        assert con.execute(
            "select label_en, label_fr from marts.display_labels where dimension = 'channel' and code = 'telegram'"
        ).fetchone() == ("telegram", "telegram")
        assert con.execute(
            "select label_fr from marts.display_labels where dimension = 'outcome' and code = 'successful'"
        ).fetchone() == ("Réussis",)
        # the settings' defaults: UTC days, so 2026-03-02 (a Monday) is the first date
        assert con.execute(
            "select distinct day_name from marts.activity_by_weekday_hour where report_date = date '2026-03-02'"
        ).fetchall() == [("Monday",)]


def test_the_dbt_resource_starts_dbt_without_asking_its_version_or_building_an_adapter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 13: 7 s of every dbt step went to `dbt --version` and an in-process adapter nobody reads.

    The overridden members must still be the ones dagster-dbt's `cli` calls, so an upgrade that renames
    them fails here rather than silently bringing the cost back.
    """
    import inspect

    import dagster_dbt.core.resource as dagster_dbt_resource
    from dagster_dbt import DbtCliResource

    from orchestration.config import Settings
    from orchestration.names import DBT_RESOURCE
    from orchestration.resources import build_resources

    cli_source = inspect.getsource(DbtCliResource.cli)
    assert "self._cli_version" in cli_source
    assert "self._initialize_dbt_core_adapter(" in cli_source

    def no_subprocess(*args: object, **kwargs: object) -> bytes:
        raise AssertionError(f"dbt started to learn its version: {args}")

    monkeypatch.setattr(dagster_dbt_resource, "check_output", no_subprocess)
    resource = build_resources(Settings.from_env({}))[DBT_RESOURCE]
    assert str(resource._cli_version) == importlib_version("dbt-core")
    assert resource._initialize_dbt_core_adapter(["build"]) is None
