"""The HTML report in a real browser: headless Chromium (Debian's chromium and
chromium-driver, installed by `make test`), no network.

For each seed example: no console error, every plot rendered with a non-zero size,
the findings' text present, a screenshot saved; the page is under 2 MB. A module
named like a script tag renders as text and runs nothing.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from helpers import EXAMPLES, run_cli

import torchdoctor
from torchdoctor.report.model import Finding, Report

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SHOTS = Path(os.environ.get("TORCHDOCTOR_SCREENSHOTS", "")) if os.environ.get("TORCHDOCTOR_SCREENSHOTS") else None
MAX_BYTES = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (CHROMIUM and DRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are needed in CI (make test installs them)")
        pytest.skip("chromium/chromedriver not installed (make test installs them as root)")
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    # the flags this machine's notes give for a closed network: no background connections
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1100,1400"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver, path: Path) -> list[dict]:
    """Load the file and return the console messages it produced."""
    driver.get(path.as_uri())
    driver.find_element("tag name", "h1")                 # the page has loaded
    return driver.get_log("browser")


def plot_sizes(driver) -> list[float]:
    # the page itself runs no script (its CSP forbids it): WebDriver's own evaluation measures it
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('figure.plot svg'))"
        ".map(e => { const r = e.getBoundingClientRect(); return r.width * r.height; });")


@pytest.mark.parametrize("name", ["example1_bottleneck", "example2_sigmoid", "example3_high_lr"])
def test_seed_report_renders_in_chromium(name, browser, tmp_path):
    html, out = tmp_path / f"{name}.html", tmp_path / "r.json"
    # 300-step re-runs: enough to confirm each seed fault, a third of the default's time
    code, _, err = run_cli("run", "--quiet", "--verify-steps", "300", "--html", html, "--json", out,
                           EXAMPLES / f"{name}.py", timeout=300)
    assert code == 1, err
    assert 0 < html.stat().st_size < MAX_BYTES
    report = json.loads(out.read_text())
    errors = [m for m in open_page(browser, html) if m.get("level") == "SEVERE"]
    assert not errors, errors
    sizes = plot_sizes(browser)
    assert len(sizes) >= 2 and all(s > 100 * 100 for s in sizes), sizes    # loss plots at least, each >= 100x100 px
    text = browser.find_element("tag name", "body").text
    top = next(f for f in report["findings"] if f["severity"] == "error")
    assert top["title"] in text and top["category"] in text and report["summary"] in text
    shot = tmp_path / f"{name}.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if SHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SHOTS / shot.name)


def test_user_strings_are_escaped_and_nothing_runs(browser, tmp_path):
    evil = "<script>window.__pwned = 1; alert(1)</script>"
    report = Report(status="problems", summary=f"bad {evil}", script=f"train{evil}.py", args=[evil],
                    loss_curve=[[0, 1.0], [1, 0.5], [2, 0.25]], error=evil,
                    findings=[Finding(code="A001", category="activation.output_range", severity="error",
                                      title="The final activation cannot produce the targets",
                                      message=f"at {evil}", location=f"model.{evil} (Sigmoid)",
                                      evidence={"activation": evil, "range": [0, 1]},
                                      fix={"summary": evil, "code": evil})],
                    grad_norms={f"layer{evil}": [[0, 1.0], [10, 0.1]]}, notes=[evil])
    html = tmp_path / "evil.html"
    html.write_text(report.to_html())
    assert "<script>" not in html.read_text()
    errors = [m for m in open_page(browser, html) if m.get("level") == "SEVERE"]
    assert not errors, errors
    from selenium.common.exceptions import NoAlertPresentException
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text
    assert browser.execute_script("return window.__pwned === undefined")
    assert evil in browser.find_element("tag name", "body").text          # shown as text
