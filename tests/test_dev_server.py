"""The UI starts: `make dev` serves the code location with every asset, check, schedule and sensor, and a
UI backfill of arrival partitions runs as one raw run and one run of everything downstream.

The server is started exactly as a developer starts it (`make dev`, with its own DAGSTER_HOME and a
free port) and asked through its GraphQL API. A broken `make dev` (Makefile, definitions, instance
settings) fails here, in CI.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from orchestration.config import PROJECT_ROOT
from orchestration.generator import GeneratorConfig, generate
from orchestration.names import DAILY_JOB, LANDING_CHECK, QUARANTINE_CHECK, RAW_ASSET, SCHEDULE, SENSOR

MARTS = {
    "kpi_daily",
    "transfers_by_outcome",
    "activity_by_weekday_hour",
    "closed_by_department",
    "conversations_by_channel",
    "display_labels",
    "fct_conversations",
    "fct_handover_requests",
    "fct_agent_replies",
}
START = date(2026, 3, 2)
STARTUP_SECONDS = 240

REPOSITORY_QUERY = """
{
  workspaceOrError {
    ... on Workspace { locationEntries { name loadStatus
      locationOrLoadError { __typename ... on PythonError { message } } } }
  }
  repositoriesOrError {
    ... on RepositoryConnection { nodes {
      schedules { name }
      sensors { name }
      jobs { name }
      assetNodes {
        assetKey { path } groupName isPartitioned
        freshness: internalFreshnessPolicy { __typename }
        assetChecksOrError { ... on AssetChecks { checks { name } } }
      }
    } }
  }
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class DevServer:
    url: str
    home: Path
    log: Path
    landing: Path

    def query(self, text: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": text, "variables": variables or {}}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.load(response)
        assert "errors" not in answer, answer
        return answer["data"]


def wait_for_location(server: DevServer, process: subprocess.Popen) -> dict:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, f"make dev exited: {server.log.read_text()[-3000:]}"
        try:
            data = server.query(REPOSITORY_QUERY)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
            continue
        entries = data["workspaceOrError"]["locationEntries"]
        if entries and entries[0]["loadStatus"] == "LOADED":
            return data
        time.sleep(1)
    raise AssertionError(
        f"the code location did not load in {STARTUP_SECONDS} s: {server.log.read_text()[-3000:]}"
    )


def stop(process: subprocess.Popen) -> None:
    """Stop `make dev` and everything it started (its own process group), as Ctrl-C would."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the webserver, daemon and code servers of that group
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevServer, dict]]:
    root = tmp_path_factory.mktemp("dev server")
    landing = root / "landing"
    generate(
        GeneratorConfig(landing_dir=landing, start=START, days=3, conversations_per_day=30, late_rate=0.0)
    )
    port = free_port()
    server = DevServer(
        url=f"http://127.0.0.1:{port}/graphql",
        home=root / "dagster_home",
        log=root / "dev.log",
        landing=landing,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_ANALYTICS_", "DAGSTER_", "DBT_"))}
    env.update(
        {
            "DAGSTER_HOME": str(server.home),
            "CHAT_ANALYTICS_LANDING_DIR": str(landing),
            "CHAT_ANALYTICS_WAREHOUSE": str(root / "warehouse.duckdb"),
            "CHAT_ANALYTICS_START_DATE": (START - timedelta(days=10)).isoformat(),
        }
    )
    with server.log.open("w") as log:
        process = subprocess.Popen(
            ["make", "dev", f"DEV_PORT={port}"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped whole at the end
        )
        try:
            yield server, wait_for_location(server, process)
        finally:
            stop(process)


def test_make_dev_serves_every_asset_check_schedule_and_sensor(dev_server: tuple[DevServer, dict]) -> None:
    server, data = dev_server
    assert (server.home / "dagster.yaml").exists(), "make dev installs the instance settings"
    (repository,) = data["repositoriesOrError"]["nodes"]
    assert [s["name"] for s in repository["schedules"]] == [SCHEDULE]
    assert [s["name"] for s in repository["sensors"]] == [SENSOR]
    assert DAILY_JOB in {j["name"] for j in repository["jobs"]}
    nodes = {"/".join(n["assetKey"]["path"]): n for n in repository["assetNodes"]}
    assert {
        RAW_ASSET,
        "serving_snapshot",
        "stg_chat__events",
        "int_events_sessionized",
        *MARTS,
    } <= nodes.keys()
    assert {"outcomes", "support_types", "days_of_week", "channels"} <= nodes.keys()
    # only the raw asset is partitioned (decision O18); the marts carry the freshness policy
    assert [key for key, n in nodes.items() if n["isPartitioned"]] == [RAW_ASSET]
    assert {key for key, n in nodes.items() if n["freshness"]} == MARTS
    checks = {key: {c["name"] for c in n["assetChecksOrError"].get("checks", [])} for key, n in nodes.items()}
    assert {QUARANTINE_CHECK, LANDING_CHECK} <= checks[RAW_ASSET]
    assert "assert_kpi_daily_counts_every_fact_once" in checks["kpi_daily"]
    assert sum(len(c) for c in checks.values()) >= 100, "every dbt data test is an asset check"
    assert "Warning" not in server.log.read_text(), "no Python warning in make dev's output"


LAUNCH_BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
BACKFILL_STATUS = """
query ($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }
"""


@pytest.mark.slow
def test_a_ui_backfill_runs_the_raw_range_once_and_everything_downstream_once(
    dev_server: tuple[DevServer, dict],
) -> None:
    """What *Materialize* on the whole asset graph with a range of partitions does in the UI."""
    server, data = dev_server
    (repository,) = data["repositoriesOrError"]["nodes"]
    keys = [n["assetKey"] for n in repository["assetNodes"]]
    days = [
        (START - timedelta(days=2) + timedelta(days=i)).isoformat() for i in range(6)
    ]  # two without folder
    launched = server.query(
        LAUNCH_BACKFILL, {"params": {"assetSelection": keys, "partitionNames": days, "fromFailure": False}}
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    deadline = time.monotonic() + 600
    status = None
    while time.monotonic() < deadline:
        status = server.query(BACKFILL_STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"][
            "status"
        ]
        if status in ("COMPLETED", "COMPLETED_SUCCESS", "FAILED", "CANCELED", "COMPLETED_FAILED"):
            break
        time.sleep(2)
    assert status in ("COMPLETED", "COMPLETED_SUCCESS"), (status, server.log.read_text()[-3000:])
    instance = dg.DagsterInstance.from_config(str(server.home))
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": launched["backfillId"]}))
    assert len(runs) == 2, [r.tags for r in runs]
    materialized: dict[str, int] = {}
    for run in runs:
        for record in instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records:
            key = record.event_log_entry.dagster_event.asset_key.to_user_string()
            materialized[key] = materialized.get(key, 0) + 1
    assert materialized[RAW_ASSET] == len(days)
    assert all(n == 1 for key, n in materialized.items() if key != RAW_ASSET), materialized
    assert MARTS <= materialized.keys()
