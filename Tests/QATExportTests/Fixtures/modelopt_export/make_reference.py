"""Reference values for importing ModelOpt's unified checkpoints, and two FP4 exports.

    /path/to/venv/bin/python make_reference.py   # torch 2.13 (CPU), nvidia-modelopt 0.47, transformers 5.14

1. Rebuilds the tiny BERT of `make_modelopt_export.py` (same seeds), quantizes it with the same four configs and
   checks that `export_hf_checkpoint` reproduces the committed `fp8/`, `int8_sq/`, `int4_awq/`, `w4a8_awq/`
   `model.safetensors` byte for byte (so the references below belong to those files).
2. For one Linear per export, stores in `reference.safetensors`: `<kind>.weight_fake_quant` (ModelOpt's
   `weight_quantizer(weight)`, what the model computed with), `<kind>.input` (4 random rows) and `<kind>.output`
   (the quantized layer's forward on them: pre_quant_scale, input quantizer, fake-quantized weight, bias).
3. Writes `nvfp4/` (NVFP4_DEFAULT_CFG, input amax pinned to 3.0 on every quantized Linear, so `input_scale`
   exists) and `mxfp4/` (MXFP4_DEFAULT_CFG) from a smaller BERT (hidden 32, 1 layer, 2 heads, FFN 64, vocab 16,
   8 positions): NVFP4/MX fake quantization needs CUDA, so these two are exported without calibration (ModelOpt
   takes the weight ranges from the weights) and `<kind>.weight_dequant` holds ModelOpt's own CPU dequantization
   (`NVFP4QTensor` / `MXFP4QTensor`) of the exported `encoder.layer.0.output.dense` tensors.
"""
import copy
import filecmp
import os
import shutil
import tempfile
import warnings

warnings.filterwarnings("ignore")
import torch  # noqa: E402

torch.set_num_threads(2)
import modelopt.torch.quantization as mtq  # noqa: E402
from modelopt.torch.export import export_hf_checkpoint  # noqa: E402
from modelopt.torch.quantization.qtensor import MXFP4QTensor, NVFP4QTensor  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import BertConfig, BertModel  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LAYERS = {"fp8": "encoder.layer.0.attention.self.query", "int8_sq": "encoder.layer.0.attention.self.query",
          "int4_awq": "encoder.layer.0.output.dense", "w4a8_awq": "encoder.layer.0.output.dense"}


def module(m, path):
    for part in path.split("."):
        m = m[int(part)] if part.isdigit() else getattr(m, part)
    return m


def main():
    ref = {}
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=120, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=256, max_position_embeddings=64, architectures=["BertModel"])
    base = BertModel(cfg).eval()
    g = torch.Generator().manual_seed(1)
    calib = torch.randint(0, 120, (16, 24), generator=g)

    def loop(m):
        with torch.no_grad():
            m(input_ids=calib)

    tmp = tempfile.mkdtemp()
    for name, qc in (("fp8", mtq.FP8_DEFAULT_CFG), ("int8_sq", mtq.INT8_SMOOTHQUANT_CFG),
                     ("int4_awq", mtq.INT4_AWQ_CFG), ("w4a8_awq", mtq.W4A8_AWQ_BETA_CFG)):
        torch.manual_seed(0)
        m = mtq.quantize(copy.deepcopy(base), qc, loop)
        lin = module(m, LAYERS[name])
        x = torch.randn(4, lin.in_features, generator=torch.Generator().manual_seed(7))
        with torch.no_grad():
            ref[f"{name}.weight_fake_quant"] = lin.weight_quantizer(lin.weight).contiguous()
            ref[f"{name}.input"] = x
            ref[f"{name}.output"] = lin(x).contiguous()
        out = os.path.join(tmp, name)
        export_hf_checkpoint(m, export_dir=out)
        same = filecmp.cmp(os.path.join(out, "model.safetensors"), os.path.join(HERE, name, "model.safetensors"),
                           shallow=False)
        print(name, "reproduces the committed model.safetensors:", same)
        assert same

    torch.manual_seed(0)
    small = BertModel(BertConfig(vocab_size=16, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=8,
                                 architectures=["BertModel"])).eval()
    for name, qc in (("nvfp4", mtq.NVFP4_DEFAULT_CFG), ("mxfp4", mtq.MXFP4_DEFAULT_CFG)):
        m = mtq.quantize(copy.deepcopy(small), qc, None)
        if name == "nvfp4":
            for _, mod in m.named_modules():
                q = getattr(mod, "input_quantizer", None)
                if q is not None and q.is_enabled:
                    q.amax = torch.tensor(3.0)
        out = os.path.join(HERE, name)
        shutil.rmtree(out, ignore_errors=True)
        export_hf_checkpoint(m, export_dir=out)
        sd = load_file(os.path.join(out, "model.safetensors"))
        p = "encoder.layer.0.output.dense."
        shape = (32, 64)
        if name == "nvfp4":
            deq = NVFP4QTensor(torch.Size(shape), torch.float32, sd[p + "weight"]).dequantize(
                dtype=torch.float32, scale=sd[p + "weight_scale"], double_scale=sd[p + "weight_scale_2"],
                block_sizes={-1: 16})
        else:
            deq = MXFP4QTensor(torch.Size(shape), torch.float32, sd[p + "weight"]).dequantize(
                dtype=torch.float32, scale=sd[p + "weight_scale"], block_sizes={-1: 32})
        ref[f"{name}.weight_dequant"] = deq.reshape(shape).contiguous()
        print(name, sorted(os.listdir(out)))
    save_file(ref, os.path.join(HERE, "reference.safetensors"))
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
