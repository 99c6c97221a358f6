"""ONNX Runtime timing, run by bench_infer.py in a venv that has onnxruntime.
usage: ort_infer.py MODEL.onnx BATCH THREADS REPS ITERS -> prints the median images/s"""
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

path, bs, threads, reps, iters = sys.argv[1], *map(int, sys.argv[2:6])
so = ort.SessionOptions()
so.intra_op_num_threads = threads
so.inter_op_num_threads = 1
s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
x = np.random.default_rng(0).standard_normal((bs, 3, 224, 224), dtype=np.float32)
for _ in range(2):
    s.run(None, {"input": x})
rates = []
for _ in range(reps):
    t0 = time.perf_counter()
    for _ in range(iters):
        s.run(None, {"input": x})
    rates.append(bs * iters / (time.perf_counter() - t0))
print(f"{statistics.median(rates):.2f}")
