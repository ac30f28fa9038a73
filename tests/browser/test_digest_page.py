"""The digest page in a real headless Chromium: it loads with no console error and no network
request, its charts have their bars, its headline figures are on screen, and it takes a picture.

CI installs Debian's `chromium` (.ci/run); the tests skip only where /usr/bin/chromium is absent.
Playwright drives that browser (`executable_path`); it never downloads one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from shared.logic.digest import BreachingTicket, Period, headlines, render_digest
from tests.unit.digest_traffic import reports, weekly_run
from tests.unit.test_reports import Aggregates

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


def test_the_digest_page_renders_offline_with_its_charts_and_figures(browser, tmp_path: Path) -> None:
    # Given a weekly digest of two weeks of traffic, with two tickets breaching
    run = weekly_run()
    current, previous = reports(run)
    breaching = [
        BreachingTicket(42, "Refund <b>not</b> received", "resolution", 190),
        BreachingTicket(7, "Where is my order?", "first_response", 35),
    ]
    digest = render_digest(run, current, previous, breaching)

    # When Chromium loads it, with every request recorded and refused
    page = browser.new_page(viewport={"width": 900, "height": 1200})  # type: ignore[attr-defined]
    console: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.on("request", lambda request: requests.append(request.url))
    page.route("**/*", lambda route: route.abort())
    page.set_content(digest.html, wait_until="load")

    # Then nothing was fetched and nothing complained
    assert requests == []
    assert [line for line in console if line.startswith(("error", "pageerror"))] == []
    assert page.title() == digest.subject

    # And both charts are drawn, with a bar per day and series, and one per hour
    charts = page.locator("svg.chart")
    assert charts.count() == 2
    days = len(current.groups) + len(previous.groups)
    assert days == 14
    assert charts.nth(0).locator("rect.bar").count() == 2 * days
    assert charts.nth(1).locator("rect.bar").count() == 24
    box = charts.nth(0).bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 100
    tallest = max(
        charts.nth(0).locator("rect.bar").nth(i).bounding_box()["height"]  # type: ignore[index]
        for i in range(2 * days)
    )
    assert tallest > 50

    # And every headline figure is visible text, with its change
    for headline in headlines(current.total, previous.total):
        card = page.locator(f'[data-figure="{headline.name}"]')
        assert card.is_visible()
        assert card.locator(".value").inner_text() == headline.value
        assert headline.change.text in card.locator(".change").inner_text()
    body = page.locator("body").inner_text()
    assert f"{current.total.volume.created}" in body
    assert "Refund <b>not</b> received" in body  # shown as written, not as markup
    assert page.locator("table.breaching tr").count() == 3

    # And a screenshot shows a page, not a blank
    shot = tmp_path / "digest.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 20_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == 900
    assert height >= 900
    page.close()


def test_a_digest_of_a_quiet_period_still_renders_cleanly(browser) -> None:
    # Given a daily digest of a Sunday with no ticket and no breach (charts at zero, figures n/a)
    quiet = replace(
        weekly_run(),
        kind="daily",
        period=Period(date(2026, 3, 8), date(2026, 3, 8)),
        previous=Period(date(2026, 3, 7), date(2026, 3, 7)),
    )
    current, previous = reports(quiet, Aggregates([]))
    digest = render_digest(quiet, current, previous, [])

    page = browser.new_page()  # type: ignore[attr-defined]
    console: list[str] = []
    page.on("console", lambda message: console.append(message.type))
    page.on("pageerror", lambda error: console.append("pageerror"))
    page.set_content(digest.html, wait_until="load")
    assert [c for c in console if c in ("error", "pageerror")] == []
    assert page.locator("svg.chart").nth(0).locator("rect.bar").count() == 4
    assert page.locator('[data-figure="first_response_median"] .value').inner_text() == "–"
    assert page.locator('[data-figure="first_response_median"] .change').inner_text().strip() == "n/a"
    assert page.get_by_text("No ticket is past an SLA target.").is_visible()
    page.close()
