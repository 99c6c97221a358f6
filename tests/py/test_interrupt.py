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
import threading
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
    """While the first signal's clean stop is under way (here: aborting a fetch from a server
    that never answers), a second signal ends the process at once. The two are of different
    kinds, sent back to back: two of one kind pending together would count once."""
    with Server(b"") as server:
        lst = tmp_path / "list.txt"
        lst.write_text(server.url("never.png") + "\n" + "\n".join(work["lines"][:20]) + "\n")
        out = tmp_path / "out.txt"
        p = subprocess.Popen(predict_cmd(mlic, work, out, *PREDICT, "--timeout", 60,
                                         "--root", work["dir"], lst=str(lst)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert server.held.wait(60), "the fetch did not start"
        p.send_signal(signal.SIGINT)
        p.send_signal(signal.SIGTERM)
        code, err = finish(p, timeout=20)
    assert code in (-signal.SIGINT, -signal.SIGTERM), err  # killed, not a clean exit
    assert "rerun the same command" not in err


class Server:
    """HTTP on 127.0.0.1 that answers every GET with body, or, while hold is set, accepts the
    connection and never answers (held is set once one is held)."""

    def __init__(self, body, hold=True):
        self.body, self.hold = body, hold
        self.held = threading.Event()
        self.conns = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, name):
        return "http://127.0.0.1:%d/%s" % (self.sock.getsockname()[1], name)

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.conns.append(conn)
            if self.hold:
                self.held.set()
                continue
            req = b""
            while b"\r\n\r\n" not in req:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                req += chunk
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % len(self.body) + self.body)
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(10)
        for c in self.conns:
            c.close()


def part_lines(out):
    part = out.parent / (out.name + ".part-00000-of-00001")
    return part.read_bytes().splitlines(keepends=True) if part.exists() else []


def test_predict_signal_aborts_a_hanging_fetch(mlic, work, tmp_path):
    """A fetch that would hang until --timeout does not hold the clean stop up: the transfer is
    aborted, its input gets no output line (it was not tried to the end), and --resume fetches it
    and ends with exactly the bytes of an uninterrupted run."""
    body = open(os.path.join(work["dir"], work["lines"][1]), "rb").read()
    with Server(body, hold=False) as server:
        local = work["lines"][:6]
        lst = tmp_path / "list.txt"
        lst.write_text("\n".join(local[:4] + [server.url("slow.png")] + local[4:]) + "\n")
        cmd = predict_cmd(mlic, work, tmp_path / "out.txt", *PREDICT, "--timeout", 60,
                          "--root", work["dir"], lst=str(lst))
        ref = tmp_path / "ref.txt"
        r = run(cmd[:cmd.index("--output") + 1] + [str(ref)] + cmd[cmd.index("--output") + 2:])
        assert r.returncode == 0, r.stderr
        reference = ref.read_bytes()
        assert len(reference.splitlines()) == 7 and b"slow.png" in reference

        server.hold = True
        out = tmp_path / "out.txt"
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert server.held.wait(60), "the fetch did not start"
        # Lines 1-4 (batches 1 and 2) do not wait for the fetch in batch 3.
        wait_for(lambda: len(part_lines(out)) == 4 or p.poll() is not None, what="batches 1-2")
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        code, err = finish(p, timeout=30)
        took = time.monotonic() - t0
        assert code == 130, err
        # A liveness bound, far under --timeout (60 s) and its retries: not a speed figure.
        assert took < 10, "the stop waited %.1f s for the fetch" % took
        assert "by SIGINT: cancelled after 4 lines" in err and "--resume" in err, err
        assert part_lines(out) == reference.splitlines(keepends=True)[:4]  # no line for slow.png
        assert not out.exists()

        server.hold = False
        r = run(cmd + ["--resume"])
        assert r.returncode == 0, r.stderr
        assert out.read_bytes() == reference
        assert leftovers(tmp_path) == []


def test_predict_signal_while_the_list_pipe_waits(mlic, work, tmp_path):
    """A list read from a pipe whose writer wrote two lines and then neither writes nor closes:
    the reader's wait must not hold the signal up."""
    out = tmp_path / "out.txt"
    errf = tmp_path / "err.txt"
    with open(errf, "w") as e:
        p = subprocess.Popen(predict_cmd(mlic, work, out, *PREDICT, "--root", work["dir"],
                                         lst="/dev/stdin"),
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=e)
    try:
        p.stdin.write(("\n".join(work["lines"][:2]) + "\n").encode())
        p.stdin.flush()
        wait_for(lambda: len(part_lines(out)) == 2 or p.poll() is not None, what="the two lines")
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            code = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("the run did not stop after the signal")
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()  # the writer closes only now
    err = errf.read_text()
    assert code == 143, err
    assert took < 10, "the stop waited %.1f s for the list" % took  # liveness, not speed
    assert "stopped by SIGTERM: cancelled after 2 lines" in err, err
    assert len(part_lines(out)) == 2 and not out.exists()


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
