"""Run an ONNX model with ONNX Runtime; run by test_export.py with the venv's python
(scripts/ortenv.sh), which has onnxruntime but not the test's packages.

    ort_run.py MODEL.onnx INPUT.bin N OUT_PREFIX
reads N images of float32 NCHW at the model's input size, writes OUT_PREFIX.<output>.bin
(float32) for every output of the model, and prints one JSON line: the input's and the
outputs' names and shapes as the model declares them, its metadata_props, opset and producer."""
import json
import sys

import numpy as np
import onnxruntime as ort

path, inp, n, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
opts = ort.SessionOptions()
opts.intra_op_num_threads = 2
sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
i = sess.get_inputs()[0]
x = np.fromfile(inp, "<f4").reshape([n] + list(i.shape[1:]))
names = [o.name for o in sess.get_outputs()]
for name, y in zip(names, sess.run(names, {i.name: x})):
    y.astype("<f4").tofile("%s.%s.bin" % (prefix, name))
meta = sess.get_modelmeta()
print(json.dumps({"input": [i.name, i.shape],
                  "outputs": [[o.name, o.shape] for o in sess.get_outputs()],
                  "metadata": meta.custom_metadata_map, "producer": meta.producer_name}))
