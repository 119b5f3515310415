"""Converts the shared fixtures' `expected.json` (written by `make_modelopt_export.py`) into
`expected.safetensors`: the same numbers in float32 (ModelOpt computed them in float32; the JSON holds
them as exact decimal expansions), a quarter of the size.

    python3 make_expected.py PATH/TO/expected.json    # numpy + safetensors

Tensors: `input_ids` (int64 [4, 24]), `fp32_last_hidden_state` and `<kind>.fake_quant_last_hidden_state`
(float32 [4, 24, 128]) for kind in fp8, int8_sq, int4_awq, w4a8_awq. Metadata: the ModelOpt and torch versions.
"""
import json
import os
import sys

import numpy as np
from safetensors.numpy import save_file

src = json.load(open(sys.argv[1]))
tensors = {"input_ids": np.array(src["input_ids"], dtype=np.int64),
           "fp32_last_hidden_state": np.array(src["fp32_last_hidden_state"], dtype=np.float32)}
for kind, e in src["exports"].items():
    a = np.array(e["fake_quant_last_hidden_state"])
    assert np.array_equal(a.astype(np.float32).astype(np.float64), a), "not float32 values"
    tensors[f"{kind}.fake_quant_last_hidden_state"] = a.astype(np.float32)
save_file(tensors, os.path.join(os.path.dirname(os.path.abspath(__file__)), "expected.safetensors"),
          metadata={"modelopt": src["modelopt"], "torch": src["torch"]})
