"""mlic predict with the list, the images, the model and the output in an object store (moto's S3
server with signature checking on, started here on 127.0.0.1): the output object must hold
exactly the bytes a one-process run on local files writes, for one process, --workers 2 and
mpirun -np 2, through s3:// and through oss:// in EasyVision's -D spelling; a run killed with
SIGKILL in the middle of its upload and resumed must give the same object from the parts the
store kept; bad credentials, a missing bucket, a missing object and a 403 must name the object,
and no secret may ever be printed.

The store is told to accept parts of PART bytes (moto's S3_UPLOAD_PART_MIN_SIZE), and mlic to
upload in parts of that size (--part-size), so that these small outputs take many parts and the
join of the shares both copies ranges and re-uploads pieces."""
import json
import os
import signal
import subprocess
import time

import pytest

from dist_fixtures import make_work, mpi_skip_reason, mpirun_cmd

from s3_fixtures import VENV_PY, start_fault_proxy, start_s3_server

PART = 1024
BUCKET = "mlic"


@pytest.fixture(scope="module")
def s3():
    """The server, told to accept parts of PART bytes, and the environment a client of it needs
    (HOME of its own, so that no credentials file of this machine takes part)."""
    with start_s3_server(part_min_size=PART) as server:
        env = server.env(OMPI_ALLOW_RUN_AS_ROOT=1, OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
        boto(env, f"s3.create_bucket(Bucket='{BUCKET}')")
        yield {"env": env, "server": server,
               "info": {"endpoint": server.endpoint, "region": server.region,
                                    "access_key_id": server.access_key_id,
                                    "secret_access_key": server.secret_access_key}}


def proxy_head_ok(s3, proxy):
    """Whether the fault proxy forwards a HEAD's Content-Length (an object's size; a proxy that
    answers 0 makes every list look empty)."""
    code = "print(s3.head_object(Bucket='mlic', Key='job/list.txt')['ContentLength'])"
    return boto(dict(s3["env"], AWS_ENDPOINT_URL=proxy.endpoint), code) == boto(s3["env"], code)


def boto(env, code, *args):
    """Runs code with boto3 clients s3 and iam in the test venv; returns its stdout."""
    prog = ("import os, sys, boto3\n"
            "kw = dict(endpoint_url=os.environ['AWS_ENDPOINT_URL'], region_name='us-east-1')\n"
            "s3 = boto3.client('s3', **kw); iam = boto3.client('iam', **kw)\n" + code)
    r = subprocess.run([VENV_PY, "-c", prog, *args], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def upload_tree(env, folder, prefix, names):
    boto(env, "for n in sys.argv[3:]:\n"
              "    s3.upload_file(os.path.join(sys.argv[1], n), 'mlic', sys.argv[2] + n)\n",
         folder, prefix, *names)


def get_object(env, key):
    out = boto(env, "sys.stdout.write(s3.get_object(Bucket='mlic', Key=sys.argv[1])['Body']"
                    ".read().hex())", key)
    return bytes.fromhex(out)


def object_keys(env, prefix):
    out = boto(env, "r = s3.list_objects_v2(Bucket='mlic', Prefix=sys.argv[1])\n"
                    "print('\\n'.join(o['Key'] for o in r.get('Contents', [])))", prefix)
    return [k for k in out.split("\n") if k]


def open_uploads(env):
    out = boto(env, "r = s3.list_multipart_uploads(Bucket='mlic')\n"
                    "print('\\n'.join(u['Key'] for u in r.get('Uploads', [])))")
    return [k for k in out.split("\n") if k]


@pytest.fixture(scope="module")
def job(s3, tmp_path_factory):
    """The dist_fixtures job without its missing-file lines (whose local and remote error texts
    differ by nature), on local disk and under s3://mlic/job/; and the one-process local output."""
    d = str(tmp_path_factory.mktemp("job"))
    work = make_work(d, n=80)
    lines = [x for x in work["lines"] if x != "img/missing.png"]
    with open(os.path.join(d, "list.txt"), "w") as f:
        f.write("\n".join(lines))
    names = sorted(["list.txt", "model.safetensors", "corrupt.jpg"] +
                   ["img/" + n for n in os.listdir(os.path.join(d, "img"))])
    upload_tree(s3["env"], d, "job/", names)
    ref = os.path.join(d, "ref.txt")
    r = mlic_run([os.path.join(d, "list.txt"), ref, os.path.join(d, "model.safetensors")], s3)
    assert r.returncode == 3, r.stderr  # the corrupt image and the empty line fail on purpose
    return {"dir": d, "lines": lines, "ref": open(ref, "rb").read()}


def predict_cmd(lst, out, model, *extra):
    from conftest import MLIC
    return [MLIC, "predict", "--model", model, "--input", lst, "--output", out, "--no-progress",
            "--batch-size", "4", "--part-size", str(PART), *map(str, extra)]


def mlic_run(paths, s3, *extra, env=None, timeout=180, prefix=()):
    return subprocess.run([*prefix, *predict_cmd(*paths, *extra)], capture_output=True, text=True,
                          env=env or s3["env"], timeout=timeout)


REMOTE = ("s3://mlic/job/list.txt", None, "s3://mlic/job/model.safetensors")


def remote(out_key):
    return (REMOTE[0], f"s3://mlic/{out_key}", REMOTE[2])


def assert_clean(s3, out_key):
    """Nothing left behind: no open upload, no share object, no staging file."""
    assert open_uploads(s3["env"]) == []
    assert object_keys(s3["env"], out_key) == [out_key]
    staging = os.path.join(s3["env"]["HOME"], ".cache", "mlic", "staging")
    left = [os.path.join(r, f) for r, _, fs in os.walk(staging) for f in fs]
    assert left == []


def test_one_process_all_remote_matches_local(s3, job):
    r = mlic_run(remote("out/one.txt"), s3)
    assert r.returncode == 3, r.stderr
    assert get_object(s3["env"], "out/one.txt") == job["ref"]
    assert_clean(s3, "out/one.txt")


def test_workers_match_local(s3, job):
    r = mlic_run(remote("out/workers.txt"), s3, "--workers", 2)
    assert r.returncode == 3, r.stderr
    assert get_object(s3["env"], "out/workers.txt") == job["ref"]
    assert_clean(s3, "out/workers.txt")


def test_mpirun_matches_local(s3, job):
    reason = mpi_skip_reason()
    if reason:
        pytest.skip(reason)
    r = subprocess.run(mpirun_cmd(2, predict_cmd(*remote("out/mpi.txt"))), capture_output=True,
                       text=True, env=s3["env"], timeout=240)
    assert r.returncode == 3, r.stderr
    assert get_object(s3["env"], "out/mpi.txt") == job["ref"]
    assert_clean(s3, "out/mpi.txt")


def test_local_list_remote_output_with_big_parts(s3, job):
    """One part only (the default part size): the upload completes with a single last part."""
    from conftest import MLIC
    d = job["dir"]
    cmd = [MLIC, "predict", "--model", os.path.join(d, "model.safetensors"), "--input",
           os.path.join(d, "list.txt"), "--output", "s3://mlic/out/big.txt", "--no-progress",
           "--batch-size", "4"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=s3["env"], timeout=180)
    assert r.returncode == 3, r.stderr
    assert get_object(s3["env"], "out/big.txt") == job["ref"]


def test_oss_easyvision_spelling_matches_local(s3, job):
    """oss:// through -DossHost (OSS's S3-compatible API), credentials from OSS_* variables, the
    output relative to -Dbuckets."""
    from conftest import MLIC
    env = {k: v for k, v in s3["env"].items() if not k.startswith("AWS_") and k != "OSS_ENDPOINT"}
    model = REMOTE[2].replace("s3://", "oss://")
    cmd = [MLIC, "predict", f"-Dmodel_path={model}", "-Dinput_oss_file=oss://mlic/job/list.txt",
           "-Doutput_oss_file=out/ev.txt", "-Dbuckets=oss://mlic/job/",
           f"-DossHost={s3['info']['endpoint']}", "-Dimage_type=url", "-Dbatch_size=4",
           "-Dmodel_type=multilabel_classifier", "-Dnum_worker=2", "--part-size", str(PART),
           "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert r.returncode == 3, r.stderr
    assert get_object(s3["env"], "job/out/ev.txt") == job["ref"]
    assert s3["info"]["secret_access_key"] not in r.stderr


def staged_part(s3, key):
    return os.path.join(s3["env"]["HOME"], ".cache", "mlic", "staging", "s3", BUCKET,
                        key + ".part-00000-of-00001")


def test_kill_mid_upload_then_resume_gives_the_same_object(s3, job, tmp_path):
    """A long list (the job's list ten times), killed with SIGKILL once several parts are in the
    store, then resumed: the upload continues from the parts the store kept."""
    d = job["dir"]
    long_lines = job["lines"] * 10
    (tmp_path / "long.txt").write_text("\n".join(long_lines))
    upload_tree(s3["env"], str(tmp_path), "job/", ["long.txt"])
    ref = tmp_path / "long_ref.txt"
    r = mlic_run([str(tmp_path / "long.txt"), str(ref), os.path.join(d, "model.safetensors")], s3,
                 "--root", d)
    assert r.returncode == 3, r.stderr
    paths = ("s3://mlic/job/long.txt", "s3://mlic/out/killed.txt", REMOTE[2])
    part = staged_part(s3, "out/killed.txt")
    p = subprocess.Popen(predict_cmd(*paths, "--threads", 1, "--decode-threads", 1),
                         env=s3["env"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        if os.path.exists(part) and os.path.getsize(part) >= 8 * PART:
            break
        time.sleep(0.02)
    assert p.poll() is None, "the run ended before it could be killed: " + p.stderr.read().decode()
    time.sleep(0.3)  # let a few parts reach the store
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert open_uploads(s3["env"]) == ["out/killed.txt"]
    upload_id = open(part + ".upload").read().strip()
    parts = boto(s3["env"], "r = s3.list_parts(Bucket='mlic', Key='out/killed.txt', "
                            "UploadId=sys.argv[1]); print(len(r.get('Parts', [])))", upload_id)
    assert int(parts) > 0
    # The resume goes through the fault proxy, whose log shows which parts it uploaded.
    with start_fault_proxy(s3["server"], tmp_path / "log.jsonl") as proxy:
        assert proxy_head_ok(s3, proxy)
        env = dict(s3["env"], AWS_ENDPOINT_URL=proxy.endpoint)
        r = mlic_run(paths, s3, "--resume", env=env)
        puts = [e for e in proxy.log() if e["method"] == "PUT" and "partNumber=" in e["path"]]
    assert r.returncode == 3, r.stderr
    want = ref.read_bytes()
    assert get_object(s3["env"], "out/killed.txt") == want
    # Only the parts the store lacked were uploaded again.
    assert len(puts) <= (len(want) + PART - 1) // PART - int(parts)
    assert open_uploads(s3["env"]) == []
    assert not os.path.exists(part) and not os.path.exists(part + ".upload")


def test_missing_object_is_an_error_line_and_the_run_goes_on(s3, job, tmp_path):
    lines = ["img/0.jpg", "s3://mlic/job/img/nothing-here.png", "img/1.png",
             "s3://no-such-bucket-x/img.png"]
    (tmp_path / "l.txt").write_text("\n".join(lines) + "\n")
    upload_tree(s3["env"], str(tmp_path), "job/", ["l.txt"])
    r = mlic_run(("s3://mlic/job/l.txt", str(tmp_path / "out.txt"), REMOTE[2]), s3)
    assert r.returncode == 3, r.stderr
    rows = (tmp_path / "out.txt").read_text().splitlines()
    assert [x.split(", {", 1)[0] for x in rows] == lines
    e1, e3 = json.loads(rows[1].split(", ", 1)[1]), json.loads(rows[3].split(", ", 1)[1])
    assert "s3://mlic/job/img/nothing-here.png" in e1["error"]
    assert "NoSuchKey" in e1["error"] or "404" in e1["error"]
    assert "no-such-bucket-x" in e3["error"] and ("NoSuchBucket" in e3["error"] or "404" in e3["error"])
    assert "error" not in json.loads(rows[0].split(", ", 1)[1])


def test_forbidden_object_is_an_error_line(s3, job, tmp_path):
    """A user whose policy denies reading under private/: its image gets 403, the others work."""
    env = s3["env"]
    keys = boto(env, """
import json
deny = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"},
    {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::mlic/private/*"}]}
iam.create_user(UserName="limited")
iam.put_user_policy(UserName="limited", PolicyName="p", PolicyDocument=json.dumps(deny))
k = iam.create_access_key(UserName="limited")["AccessKey"]
print(k["AccessKeyId"], k["SecretAccessKey"])
""").split()
    upload_tree(env, job["dir"], "private/", ["img/0.jpg"])
    lines = ["s3://mlic/job/img/0.jpg", "s3://mlic/private/img/0.jpg"]
    (tmp_path / "l.txt").write_text("\n".join(lines) + "\n")
    limited = dict(env, AWS_ACCESS_KEY_ID=keys[0], AWS_SECRET_ACCESS_KEY=keys[1])
    r = mlic_run((str(tmp_path / "l.txt"), str(tmp_path / "out.txt"), REMOTE[2]), s3, env=limited)
    assert r.returncode == 3, r.stderr
    rows = (tmp_path / "out.txt").read_text().splitlines()
    err = json.loads(rows[1].split(", ", 1)[1])["error"]
    assert "s3://mlic/private/img/0.jpg" in err and ("403" in err or "AccessDenied" in err)
    assert "error" not in json.loads(rows[0].split(", ", 1)[1])
    assert keys[1] not in r.stderr + r.stdout + (tmp_path / "out.txt").read_text()


def test_bad_credentials_name_the_object_and_never_the_secret(s3, job, tmp_path):
    secret = "wrongSECRETwrongSECRETwrongSECRET0123"
    env = dict(s3["env"], AWS_SECRET_ACCESS_KEY=secret)
    r = mlic_run(("s3://mlic/job/list.txt", "s3://mlic/out/x.txt", REMOTE[2]), s3, "--progress",
                 env=env)
    assert r.returncode == 1, r.stderr
    assert "s3://mlic/job/list.txt" in r.stderr or "s3://mlic/job/model.safetensors" in r.stderr
    assert "403" in r.stderr or "SignatureDoesNotMatch" in r.stderr
    assert secret not in r.stderr + r.stdout
    assert s3["info"]["secret_access_key"] not in r.stderr + r.stdout


def test_missing_bucket_and_missing_list_name_them(s3, job, tmp_path):
    for lst, needle in (("s3://no-such-bucket-y/list.txt", "no-such-bucket-y"),
                        ("s3://mlic/job/no-list.txt", "s3://mlic/job/no-list.txt")):
        r = mlic_run((lst, str(tmp_path / "o.txt"), REMOTE[2]), s3)
        assert r.returncode == 1, r.stderr
        assert needle in r.stderr and ("404" in r.stderr or "NoSuch" in r.stderr), r.stderr
        assert s3["info"]["secret_access_key"] not in r.stderr
    assert not os.path.exists(tmp_path / "o.txt")


def test_faults_on_every_kind_of_request_change_nothing(s3, job, tmp_path):
    """Through the fault proxy: throttling and errors on image GETs, connections cut and reset,
    a Range reply of the list cut short, 5xx on part uploads and on the completion. Retried, every
    input line still gets exactly its one output line: the object is the local run's."""
    with start_fault_proxy(s3["server"], tmp_path / "log.jsonl") as proxy:
        assert proxy_head_ok(s3, proxy)
        proxy.set(latency_ms=2, rules=[
            # Each image meets at most two faults, fewer than its attempts, whichever request
            # arrives first: which inputs fail must not depend on the order of the requests.
            {"action": "slowdown", "method": "GET", "path": r"/img/0\.jpg$", "count": 2},
            {"action": "slowdown", "method": "GET", "path": r"/img/1\.png$", "count": 2},
            {"action": "internal", "method": "GET", "path": r"/img/2\.jpg$", "count": 2},
            {"action": "cut", "method": "GET", "path": r"/img/3\.png$", "count": 2},
            {"action": "reset", "method": "GET", "path": r"/img/4\.jpg$", "count": 2},
            {"action": "truncate_range", "method": "GET", "path": "list.txt", "count": 1},
            {"action": "slowdown", "method": "PUT", "path": "partNumber=", "count": 2},
            {"action": "internal", "method": "POST", "path": "uploadId=", "count": 1},
        ])
        env = dict(s3["env"], AWS_ENDPOINT_URL=proxy.endpoint)
        r = mlic_run(remote("out/faults.txt"), s3, "--workers", 2, env=env)
        left = proxy.state()["remaining"]
    assert r.returncode == 3, r.stderr
    assert get_object(s3["env"], "out/faults.txt") == job["ref"]
    assert all(rule["count"] == 0 for rule in left), left  # every fault was met
