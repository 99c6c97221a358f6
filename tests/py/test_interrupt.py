"""SIGINT and SIGTERM during mlic predict and mlic train (src/cli/interrupt.h): the first signal
stops the run at a clean point, keeps what it finished (predict: the part and its journal; train:
a mid-epoch checkpoint), prints the command that continues it and exits 130 / 143; --resume then
ends with exactly the bytes of an uninterrupted run. A second signal ends the process at once. With
--workers the launcher passes the signal on to its workers."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

import st

from dist_fixtures import leftovers, make_work, predict_cmd, run, write_train_images
from test_resume import children

# Small batches and one thread each: a long enough run on a tiny model to interrupt it mid-way.
PREDICT = ("--batch-size", 2, "--threads", 1, "--decode-threads", 1)
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    w = make_work(str(tmp_path_factory.mktemp("interrupt")))
    big = os.path.join(w["dir"], "big.txt")
    with open(big, "w") as f:
        f.write("\n".join(w["lines"] * 5) + "\n")
    w["big"] = big
    return w


@pytest.fixture(scope="module")
def reference(mlic, work, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.txt"
    r = run(predict_cmd(mlic, work, out, *PREDICT, lst=work["big"]))
    assert r.returncode == 3, r.stderr
    return out.read_bytes()


def wait_for(cond, timeout=60.0, what="the run to start"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


def answering(out, nranks=1):
    """Some rank's part holds answered lines (written before their journal checkpoint)."""
    paths = [f"{out}.part-{r:05d}-of-{nranks:05d}" for r in range(nranks)]
    return any(os.path.exists(p) and os.path.getsize(p) > 0 for p in paths)


def finish(p, timeout=120):
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("the run did not stop after the signal")
    return p.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_predict_signal_keeps_work_and_resumes(mlic, work, reference, tmp_path, sig):
    out = tmp_path / "out.txt"
    cmd = predict_cmd(mlic, work, out, *PREDICT, lst=work["big"])
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: answering(out) or p.poll() is not None)
    p.send_signal(sig)
    code, err = finish(p)
    assert code == EXIT[sig], err
    name = "SIGINT" if sig == signal.SIGINT else "SIGTERM"
    assert f"by {name}: cancelled after" in err and "rerun the same command with --resume" in err
    assert " ".join(map(str, cmd[1:])) + " --resume" in err  # the command that continues
    assert not out.exists()  # no torn output: only the part and its journal
    part = tmp_path / "out.txt.part-00000-of-00001"
    assert part.exists() and 0 < part.stat().st_size < len(reference)
    assert reference.startswith(part.read_bytes())  # whole lines, exactly as the oracle's
    r = run(cmd + ["--resume"])
    assert r.returncode == 3, r.stderr
    assert out.read_bytes() == reference
    assert leftovers(tmp_path) == []


def test_predict_second_signal_exits_at_once(mlic, work, tmp_path):
    """A fetch from a server that never answers holds the first signal's clean stop up (until
    --timeout); the second signal ends the process at once."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    try:
        lst = tmp_path / "list.txt"
        lst.write_text("http://127.0.0.1:%d/never.png\n" % server.getsockname()[1] +
                       "\n".join(work["lines"][:20]) + "\n")
        out = tmp_path / "out.txt"
        p = subprocess.Popen(predict_cmd(mlic, work, out, *PREDICT, "--timeout", 60,
                                         "--root", work["dir"], lst=str(lst)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        server.settimeout(60)
        conn, _ = server.accept()  # the fetch is under way, and will hang
        p.send_signal(signal.SIGINT)
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        code, err = finish(p, timeout=20)
        conn.close()
    finally:
        server.close()
    assert code == -signal.SIGINT, err  # killed by the second, not a clean exit
    assert "rerun the same command" not in err


def test_predict_workers_pass_the_signal_on(mlic, work, reference, tmp_path):
    out = tmp_path / "out.txt"
    cmd = predict_cmd(mlic, work, out, *PREDICT, "--workers", 2, lst=work["big"])
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: answering(out, 2) or p.poll() is not None)
    workers = children(p.pid)
    assert len(workers) == 2
    p.send_signal(signal.SIGTERM)  # to the launcher alone, as a job scheduler would
    code, err = finish(p)
    assert code == 143, err
    assert "stopped by SIGTERM" in err and "--workers 2 --resume" in err
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert not out.exists()
    r = run(cmd + ["--resume"])
    assert r.returncode == 3, r.stderr
    assert out.read_bytes() == reference


# ---------------------------------------------------------------- train

TRAIN = ["--arch", "mobilenet_v2", "--crop", "32", "--resize", "36", "--batch-size", "4",
         "--threads", "1", "--workers", "1", "--seed", "3", "--lr", "0.05", "--epochs", "2"]
ITEMS = 48  # 12 steps an epoch, 24 in all


@pytest.fixture(scope="module")
def train_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("train_data")
    write_train_images(str(d), ITEMS)
    return d


def train_cmd(mlic, data, folder):
    return [mlic, "train", "--data", str(data / "train.txt"), "--output",
            str(folder / "m.safetensors"), "--log", str(folder / "log.jsonl")] + TRAIN


@pytest.fixture(scope="module")
def straight(mlic, train_data, tmp_path_factory):
    d = tmp_path_factory.mktemp("straight")
    r = run(train_cmd(mlic, train_data, d))
    assert r.returncode == 0, r.stderr
    return d


def read_log(folder):
    return [json.loads(l) for l in (folder / "log.jsonl").read_text().splitlines()]


def started_stepping(p, seen):
    """Reads stderr until the first step line (the CLI prints it at once)."""
    line = p.stderr.readline()
    seen.append(line)
    return "batch 1/12" in line or not line


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_train_signal_checkpoints_and_resumes_bit_identical(mlic, train_data, straight, tmp_path,
                                                            sig):
    cmd = train_cmd(mlic, train_data, tmp_path)
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    wait_for(lambda: started_stepping(p, seen), what="the first step")
    p.send_signal(sig)
    code, rest = finish(p)
    err = "".join(seen) + rest
    assert code == EXIT[sig], err
    assert "cancelled in epoch" in err and "m.safetensors.ckpt holds it" in err, err
    assert " ".join(cmd[1:]) + " --resume" in err
    assert not (tmp_path / "m.safetensors").exists()
    meta = json.loads(st.load(str(tmp_path / "m.safetensors.ckpt"))[1]["mlic_checkpoint"])
    assert 0 < meta["batch"] and meta["step"] < 24  # stopped mid-run, after a step
    r = run(cmd + ["--resume"])
    assert r.returncode == 0, r.stderr
    assert "after batch %d" % meta["batch"] in r.stderr
    for name in ("m.safetensors", "m.safetensors.ckpt"):
        assert (tmp_path / name).read_bytes() == (straight / name).read_bytes(), name
    a, b = read_log(straight), read_log(tmp_path)
    assert [(e.get("epoch"), e.get("step"), e.get("train_loss")) for e in a] == \
           [(e.get("epoch"), e.get("step"), e.get("train_loss")) for e in b]


def test_train_second_signal_exits_at_once(mlic, train_data, tmp_path):
    """The first signal waits for the step in hand (seconds at this size); the second does not."""
    cmd = train_cmd(mlic, train_data, tmp_path)
    cmd[cmd.index("--arch") + 1] = "resnet50"
    cmd[cmd.index("--crop") + 1] = "160"
    cmd[cmd.index("--resize") + 1] = "160"
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    wait_for(lambda: started_stepping(p, seen), what="the first step")
    p.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    code, err = finish(p)
    assert code == -signal.SIGTERM, err
