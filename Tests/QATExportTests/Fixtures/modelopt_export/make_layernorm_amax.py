"""The one piece of ModelOpt's quantized state that a unified checkpoint does not carry: the ranges of the
LayerNorm input quantizers (`QuantLayerNorm.input_quantizer`), which ModelOpt's fake-quantized forward applies
(`expected.safetensors`) but no deployment runtime reads.

    python3 make_layernorm_amax.py    # torch 2.13 (CPU), nvidia-modelopt 0.47, transformers 5.14; ~1 min

Re-runs `make_modelopt_export.py`'s quantization (same seeds, model, calibration ids and configs), checks that the
export it gives has the same tensors as the fixture directories (bit for bit), and writes
`layernorm_input_amax.json`: per export kind, each enabled LayerNorm input quantizer's `amax` (per tensor), with
its format (ModelOpt's `num_bits`).
"""
import copy
import json
import os
import tempfile
import warnings

warnings.filterwarnings("ignore")
import torch  # noqa: E402

torch.set_num_threads(2)
import modelopt.torch.quantization as mtq  # noqa: E402
from modelopt.torch.export import export_hf_checkpoint  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import BertConfig, BertModel  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=120, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=256, max_position_embeddings=64, architectures=["BertModel"])
    base = BertModel(cfg).eval()
    g = torch.Generator().manual_seed(1)
    calib = torch.randint(0, 120, (16, 24), generator=g)

    def loop(m):
        with torch.no_grad():
            m(input_ids=calib)

    out = {}
    for name, qc in (("fp8", mtq.FP8_DEFAULT_CFG), ("int8_sq", mtq.INT8_SMOOTHQUANT_CFG),
                     ("int4_awq", mtq.INT4_AWQ_CFG), ("w4a8_awq", mtq.W4A8_AWQ_BETA_CFG)):
        torch.manual_seed(0)
        m = mtq.quantize(copy.deepcopy(base), qc, loop)
        ranges = {}
        for path, mod in m.named_modules():
            if path.endswith("LayerNorm.input_quantizer") and mod.is_enabled:
                ranges[path] = {"amax": float(mod.amax.float().item()), "num_bits": str(mod.num_bits)}
        with tempfile.TemporaryDirectory() as d:
            export_hf_checkpoint(m, export_dir=d)
            mine = load_file(os.path.join(d, "model.safetensors"))
        theirs = load_file(os.path.join(HERE, name, "model.safetensors"))
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine), name
        out[name] = ranges
        print(name, ranges)
    json.dump(out, open(os.path.join(HERE, "layernorm_input_amax.json"), "w"), indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
