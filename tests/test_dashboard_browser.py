"""The dashboard in a real browser: `chat-analytics dashboard` serving a built snapshot, headless Chromium.

Chromium is the system's (`apt-get install -y chromium`; `.ci/run` installs it), driven by Playwright
from PyPI through `executable_path` (Playwright's own browser download is not used). The test waits for
the tiles and the charts, checks their text, a hover note and a CSV download against the query module,
changes the filters through the URL, and writes the screenshot the README shows (`docs/dashboard.png`).
"""

from __future__ import annotations

import csv
import io
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from dashboard_helpers import (
    WEEK_DAYS,
    WEEK_START,
    dashboard_env,
    data_dates,
    expected_tiles,
    tab_of,
    week_build,
)
from playwright.sync_api import Browser, Page, sync_playwright
from test_serving import REPO_ROOT, Build

from orchestration.conversations_tab import HEADLINE, TabFilter, last_days, today_in
from orchestration.labels import Language, channel_label, format_count, metric_note, text

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = REPO_ROOT / "docs" / "dashboard.png"
CHARTS = 7
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module", autouse=True)
def chromium() -> str:
    """The system's Chromium; without one the tests skip, unless .ci/run says they must run."""
    if CHROMIUM is None:
        reason = "no Chromium on this machine: `apt-get install -y chromium` (.ci/run installs it)"
        if os.environ.get("DASHBOARD_BROWSER_TEST") == "required":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return week_build(tmp_path_factory)


@pytest.fixture(scope="module")
def server(week: Build) -> Iterator[str]:
    """`chat-analytics dashboard` on a free port, serving the week's snapshot; its base URL."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "chat-analytics"), "dashboard", "--port", str(port)]
    process = subprocess.Popen(
        command,
        env={**dashboard_env(week), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    output: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while True:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            if line is None:
                pytest.fail("the dashboard exited before serving:\n" + "".join(output))
            output.append(line)
            if f"URL: {url}" in line:
                break
        yield url
    except queue.Empty:
        pytest.fail("the dashboard did not start within 60 s:\n" + "".join(output))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    try:
        yield context.new_page()
    finally:
        context.close()


def open_view(page: Page, url: str, charts: int = CHARTS) -> None:
    """Load `url` and wait until the eight tiles and `charts` charts are drawn."""
    page.goto(url)
    page.locator('[data-testid="stMetricValue"]').nth(len(HEADLINE) - 1).wait_for(timeout=TIMEOUT_MS)
    page.locator('[data-testid="stVegaLiteChart"] svg').nth(charts - 1).wait_for(timeout=TIMEOUT_MS)
    # A rerun (after a URL change) marks stale elements; wait until the page has settled.
    page.wait_for_function(
        "() => !document.querySelector('[data-stale=\"true\"]') "
        "&& !document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=TIMEOUT_MS,
    )


def shown_tiles(page: Page) -> dict[str, str]:
    labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()
    values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    return {label.strip(): value.strip() for label, value in zip(labels, values, strict=True)}


def axis_labels(page: Page, index: int, axis: str) -> list[str]:
    """The labels of the `axis` ('X' or 'Y') of the `index`-th chart, as Vega drew them in SVG."""
    chart = page.locator('[data-testid="stVegaLiteChart"]').nth(index)
    return chart.locator(f"g.role-axis[aria-label^='{axis}-axis'] g.role-axis-label text").all_text_contents()


def bar_values(page: Page, index: int) -> tuple[list[str], list[str]]:
    """The y-axis labels and the values written on the bars of the `index`-th chart."""
    chart = page.locator('[data-testid="stVegaLiteChart"]').nth(index)
    return axis_labels(page, index, "Y"), chart.locator("g.mark-text.role-mark text").all_text_contents()


def test_the_week_in_a_browser_matches_the_query_module(server: str, week: Build, page: Page) -> None:
    first, last = WEEK_START, WEEK_START + timedelta(days=WEEK_DAYS - 1)
    open_view(page, f"{server}/?start={first}&end={last}")
    tab = tab_of(week, TabFilter(first, last))
    assert shown_tiles(page) == expected_tiles(tab), "tiles, in the article's order"
    labels, values = bar_values(page, 0)
    assert labels == [channel_label(r.key, "en") for r in tab.by_channel]
    assert values == [format_count(r.total_conversations, "en") for r in tab.by_channel]
    _, outcomes = bar_values(page, 4)
    assert outcomes == [format_count(r.count, "en") for r in tab.requests_by_outcome]
    write_screenshot(page)
    page.set_viewport_size({"width": 1400, "height": 1000})
    # The hover note of a tile
    page.locator('[data-testid="stMetric"]').nth(5).locator('[data-testid="stTooltipHoverTarget"]').hover()
    tooltip = page.locator('[data-testid="stTooltipContent"]')
    tooltip.wait_for(timeout=TIMEOUT_MS)
    assert tooltip.inner_text().strip() == metric_note(HEADLINE[5], "en")
    page.mouse.move(0, 0)
    # The first chart's CSV
    page.locator('[data-testid="stExpander"]').first.locator("summary").click()
    with page.expect_download(timeout=TIMEOUT_MS) as download:
        page.locator('[data-testid="stDownloadButton"] button').first.click()
    assert download.value.suggested_filename == f"conversations_by_channel_{first}_{last}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["channel"], int(r["total_conversations"]), int(r["engaged_conversations"])) for r in rows] == [
        tuple(r) for r in tab.by_channel
    ]


def test_filters_changed_through_the_url(server: str, week: Build, page: Page) -> None:
    first, last = WEEK_START + timedelta(days=1), WEEK_START + timedelta(days=3)
    query = f"start={first}&end={last}&channel=web&channel=sms&hours=9-17&lang=fr&conversations=engaged"
    open_view(page, f"{server}/?{query}")
    tab = tab_of(week, TabFilter(first, last, ("web", "sms"), (9, 17)))
    lang: Language = "fr"
    assert shown_tiles(page) == expected_tiles(tab, lang)
    labels, values = bar_values(page, 0)
    assert labels == [channel_label(r.key, lang) for r in tab.by_channel]
    assert values == [format_count(r.engaged_conversations, lang) for r in tab.by_channel], "engaged only"
    assert (
        text("requests_by_outcome", lang)
        in page.locator('[data-testid="stCaptionContainer"]').all_inner_texts()
    )
    assert page.url.endswith("?" + query.replace("channel=web&channel=sms", "channel=sms&channel=web"))
    # One more change through the URL: a single day draws the trend by hour.
    open_view(page, f"{server}/?start={first}&end={first}&hours=9-17")
    one_day = tab_of(week, TabFilter(first, first, hours=(9, 17)))
    assert shown_tiles(page) == expected_tiles(one_day)
    assert axis_labels(page, CHARTS - 1, "X") == [str(h) for h in range(9, 18)]


def test_the_default_view_offers_the_snapshots_last_days(server: str, week: Build, page: Page) -> None:
    """The default period ends today; the week lies in the past, so the page offers the snapshot's week."""
    today = today_in(week.settings.timezone)
    start, end = last_days(today)
    data_first, data_last = data_dates(week)
    if start <= data_last:
        pytest.skip(f"the clock says {today}: the default period overlaps the test data")
    open_view(page, server, charts=CHARTS - 2)  # no support type or department has a count
    notes = page.locator('[data-testid="stAlert"]').all_inner_texts()
    assert any(f"no data in the last 7 days ({start} to {end})" in n for n in notes), notes
    assert set(shown_tiles(page).values()) == {"0", "–"}
    offer_first, offer_last = last_days(data_last)
    page.get_by_role("button", name=f"Show its last 7 days ({offer_first} to {offer_last})").click()
    page.wait_for_url(f"{server}/?start={offer_first}&end={offer_last}", timeout=TIMEOUT_MS)
    open_view(page, page.url)
    assert shown_tiles(page) == expected_tiles(tab_of(week, TabFilter(offer_first, offer_last)))


def write_screenshot(page: Page) -> None:
    """The page as the README shows it, from the title to the last chart's data (not the snapshot's
    version and time below it, so the picture changes only when the page does)."""
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": int(height)})
    page.locator('[data-testid="stVegaLiteChart"] svg').nth(CHARTS - 1).wait_for(timeout=TIMEOUT_MS)
    page.mouse.move(0, 0)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    last = page.locator('[data-testid="stExpander"]').last.bounding_box()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(
        path=str(SCREENSHOT),
        clip={"x": 0, "y": 0, "width": 1400, "height": last["y"] + last["height"] + 24},
        animations="disabled",
    )
    assert SCREENSHOT.stat().st_size > 50_000
