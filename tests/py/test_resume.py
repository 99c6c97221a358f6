"""Resuming mlic predict: kill -9 at random moments (the whole job, or one worker or rank), then
--resume, must end with exactly the bytes of an uninterrupted one-process run (the oracle), for one
process, --workers and mpirun. Also a simulated machine crash (a torn journal entry and part
bytes that never reached the disk) and resumes that must be refused (another process count,
batch size or threshold, or a process still writing the share)."""
import fcntl
import os
import random
import signal
import subprocess
import time

import pytest

from dist_fixtures import (MPI_ENV, leftovers, make_work, mpi_skip_reason, mpirun_cmd, predict_cmd,
                           run)

BATCH = 2  # small batches: a checkpoint every two lines
KILLS = 3


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return make_work(str(tmp_path_factory.mktemp("resume")))


@pytest.fixture(scope="module")
def reference(mlic, work, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.txt"
    r = run(predict_cmd(mlic, work, out, "--batch-size", BATCH))
    assert r.returncode == 3, r.stderr
    return out.read_bytes()


def session_processes(sid):
    """Live processes of session sid: every process of a job started with start_new_session,
    including mpirun's ranks, which run in process groups of their own."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(d))
    return pids


def kill_job(sid):
    """kill -9 every process of the job, and wait until they are gone."""
    for _ in range(500):
        pids = session_processes(sid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    raise AssertionError(f"processes of session {sid} survive kill -9")


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def mlic_processes(pid):
    """The mlic processes of a job: the workers of a launcher, or the ranks under mpirun."""
    out = []
    for c in children(pid):
        try:
            with open(f"/proc/{c}/comm") as f:
                if f.read().strip() == "mlic":
                    out.append(c)
        except OSError:
            pass
    return out


def kill_and_resume(cmd, rng, seconds, one_too):
    """Run cmd, kill it KILLS times at random moments within `seconds` (with --resume after the
    first start), then run it with --resume to the end; returns (the final run, how many kills
    hit a running job). one_too: every other kill hits one process of the job, not all."""
    hits = 0
    resume = []
    for k in range(KILLS):
        one = one_too and k % 2 == 1
        p = subprocess.Popen(cmd + resume, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True, env=MPI_ENV)
        time.sleep(rng.uniform(0.0, seconds))
        if p.poll() is None:
            hits += 1
            victims = mlic_processes(p.pid) if one else []
            if victims:
                os.kill(rng.choice(victims), signal.SIGKILL)
            else:
                kill_job(p.pid)
        p.wait()
        kill_job(p.pid)  # what a dying rank's job leaves behind
        resume = ["--resume"]
    return run(cmd + resume), hits


def timed(cmd):
    t = time.perf_counter()
    r = run(cmd)
    assert r.returncode == 3, r.stderr
    return time.perf_counter() - t


def cmd_for(mode, mlic, work, out):
    base = predict_cmd(mlic, work, out, "--batch-size", BATCH, "--threads", 1, "--decode-threads", 1)
    if mode == "workers":
        return base + ["--workers", "2"]
    if mode == "mpirun":
        return mpirun_cmd(2, base)
    return base


@pytest.mark.parametrize("mode", ["single", "workers", "mpirun"])
def test_kill_and_resume_gives_the_uninterrupted_output(mlic, work, reference, tmp_path, mode):
    if mode == "mpirun" and mpi_skip_reason():
        pytest.skip(mpi_skip_reason())
    out = tmp_path / "out.txt"
    cmd = cmd_for(mode, mlic, work, out)
    seconds = timed(cmd)
    os.unlink(out)
    r, hits = kill_and_resume(cmd, random.Random(mode), seconds, one_too=mode != "single")
    assert r.returncode == 3, r.stderr
    assert hits >= 1  # at least one kill hit a running job
    assert out.read_bytes() == reference
    assert leftovers(tmp_path) == []


def interrupted(cmd, journal, checkpoints):
    """Start cmd and kill -9 its whole job once `journal` holds that many checkpoints."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    while p.poll() is None:
        if os.path.exists(journal) and os.path.getsize(journal) >= 80 * (1 + checkpoints):
            kill_job(p.pid)
            break
        time.sleep(0.002)
    p.wait()
    assert p.returncode == -signal.SIGKILL, "the run ended before it could be interrupted"


def test_machine_crash_torn_journal_and_lost_part_bytes(mlic, work, reference, tmp_path):
    out = tmp_path / "out.txt"
    cmd = cmd_for("workers", mlic, work, out)
    part0, journal0 = f"{out}.part-00000-of-00002", f"{out}.part-00000-of-00002.journal"
    interrupted(cmd, journal0, 12)
    # The last batches' bytes never reached the disk, though their checkpoints did; the entry
    # being written when the machine went down is torn.
    size = os.path.getsize(part0)
    os.truncate(part0, size - 5)
    with open(journal0, "ab") as f:
        f.write(b"MLICJRN1" + b"\x02" * 30)
    r = run(cmd + ["--resume"])
    assert r.returncode == 3, r.stderr
    assert out.read_bytes() == reference
    # Resumed, not redone: the summary counts the lines this run answered.
    assert "answered in this run after --resume" in r.stderr, r.stderr
    assert leftovers(tmp_path) == []


def with_option(cmd, name, value):
    i = cmd.index(name)
    return cmd[:i + 1] + [value] + cmd[i + 2:]


def test_resume_must_match_the_interrupted_run(mlic, work, reference, tmp_path):
    out = tmp_path / "out.txt"
    cmd = cmd_for("workers", mlic, work, out)
    interrupted(cmd, f"{out}.part-00000-of-00002.journal", 5)
    r = run(with_option(cmd, "--workers", "3") + ["--resume"])
    assert r.returncode == 2 and "2 processes" in r.stderr and "--resume" in r.stderr, r.stderr
    r = run(with_option(cmd, "--batch-size", "8") + ["--resume"])
    assert r.returncode == 2 and f"--batch-size {BATCH}" in r.stderr, r.stderr
    r = run(cmd + ["--resume", "--threshold", "0.9"])
    assert r.returncode == 2 and "threshold" in r.stderr, r.stderr
    # auto is refused even where it resolves to fp32: the resumed run may be on another CPU
    r = run(cmd + ["--resume", "--precision", "auto"])
    assert r.returncode == 2 and "precision" in r.stderr, r.stderr
    # A process still writing a share (it holds its journal's lock) is not raced. Share 0's
    # journal exists (the run was killed at its fifth checkpoint); share 1's may not yet.
    with open(f"{out}.part-00000-of-00002.journal", "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        r = run(cmd + ["--resume"])
    assert r.returncode == 1 and "another process is writing" in r.stderr, r.stderr
    assert not out.exists()
    r = run(cmd + ["--resume"])
    assert r.returncode == 3, r.stderr
    assert out.read_bytes() == reference
    assert leftovers(tmp_path) == []


def test_resume_redoes_batches_whose_bytes_were_damaged(mlic, work, reference, tmp_path):
    """A byte of an early batch changed after it was written (a disk error, a stray edit) while
    the later batches are intact: --resume checks every batch's bytes against its journal entry,
    not only the last ones, and redoes the run from the damaged batch on."""
    out = tmp_path / "out.txt"
    cmd = cmd_for("single", mlic, work, out)
    part, journal = f"{out}.part-00000-of-00001", f"{out}.part-00000-of-00001.journal"
    interrupted(cmd, journal, 20)
    data = bytearray(open(part, "rb").read())
    first_batch = data.index(b"\n", data.index(b"\n") + 1)  # BATCH = 2 lines a batch
    at = first_batch + 10  # inside the second batch, far from the last one
    data[at] ^= 0x20
    open(part, "wb").write(bytes(data))
    r = run(cmd + ["--resume"])
    assert r.returncode == 3, r.stderr
    assert out.read_bytes() == reference
    assert leftovers(tmp_path) == []
