"""The report in a real headless browser (Debian's chromium): every chart drawn, no console error, no request out."""

from __future__ import annotations

import contextlib
import random
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from daemon.analytics.report import write_report
from daemon.settings import resolve
from tests import gen
from tests.conftest import RunCli, WriteCsv, call_main
from tests.test_report import BOLD, LINK, hostile_root

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
DRAW_TIMEOUT_MS = 20_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium (./scripts/test installs it as root with apt-get)",
)


@dataclass
class Visit:
    """What the browser saw: console errors, page errors, requests refused for leaving the machine, chart sizes."""

    errors: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    screenshot: bytes = b""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for the module, closed at teardown."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, timeout=30_000)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def serve() -> Iterator[Any]:
    """Serve a folder on 127.0.0.1 in a thread; returns the base URL; the server is shut down at teardown."""
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    def start(folder: Path) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(5)


def visit(browser: Any, base: str, name: str) -> Visit:
    """Open base/name with every request outside base refused, wait for the charts, measure them, screenshot."""
    seen = Visit()
    context = browser.new_context(viewport={"width": 1400, "height": 900}, device_scale_factor=1)
    try:

        def route(r: Any) -> None:
            url = r.request.url
            if url.startswith(base + "/") or url.startswith(("data:", "blob:")):
                r.continue_()
            else:
                seen.refused.append(url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda m: seen.errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: seen.errors.append(f"pageerror: {e}"))
        page.goto(f"{base}/{name}", wait_until="load")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.chart')].every(c => c.querySelector('svg.main-svg'))",
            timeout=DRAW_TIMEOUT_MS,
        )
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        with contextlib.suppress(PlaywrightTimeout):  # a chart that never fits its panel fails the test below
            page.wait_for_function(
                """() => [...document.querySelectorAll('.chart')].every(c =>
                    c.querySelector('svg.main-svg').getBoundingClientRect().width
                    <= (c.closest('.panel') || c).getBoundingClientRect().width)""",
                timeout=DRAW_TIMEOUT_MS,
            )
        seen.charts = page.evaluate(
            """() => [...document.querySelectorAll('.chart')].map(c => {
                const svg = c.querySelector('svg.main-svg');
                const box = svg.getBoundingClientRect();
                const panel = (c.closest('.panel') || c).getBoundingClientRect();
                return {id: c.dataset.chart, width: box.width, height: box.height, panel: panel.width,
                        traces: c.querySelectorAll('g.trace').length,
                        marks: c.querySelectorAll('g.trace path, g.trace .point').length};
            })"""
        )
        seen.notes = page.evaluate("() => [...document.querySelectorAll('.no-data')].map(n => n.textContent)")
        seen.screenshot = page.screenshot(full_page=True)
    finally:
        context.close()
    return seen


def png_size(data: bytes) -> tuple[int, int]:
    assert b"\x89PNG\r\n\x1a\n" == data[:8]
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def unseen_month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A month of data with a seed and volume no other test uses, exported, and its report written."""
    root = tmp_path_factory.mktemp("unseen")
    gen.build_root(root, seed=random.Random(20260601).randrange(10**6), rows_per_day=(150, 400))
    assert 0 == call_main("export", "--historical", "--root", root).code
    write_report(resolve({"root": root}, env={}), root / "site" / "report.html")
    return root / "site"


def test_every_chart_draws_without_a_console_error(
    browser: Any, serve: Any, unseen_month: Path, tmp_path: Path
) -> None:
    """On an unseen month every chart has an SVG of non-zero size, no wider than its panel, with drawn traces;
    nothing is logged or fetched."""
    seen = visit(browser, serve(unseen_month), "report.html")
    assert ([], []) == (seen.errors, seen.refused)
    assert 12 == len(seen.charts)
    assert [] == seen.notes
    for chart in seen.charts:
        assert chart["width"] > 200, chart
        assert chart["width"] <= chart["panel"], chart  # fitted to its panel, not drawn wider and clipped
        assert chart["height"] > 200, chart
        assert chart["traces"] >= 1, chart
        assert chart["marks"] >= 1, chart
    shot = tmp_path / "report.png"
    shot.write_bytes(seen.screenshot)
    width, height = png_size(seen.screenshot)
    assert 1400 == width
    assert height > 3000
    assert len(seen.screenshot) > 100_000  # a page of charts, not a blank one (a blank page is a few KB)


def test_an_empty_report_shows_notes_without_errors(browser: Any, serve: Any, root: Path) -> None:
    """The report of a root with nothing exported opens cleanly and shows a "no data" note per chart."""
    write_report(resolve({"root": root}, env={}), root / "site" / "report.html")
    seen = visit(browser, serve(root / "site"), "report.html")
    assert ([], [], []) == (seen.errors, seen.refused, seen.charts)
    assert 12 == len(seen.notes)
    assert all(note.startswith("No data: ") for note in seen.notes)
    assert len(seen.screenshot) > 10_000


def test_the_guards_see_a_request_out_and_a_console_error(browser: Any, serve: Any, tmp_path: Path) -> None:
    """A page that loads an image from another host and logs an error has both recorded (the checks can fail)."""
    (tmp_path / "leaky.html").write_text(
        '<html><body><div class="chart"><svg class="main-svg"></svg></div>'
        '<img src="http://127.0.0.2:9/pixel.png"><script>console.error("boom")</script></body></html>'
    )
    seen = visit(browser, serve(tmp_path), "leaky.html")
    assert ["http://127.0.0.2:9/pixel.png"] == seen.refused
    assert "console: boom" in seen.errors


def test_markup_in_the_data_is_shown_as_text(
    browser: Any, serve: Any, root: Path, write_daily: WriteCsv, run_cli: RunCli
) -> None:
    """A link and bold tags in the data are drawn as the characters they are: no <a> element with the
    data's href exists anywhere in the page, and the tick labels and table show the tags literally."""
    hostile_root(root, write_daily, run_cli)
    write_report(resolve({"root": root}, env={}), root / "site" / "report.html")
    base = serve(root / "site")
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base) else r.abort())
        page = context.new_page()
        page.goto(f"{base}/report.html", wait_until="load")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.chart')].every(c => c.querySelector('svg.main-svg'))",
            timeout=DRAW_TIMEOUT_MS,
        )
        links = page.evaluate(
            """() => [...document.querySelectorAll('a')].map(a =>
                a.getAttribute('href') || a.getAttributeNS('http://www.w3.org/1999/xlink', 'href') || '')"""
        )
        texts = page.evaluate("() => [...document.querySelectorAll('svg text')].map(t => t.textContent)")
        cells = page.evaluate("() => [...document.querySelectorAll('td')].map(t => t.textContent)")
        bold = page.evaluate(
            "() => [...document.querySelectorAll('svg tspan')].filter(t => t.textContent === 'bold').length"
        )
    finally:
        context.close()
    assert [] == [href for href in links if "https://x" in href]
    assert LINK in texts  # the slowest query hash's tick label, as written
    assert BOLD in texts  # the busiest table's tick label
    assert BOLD in cells  # the advisor table's cell
    assert 0 == bold  # no tspan holding only the word: it was not drawn in bold
