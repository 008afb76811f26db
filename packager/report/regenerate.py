"""`packager report DIST`: keep the device results given beside the bundle and rewrite its reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packager.bundle.reader import load_bundle
from packager.errors import PackagerError
from packager.fileio import write_atomic
from packager.report.content import PLOTS_FOLDER, render_all
from packager.report.device import is_run_of, keep, read_results_file


@dataclass
class Regenerated:
    bundle: str
    reports: list[str]
    plots: list[str]
    merged: list[str]  # device results newly kept in <bundle>/device/
    already_kept: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"bundle": self.bundle, "reports": self.reports, "plots": self.plots, "device_results": self.merged + self.already_kept,
                "newly_merged": self.merged}


def regenerate(bundle_dir: Path | str, results: list[Path] | None = None) -> Regenerated:
    """`packager report`: validate every results file first (nothing is written when one is bad),
    keep them in <bundle>/device/, then rewrite the reports from the manifest."""

    bundle = load_bundle(bundle_dir)
    documents = []
    for path in results or []:
        data = read_results_file(Path(path))
        if not any(is_run_of(r, bundle.name, bundle.model_sha256) for r in data.runs):
            measured = sorted({r.bundle for r in data.runs}) or ["none"]
            raise PackagerError(f"{path} has no runs of bundle {bundle.name} (it measured: {', '.join(measured)})",
                                f"pass results of `packager device bench {bundle.path}`")
        documents.append((Path(path), data))
    merged: list[str] = []
    already: list[str] = []
    for path, data in documents:
        target, new = keep(bundle.path, data, path)
        (merged if new else already).append(str(target))
    try:
        texts = render_all(bundle.manifest, bundle.path)
        written = []
        for name, text in texts.items():
            write_atomic(bundle.path / name, text)
            written.append(str(bundle.path / name))
    except OSError as exc:
        raise PackagerError(f"cannot write the report into {bundle.path} ({exc.strerror or exc})", "check the folder's permissions") from None
    plots_dir = bundle.path / PLOTS_FOLDER
    figures = sorted(str(p) for p in plots_dir.glob("*.png")) if plots_dir.is_dir() else []
    return Regenerated(str(bundle.path), written, figures, merged, already)
