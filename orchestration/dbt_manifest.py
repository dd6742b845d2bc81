"""The dbt manifest, parsed once and reused until a dbt file changes (dev, tests and CI alike)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from orchestration.config import DBT_PROJECT_DIR, PROJECT_ROOT, Settings

# Its own folder: a plain `dbt ls` or `dbt build` in dbt_project/ writes target/manifest.json.
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "dagster" / "manifest.json"
PARTIAL_PARSE_NAME = "partial_parse.msgpack"
# Where dagster-dbt looks for it (it copies it into each run's target folder).
PARTIAL_PARSE_PATH = DBT_PROJECT_DIR / "target" / PARTIAL_PARSE_NAME
_DBT_SOURCES = (
    DBT_PROJECT_DIR,
    PROJECT_ROOT / "models",
    PROJECT_ROOT / "seeds",
    PROJECT_ROOT / "tests" / "dbt",
)
_IGNORED_DIRS = {"target", "logs", "dbt_packages"}


class DbtParseError(RuntimeError):
    """dbt could not parse the project."""


def _newest_source_mtime() -> float:
    newest = 0.0
    for root in _DBT_SOURCES:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in _IGNORED_DIRS]
            for name in filenames:
                newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime)
    return newest


def manifest_is_fresh() -> bool:
    return MANIFEST_PATH.exists() and MANIFEST_PATH.stat().st_mtime >= _newest_source_mtime()


def parse_project(settings: Settings, target_path: Path) -> None:
    """`dbt parse` of the project into `target_path` (manifest.json, partial_parse.msgpack, logs)."""
    from dbt.cli.main import dbtRunner

    # The same --vars as the runs' (decision O12): a run then re-parses only the files that changed.
    result = dbtRunner().invoke(
        [
            "parse",
            "--quiet",
            *settings.dbt_cli_args(),
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(target_path),
            "--log-path",
            str(target_path),
        ]
    )
    if not result.success:
        raise DbtParseError(f"dbt could not parse {DBT_PROJECT_DIR}: {result.exception}")


def prepare_manifest(settings: Settings, *, force: bool = False) -> Path:
    """Run `dbt parse` only when the manifest is missing or older than a dbt source file."""
    if not force and manifest_is_fresh():
        return MANIFEST_PATH
    # Taken before the parse: a source edited while dbt parses leaves the manifest older than it.
    sources_mtime = _newest_source_mtime()
    MANIFEST_PATH.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=MANIFEST_PATH.parent, prefix=".parse-") as tmp:
        parse_project(settings, Path(tmp))
        # Concurrent processes may parse at once; the rename keeps every reader on a whole file.
        # partial_parse.msgpack goes first: dagster-dbt copies it into each run's target folder,
        # so a run re-parses only what changed since this parse instead of the whole project.
        os.replace(Path(tmp) / PARTIAL_PARSE_NAME, PARTIAL_PARSE_PATH)
        os.utime(Path(tmp) / "manifest.json", (sources_mtime, sources_mtime))
        os.replace(Path(tmp) / "manifest.json", MANIFEST_PATH)
        shutil.rmtree(tmp, ignore_errors=True)
    return MANIFEST_PATH


def keep_partial_parse(run_target_path: Path) -> None:
    """Make a run's partial_parse.msgpack the one later runs start from.

    dbt re-parses everything when the profile differs from the one the saved file was written
    with (another warehouse path, memory limit...). The file a run leaves matches the settings in
    use, so the next run with the same settings parses only what changed.
    """
    produced = run_target_path / PARTIAL_PARSE_NAME
    if produced.exists():
        staged = PARTIAL_PARSE_PATH.with_name(f".{PARTIAL_PARSE_NAME}.{os.getpid()}")
        shutil.copyfile(produced, staged)
        os.replace(staged, PARTIAL_PARSE_PATH)
