"""packager.data.loading: an evaluation folder decoded in the background and evaluated as it comes."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from packager.data.readers import load_dataset, start_loading
from packager.errors import PackagerError
from packager.runtime.evaluate import run_all
from packager.data.loading import LoadingDataset, rows_of
from packager.data.preprocess import Preprocessing

PRE = Preprocessing((8, 8), "GRAYSCALE", (0.0,), (255.0,))


def test_background_load_gives_the_same_dataset(digits_data):
    whole = load_dataset(digits_data.test_dir, PRE, (8, 8, 1))
    pending = start_loading(digits_data.test_dir, PRE, (8, 8, 1))
    assert isinstance(pending, LoadingDataset) and len(pending) == len(whole)
    assert np.array_equal(pending.labels, whole.labels) and pending.files == whole.files  # known before decoding
    assert np.array_equal(pending.rows(5, 40), whole.inputs[5:40])
    loaded = pending.result()
    assert np.array_equal(loaded.inputs, whole.inputs) and loaded.class_names == whole.class_names


def test_evaluation_on_loading_data_matches_each_model_run_alone(digits_data, digits_build):
    from packager.runtime.evaluate import ModelRunner

    # fp32 and fp16 take float32 inputs: run_all converts each chunk once for both (_SharedInputs)
    models = {k: digits_build.models[k] for k in ("fp32", "fp16", "int8")}
    whole = load_dataset(digits_data.test_dir, PRE, (8, 8, 1))
    alone = {name: ModelRunner(model, threads=1).predict(whole.inputs) for name, model in models.items()}
    for inputs in (whole.inputs, start_loading(digits_data.test_dir, PRE, (8, 8, 1))):
        got, _ = run_all(models, inputs, measure_latency=False, chunk=32)
        for name in models:
            assert all(np.array_equal(a, b) for a, b in zip(alone[name], got[name])), name


def test_a_bad_file_past_the_first_fails_whoever_waits_for_it(digits_data, digits_build, tmp_path):
    folder = shutil.copytree(digits_data.test_dir, tmp_path / "eval")
    (folder / "9" / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")  # the last file read
    pending = start_loading(folder, PRE, (8, 8, 1))  # the first image is fine: no error yet
    assert rows_of(pending, 0, 1).shape == (1, 8, 8, 1)
    with pytest.raises(PackagerError, match="zz_broken.png cannot be decoded"):
        pending.result()
    with pytest.raises(PackagerError, match="cannot be decoded"):
        run_all({"fp32": digits_build.models["fp32"]}, pending, measure_latency=False)  # raised by the worker that waits


def test_a_folder_of_the_wrong_mode_fails_at_once(tmp_path):
    folder = tmp_path / "color"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8), (i, 2, 3)).save(folder / f"{i}.png")
    with pytest.raises(PackagerError, match="mode RGB"):
        start_loading(folder, PRE, (8, 8, 1))  # the first image is decoded before start_loading returns


def test_a_worker_ahead_of_the_decoding_takes_decoded_chunks_of_another_model(digits_build):
    from packager.runtime.evaluate import _Schedule

    models = {"a": digits_build.models["fp32"], "b": digits_build.models["int8"]}
    decoded = [32]
    schedule = _Schedule(models, samples=96, chunk=32, ready=lambda: decoded[0])
    name, start, runner = schedule.take()
    assert (name, start) == ("a", 0)
    schedule.done(name, runner, 0.01)
    # a's next chunk is not decoded yet: the worker runs b's first chunk instead of waiting
    name, start, runner = schedule.take()
    assert (name, start) == ("b", 0)
    decoded[0] = 96  # all decoded: back to the usual rule, a worker keeps to its model
    schedule.done(name, runner, 0.01)
    assert schedule.take()[:2] == ("b", 32)


def test_once_decoded_a_worker_whose_model_is_done_joins_the_slowest_model(digits_build):
    from packager.runtime.evaluate import _Schedule

    # fast, slow and medium; all decoded. Each worker keeps its model while it has chunks, and one
    # whose model is done takes the model whose chunks take longest (a second interpreter for it),
    # so the last chunks run are the short ones.
    models = {"fast": digits_build.models["fp32"], "slow": digits_build.models["int8"], "medium": digits_build.models["fp16"]}
    schedule = _Schedule(models, samples=96, chunk=32)
    seconds = {"fast": 0.01, "slow": 0.08, "medium": 0.03}
    taken = [schedule.take() for _ in range(3)]  # one thread: each model started once, in order
    assert [t[:2] for t in taken] == [("fast", 0), ("slow", 0), ("medium", 0)]
    for name, _, runner in taken:
        schedule.done(name, runner, seconds[name])
    # this thread ran "medium" last: it keeps to it while it has chunks
    assert [schedule.take()[:2] for _ in range(1)] == [("medium", 32)]


def test_a_worker_without_chunks_of_its_own_takes_the_longest_chunks_first(digits_build):
    import threading

    from packager.runtime.evaluate import _Schedule

    models = {"fast": digits_build.models["fp32"], "slow": digits_build.models["int8"]}
    schedule = _Schedule(models, samples=160, chunk=32)

    finish = threading.Event()
    workers = []

    def in_a_new_worker(seconds: float | None = None, repeat: int = 1):
        got, taken = [], threading.Event()

        def work():
            for _ in range(repeat):
                task = schedule.take()
                got.append(task[:2])
                if seconds is not None:
                    schedule.done(task[0], task[2], seconds)
            taken.set()
            finish.wait()  # alive to the end: a new thread may otherwise get a finished one's identity

        workers.append(threading.Thread(target=work, daemon=True))
        workers[-1].start()
        assert taken.wait(30)
        return got[0] if repeat == 1 else got

    assert in_a_new_worker(0.03) == ("fast", 0)  # 30 ms a chunk, 4 chunks left
    assert in_a_new_worker(0.08, repeat=4) == [("slow", 0), ("slow", 32), ("slow", 64), ("slow", 96)]  # 80 ms, 1 left
    # a third worker: both models have an idle interpreter; the slow one's last chunk goes first (though
    # the fast one has more work left), the fast one's short chunks are left for the end
    assert in_a_new_worker() == ("slow", 128)
    finish.set()
    for worker in workers:
        worker.join()


def test_rows_are_allocated_in_a_plain_mapping_and_writable():
    from packager.data.loading import allocate_rows

    rows = allocate_rows((3, 4, 5, 2), np.float64)
    assert rows.shape == (3, 4, 5, 2) and rows.dtype == np.float64 and rows.flags.writeable and rows.flags.c_contiguous
    rows[...] = 1.5
    assert float(rows.sum()) == 1.5 * rows.size
    assert allocate_rows((0, 4, 5, 2)).shape == (0, 4, 5, 2)
