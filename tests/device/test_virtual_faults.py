"""Link faults of the virtual handset, seen by the real adb client and by adb-shell: a cable
pulled mid-push (no partial file, a retry succeeds), a slow link. (Unauthorized keys are in
test_virtual_protocol; app faults in test_virtual_app.)"""

from __future__ import annotations

import os
import time

from tests.device.test_virtual_protocol import _connect

TARGET = "/data/local/tmp/staging/model.bin"


def test_disconnect_mid_push_leaves_no_partial_file_and_a_retry_succeeds(adb, virtual_handset, tmp_path):
    s = _connect(adb, virtual_handset)
    payload = os.urandom(600_000)
    (tmp_path / "model.bin").write_bytes(payload)
    (virtual_handset.root / "data/local/tmp/staging").mkdir(parents=True)
    (virtual_handset.root / "data/local/tmp/staging/model.bin").write_bytes(b"an older version")
    virtual_handset.faults.disconnect_after_bytes = 200_000
    cut = adb(*s, "push", str(tmp_path / "model.bin"), TARGET)
    assert cut.returncode != 0
    # like adbd: the interrupted file is gone (the older one was removed when the push began)
    assert os.listdir(virtual_handset.root / "data/local/tmp/staging") == []
    assert virtual_handset.faults.disconnect_after_bytes is None  # it fired once
    s = _connect(adb, virtual_handset)  # the host reconnects, as after a flaky cable
    adb(*s, "push", str(tmp_path / "model.bin"), TARGET, check=True)
    assert (virtual_handset.root / "data/local/tmp/staging/model.bin").read_bytes() == payload


def test_a_disconnect_on_every_push(virtual_handset, adb_signer, tmp_path):
    from adb_shell.adb_device import AdbDeviceTcp

    (tmp_path / "model.bin").write_bytes(os.urandom(300_000))
    virtual_handset.faults.disconnect_after_bytes = 50_000
    virtual_handset.faults.disconnect_once = False
    for _attempt in range(2):
        device = AdbDeviceTcp("127.0.0.1", virtual_handset.port, default_transport_timeout_s=1)
        assert device.connect(rsa_keys=[adb_signer], auth_timeout_s=5)
        cut = False
        try:  # adb-shell notices a dropped socket by its read timeout
            device.push(str(tmp_path / "model.bin"), TARGET, read_timeout_s=1)
        except Exception:  # noqa: BLE001 - adb-shell raises several types for a dropped socket
            cut = True
        device.close()
        assert cut and not (virtual_handset.root / "data/local/tmp/staging/model.bin").exists()
    assert virtual_handset.faults.disconnect_after_bytes == 50_000  # still armed


def test_slow_link_is_measurably_slower(adb_device, virtual_handset, tmp_path):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(400_000))
    virtual_handset.faults.throughput_bytes_per_s = 2_000_000  # 400 kB at 2 MB/s: at least 0.2 s
    started = time.perf_counter()
    adb_device.push(str(blob), "/data/local/tmp/slow.bin")
    slow = time.perf_counter() - started
    assert virtual_handset.faults.delayed_s >= 0.2 and slow >= 0.2
    assert (virtual_handset.root / "data/local/tmp/slow.bin").read_bytes() == blob.read_bytes()
    virtual_handset.faults.throughput_bytes_per_s = None
    virtual_handset.faults.latency_s = 0.02  # and 20 ms per packet: a shell command is a handful of packets
    before = virtual_handset.faults.delayed_s
    started = time.perf_counter()
    assert adb_device.shell("echo slow") == "slow\n"
    assert time.perf_counter() - started >= 0.08 and virtual_handset.faults.delayed_s - before >= 0.08
