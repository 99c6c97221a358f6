"""A rank that fails during data-parallel training under mpirun -np 2 must not leave the other
waiting forever: the job ends, non-zero, with a message naming the rank.
- rank 1's backward returns an error at step 3 (tool_train_rank_fail backward): the ranks agree
  on it, so both stop at that step, each saying why;
- rank 1 exits without MPI_Finalize inside its backward (tool_train_rank_fail exit): mpirun ends
  the job;
- rank 1 of `mlic train` is killed with kill -9 mid-epoch: mpirun ends the job.
Every run has a timeout: a hang fails the test instead of stalling the suite."""
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import BUILD
from dist_fixtures import MPI_ENV, mpi_skip_reason, mpirun_cmd, run, write_train_images
from test_resume import mlic_processes

TOOL = os.path.join(BUILD, "tests", "tool_train_rank_fail")
TIMEOUT = 120

pytestmark = pytest.mark.skipif(mpi_skip_reason() is not None, reason=str(mpi_skip_reason()))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("dist_fail")
    write_train_images(str(d), 64)  # 8 global batches of 2 x 4
    return d


def test_a_failing_backward_on_one_rank_stops_both(data, tmp_path):
    r = run(mpirun_cmd(2, [TOOL, "backward", str(data / "train.txt"),
                           str(tmp_path / "m.safetensors")]), timeout=TIMEOUT)
    assert r.returncode != 0
    assert re.search(r"rank 1 of 2: epoch 1, batch 3: .*injected backward failure on rank 1",
                     r.stderr), r.stderr
    assert "rank 0 of 2: epoch 1, batch 3: rank 1 of 2 failed" in r.stderr, r.stderr
    assert not (tmp_path / "m.safetensors").exists()


def test_a_rank_exiting_without_finalize_ends_the_job(data, tmp_path):
    r = run(mpirun_cmd(2, [TOOL, "exit", str(data / "train.txt"),
                           str(tmp_path / "m.safetensors")]), timeout=TIMEOUT)
    assert r.returncode != 0
    assert "rank 1 exits in the backward of step 3" in r.stderr
    # mpirun names the process as [[job,1],rank] with its exit code.
    assert re.search(r"\[\[\d+,\d+\],1\]\s+Exit code:\s+3", r.stderr), r.stderr


def rank_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
    return int(env.get(b"OMPI_COMM_WORLD_RANK", b"-1"))


def test_a_killed_rank_ends_the_job(mlic, data, tmp_path):
    cmd = mpirun_cmd(2, [mlic, "train", "--arch", "mobilenet_v2", "--data",
                         str(data / "train.txt"), "--output", str(tmp_path / "m.safetensors"),
                         "--crop", "32", "--resize", "36", "--batch-size", "4", "--threads", "1",
                         "--workers", "1", "--epochs", "50"])
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=MPI_ENV, start_new_session=True)
    try:
        seen = []
        while True:  # rank 0 prints the first step at once
            line = p.stderr.readline()
            seen.append(line)
            assert line, "".join(seen)
            if "batch 1/8" in line:
                break
        ranks = {rank_of(pid): pid for pid in mlic_processes(p.pid)}
        assert sorted(ranks) == [0, 1], ranks
        time.sleep(0.5)  # mid-epoch
        os.kill(ranks[1], signal.SIGKILL)
        _, rest = p.communicate(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    err = "".join(seen) + rest
    assert p.returncode != 0
    assert re.search(r"rank 1 .*exited on signal 9", err), err
    assert not (tmp_path / "m.safetensors").exists()
