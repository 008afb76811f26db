"""A build's labels: read from --labels (bounded, checked), the model's own metadata or the
evaluation data's class folders, and fitted to the model's classes."""

from __future__ import annotations

from pathlib import Path

from packager.build.facts import LABELLED_TASKS, ModelFacts
from packager.build.spec import BuildSpec
from packager.errors import PackagerError
from packager.fileio import DocumentError, read_text_bounded

# to every phone; 21k classes of short names are about 0.5 MB.
MAX_LABEL_CHARS = 1024
MAX_LABELS_FILE_BYTES = 8 << 20


def read_labels(path: Path) -> list[str]:

    try:
        lines = read_text_bounded(path, MAX_LABELS_FILE_BYTES).splitlines()
    except FileNotFoundError:
        raise PackagerError(f"labels file {path} does not exist", "check --labels") from None
    except DocumentError as exc:
        raise PackagerError(f"cannot read labels file {path} (it is {exc})", "save it as UTF-8 text, one label per line") from None
    except OSError as exc:
        raise PackagerError(f"cannot read labels file {path} ({exc})", "save it as UTF-8 text, one label per line") from None
    while lines and not lines[-1].strip():
        lines.pop()
    labels = [line.strip() for line in lines]
    if not labels:
        raise PackagerError(f"labels file {path} is empty", "write one label per line")
    if any(not label for label in labels):
        raise PackagerError(f"labels file {path} has empty lines", "write one label per line, no blanks")
    long = next((i for i, label in enumerate(labels) if len(label) > MAX_LABEL_CHARS), None)
    if long is not None:
        raise PackagerError(f"labels file {path} line {long + 1} is {len(labels[long]):,} characters long, more than {MAX_LABEL_CHARS}",
                            "write one short class name per line")
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if label in seen:
            raise PackagerError(f"labels file {path} names {label[:60]!r} twice (lines {seen[label] + 1} and {i + 1})",
                                "give every class a distinct label")
        seen[label] = i
    return labels


def _folder_class_names(path: Path | None) -> list[str] | None:
    if path is None or not path.is_dir():
        return None
    names = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    return names or None


def resolve_labels(spec: BuildSpec, facts: ModelFacts, own_labels: tuple[str, ...] | None = None) -> list[str]:
    """Labels from --labels, else the class folders of the evaluation data (calibration data never
    carries labels); their count must fit the output."""
    if spec.labels is not None:
        labels, origin = read_labels(spec.labels), f"labels file {spec.labels}"
    elif own_labels:
        labels, origin = list(own_labels), "the model's own metadata"
    else:
        # a segmenter's evaluation folder holds its masks/ folder, not class folders
        names = _folder_class_names(spec.eval_data) if facts.task != "segmentation" else None
        labels, origin = (names, "the class folders of the evaluation data") if names else ([], "")
    if facts.num_classes is None:
        return labels
    if not labels:  # an image classifier needs labels in its metadata: name the classes by index
        return [str(i) for i in range(facts.num_classes)] if facts.task in LABELLED_TASKS else []
    if len(labels) != facts.num_classes:
        raise PackagerError(
            f"{origin} has {len(labels)} labels but the model outputs {facts.num_classes} classes",
            "give exactly one label per output class, in output order",
        )
    return labels


def own_labels(own, facts: ModelFacts) -> tuple[str, ...] | None:
    """The labels the model's own metadata attaches to the output labels go on, when they fit it."""
    if own is None or facts.num_classes is None or own.labels is None:
        return None
    index = facts.labels_output or 0
    first = next((i for i, t in enumerate(own.outputs) if t.associated_files), None)
    return own.labels if first == index and len(own.labels) == facts.num_classes else None
