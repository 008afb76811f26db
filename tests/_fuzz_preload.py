"""Imported by the fuzz harness's forkserver (tests/fuzzing.py) before it forks builds."""

import matplotlib

matplotlib.use("Agg")

import ai_edge_litert.interpreter  # noqa: E402, F401
import matplotlib.pyplot  # noqa: E402, F401
from tensorflow_lite_support.metadata.python.metadata_writers import image_classifier, metadata_info, metadata_writer  # noqa: E402, F401

from packager import quiet  # noqa: E402

quiet.import_tensorflow()
