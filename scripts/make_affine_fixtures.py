"""Golden vectors for the `affine` quantizer (asymmetric integers with zero points).

Run with the reference venv (torch CPU):
    /work/venv-ref/bin/python scripts/make_affine_fixtures.py Tests/QATPluginTests/Fixtures/conformance/torch_minmax_affine.json

For each case, PyTorch's MinMaxObserver / PerChannelMinMaxObserver (affine qschemes) computes
scale and zero point from the input; torch.fake_quantize_per_{tensor,channel}_affine gives the
output and the gradient of sum(output * grad_output). Per-block cases view the tensor as
[-1, block] and use the per-channel observer and op along axis 0 (torchao's grouped asymmetric
weights do the same).
"""
import json
import sys

import numpy as np
import torch


def tensor(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def case(name, x, qmin, qmax, dtype, granularity):
    rng = np.random.default_rng(1234)
    g = torch.tensor(rng.standard_normal(x.shape).astype(np.float32))
    if granularity == "tensor":
        obs = torch.ao.quantization.MinMaxObserver(dtype=dtype, qscheme=torch.per_tensor_affine, quant_min=qmin, quant_max=qmax)
        obs(x)
        s, z = obs.calculate_qparams()
        xi = x.clone().requires_grad_(True)
        y = torch.fake_quantize_per_tensor_affine(xi, float(s), int(z), qmin, qmax)
        scales, zps = [float(s)], [int(z)]
    else:
        view = x if granularity == "channel" else x.reshape(-1, granularity)
        obs = torch.ao.quantization.PerChannelMinMaxObserver(
            ch_axis=0, dtype=dtype, qscheme=torch.per_channel_affine, quant_min=qmin, quant_max=qmax)
        obs(view)
        s, z = obs.calculate_qparams()
        xi = view.clone().requires_grad_(True)
        y = torch.fake_quantize_per_channel_affine(xi, s.float(), z.int(), 0, qmin, qmax)
        scales, zps = [float(v) for v in s.float()], [int(v) for v in z]
    (y * g.reshape(y.shape)).sum().backward()
    return {
        "name": name, "granularity": granularity if isinstance(granularity, str) else f"block{granularity}",
        "quant_min": qmin, "quant_max": qmax, "input": tensor(x), "scale": scales, "zero_point": zps,
        "output": tensor(y.reshape(x.shape)), "grad_output": tensor(g), "grad_input": tensor(xi.grad.reshape(x.shape)),
    }


def main(path):
    rng = np.random.default_rng(7)
    x1 = torch.tensor((rng.standard_normal((4, 16)) * 1.3 + 0.4).astype(np.float32))
    relu = torch.tensor(np.maximum(rng.standard_normal((4, 16)), 0).astype(np.float32) * 2.5)
    x2 = torch.tensor((rng.standard_normal((4, 32)) * np.array([[0.5], [2.0], [0.1], [4.0]]) + np.array([[1.0], [-3.0], [0.0], [0.5]])).astype(np.float32))
    cases = [
        case("uint8 per tensor", x1, 0, 255, torch.quint8, "tensor"),
        case("uint4 per tensor", x1, 0, 15, torch.quint8, "tensor"),
        case("int8 per tensor (qint8 affine)", x1, -128, 127, torch.qint8, "tensor"),
        case("uint8 per tensor, non-negative input", relu, 0, 255, torch.quint8, "tensor"),
        case("uint8 per channel axis 0", x2, 0, 255, torch.quint8, "channel"),
        case("uint4 blocks of 8", x2, 0, 15, torch.quint8, 8),
        case("uint3 blocks of 16", x2, 0, 7, torch.quint8, 16),
    ]
    out = {
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
        "producer": "scripts/make_affine_fixtures.py",
        "cases": cases,
    }
    with open(path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1])
