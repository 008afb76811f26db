"""The report: every variant side by side, plots embedded and self-contained, device results
merged by `packager report`, rendered in headless Chromium without errors."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from packager.cli import main
from packager.manifest import Manifest
from packager.report import PLOTS_FOLDER, render_all, short_op_name

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]


# --- helpers -------------------------------------------------------------------------------------------
class _Page(HTMLParser):
    """What an HTML report loads: images, scripts, links, and any reference that is not inline."""

    def __init__(self, text: str):
        super().__init__()
        self.images: dict[str, str] = {}  # figure id -> src
        self.scripts = self.links = 0
        self.external: list[str] = []
        self.csp = None
        self._figure = None
        self.feed(text)
        self.external += re.findall(r"url\((?!['\"]?data:)[^)]*\)|@import", text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure":
            self._figure = attrs.get("id")
        if tag == "img":
            self.images[self._figure or f"img{len(self.images)}"] = attrs.get("src", "")
        self.scripts += tag == "script"
        self.links += tag == "link"
        if tag == "meta" and attrs.get("http-equiv", "").lower() == "content-security-policy":
            self.csp = attrs.get("content")
        for key in ("src", "href", "srcset", "poster", "data"):
            value = attrs.get(key) or ""
            if value and not value.startswith(("data:", "#")):
                self.external.append(f"{tag} {key}={value}")


def _decoded(src: str) -> Image.Image:
    assert src.startswith("data:image/png;base64,"), src[:40]
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1], validate=True)))


def _md_rows(md: str, section: str) -> list[list[str]]:
    """The table rows (cells) of one '## section' of report.md, header and rule left out."""
    body = md.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in body.splitlines() if line.startswith("|")]
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in lines[2:]]


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def _render_in_chromium(page: Path, tmp: Path) -> dict:
    """Open a copy of `page` with a probe that records, after load, each image's decoded width and
    every error or Content-Security-Policy violation; the page's CSP admits the probe by its hash
    and nothing else. Returns {"images": [...], "problems": [...], "console": [...]}."""
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is installed by scripts/setup.sh"
    probe = ("const seen=[];"
             "window.addEventListener('error',e=>seen.push('error '+(e.target&&e.target.tagName?e.target.tagName:e.message)),true);"
             "document.addEventListener('securitypolicyviolation',e=>seen.push('csp '+e.blockedURI));"
             "window.addEventListener('load',()=>document.body.setAttribute('data-probe',JSON.stringify("
             "{images:Array.from(document.images).map(i=>i.complete?i.naturalWidth:-1),problems:seen})));")
    digest = base64.b64encode(hashlib.sha256(probe.encode()).digest()).decode()
    text = page.read_text(encoding="utf-8")
    text = re.sub(r'(http-equiv="Content-Security-Policy" content=")([^"]*)"', rf"""\1\2; script-src 'sha256-{digest}'" """, text, count=1)
    text = text.replace("<body>", f"<body><script>{probe}</script>", 1)
    copy = tmp / f"probe-{page.parent.name}.html"
    copy.write_text(text, encoding="utf-8")
    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'chromium-profile'}", "--dump-dom", copy.as_uri()],
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert found, f"the probe did not run: {proc.stdout[:300]} {proc.stderr[-1000:]}"
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    result["console"] = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return result


# --- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def device_results(tmp_path_factory, digits_bundle) -> Path:
    """`packager device bench --virtual` on the digits bundle: cpu runs, gpu falls back."""
    root = tmp_path_factory.mktemp("report-device")
    out = root / "results.json"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANDROID_USER_HOME", str(root / "android-home"))
        result = _cli("device", "bench", str(digits_bundle), "--virtual", "--accelerator", "cpu,gpu", "--runs", "12",
                      "--warmup", "1", "--allow-fallback", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def merged(tmp_path_factory, digits_bundle, device_results):
    """A copy of the digits bundle with the device results merged by `packager report --json`."""
    bundle = Path(shutil.copytree(digits_bundle, tmp_path_factory.mktemp("report-bundle") / "digits"))
    result = _cli("report", str(bundle), "--device-results", str(device_results), "--json")
    assert result.exit_code == 0, result.output
    return bundle, json.loads(result.stdout)


# --- the variants ------------------------------------------------------------------------------------------
def test_markdown_has_a_row_per_variant_with_its_numbers(digits_build):
    md = render_all(digits_build.manifest)["report.md"]
    manifest = digits_build.manifest.to_dict()
    rows = {row[0].strip("*"): row for row in _md_rows(md, "Variants side by side")}
    expected = [manifest["metrics"]["float"], *manifest["metrics"]["variants"]]
    assert set(rows) == {m["name"] for m in expected}
    for m in expected:
        row = rows[m["name"]]
        assert f"{m['size_bytes'] / 1024:.1f}" in row and f"{m['accuracy'] * 100:.2f}%" in row, row
        assert f"{m['top1_agreement'] * 100:.2f}%" in row
    chosen = manifest["selection"]["chosen"]
    assert f"| **{chosen}** |" in md  # the chosen variant is marked
    assert manifest["selection"]["reason"] in md and manifest["model"]["sha256"] in md and manifest["source"]["sha256"] in md
    assert "![" not in md  # no bundle folder given: no figure files to link, the numbers are in the tables


def test_terminal_table_fits_80_columns(digits_build, outlier_builds):
    from rich.console import Console

    from packager.commands.common import variants_table

    for manifest in (digits_build.manifest, outlier_builds[1].manifest):
        console = Console(width=80, record=True, color_system=None)
        console.print(variants_table(manifest))
        lines = console.export_text().splitlines()
        assert max(len(line) for line in lines) <= 80
        names = [m.name for m in manifest.metrics.variants]
        for name in names:  # one line per variant, nothing cut short
            assert sum(1 for line in lines if re.match(rf"\s*{re.escape(name)}( ✓)?\s", line)) == 1, (name, lines)
        assert "…" not in "\n".join(lines)


def test_html_is_self_contained_and_embeds_its_plots(digits_build):
    page = _Page(render_all(digits_build.manifest)["report.html"])
    assert page.external == [] and page.scripts == 0 and page.links == 0
    assert page.csp and "default-src 'none'" in page.csp and "img-src data:" in page.csp
    assert {"fig-size-vs-accuracy", "fig-host-latency"} <= set(page.images)
    for src in page.images.values():
        image = _decoded(src)
        assert image.format == "PNG" and image.width > 400 and image.height > 200


def test_report_without_labels_plots_agreement(digits_build):
    """A generic model evaluated without labels: no accuracy columns; agreement takes their place."""
    manifest = digits_build.manifest.to_dict()
    for m in [manifest["metrics"]["float"], manifest["metrics"]["chosen"], *manifest["metrics"]["variants"]]:
        m["accuracy"], m["per_class_accuracy"] = None, None
    manifest["labels"]["values"] = []
    reports = render_all(Manifest.from_dict(manifest))
    assert "top-1 accuracy" not in reports["report.md"].split("## Variants side by side")[1]
    assert "Per-class" not in reports["report.md"]
    assert "fig-size-vs-accuracy" in _Page(reports["report.html"]).images


def test_short_operator_names():
    fused = ("model_1/re_lu_2/Relu;model_1/batch_normalization_2/batchnorm/add_1;model_1/conv2d_2/convolution;"
             "model_1/batch_normalization_2/batchnorm/sub1")
    assert short_op_name(fused, "CONV_2D") == "conv2d_2 (+2 fused)"
    assert short_op_name(fused, "") == "re_lu_2 (+2 fused)"  # no hint: the op's output layer
    assert short_op_name("model/outliers/MatMul1", "FULLY_CONNECTED") == "outliers"
    assert short_op_name("dense/BiasAdd") == "dense"
    assert short_op_name("Identity", "SOFTMAX") == "Identity"
    long = short_op_name("m/" + "x" * 80 + "/op")
    assert len(long) <= 36 and "…" in long


# --- auto mode ------------------------------------------------------------------------------------------
def test_auto_report_shows_every_candidate_and_operator_errors(outlier_builds):
    _, auto = outlier_builds
    manifest, bundle = auto.manifest.to_dict(), auto.bundle
    md = (bundle / "report.md").read_text()
    candidates = manifest["selection"]["candidates"]
    rows = _md_rows(md, "How the variant was chosen")
    assert [r[0].strip("*") for r in rows] == [c["name"] for c in candidates]
    for row, c in zip(rows, candidates):
        verdict = "chosen" if c["name"] == manifest["selection"]["chosen"] else ("within budget" if c["accepted"] else "rejected")
        assert row[1].strip("*") == verdict and row[-1].strip("*") == c["reason"].replace("|", "\\|")
        assert row[2].strip("*") == f"{c['size_bytes'] / 1024:.1f}"
    ops = _md_rows(md, "Per-operator quantization error")
    kept = set(manifest["recipe"].get("float_ops") or [])  # the chosen variant may be dynamic range (no operator kept in float)
    assert len(ops) == len(manifest["selection"]["operator_sensitivity"][:15])
    assert all(";" not in r[0] and len(r[0].strip("*")) <= 36 for r in ops)  # fused TFLite names shortened
    assert sum(r[-1] == "yes" for r in ops) == len(kept) and all(r[0].startswith("**") == (r[-1] == "yes") for r in ops)
    page = _Page((bundle / "report.html").read_text())
    assert {"fig-size-vs-accuracy", "fig-per-class-change", "fig-operator-error"} <= set(page.images)
    assert "fig-host-latency" not in page.images  # built without latency: no latency plot
    # report.md links its plots, written beside it
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert links and all((bundle / link).is_file() for link in links)
    assert sorted(links) == sorted(f"{PLOTS_FOLDER}/{p.name}" for p in (bundle / PLOTS_FOLDER).iterdir())


# --- device results -------------------------------------------------------------------------------------------
def test_report_command_merges_device_results(merged, device_results):
    bundle, summary = merged
    kept = [Path(p) for p in summary["device_results"]]
    assert len(kept) == 1 and kept[0].parent == bundle / "device" and summary["newly_merged"] == summary["device_results"]
    assert json.loads(kept[0].read_text()) == json.loads(device_results.read_text())
    assert sorted(summary["reports"]) == sorted(str(bundle / n) for n in ("report.md", "report.html"))
    runs = json.loads(device_results.read_text())["runs"]
    md = (bundle / "report.md").read_text()
    assert "## On device" in md
    rows = [r for r in re.findall(r"^\| (digits \| .*)$", md, re.M)]
    timing = [r.split(" | ") for r in rows if "thread" in r]
    assert [t[1] for t in timing] == ["cpu", "gpu → xnnpack"]  # the fallback is visible, not reported as gpu
    unit = _unit(runs)
    assert f"Times in {unit.name}." in md
    for cells, run in zip(timing, runs):
        assert cells[7] == unit(run["latency"]["p50"]) and cells[9] == unit(run["latency"]["p99"])
        assert cells[3] == unit(run["init_ms"]) and cells[12].rstrip(" |") == str(run["latency"]["count"])
    quality = [r.split(" | ") for r in rows if "thread" not in r]
    assert all(q[7] == f"{run['parity']['top1_agreement']:.1%}" for q, run in zip(quality, runs))
    assert "fell back" in quality[1][-1] and quality[1][-1].count("gpu")
    assert [q[9] for q in quality] == ["ok", "fallback"]  # falling back is not success, in the report too
    # how much of the model the accelerator took, and what the memory figure is, as the runs say
    assert quality[0][2] == "0 (no delegate)" and runs[0]["ops_source"] == "no_delegate"
    assert quality[1][2] == f"{runs[1]['delegated_ops']} of {runs[1]['total_ops']} (delegate_graph)"
    assert all(q[4].endswith("(rise over pre-load)") for q in quality)
    # beside it, what the build's accelerator coverage predicted the GPU delegate would take (nothing for cpu)
    gpu = json.loads((bundle / "manifest.json").read_text())["accelerator_coverage"]["variants"]
    gpu = next(v for v in gpu if v["variant"] == "int8")
    assert quality[0][3] == "–" and quality[1][3] == f"{gpu['gpu']['delegated']} of {gpu['operators']}"
    assert {r["peak_memory_measure"] for r in runs} == {"rise_over_preload_baseline"}
    assert "### APK size" in md and "dev.packager.demo" in md
    page = _Page((bundle / "report.html").read_text())
    assert any(k.startswith("fig-device-latency-") for k in page.images) and "fig-apk-breakdown" in page.images
    # a later regeneration keeps the device section; merging the same file again keeps one copy
    again = _cli("report", str(bundle), "--device-results", str(device_results), "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["newly_merged"] == []
    assert len(list((bundle / "device").iterdir())) == 1
    assert _cli("report", str(bundle)).exit_code == 0 and (bundle / "report.md").read_text() == md


def _unit(runs: list[dict]):
    """The time unit the report picks for a device table: µs when everything is under 1 ms."""
    from packager.report import MS, US

    times = [t for r in runs for t in (r["init_ms"], r["first_inference_ms"], (r["latency"] or {}).get("max")) if t is not None]
    return MS if any(t >= 1 for t in times) else US


def test_device_section_shows_summary_only_runs_and_failures(merged, device_results, tmp_path):
    """benchmark_model keeps no single runs (no percentiles); a failed run shows its error."""
    bundle = Path(shutil.copytree(merged[0], tmp_path / "digits"))
    shutil.rmtree(bundle / "device")
    data = json.loads(device_results.read_text())
    summary_run, failed = data["runs"]
    summary_run.update(runner="benchmark_model", latencies_ms=[])
    summary_run.pop("runtime", None)  # the virtual handset's runtime; benchmark_model does not say which it is
    summary_run["latency"].update(p50=None, p90=None, p99=None)
    failed.update(status="error", latency=None, parity=None, init_ms=None, first_inference_ms=None, latencies_ms=[],
                  errors=["the app crashed: java.lang.OutOfMemoryError"])
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    result = _cli("report", str(bundle), "--device-results", str(edited))
    assert result.exit_code == 0, result.output
    md = (bundle / "report.md").read_text()
    timing = [r.split(" | ") for r in re.findall(r"^\| (digits \| .*)$", md, re.M) if "thread" in r]
    assert timing[0][2] == "benchmark_model, 1 thread" and timing[0][7:10] == ["–", "–", "–"]
    assert timing[0][5] == _unit(data["runs"])(summary_run["latency"]["mean"])
    failed_row = next(r for r in re.findall(r"^\| digits \| .*$", md, re.M) if "| error |" in r)
    assert "the app crashed: java.lang.OutOfMemoryError" in failed_row
    page = _Page((bundle / "report.html").read_text())
    assert any(k.startswith("fig-device-latency-") for k in page.images)  # drawn from mean/min/max


def test_several_devices_are_compared_side_by_side(merged, device_results, tmp_path):
    """A second phone (its results made from the virtual one's, with other properties and times):
    each device gets its own section and one figure compares them, fallbacks included."""
    bundle = Path(shutil.copytree(merged[0], tmp_path / "digits"))
    data = json.loads(device_results.read_text())
    for run in data["runs"]:
        run["device"].update(serial="R5CT30ABCDE", manufacturer="samsung", model="SM-S911B", soc="SM8550", virtual=False)
        run.update(virtual=False, latencies_ms=[x * 3 for x in run["latencies_ms"]])
        run["latency"] = {k: (v * 3 if isinstance(v, float) else v) for k, v in run["latency"].items()}
    for apk in data["apks"]:
        apk["serial"] = "R5CT30ABCDE"
    phone = tmp_path / "phone.json"
    phone.write_text(json.dumps(data))
    result = _cli("report", str(bundle), "--device-results", str(phone))
    assert result.exit_code == 0, result.output
    md = (bundle / "report.md").read_text()
    assert "### samsung SM-S911B · R5CT30ABCDE" in md and "runs on 2 devices" in md
    page = _Page((bundle / "report.html").read_text())
    assert "fig-device-overview" in page.images and _decoded(page.images["fig-device-overview"]).width > 400
    assert sum(k.startswith("fig-device-latency-") for k in page.images) == 2
    # one device only: no comparison figure
    assert "fig-device-overview" not in _Page((merged[0] / "report.html").read_text()).images


def test_report_open_hands_the_page_to_the_desktop(merged, tmp_path, monkeypatch):
    """--open goes through xdg-open (a stand-in that records its argument: there is no desktop
    here); without one the report is still written and a note says where it is."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "opened.txt"
    opener = bin_dir / "xdg-open"
    opener.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {record}.tmp && /bin/mv {record}.tmp {record}\n')
    opener.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    bundle = merged[0]
    result = _cli("report", str(bundle), "--open", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["reports"]  # --json output stays clean
    for _ in range(100):
        if record.exists():
            break
        time.sleep(0.05)
    assert record.read_text() == str(bundle / "report.html")
    opener.unlink()
    result = _cli("report", str(bundle), "--open")
    assert result.exit_code == 0 and f"could not open a browser; open {bundle / 'report.html'}" in result.stderr


# --- in a browser ----------------------------------------------------------------------------------------
def test_reports_render_in_chromium_without_errors(merged, outlier_builds, tmp_path):
    for page in (merged[0] / "report.html", outlier_builds[1].bundle / "report.html"):
        expected = len(_Page(page.read_text()).images)
        result = _render_in_chromium(page, tmp_path)
        assert result["problems"] == [] and result["console"] == [], result
        assert len(result["images"]) == expected >= 3 and all(w > 400 for w in result["images"]), result


def test_chromium_probe_catches_broken_and_external_images(merged, tmp_path):
    """The render check can fail: a corrupt plot and an external image are both reported."""
    page = tmp_path / "bad" / "report.html"
    page.parent.mkdir()
    text = (merged[0] / "report.html").read_text()
    text = text.replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1)
    page.write_text(text.replace("</main>", '<img src="http://127.0.0.1:9/x.png"></main>'))
    result = _render_in_chromium(page, tmp_path)
    assert 0 in result["images"] and any(p.startswith("csp http://127.0.0.1:9") for p in result["problems"]), result
    assert any("Content Security Policy" in line for line in result["console"]), result


# --- bad input ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, needle", [
    (lambda tmp: (tmp / "x").mkdir() or tmp / "x", "is not a bundle"),
    (lambda tmp: tmp / "missing", "does not exist"),
])
def test_report_on_something_not_a_bundle(make, needle, tmp_path):
    result = _cli("report", str(make(tmp_path)))
    assert result.exit_code == 2 and needle in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("content, needle", [
    ('{"runs": []}', "device-results.schema.json"),
    ("not json", "cannot read device results"),
    ("[1, 2]", "not a device results file"),
    (None, "does not exist"),
    ("OTHER", "has no runs of bundle digits"),
])
def test_report_rejects_bad_device_results(content, needle, digits_bundle, device_results, tmp_path):
    bundle = Path(shutil.copytree(digits_bundle, tmp_path / "digits"))
    before = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    bad = tmp_path / "results.json"
    if content == "OTHER":  # valid results, but of another bundle
        data = json.loads(device_results.read_text())
        for run in data["runs"]:
            run.update(bundle="other", bundle_sha256="0" * 64)
        content = json.dumps(data)
    if content is not None:
        bad.write_text(content)
    good = str(device_results)  # a good file first: nothing is kept when any file is bad
    result = _cli("report", str(bundle), "--device-results", good, "--device-results", str(bad))
    assert result.exit_code == 2 and needle in result.stderr and "Traceback" not in result.output, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()} == before and not (bundle / "device").exists()
