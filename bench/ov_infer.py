"""OpenVINO timing, run by bench_infer.py in build/bench/ovenv (scripts/ovenv.sh).
usage: ov_infer.py MODEL.onnx BATCH THREADS REPS ITERS f32|default
f32 pins INFERENCE_PRECISION_HINT to f32; default leaves it to OpenVINO (bf16 on CPUs with
AMX or AVX512_BF16, as a user calling compile_model gets). One stream, latency hint: one
request at a time on THREADS threads, as the other systems run.
Prints the median images/s and the precision OpenVINO ran at."""
import statistics
import sys
import time

import numpy as np
import openvino as ov

path, bs, threads, reps, iters, hint = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]
core = ov.Core()
model = core.read_model(path)
model.reshape({model.inputs[0].get_any_name(): [bs, 3, 224, 224]})
cfg = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
if hint == "f32":
    cfg["INFERENCE_PRECISION_HINT"] = "f32"
c = core.compile_model(model, "CPU", cfg)
req = c.create_infer_request()
x = np.random.default_rng(0).standard_normal((bs, 3, 224, 224), dtype=np.float32)
for _ in range(2):
    req.infer({0: x})
rates = []
for _ in range(reps):
    t0 = time.perf_counter()
    for _ in range(iters):
        req.infer({0: x})
    rates.append(bs * iters / (time.perf_counter() - t0))
print(f"{statistics.median(rates):.2f} {c.get_property('INFERENCE_PRECISION_HINT').get_type_name()}")
