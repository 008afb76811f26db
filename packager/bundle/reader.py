"""Reading a bundle folder (docs/CONTRACTS.md, contract 1): the part every consumer needs.

The build writes bundles (packager/bundle/writer.py); the device kit, `packager bundle` and the report
read them through `load_bundle`, which validates the manifest against its schema first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packager.errors import PackagerError
from packager.fileio import DocumentError, NotRegularFile, linked_component, read_json, refuse_special
from packager.manifest import GoldenFile, Manifest


@dataclass(frozen=True)
class BundleRef:
    """A bundle on disk: its folder and its validated manifest."""

    path: Path
    manifest: Manifest

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def model_path(self) -> Path:
        return self.path / self.manifest.model.file

    @property
    def model_sha256(self) -> str:
        return self.manifest.model.sha256

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.labels.values)

    def path_of(self, entry: GoldenFile) -> Path:
        """Where one of the manifest's golden files is on disk."""
        return self.path / entry.file

    @property
    def golden_input_paths(self) -> list[Path]:
        """The golden inputs' files, in the order of manifest.golden.inputs (the entries say the rest)."""
        return [self.path_of(g) for g in self.manifest.golden.inputs]

    @property
    def golden_output_paths(self) -> list[Path]:
        return [self.path_of(g) for g in self.manifest.golden.outputs]


def load_bundle(path: str | Path) -> BundleRef:
    """Open dist/<name>/ and validate its manifest; a clear PackagerError when it is not a bundle."""
    folder = Path(path)
    manifest_path = folder / "manifest.json"
    if not folder.is_dir():
        raise PackagerError(f"bundle folder {folder} does not exist", "run `packager build` first or check the path")
    try:
        refuse_special(manifest_path, allow_dir=False)
    except NotRegularFile as exc:
        raise PackagerError(f"{folder} is not a bundle: {exc}", "point at a dist/<name>/ folder made by `packager build`") from None
    if not manifest_path.is_file():
        raise PackagerError(f"{folder} is not a bundle: no manifest.json", "point at a dist/<name>/ folder made by `packager build`")
    try:
        manifest = read_json(manifest_path)
    except (OSError, DocumentError) as exc:
        raise PackagerError(f"{manifest_path} cannot be read as JSON ({exc})", "rebuild the bundle") from None
    ref = BundleRef(folder, Manifest.from_dict(manifest, what=str(manifest_path)))  # validated against the schema
    m = ref.manifest
    for relative in [m.model.file, *(g.file for g in [*m.golden.inputs, *m.golden.outputs]), *m.golden.images]:
        link = linked_component(folder, relative)
        if link is not None:
            raise PackagerError(f"bundle {folder}: {link} is a symbolic link; a bundle's files are read only as files of the bundle",
                                "replace the link by the file itself or rebuild the bundle")
    for needed in [ref.model_path, *ref.golden_input_paths, *ref.golden_output_paths]:
        if not needed.is_file():
            raise PackagerError(f"bundle {folder} is incomplete: {needed.name} is missing", "rebuild the bundle")
    check_golden(ref)
    return ref


def check_golden(ref: BundleRef) -> None:
    """The golden files are what the manifest says: plain .npy arrays of numbers (no pickles, no
    structured or complex dtypes, header consistent with the data: data.arrays reads them bounded)
    with the manifest's dtype and shape; outputs finite (a NaN golden output makes every parity
    comparison pass vacuously)."""
    import numpy as np  # noqa: PLC0415

    from packager.data import arrays  # noqa: PLC0415

    for kind, entries in (("input", ref.manifest.golden.inputs), ("output", ref.manifest.golden.outputs)):
        for entry in entries:
            path = ref.path_of(entry)
            array = arrays.load_array(path, f"golden {kind} file")
            what = f"bundle {ref.path}: golden {kind} {entry.file}"
            if array.dtype.names is not None or array.dtype.kind not in "biuf":
                raise PackagerError(f"{what} holds {array.dtype} values, not plain numbers", "rebuild the bundle")
            if array.dtype.name != entry.dtype or list(array.shape) != list(entry.shape):
                raise PackagerError(f"{what} is {array.dtype.name} {list(array.shape)}, but the manifest says {entry.dtype} {list(entry.shape)}",
                                    "rebuild the bundle")
            if kind == "output" and array.dtype.kind == "f" and not np.isfinite(array).all():
                raise PackagerError(f"{what} holds NaN or infinite values, which no device run can be compared with", "rebuild the bundle")
