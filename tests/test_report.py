"""The report: every variant side by side, plots inline, renders in Chromium without errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from packager.cli import main
from packager.report import render_all


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.external, self.scripts = [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            if value and not value.startswith(("data:", "#")):
                self.external.append(value)


def _parse(text: str) -> _Collector:
    collector = _Collector()
    collector.feed(text)
    return collector


@pytest.fixture(scope="module")
def device_bundle(tmp_path_factory, digits_bundle):
    """A copy of the digits bundle with real device results merged by `packager report`."""
    import os

    from packager.bundle_io import load_bundle
    from packager.device.bench import bench
    from packager.device.handset import Handset
    from packager.device.virtual import VirtualHandset

    root = tmp_path_factory.mktemp("report-bundle")
    bundle = Path(shutil.copytree(digits_bundle, root / "digits"))
    os.environ.setdefault("ANDROID_USER_HOME", str(root / "android-home"))
    with VirtualHandset(root=root / "device") as virtual:
        handset = Handset.open(virtual.address, prefer="direct")
        results = bench(handset, [load_bundle(bundle)], ["cpu", "gpu"], runs=10, warmup=1)
        handset.close()
    results_file = results.write(root / "results.json")
    outcome = CliRunner().invoke(main, ["report", str(bundle), "--device-results", str(results_file), "--json"])
    assert outcome.exit_code == 0, outcome.output
    return bundle, json.loads(outcome.stdout)


def test_markdown_has_every_variant(digits_build):
    md = render_all(digits_build.manifest)["report.md"]
    for variant in ("fp32", "fp16", "dynamic", "int8 ✓", "int16x8"):
        assert re.search(rf"^\| {re.escape(variant)} \|", md, re.M), variant
    assert "Evaluated on 540 samples" in md


def test_html_is_self_contained_with_plots(digits_build):
    page = render_all(digits_build.manifest)["report.html"]
    found = _parse(page)
    assert len(found.images) >= 3 and all(src.startswith("data:image/png;base64,") for src in found.images)
    assert found.external == [] and found.scripts == 0
    assert "Size against accuracy" in page and "Per-class accuracy change" in page and "Host latency" in page


def test_auto_mode_shows_candidates_and_operator_errors(outlier_builds):
    _, auto = outlier_builds
    md = (auto.bundle / "report.md").read_text()
    page = (auto.bundle / "report.html").read_text()
    assert "How the variant was chosen" in md and "more than the 1-point budget" in md
    assert "Most quantization-sensitive operators" in md and "outliers_1" in md
    assert "Per-operator quantization error" in page and len(_parse(page).images) >= 3  # no latency plot: built without it


def test_report_command_merges_device_results(device_bundle):
    bundle, summary = device_bundle
    assert len(summary["device_results"]) == 1 and Path(summary["device_results"][0]).parent == bundle / "device"
    md = (bundle / "report.md").read_text()
    assert "## On device" in md and "gpu → " in md and "(fallback)" in md and "100.0%" in md
    page = (bundle / "report.html").read_text()
    assert "On-device latency per device" in page and "What the APK is made of" in page and "fallback" in page
    # a later regeneration keeps the device section
    assert CliRunner().invoke(main, ["report", str(bundle)]).exit_code == 0
    assert "## On device" in (bundle / "report.md").read_text()


def test_report_renders_in_chromium_without_errors(device_bundle, tmp_path):
    bundle, _ = device_bundle
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is installed by scripts/setup.sh"
    page = (bundle / "report.html").read_text()
    # a probe appended to a copy: records each image's decoded width into the DOM
    probe = ("<script>window.addEventListener('load',()=>{document.body.setAttribute('data-images',"
             "Array.from(document.images).map(i=>i.complete?i.naturalWidth:-1).join(','));});</script>")
    copy = tmp_path / "report.html"
    copy.write_text(page.replace("</body>", probe + "</body>"))
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=3000", "--dump-dom", copy.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    widths = re.search(r'data-images="([^"]*)"', proc.stdout)
    assert widths, proc.stdout[:500]
    values = [int(v) for v in widths.group(1).split(",")]
    assert len(values) >= 5 and all(v > 100 for v in values), values  # every plot decoded
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line]
    assert console == [], console


@pytest.mark.parametrize("make_bad, needle", [
    (lambda tmp: (tmp / "x").mkdir() or tmp / "x", "not a bundle"),
    (lambda tmp: tmp / "missing", "does not exist"),
])
def test_report_bad_bundle(make_bad, needle, tmp_path):
    result = CliRunner().invoke(main, ["report", str(make_bad(tmp_path))])
    assert result.exit_code == 2 and needle in result.stderr and "Traceback" not in result.output


def test_report_bad_results_file(digits_bundle, tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text(json.dumps({"runs": []}))
    copy = Path(shutil.copytree(digits_bundle, tmp_path / "digits"))
    result = CliRunner().invoke(main, ["report", str(copy), "--device-results", str(bad)])
    assert result.exit_code == 2 and "device-results.schema.json" in result.stderr
    assert not (copy / "device").exists()
