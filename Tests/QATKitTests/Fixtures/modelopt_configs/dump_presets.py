"""Dumps ModelOpt's preset quantization configs as JSON, exactly as `mtq.<NAME>` holds them.

    /path/to/python dump_presets.py     # nvidia-modelopt 0.47 (CPU is enough)
"""
import json
import os

import modelopt
import modelopt.torch.quantization as mtq

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = ["INT8_DEFAULT_CFG", "INT8_WEIGHT_ONLY_CFG", "INT4_BLOCKWISE_WEIGHT_ONLY_CFG", "FP8_DEFAULT_CFG",
         "NVFP4_DEFAULT_CFG", "MXFP4_DEFAULT_CFG", "MXFP8_DEFAULT_CFG", "W4A8_AWQ_BETA_CFG"]

for name in NAMES:
    with open(os.path.join(HERE, f"{name}.json"), "w") as f:
        json.dump(getattr(mtq, name), f, indent=1)
        f.write("\n")
print("modelopt", modelopt.__version__)
