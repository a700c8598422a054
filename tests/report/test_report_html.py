"""``index.html``: the tables, the plots (relative links) and the question browser, offline;
and the page as a headless Chromium renders it (skipped where no Chromium is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.report.report_fixtures import add_questions
from unpact_exp.report import write_report
from unpact_exp.report.html import table_html

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _report(sweep: Path, out: Path) -> Path:
    add_questions(sweep)
    report = write_report([sweep], out)
    assert report.files[1] == out / "index.html"
    return report.files[1]


def test_index_html_holds_tables_plots_and_every_question(sweep: Path, tmp_path: Path) -> None:
    page = _report(sweep, tmp_path / "out").read_text()
    assert "<th>FocusOnKey recovery (%)</th>" in page
    assert '<td class="num">80.0</td>' in page  # ga+gd's forget rate, as in report.md
    for plot in ("dilemma.png", "keytoken_similarity.png", "recovery_vs_step.png"):
        assert f'<img src="{plot}"' in page
    rows = re.findall(r'<tr class="q" data-run="([^"]+)"', page)
    assert len(rows) == 9  # three completed runs x three questions
    assert "Where did Ada work (ga+gd #0)?" in page
    assert "focus " + '<span class="ok">✓</span>' in page  # recovered flag of an attack
    assert "<li>Rome</li><li>Berlin</li>" in page  # PROBAB's answers
    assert 'class="u key"' in page  # KeyTokens marked in the contributions
    assert "CUDA out of memory" in page  # the failed job is listed
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing fetched from the net


def test_pipes_in_a_cell_stay_in_the_cell() -> None:
    html = table_html("| a | b |\n|---|---:|\n| x \\| y | 1.0 |")
    assert "<td>x | y</td>" in html and '<td class="num">1.0</td>' in html


def _browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def test_index_html_renders_in_headless_chromium(sweep: Path, tmp_path: Path) -> None:
    browser = _browser()
    if browser is None:
        pytest.skip(f"no Chromium binary found (looked for {', '.join(BROWSERS)}) on PATH")
    page = _report(sweep, tmp_path / "out")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    url = page.resolve().as_uri()
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert '<table id="questions">' in dom.stdout
    assert dom.stdout.count('<tr class="q"') == 9
    assert '<span id="shown">9</span>' in dom.stdout  # the filter script ran over every row
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [browser, *flags, f"--screenshot={shot}", "--window-size=1400,2400", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
