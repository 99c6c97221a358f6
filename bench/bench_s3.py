#!/usr/bin/python3
"""End to end from an object store: the bench_e2e job (resnet50, the 512 COCO-like JPEGs) with the
list, the images and the output in an S3 store (moto's server, with tests/servers/fault_proxy.py
in front adding 20 ms to every request, as a store across a network would), against the same job
on local files, alternating in one run. Default settings (the fetch concurrency is automatic).
The model stays local: a store adds one download per run, not per image.
usage: bench_s3.py [--arch resnet50] [--reps 3] [--threads 2] [--latency-ms 20]"""
import argparse
import json
import os
import subprocess
import sys
import urllib.request

from common import MLIC, ROOT, WORK, emit, median, mlic_model, run_peak_rss

VENV_PY = os.path.join(ROOT, "build", "venv-s3", "bin", "python3")
SERVERS = os.path.join(ROOT, "tests", "servers")


def start(cmd, env):
    """A server that prints one JSON line once it listens; it stops when its stdin closes."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    line = p.stdout.readline()
    if not line:
        sys.exit(f"bench_s3: {cmd[1]} did not start")
    return p, json.loads(line)


def stop(p):
    p.stdin.close()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--latency-ms", type=int, default=20)
    a = ap.parse_args()
    if not os.path.exists(VENV_PY):
        print("\n### End to end from S3: n/a (no build/venv-s3: scripts/test_venv.sh needs PyPI)")
        return
    imgs = os.path.join(WORK, "imgs")
    if len(os.listdir(imgs) if os.path.isdir(imgs) else []) < a.images:
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "gen_images.py"), imgs,
                        str(a.images)], check=True)
    names = [f"{i:06d}.jpg" for i in range(a.images)]
    local_list = os.path.join(WORK, "s3_local_list.txt")
    with open(local_list, "w") as f:
        f.write("".join(os.path.join(imgs, n) + "\n" for n in names))
    model = mlic_model(a.arch)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OSS_", "ALIBABA_"))}
    server, info = start([VENV_PY, os.path.join(SERVERS, "s3_server.py")], env)
    try:
        env.update(AWS_ACCESS_KEY_ID=info["access_key_id"], AWS_REGION=info["region"],
                   AWS_SECRET_ACCESS_KEY=info["secret_access_key"], AWS_ENDPOINT_URL=info["endpoint"],
                   HOME=WORK)
        # The images and their list (relative names: they resolve against the list's folder).
        with open(os.path.join(WORK, "s3_list.txt"), "w") as f:
            f.write("".join(n + "\n" for n in names))
        up = ("import os, sys, boto3\n"
              "s3 = boto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL'])\n"
              "s3.create_bucket(Bucket='bench')\n"
              "s3.upload_file(sys.argv[1], 'bench', 'e2e/list.txt')\n"
              "for n in sys.argv[3:]:\n"
              "    s3.upload_file(os.path.join(sys.argv[2], n), 'bench', 'e2e/' + n)\n")
        subprocess.run([VENV_PY, "-c", up, os.path.join(WORK, "s3_list.txt"), imgs, *names],
                       env=env, check=True)
        proxy, pinfo = start(["/usr/bin/python3", os.path.join(SERVERS, "fault_proxy.py"),
                              "--upstream", info["endpoint"]], env)
        try:
            req = urllib.request.Request(pinfo["endpoint"] + "/__fault__", method="POST",
                                         data=json.dumps({"latency_ms": a.latency_ms}).encode())
            urllib.request.urlopen(req).read()
            env["AWS_ENDPOINT_URL"] = pinfo["endpoint"]
            common = ["--model", model, "--threads", str(a.threads), "--no-progress"]
            local_cmd = [MLIC, "predict", "--input", local_list, "--output",
                         os.path.join(WORK, "s3_local_out.txt"), *common]
            s3_cmd = [MLIC, "predict", "--input", "s3://bench/e2e/list.txt", "--output",
                      "s3://bench/out/e2e.txt", *common]
            local_rates, s3_rates, s3_mem = [], [], []
            for _ in range(a.reps):
                secs, _, _ = run_peak_rss(local_cmd, env=env)
                local_rates.append(a.images / secs)
                secs, mem, _ = run_peak_rss(s3_cmd, env=env)
                s3_rates.append(a.images / secs)
                s3_mem.append(mem)
        finally:
            stop(proxy)
    finally:
        stop(server)
    loc, rem = median(local_rates), median(s3_rates)
    emit({"arch": a.arch, "local_img_s": round(loc, 2), "s3_img_s": round(rem, 2),
          "s3_peak_mib": round(max(s3_mem)), "latency_ms": a.latency_ms})
    print(f"\n### End to end from S3, {a.images} JPEGs 500x375, {a.latency_ms} ms added per request, "
          f"images/s (median of {a.reps}), {a.threads} threads, default fetch concurrency\n")
    print("| model | local files | S3 (list, images, output) | S3 / local | S3 peak MiB |")
    print("|---|---|---|---|---|")
    print(f"| {a.arch} | {loc:.1f} | {rem:.1f} | {rem / loc:.2f} | {round(max(s3_mem))} |")


if __name__ == "__main__":
    main()
