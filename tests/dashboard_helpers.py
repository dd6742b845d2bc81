"""Helpers of the dashboard's tests (tests/test_dashboard*.py): builds, the app under AppTest, tiles.

The AppTest tests use `shared_build` of tests/test_serving.py (built once per pytest session); the
browser test uses `week_build`, a week of generated traffic, so that its screenshot shows a real page.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest
from test_serving import REPO_ROOT, Build, materialize, settings_for

from orchestration.conversations_tab import HEADLINE, Tab, TabFilter, tab_for
from orchestration.generator import GeneratorConfig, generate
from orchestration.labels import Language, format_metric, metric_label

APP = REPO_ROOT / "dashboard" / "app.py"
WEEK_START = date(2026, 11, 16)  # a Monday
WEEK_DAYS = 7


def week_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """A week of generated traffic (Monday to Sunday, Europe/Paris), built and published once per session."""
    root = tmp_path_factory.getbasetemp() / "dashboard week build"
    done = root / "DONE"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        landing = root / "landing"
        generate(
            GeneratorConfig(
                landing_dir=landing,
                start=WEEK_START,
                days=WEEK_DAYS,
                seed=42,
                conversations_per_day=250,
                timezone="Europe/Paris",
                max_late_days=2,
            )
        )
        folders = sorted(date.fromisoformat(p.name) for p in landing.iterdir())
        build = Build(settings_for(root), folders[0], folders[-1])
        assert materialize(build), "the dashboard's week build failed"
        done.write_text(json.dumps([folders[0].isoformat(), folders[-1].isoformat()]))
    first, last = (date.fromisoformat(d) for d in json.loads(done.read_text()))
    return Build(settings_for(root), first, last)


def data_dates(build: Build) -> tuple[date, date]:
    """The first and last local dates of the snapshot's data."""
    con = duckdb.connect(str(build.serving.serving_file), read_only=True)
    try:
        return con.execute("select min(report_date), max(report_date) from marts.kpi_daily").fetchone()
    finally:
        con.close()


def dashboard_env(build: Build, **extra: str) -> dict[str, str]:
    """The environment under which the app reads `build`'s snapshot (and nothing of the caller's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_ANALYTICS_")}
    env.update(
        {
            "CHAT_ANALYTICS_LANDING_DIR": str(build.settings.landing_dir),
            "CHAT_ANALYTICS_WAREHOUSE": str(build.settings.warehouse),
            "CHAT_ANALYTICS_TIMEZONE": build.settings.timezone,
            "CHAT_ANALYTICS_INACTIVITY_MINUTES": str(build.settings.inactivity_minutes),
            "CHAT_ANALYTICS_START_DATE": build.settings.start_date.isoformat(),
        }
    )
    env.update(extra)
    return env


def use_build(monkeypatch: pytest.MonkeyPatch, build: Build, **extra: str) -> None:
    """Point the in-process app (AppTest) at `build`'s snapshot."""
    for key in [k for k in os.environ if k.startswith("CHAT_ANALYTICS_")]:
        monkeypatch.delenv(key, raising=False)
    for key, value in dashboard_env(build, **extra).items():
        if key.startswith("CHAT_ANALYTICS_"):
            monkeypatch.setenv(key, value)


def app(**params: str | list[str]) -> AppTest:
    """The dashboard under AppTest, opened at a URL with these query parameters."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at


def tiles(at: AppTest) -> dict[str, str]:
    """The headline tiles as the page shows them: label -> value."""
    return {metric.label: metric.value for metric in at.metric}


def expected_tiles(tab: Tab, lang: Language = "en") -> dict[str, str]:
    return {metric_label(key, lang): format_metric(key, tab.headline[key], lang) for key in HEADLINE}


def tab_of(build: Build, flt: TabFilter) -> Tab:
    return tab_for(build.serving.serving_file, flt, build.settings.timezone)


def writable_copy(snapshot: Path, dest: Path) -> Path:
    """A copy of a published snapshot file that a test may alter (published files are read-only)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(snapshot, dest)
    dest.chmod(0o644)
    return dest
