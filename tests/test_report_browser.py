"""The HTML report renders in a real browser: headless Chromium screenshots and prints it.

A tiny toy run is written as a results folder the way ``lingang-sim run`` writes it
(figures, then ``report.html``). Chromium then takes a screenshot of the page, which must
be a PNG of the window's size with text and figures on it, and prints it to PDF, which
must have pages. The tests are skipped when ``chromium`` is not on the PATH (on Debian
and Ubuntu runners: ``apt-get install chromium``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from simulator import load_scenario
from simulator.experiment import run_experiment
from simulator.figures import write_figures
from simulator.output import write_results
from simulator.report import REPORT_FILE, write_report

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium")
WINDOW = (1366, 900)
TIMEOUT_S = 120

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not on PATH (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """report.html of a 20-day, two-replication toy run, written as the CLI writes it."""
    scenario = load_scenario(
        ROOT / "scenarios" / "toy-two-centres.yaml", ["horizon_days=20", "replications=2"]
    )
    experiment = run_experiment(scenario)

    def figures_and_report(folder: Path) -> None:
        write_report(folder, figures=write_figures(folder, scenario))

    out = tmp_path_factory.mktemp("results") / "toy"
    write_results(
        out, scenario, experiment, command="pytest test_report_browser", extra=figures_and_report
    )
    return out / REPORT_FILE


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def test_screenshot_shows_the_page(report: Path, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    done = _chromium(
        tmp_path / "profile",
        "--hide-scrollbars",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--screenshot={png}",
        report.as_uri(),
    )
    assert png.is_file(), f"no screenshot (exit {done.returncode}):\n{done.stderr[-2000:]}"
    pixels = mpimg.imread(png)
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    rgb = pixels[..., :3]
    ink = rgb.min(axis=2) < 0.6  # text, rules and figures; the page itself is white
    assert ink.mean() > 0.01, f"the screenshot is almost blank ({ink.mean():.2%} ink)"
    assert float(np.ptp(rgb)) > 0.5, "the screenshot has no contrast"
    # The page is a centred column: ink in the middle, margins on a wide window.
    columns = np.flatnonzero(ink.any(axis=0))
    assert columns.min() > 0.05 * WINDOW[0] and columns.max() < 0.95 * WINDOW[0]


def test_prints_to_pdf_with_pages(report: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    done = _chromium(
        tmp_path / "profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}", report.as_uri()
    )
    assert pdf.is_file(), f"no PDF (exit {done.returncode}):\n{done.stderr[-2000:]}"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = re.findall(rb"/Type\s*/Page(?!s)", data)
    # The toy report holds seven figures and several tables: more than a page or two.
    assert len(pages) >= 3, f"the PDF has {len(pages)} page(s)"
