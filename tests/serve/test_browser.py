"""Headless Chromium opens a report and the service's /docs and /redoc with every other address unreachable, finds
the expected elements (rendered by the pages' own scripts), sees no console message, and saves screenshots.

Chromium (Debian package ``chromium``) and a CJK font (``fonts-noto-cjk``) are installed by .ci/run; without
Chromium the tests are skipped, except in CI."""

import html
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,  # about 25 s: four Chromium starts
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="chromium is not installed"),
]
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def chromium(url: str, *extra: str, env: dict | None = None, budget_ms: int = 8000) -> tuple[str, list[str]]:
    """(DOM after the page's scripts ran, console lines)."""
    assert CHROMIUM is not None, "CI must have chromium (.ci/run installs it)"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", OFFLINE]
    cmd += ["--enable-logging=stderr", "--v=0", f"--virtual-time-budget={budget_ms}", *extra, url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env)
    console = [line for line in out.stderr.splitlines() if ":CONSOLE" in line]
    return out.stdout, console


def screenshot(url: str, path) -> None:
    chromium(url, f"--screenshot={path}", "--window-size=1200,1500", "--hide-scrollbars")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_report_renders_offline(process_run, knn_index, demo_split, tmp_path):
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


# Draws characters in the font the report gives its first utterance, and in Noto Sans CJK SC, on canvases, and
# writes what it saw into <body data-glyphs>. A font without Chinese glyphs draws every character as the same box.
GLYPH_PROBE = """<script>
(function () {
  var utt = document.querySelector('.utt'), family = getComputedStyle(utt).fontFamily;
  function ink(ch, fam) {
    var c = document.createElement('canvas'); c.width = c.height = 64;
    var g = c.getContext('2d'); g.font = '48px ' + fam; g.fillText(ch, 4, 52);
    return Array.prototype.join.call(g.getImageData(0, 0, 64, 64).data);
  }
  var chars = Array.from(utt.textContent).filter(function (ch) { return /[\u4e00-\u9fff]/.test(ch); });
  var a = chars[0], b = chars.find(function (ch) { return ch !== a; });
  document.body.dataset.glyphs = JSON.stringify({
    family: family, chars: a + b, distinct: ink(a, family) !== ink(b, family),
    inked: /[1-9]/.test(ink(a, family)), noto: ink(a, family) === ink(a, '"Noto Sans CJK SC"')});
})();
</script>"""


def cjk_fonts() -> list[str]:
    if shutil.which("fc-list") is None:
        return []
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line.strip()]


def test_chinese_in_a_report_is_drawn_with_a_cjk_font_not_boxes(knn_index, demo_split, tmp_path):
    """With fonts-noto-cjk installed (.ci/run), the dialogue's characters are drawn in Noto Sans CJK SC as
    distinct glyphs; screenshots of the page for a person to look at."""
    from heedful.rationale.retrieval.store import predict_knn
    from heedful.report import write_report

    fonts = cjk_fonts()
    if not any("Noto Sans CJK" in f for f in fonts):
        assert not os.environ.get("CI"), "CI must have fonts-noto-cjk (.ci/run installs it)"
        pytest.skip("fonts-noto-cjk is not installed")
    run = tmp_path / "rationale-predict-zh"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"command": "rationale predict", "data": {"data": None}}))
    (run / "predictions.json").write_text(json.dumps(predict_knn(knn_index, demo_split[1]), ensure_ascii=False))
    page = write_report(run).path
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", GLYPH_PROBE + "</body>"), encoding="utf-8")
    seen = glyphs(probe)
    assert seen["family"].startswith('"Noto Sans CJK SC"'), seen  # the :lang(zh) stack, CJK first
    assert seen["distinct"] and seen["inked"], seen  # two different characters: two different glyphs, not boxes
    assert seen["noto"], seen  # drawn by the font the stack names first
    screenshot(page.as_uri(), tmp_path / "rationale-report.png")
    # the probe can tell: with only a Latin font visible to Chromium, the same page shows boxes
    latin = subprocess.run(["fc-match", "-f", "%{file}", "DejaVu Sans"], capture_output=True, text=True).stdout
    assert "dejavu" in latin.lower(), f"fonts-dejavu-core is a dependency of fontconfig; found {latin}"
    conf = tmp_path / "fonts.conf"
    conf.write_text(f"<fontconfig><dir>{Path(latin).parent}</dir><cachedir>{tmp_path / 'fc'}</cachedir></fontconfig>")
    assert not glyphs(probe, os.environ | {"FONTCONFIG_FILE": str(conf)})["distinct"]


def glyphs(page: Path, env: dict | None = None) -> dict:
    dom, console = chromium(page.as_uri(), "--dump-dom", env=env)
    assert console == [], console
    return json.loads(html.unescape(dom.split('data-glyphs="')[1].split('"')[0]))


def test_docs_page_renders_offline(live_server, tmp_path):
    dom, console = chromium(live_server.url + "/docs", "--dump-dom")
    assert console == [], console
    assert "swagger-ui" in dom and "/v1/process/predict" in dom and "/v1/rationale" in dom and "/health" in dom
    screenshot(live_server.url + "/docs", tmp_path / "docs.png")


def test_redoc_page_renders_offline(live_server, tmp_path):
    dom, console = chromium(live_server.url + "/redoc", "--dump-dom", budget_ms=30000)  # a 1 MB script
    assert console == [], console
    # ReDoc drew the endpoints and the typed answers' sample bodies
    assert "/v1/process/predict" in dom and "window_ends" in dom and "latent_share" in dom
    screenshot(live_server.url + "/redoc", tmp_path / "redoc.png")
