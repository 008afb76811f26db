"""packager/build/labels.py: a labels file is read bounded and checked; bad ones are refused with one line."""

from __future__ import annotations

import pytest

from packager.errors import PackagerError
from packager.build.labels import read_labels


@pytest.mark.parametrize(("text", "needle"), [
    ("cat\ndog\ncat\n", "twice"), ("cat\n" + "x" * 5000 + "\n", "more than 1024"), ("a\n" * (5 << 20), "larger than"),
])
def test_bad_labels_refused(text, needle, tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PackagerError) as err:
        read_labels(path)
    assert needle in err.value.one_line()
