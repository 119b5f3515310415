#!/usr/bin/env bash
# Integer inference of one exported model, side by side in one invocation: QATKit's INT8 path
# (Int8InferenceModel), QATKit's FP32 forward, and onnxruntime (2 threads) running the same
# checkpoint exported as Q/DQ ONNX — the digits MLP 64-256-256-10 at batch 1, 32 and 256.
#
#   Benchmarks/onnx-compare.sh [--keep DIR] [--rounds N]
#
# Steps: PTQ of the bundled FP32 digits MLP with the int8 preset (`qatkit-run quantize`, max
# calibration on the training rows) → `qatkit-run export --format onnx --reference` of that
# checkpoint → `qatkit-bench --mlp-checkpoint` (QATKit INT8 and FP32 on it) → onnxruntime on the
# .onnx file. QATKit and onnxruntime alternate for --rounds rounds (default 3; never concurrently);
# the table shows the median over rounds of each side's per-round median.
#
# Environment:
#   QATKIT_ORT_PYTHON (or QATKIT_TORCH_PYTHON)  python with numpy + onnxruntime (default: python3)
#   QATKIT_SCRATCH_PATH                          SwiftPM scratch path for the release build
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/onnx-compare-common.sh"
keep=""
rounds=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --keep) keep="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    *) echo "usage: Benchmarks/onnx-compare.sh [--keep DIR] [--rounds N]" >&2; exit 2 ;;
  esac
done

build_release

echo "PTQ (int8 preset) and Q/DQ ONNX export…" >&2
"$bin/qatkit-run" quantize --checkpoint "$root/Sources/qatkit-run/Resources/mlp_digits_fp32.safetensors" \
  --quant-cfg int8 --out "$out" --output "$out/mlp_int8.safetensors" >&2
"$bin/qatkit-run" export "$out/mlp_int8.safetensors" --format onnx --output "$out/mlp_int8.onnx" --reference >&2

for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds: qatkit-bench…" >&2
  "$bin/qatkit-bench" --json --filter ckpt_mlp_forward --mlp-checkpoint "$out/mlp_int8.safetensors" > "$out/qatkit.$r.json"
  echo "round $r/$rounds: onnxruntime…" >&2
  run_py - "$out/mlp_int8.onnx" "$out/mlp_int8.reference.safetensors" > "$out/ort.$r.json" <<'PY'
import json, os, struct, sys, time
import numpy as np
import onnxruntime as ort
import ort_timing

onnx_path, ref_path = sys.argv[1], sys.argv[2]
with open(ref_path, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
header.pop("__metadata__", None)
def tensor(name):
    info = header[name]
    a, b = info["data_offsets"]
    return np.frombuffer(data[a:b], dtype=np.float32).reshape(info["shape"])
inputs, labels = tensor("input"), tensor("labels").astype(np.int64)

def session(optimized): return ort_timing.session(onnx_path, optimized)
def median_ms(fn, runs, warmup=100): return ort_timing.median_ms(fn, runs, warmup)

res = {}
c0, w0 = time.process_time(), time.perf_counter()
for name, optimized in (("defaults", False), ("optimized", True)):
    s = session(optimized)
    logits = s.run(None, {"input": inputs})[0]
    res[f"{name}_test_acc"] = float((logits.argmax(1) == labels).mean())
    for batch in (1, 32, 256):
        x = np.ascontiguousarray(inputs[:batch])
        binding = s.io_binding()
        binding.bind_cpu_input("input", x)
        binding.bind_output("logits")
        res[f"{name}_b{batch}_ms"] = median_ms(lambda: s.run_with_iobinding(binding), 401 if batch == 256 else 2001)
# The Python binding's own cost per call: an Identity graph on the batch-1 input.
from onnx import helper, TensorProto
g = helper.make_graph([helper.make_node("Identity", ["input"], ["logits"])], "id",
                      [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 64])],
                      [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 64])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
o = ort.SessionOptions(); o.intra_op_num_threads = 2
ident = ort.InferenceSession(m.SerializeToString(), o, providers=["CPUExecutionProvider"])
b = ident.io_binding(); b.bind_cpu_input("input", np.ascontiguousarray(inputs[:1])); b.bind_output("logits")
res["identity_call_ms"] = median_ms(lambda: ident.run_with_iobinding(b), 2001)
res["cpu_util"] = (time.process_time() - c0) / (time.perf_counter() - w0)
res["onnxruntime"] = ort.__version__
res["loadavg"] = list(os.getloadavg())
print(json.dumps(res))
PY
done
if [[ -n "$keep" ]]; then mkdir -p "$keep" && cp "$out"/*.json "$out"/mlp_int8.* "$keep"/; fi

run_py - "$out" "$rounds" <<'PY'
import json, statistics, sys
import ort_timing
out, rounds = sys.argv[1], int(sys.argv[2])
q = [json.load(open(f"{out}/qatkit.{r}.json")) for r in range(1, rounds + 1)]
o = [json.load(open(f"{out}/ort.{r}.json")) for r in range(1, rounds + 1)]
def qv(key): return statistics.median(d["results"][key]["value"] for d in q)
def qu(key): return [round(d["results"][key]["cpu_util"], 2) for d in q]
def ov(key): return statistics.median(d[key] for d in o)
print(f"digits MLP 64-256-256-10, int8 preset (PTQ), {rounds} rounds; medians over rounds of per-round medians (ms)")
print(f"onnxruntime {o[0]['onnxruntime']}, 2 intra-op threads, run_with_iobinding; one Python call costs "
      f"{ov('identity_call_ms') * 1e3:.1f} µs (Identity graph)")
ort_timing.print_ratio_table(
    [(b, qv(f"ckpt_mlp_forward_int8_b{b}"), qv(f"ckpt_mlp_forward_fp32_b{b}"),
      ov(f"defaults_b{b}_ms"), ov(f"optimized_b{b}_ms"), qu(f"ckpt_mlp_forward_int8_b{b}")) for b in (1, 32, 256)],
    decimals=4)
c = q[0]["checks"]
print(f"test accuracy: QATKit INT8 {c.get('ckpt_int8_test_acc', float('nan')):.4f}, fake-quantized "
      f"{c.get('ckpt_fake_quant_test_acc', float('nan')):.4f}, FP32 {c.get('ckpt_fp32_test_acc', float('nan')):.4f}; "
      f"onnxruntime default {o[0]['defaults_test_acc']:.4f}, optimized {o[0]['optimized_test_acc']:.4f}; "
      f"INT8 vs fake-quant max |Δlogit| {c.get('ckpt_int8_vs_fake_quant_max_logit_diff', float('nan')):.3g} "
      f"(max |logit| {c.get('ckpt_fake_quant_max_abs_logit', float('nan')):.3g})")
print(f"onnxruntime cpu_util per round {[round(d['cpu_util'], 2) for d in o]}; loadavg at end of each ORT round "
      f"{[round(d['loadavg'][0], 2) for d in o]}")
print("ORT/INT8 > 1: QATKit's integer path is faster than the faster onnxruntime session.")
PY
