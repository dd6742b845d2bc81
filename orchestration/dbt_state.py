"""Whether dbt has anything to do: a run that changes nothing must not pay dbt's start-up (issue 4).

dbt's on-run-start hook (macro `plan_incremental_run`, decision O5) records in
`intermediate._incremental_runs` the last load it processed and a fingerprint of the settings and
model code. When the last recorded run completed, no load came after it and the fingerprint this
process computes from the manifest is the recorded one, a dbt run would plan no work: it is skipped.
Any doubt (a missing table, another fingerprint) runs dbt, which then decides for itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import duckdb

from orchestration.config import Settings

_LOGIC_VERSION_MACRO = "macro.chat_analytics.incremental_logic_version"


def expected_fingerprint(settings: Settings, manifest: Mapping[str, Any]) -> str | None:
    """The string macro `incremental_settings_fingerprint` renders for these settings and manifest."""
    macro = manifest.get("macros", {}).get(_LOGIC_VERSION_MACRO)
    version = re.search(r"return\('([^']*)'\)", macro["macro_sql"]) if macro else None
    if version is None:
        return None
    checksums = ",".join(
        f"{unique_id}={node['checksum']['checksum']}"
        for unique_id, node in sorted(manifest.get("nodes", {}).items())
        # the seeds too: a changed label or outcome order changes the marts (seeds/*.csv)
        if node.get("resource_type") in ("model", "seed")
    )
    return (
        f"timezone={settings.timezone};inactivity_minutes={settings.inactivity_minutes}"
        f";handover_timeout_seconds={settings.handover_timeout_seconds}"
        f";logic={version.group(1)};models={hashlib.md5(checksums.encode()).hexdigest()}"
    )


def reason_to_run_dbt(
    con: duckdb.DuckDBPyConnection, settings: Settings, manifest: Mapping[str, Any]
) -> str | None:
    """Why dbt must run, or None when the last complete run already processed every load."""
    tables = {
        (schema, name)
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
    }
    if ("intermediate", "_incremental_runs") not in tables or ("raw", "load_log") not in tables:
        return "no dbt run recorded yet"
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") == "model" and (node["schema"], node["alias"]) not in tables:
            return f"model {node['name']} does not exist"
    last = con.execute(
        "select load_seq, load_id, settings, status from intermediate._incremental_runs "
        "order by recorded_at desc limit 1"
    ).fetchone()
    if last is None or last[3] != "complete":
        return "the last dbt run did not complete"
    newest = con.execute(
        "select coalesce(max(load_seq), 0), arg_max(load_id, load_seq) from raw.load_log"
    ).fetchone()
    if (last[0], last[1]) != (newest[0], newest[1]):
        return f"loads after the last complete dbt run (load_seq {last[0]} < {newest[0]})"
    if last[2] != expected_fingerprint(settings, manifest):
        return "settings or model code changed since the last complete dbt run"
    return None
