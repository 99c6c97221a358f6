"""Distributed mlic predict: mpirun ranks and --workers processes must write exactly the bytes one
process writes (the oracle: a one-process run, whose labels are checked against the list), for
path and base64 lists, shares that start mid-batch, more processes than lines, and an empty list;
parts of an interrupted run are refused without --resume, and so is a different process count."""
import base64
import json
import os

import pytest

from dist_fixtures import (leftovers, make_work, mpi_skip_reason, mpirun_cmd, predict_cmd, run)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return make_work(str(tmp_path_factory.mktemp("dist")))


@pytest.fixture(scope="module")
def reference(mlic, work, tmp_path_factory):
    """One-process outputs: {(list kind, batch size): bytes}."""
    d = tmp_path_factory.mktemp("ref")
    refs = {}
    for kind, batch in (("url", 4), ("url", 5), ("b64", 3)):
        out = d / f"{kind}{batch}.txt"
        extra = ["--batch-size", batch]
        if kind == "b64":
            extra += ["--image-type", "base64", "--format", "jsonl"]
        r = run(predict_cmd(mlic, work, out, *extra, lst=work[kind if kind == "b64" else "list"]))
        assert r.returncode == 3, r.stderr  # some lines fail on purpose
        refs[(kind, batch)] = out.read_bytes()
    return refs


def labels_url(text):
    return [line.split(", {", 1)[0] for line in text.decode().splitlines()]


def test_reference_answers_every_line(work, reference):
    """The oracle itself: one line per list line, in order, failures where expected."""
    assert labels_url(reference[("url", 4)]) == work["lines"]
    rows = [json.loads(x) for x in reference[("b64", 3)].decode().splitlines()]
    want = [x.split("\t")[0] if "\t" in x else str(i + 1) for i, x in enumerate(work["b64_lines"])]
    assert [r["path"] for r in rows] == want
    assert [("error" in r) for r in rows] == [x == "not base64 !!" for x in work["b64_lines"]]
    ok = [r for r in rows if "error" not in r]
    assert all(len(r["probs"]) == 5 for r in ok)
    # The base64 of a line decodes to the image its ID names (spot check against the file).
    i = next(i for i, x in enumerate(work["b64_lines"]) if x.startswith("id3\t"))
    img = open(os.path.join(work["dir"], "img/3.png"), "rb").read()
    assert base64.b64decode(work["b64_lines"][i].split("\t")[1]) == img


@pytest.mark.parametrize("np_,batch", [(2, 4), (3, 5)])
def test_mpirun_matches_one_process(mlic, work, reference, tmp_path, np_, batch):
    reason = mpi_skip_reason()
    if reason:
        pytest.skip(reason)
    out = tmp_path / "out.txt"
    r = run(mpirun_cmd(np_, predict_cmd(mlic, work, out, "--batch-size", batch)))
    assert r.returncode == 3, r.stderr
    assert out.read_bytes() == reference[("url", batch)]
    summary = [x for x in r.stderr.splitlines() if x.startswith("mlic predict: ")]
    nfail = sum(1 for x in work["lines"] if x in ("", "img/missing.png", "corrupt.jpg"))
    assert len(summary) == 1, r.stderr
    assert f"{len(work['lines'])} inputs, {len(work['lines']) - nfail} succeeded, {nfail} failed" in summary[0]
    assert f"{np_} processes" in summary[0]
    assert leftovers(tmp_path) == []


def test_mpirun_base64_without_ids(mlic, work, reference, tmp_path):
    """Lines without an ID are named by their line number: each rank must know its first one."""
    reason = mpi_skip_reason()
    if reason:
        pytest.skip(reason)
    out = tmp_path / "out.jsonl"
    r = run(mpirun_cmd(3, predict_cmd(mlic, work, out, "--batch-size", 3, "--image-type", "base64",
                                      "--format", "jsonl", lst=work["b64"])))
    assert r.returncode == 3, r.stderr
    assert out.read_bytes() == reference[("b64", 3)]


@pytest.mark.parametrize("spelling", [["--workers", "2"], ["-Dnum_worker=3"]])
def test_workers_match_one_process(mlic, work, reference, tmp_path, spelling):
    out = tmp_path / "out.txt"
    r = run(predict_cmd(mlic, work, out, "--batch-size", 4, *spelling))
    assert r.returncode == 3, r.stderr
    assert out.read_bytes() == reference[("url", 4)]
    assert leftovers(tmp_path) == []
    r = run(predict_cmd(mlic, work, tmp_path / "b64.jsonl", "--batch-size", 3, "--image-type",
                        "base64", "--format", "jsonl", *spelling, lst=work["b64"]))
    assert r.returncode == 3, r.stderr
    assert (tmp_path / "b64.jsonl").read_bytes() == reference[("b64", 3)]


def test_more_workers_than_lines_and_empty_list(mlic, work, tmp_path):
    d = work["dir"]
    lst = tmp_path / "three.txt"
    lst.write_text("".join(os.path.join(d, f"img/{i}.png") + "\n" for i in (1, 3, 5)))
    one, five = tmp_path / "one.txt", tmp_path / "five.txt"
    assert run(predict_cmd(mlic, work, one, "--batch-size", 1, lst=str(lst))).returncode == 0
    r = run(predict_cmd(mlic, work, five, "--workers", 5, "--batch-size", 1, lst=str(lst)))
    assert r.returncode == 0, r.stderr
    assert five.read_bytes() == one.read_bytes()
    assert labels_url(one.read_bytes()) == [os.path.join(d, f"img/{i}.png") for i in (1, 3, 5)]
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    r = run(predict_cmd(mlic, work, tmp_path / "e.txt", "--workers", 3, lst=str(empty)))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "e.txt").read_bytes() == b""
    assert leftovers(tmp_path) == []


def test_parts_of_an_interrupted_run_are_refused(mlic, work, tmp_path):
    out = tmp_path / "out.txt"
    # Parts of a run with 3 processes: neither 2 processes nor 1 may touch them.
    stale = tmp_path / "out.txt.part-00001-of-00003"
    stale.write_text("x\n")
    for extra in (["--workers", 2], []):
        r = run(predict_cmd(mlic, work, out, *extra))
        assert r.returncode == 2, r.stderr
        assert "3 processes" in r.stderr and "--resume" in r.stderr
    stale.unlink()
    # A part of a one-process run: refused without --resume.
    (tmp_path / "out.txt.part-00000-of-00001").write_text("x\n")
    r = run(predict_cmd(mlic, work, out))
    assert r.returncode == 2 and "--resume" in r.stderr, r.stderr
    assert not out.exists()
    # With --resume, a part without a journal is redone from the start.
    r = run(predict_cmd(mlic, work, out, "--resume"))
    assert r.returncode == 3, r.stderr
    assert labels_url(out.read_bytes()) == work["lines"]
    assert leftovers(tmp_path) == []


def test_split_edge_cases_line_numbers(mlic, work, tmp_path):
    """Lines of very different lengths (one longer than a whole share), empty lines, CRLF and no
    final newline, in base64 mode where a line without an ID is named by its line number: every
    split must give the one-process output, whose labels are the line numbers Python counts."""
    import random
    rng = random.Random(5)
    lines = []
    for i in range(60):
        kind = rng.random()
        if kind < 0.1:
            lines.append("")
        elif kind < 0.2:
            lines.append("x" * rng.randint(1, 3) + "\r")
        elif kind < 0.3:
            lines.append(f"id{i}\t!!")
        else:
            lines.append("#" * rng.randint(1, 40))
    lines[17] = "#" * 5000  # longer than a share of a 3-way split
    lst = tmp_path / "list.txt"
    lst.write_bytes("\n".join(lines).encode())
    want = [x.split("\t")[0] if "\t" in x else str(i + 1) for i, x in enumerate(lines)]
    for batch in (1, 3):
        one = tmp_path / f"one{batch}.jsonl"
        common = ["--image-type", "base64", "--format", "jsonl", "--batch-size", batch]
        r = run(predict_cmd(mlic, work, one, *common, lst=str(lst)))
        assert r.returncode == 3, r.stderr
        rows = [json.loads(x) for x in one.read_text().splitlines()]
        assert [r["path"] for r in rows] == want
        assert all("error" in r for r in rows)
        for n in ((3, 7) if batch == 1 else (2, 5)):
            out = tmp_path / f"w{n}_{batch}.jsonl"
            r = run(predict_cmd(mlic, work, out, *common, "--workers", n, lst=str(lst)))
            assert r.returncode == 3, r.stderr
            assert out.read_bytes() == one.read_bytes(), (n, batch)
    assert leftovers(tmp_path) == []
