"""smg-fast doctor: the machine report and every fused op checked against its reference on the device;
training refuses fused ops on a device where one fails."""
import os
import subprocess
import sys

import pytest
import torch

from smg_fast import doctor


def test_doctor_reports_the_stack_and_passes_every_op_on_cpu():
    out = subprocess.run([sys.executable, "-m", "smg_fast.cli", "doctor", "--repeats", "1"], capture_output=True,
                         text=True, timeout=900, env={**os.environ})
    assert out.returncode == 0, out.stderr[-2000:]
    for expected in ("torch", "rendering (MUJOCO_GL)", "DMC-GB color_hard", "DMC modes that run", "composite fwd+bwd",
                     "replay_gather",
                     "upsample_conv2d fwd+bwd", "all 7 fused ops pass on cpu"):
        assert expected in out.stdout, expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_doctor_on_a_missing_gpu_says_so():
    out = subprocess.run([sys.executable, "-m", "smg_fast.cli", "doctor", "--device", "cuda"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 1 and "no CUDA device is available" in out.stderr and "Traceback" not in out.stderr


def test_a_failing_op_check_refuses_fused_training(monkeypatch, tmp_path):
    monkeypatch.setenv("SMG_FAST_CACHE", str(tmp_path))
    monkeypatch.setattr(doctor, "_cache_path", lambda device: tmp_path / "verdict.json")
    monkeypatch.setattr(doctor, "check_ops", lambda device, repeats=1: [
        {"op": "composite fwd+bwd", "ok": True, "error": 0.0},
        {"op": "upsample_conv2d fwd+bwd", "ok": False, "error": 0.5}])
    with pytest.raises(RuntimeError, match="upsample_conv2d fwd\\+bwd \\(error 0.5\\).*fused_ops=false"):
        doctor.require_ops("cpu")
    # the verdict is cached: a second call reads it without checking again
    monkeypatch.setattr(doctor, "check_ops", lambda device, repeats=1: pytest.fail("checked twice"))
    with pytest.raises(RuntimeError, match="fused_ops=false"):
        doctor.require_ops("cpu")
