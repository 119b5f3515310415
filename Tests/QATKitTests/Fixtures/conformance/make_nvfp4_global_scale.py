"""Golden vector: NVFP4 with a global scale other than 1, an all-zero block and a tiny block.

Runs ModelOpt's CPU NVFP4 path (NVFP4QTensor.quantize -> dequantize; the fake-quant
TensorQuantizer asserts on CPU) on a fixed 4x64 input and records every quantity the
conformance README defines for NVFP4, each straight from ModelOpt's tensors:

  global_amax            max|x| (reduce_amax)
  global_scale           weights_scaling_factor_2 = global_amax / (6 * 448), fp32
  block_scale_e4m3       weights_scaling_factor (one E4M3 per block of 16) as fp32 values
  block_scale_e4m3_bits  the same as raw E4M3 bytes
  block_scale_effective  block_scale_e4m3 * global_scale in fp32, as dequantize computes it
  codes                  the 4-bit E2M1 codes (sign in bit 3), unpacked from the packed bytes
  output                 dequantize(float32)

Usage: /work/venv-ref/bin/python make_nvfp4_global_scale.py > modelopt_nvfp4_global_scale.json
(torch 2.13.0+cpu, nvidia-modelopt 0.47.0, numpy 2.4.6).
"""
import json
import sys

import numpy as np
import torch
import modelopt
from modelopt.torch.quantization.qtensor.nvfp4_tensor import NVFP4QTensor


def make_input():
    rng = np.random.default_rng(20261130)
    gmax = np.float32(150.0)  # the global amax: global scale 150 / 2688, not a power of two
    blocks = []
    # 0: holds the global maximum (block scale saturates at 448)
    b = rng.normal(0, 10, 16).astype(np.float32); b[3] = -gmax; blocks.append(b)
    # 1: all zero
    blocks.append(np.zeros(16, dtype=np.float32))
    # 2: tiny block: blockmax / (6 gs) < 2^-9, scale clamped to 2^-9
    blocks.append((rng.normal(0, 1, 16) * 1e-5).astype(np.float32))
    # 3: zeros and signed zeros with one small value
    b = np.zeros(16, dtype=np.float32); b[0] = -0.0; b[5] = 0.3; b[9] = -0.0; blocks.append(b)
    # 4..15: random magnitudes across the E4M3 range of block scales
    for k, scale in enumerate([0.01, 0.05, 0.2, 0.7, 1.5, 3, 6, 12, 20, 30, 0.003, 9]):
        blocks.append((rng.normal(0, 1, 16) * scale).astype(np.float32))
    x = np.concatenate(blocks).reshape(4, 64).astype(np.float32)
    assert np.abs(x).max() == gmax
    return x


def tensor(t):
    t = t.detach().to(torch.float32)
    return {"shape": list(t.shape), "data": [float(v) for v in t.flatten().tolist()]}


def main():
    x = torch.from_numpy(make_input())
    qt, wsf, wsf2 = NVFP4QTensor.quantize(x, 16)
    out = qt.dequantize(dtype=torch.float32, scale=wsf, double_scale=wsf2, block_sizes={-1: 16})
    packed = qt._quantized_data
    codes = torch.empty(packed.shape[:-1] + (packed.shape[-1] * 2,), dtype=torch.uint8)
    codes[..., 0::2] = packed & 0x0F
    codes[..., 1::2] = packed >> 4
    e4m3 = wsf.to(torch.float32)
    effective = e4m3 * wsf2
    gmax = x.abs().max()
    doc = {
        "file": "modelopt_nvfp4_global_scale.json",
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "modelopt": modelopt.__version__,
                     "numpy": np.__version__, "device": "cpu"},
        "op": "modelopt NVFP4QTensor.quantize(x, 16) -> .dequantize(float32) (CPU real-quant path)",
        "note": "global scale != 1; block 1 all zero (ModelOpt sets its scale to 1.0 before the E4M3 cast); "
                "block 2 tiny (scale clamped to 2^-9); block 3 zeros, -0.0 and one small value",
        "input": tensor(x),
        "global_amax": float(gmax),
        "global_scale": float(wsf2.to(torch.float32)),
        "block_scale_e4m3": tensor(e4m3),
        "block_scale_e4m3_bits": {"shape": list(wsf.shape), "data": wsf.view(torch.uint8).flatten().tolist()},
        "block_scale_effective": tensor(effective),
        "codes": {"shape": list(codes.shape), "data": codes.flatten().tolist()},
        "output": tensor(out),
    }
    # Self-checks: the quantities agree with each other.
    assert float(wsf2) == float(torch.tensor(float(gmax), dtype=torch.float32) / (6 * 448))
    assert float(wsf2) != 1.0
    assert torch.equal(e4m3.view(4, 4)[0, 1], torch.tensor(1.0)), "all-zero block gets scale 1.0"
    table = torch.tensor([0, 0.5, 1, 1.5, 2, 3, 4, 6, 0, -0.5, -1, -1.5, -2, -3, -4, -6])
    recon = table[codes.long()] * effective.repeat_interleave(16, dim=-1)
    assert torch.equal(recon, out), "output == E2M1 value of code x effective scale"
    json.dump(doc, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
