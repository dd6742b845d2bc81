"""What the assets report while they work, for a display that follows a run as it goes.

The assets call a `RunProgress` (the `progress` resource). The default one does nothing: the Dagster UI
shows a run from its events. `chat-analytics materialize` passes a console display
(`orchestration/console.py`); tests pass a recorder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestration.raw_events import LoadResult


@dataclass(frozen=True)
class DbtNode:
    """A dbt node starting (`status` None) or finished (dbt's status: success, pass, warn, fail, error, skipped)."""

    unique_id: str
    name: str
    resource_type: str
    status: str | None = None


# The lines of dbt's JSON log (at its default level) that start a node and that give its result.
NODE_START_EVENT = "LogStartLine"
NODE_RESULT_EVENTS = ("LogModelResult", "LogTestResult", "LogSeedResult", "LogSkipResult", "LogNodeResult")
NODE_TYPES = ("seed", "model", "test")
# dbt's statuses of a node that failed (a warning is not one, unless dbt runs with --warn-error)
FAILED_STATUSES = ("error", "fail", "runtime error")


def dbt_node_event(raw_event: Mapping[str, Any]) -> DbtNode | None:
    """The seed, model or data test a line of dbt's JSON log starts or finishes; None for other lines."""
    name = raw_event.get("info", {}).get("name")
    if name != NODE_START_EVENT and name not in NODE_RESULT_EVENTS:
        return None
    data = raw_event.get("data", {})
    info = data.get("node_info", {})
    unique_id = info.get("unique_id")
    resource_type = info.get("resource_type")
    if not unique_id or resource_type not in NODE_TYPES:
        return None
    return DbtNode(
        unique_id=unique_id,
        name=info.get("node_name") or unique_id.split(".")[2],
        resource_type=resource_type,
        status=None if name == NODE_START_EVENT else (data.get("status") or info.get("node_status")),
    )


class RunProgress:
    """Receives the steps of a run as they happen; every method does nothing by default."""

    def raw_started(self, partitions: int) -> None:
        """The raw load of `partitions` arrival dates starts."""

    def raw_partition(self, result: LoadResult) -> None:
        """One arrival date is loaded (or found absent, or unchanged)."""

    def raw_finished(self, results: Sequence[LoadResult]) -> None:
        """Every arrival date of the run is loaded."""

    def dbt_started(self) -> None:
        """The dbt step starts: it decides whether dbt has anything to do."""

    def dbt_running(self, reason: str, nodes: int) -> None:
        """dbt starts `nodes` nodes (seeds, models and data tests) because of `reason`."""

    def dbt_node(self, node: DbtNode) -> None:
        """A dbt node starts (`status` None) or finishes."""

    def dbt_finished(self, success: bool) -> None:
        """dbt has exited."""

    def dbt_skipped(self, reason: str) -> None:
        """dbt is not started: the last complete dbt run already processed every load."""

    def serving_started(self) -> None:
        """The serving step starts."""

    def serving_finished(self, published: bool, detail: str) -> None:
        """The serving snapshot was published (or found current)."""
