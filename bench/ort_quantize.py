"""ONNX Runtime's static int8 quantization of a benchmark model, run in build/bench/ortenv.
usage: ort_quantize.py MODEL.onnx OUT.onnx
QDQ format, per-channel symmetric int8 weights, uint8 activations (ORT's choice for x86), ranges
from 16 seeded random batches (min/max): what ORT's documentation prescribes for CPUs. The
inputs being random, the model's accuracy means nothing; its speed is what is timed."""
import os
import sys

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

src, out = sys.argv[1], sys.argv[2]


class Reader(CalibrationDataReader):
    def __init__(self):
        g = np.random.default_rng(0)
        self.batches = iter([{"input": g.standard_normal((1, 3, 224, 224), dtype=np.float32)} for _ in range(16)])

    def get_next(self):
        return next(self.batches, None)


pre = out + ".pre.onnx"
quant_pre_process(src, pre, skip_symbolic_shape=True)  # ONNX shape inference suffices: only the batch is dynamic
quantize_static(pre, out + ".tmp", Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
os.replace(out + ".tmp", out)
os.remove(pre)
