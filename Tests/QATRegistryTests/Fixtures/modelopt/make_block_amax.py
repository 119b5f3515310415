"""ModelOpt's static block ranges, for the checkpoint layout test (QATKit stores the same `[blocks, 1]`).

    python make_block_amax.py   # torch 2.13 (CPU), nvidia-modelopt 0.47

An MLP 8-6-4 with PyTorch names fc1/fc2 (seed 0), INT4 weights in static blocks of 2 along the input dimension
(StaticBlockScaleQuantizer), max-calibrated; everything else unquantized. Writes `block_amax.safetensors`: the
quantized model's state dict (`fc1.weight_quantizer._amax` is `[24, 1]`), `input` (5 x 8) and `output` (ModelOpt's
fake-quantized forward on it).
"""
import os
import warnings

warnings.filterwarnings("ignore")
import torch  # noqa: E402
import modelopt.torch.quantization as mtq  # noqa: E402
from safetensors.torch import save_file  # noqa: E402


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 6)
        self.fc2 = torch.nn.Linear(6, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


torch.manual_seed(0)
model = MLP()
x = torch.randn(5, 8)
cfg = {"quant_cfg": {"default": {"enable": False},
                     "*weight_quantizer": {"num_bits": 4, "block_sizes": {-1: 2, "type": "static"}, "enable": True}},
       "algorithm": "max"}
model = mtq.quantize(model, cfg, lambda m: m(x))
with torch.no_grad():
    y = model(x)
tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
tensors["input"] = x
tensors["output"] = y
save_file(tensors, os.path.join(os.path.dirname(os.path.abspath(__file__)), "block_amax.safetensors"))
print({k: tuple(v.shape) for k, v in tensors.items()})
