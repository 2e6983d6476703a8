"""Headless Chromium opens a report and the service's /docs with every other address unreachable, finds the
expected elements (rendered by the pages' own scripts), sees no console message, and saves screenshots.

Chromium (Debian package ``chromium``) is installed by .ci/run; without it the test is skipped, except in CI."""

import os
import shutil
import subprocess

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,  # about 25 s: four Chromium starts
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="chromium is not installed"),
]
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def chromium(url: str, *extra: str) -> tuple[str, list[str]]:
    """(DOM after the page's scripts ran, console lines)."""
    assert CHROMIUM is not None, "CI must have chromium (.ci/run installs it)"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", OFFLINE]
    cmd += ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=8000", *extra, url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    console = [line for line in out.stderr.splitlines() if ":CONSOLE" in line]
    return out.stdout, console


def screenshot(url: str, path) -> None:
    chromium(url, f"--screenshot={path}", "--window-size=1200,1500", "--hide-scrollbars")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_report_renders_offline(process_run, knn_index, demo_split, tmp_path):
    import json

    from heedful.rationale.retrieval.store import predict_knn
    from heedful.report import write_report

    page = write_report(process_run, tmp_path / "process.html").path
    dom, console = chromium(page.as_uri(), "--dump-dom")
    assert console == [], console
    assert dom.count('class="main-svg"') >= 2  # plotly drew the curves from the inline plotly.js
    assert "per_fault_accuracy" in dom and 'id="metrics"' in dom

    run = tmp_path / "rationale-predict-x"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"command": "rationale predict", "data": {"data": None}}))
    preds = predict_knn(knn_index, demo_split[1])
    (run / "predictions.json").write_text(json.dumps(preds, ensure_ascii=False))
    page = write_report(run).path
    dom, console = chromium(page.as_uri(), "--dump-dom")
    assert console == [], console
    assert f"{len(preds)} of {len(preds)} shown" in dom  # the filter script ran
    assert dom.count('class="sample') == len(preds) and "reference" in dom
    screenshot(page.as_uri(), tmp_path / "report.png")


def test_docs_page_renders_offline(live_server, tmp_path):
    dom, console = chromium(live_server.url + "/docs", "--dump-dom")
    assert console == [], console
    assert "swagger-ui" in dom and "/v1/process/predict" in dom and "/v1/rationale" in dom and "/health" in dom
    screenshot(live_server.url + "/docs", tmp_path / "docs.png")
