"""Real 2-process DDP (torchrun, gloo on CPU) must give the same weights as 1 process with the global batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from idsight.artifact import load_artifact
from idsight.train.ddp_check import run_check

STEPS = 10  # 64 samples / global batch 8 = 8 steps per epoch: crosses an epoch boundary


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _torchrun(out: Path, *, shuffle: bool) -> subprocess.CompletedProcess[str]:
    torchrun = Path(sys.executable).with_name("torchrun")
    launcher = [str(torchrun)] if torchrun.exists() else [sys.executable, "-m", "torch.distributed.run"]
    cmd = [
        *launcher,
        "--nnodes=1",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        "-m",
        "idsight.train.ddp_check",
        "--out",
        str(out),
        "--batch-size",
        "4",
        "--steps",
        str(STEPS),
        *(["--shuffle"] if shuffle else []),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=out.parent)


@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
def test_ddp_two_ranks_equal_single_process(tmp_path: Path, shuffle: bool) -> None:
    torch.set_num_threads(1)
    t0 = time.monotonic()
    proc = _torchrun(tmp_path / "ddp.safetensors", shuffle=shuffle)
    ddp_s = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert ddp_s < 60, f"torchrun run took {ddp_s:.1f}s"
    ddp, meta = load_artifact(tmp_path / "ddp.safetensors")
    ddp_init, _ = load_artifact(tmp_path / "ddp.init.safetensors")
    assert meta["world_size"] == 2 and meta["storage_dtype"] == "float32"

    init, single, _ = run_check(batch_size=8, steps=STEPS, shuffle=shuffle, out_dir=str(tmp_path / "single"))

    assert set(ddp) == set(single)
    for k in single:
        torch.testing.assert_close(ddp_init[k], init[k], rtol=0, atol=0)  # same seeded init
        torch.testing.assert_close(
            ddp[k], single[k], rtol=0, atol=1e-5, msg=f"DDP vs single-process mismatch in {k}"
        )
    moved = max(float((single[k] - init[k]).abs().max()) for k in single)
    assert moved > 1e-2, "weights did not change from init"
