#!/usr/bin/env bash
# Integer inference of all-MiniLM-L6-v2, side by side in one invocation: QATKit's INT8 path
# (Int8BertModel: every encoder Linear on u8×s8 GEMMs), QATKit's FP32 forward of the same weights,
# and onnxruntime (2 threads) running the same checkpoint exported as Q/DQ ONNX — sentence
# embeddings of [B, 128] token ids (no padding) at batch 1, 32 and 256. The sibling of
# Benchmarks/onnx-compare.sh (the digits MLP).
#
#   Benchmarks/onnx-compare-minilm.sh [--checkpoint FILE] [--keep DIR] [--rounds N]
#
# --keep DIR keeps the JSON of every round, the .onnx file and the PTQ checkpoint (pass it back
# with --checkpoint to skip the PTQ next time).
#
# Steps: PTQ of all-MiniLM-L6-v2 with int8_no_ln (`qatkit-run minilm --epochs 0 --ranges frozen
# --configs int8_no_ln`: W8A8 on every Linear, LayerNorm inputs not quantized, max calibration),
# unless --checkpoint gives one → `qatkit-run export --format onnx` of that checkpoint →
# `qatkit-bench --minilm-checkpoint` (QATKit INT8 and FP32) → onnxruntime on the .onnx file.
# QATKit and onnxruntime alternate for --rounds rounds (default 3; never concurrently); the table
# shows the median over rounds of each side's per-round median. Needs the model
# (scripts/fetch-minilm.sh, or $QATKIT_MINILM_DIR).
#
# Environment:
#   QATKIT_ORT_PYTHON (or QATKIT_TORCH_PYTHON)  python with numpy + onnxruntime (default: python3)
#   QATKIT_SCRATCH_PATH                          SwiftPM scratch path for the release build
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/onnx-compare-common.sh"
keep=""
rounds=3
checkpoint=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --keep) keep="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --checkpoint) checkpoint="$2"; shift 2 ;;
    *) echo "usage: Benchmarks/onnx-compare-minilm.sh [--checkpoint FILE] [--keep DIR] [--rounds N]" >&2; exit 2 ;;
  esac
done

build_release

if [[ -z "$checkpoint" ]]; then
  echo "PTQ of all-MiniLM-L6-v2 with int8_no_ln…" >&2
  "$bin/qatkit-run" minilm --epochs 0 --ranges frozen --configs int8_no_ln --out "$out/minilm" >&2
  checkpoint="$out/minilm/int8_no_ln-frozen-ptq.safetensors"
fi
echo "Q/DQ ONNX export of $checkpoint…" >&2
"$bin/qatkit-run" export "$checkpoint" --format onnx --output "$out/minilm_int8.onnx" >&2

for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds: qatkit-bench…" >&2
  "$bin/qatkit-bench" --json --filter ckpt_minilm_forward --minilm-checkpoint "$checkpoint" > "$out/qatkit.$r.json"
  echo "round $r/$rounds: onnxruntime…" >&2
  run_py - "$out/minilm_int8.onnx" > "$out/ort.$r.json" <<'PY'
import json, os, sys, time
import numpy as np
import onnxruntime as ort
import ort_timing

onnx_path = sys.argv[1]
T = 128

def session(optimized): return ort_timing.session(onnx_path, optimized)
median_ms = ort_timing.median_ms

rng = np.random.default_rng(11)
res = {}
c0, w0 = time.process_time(), time.perf_counter()
for name, optimized in (("defaults", False), ("optimized", True)):
    s = session(optimized)
    for batch, runs, warmup in ((1, 41, 5), (32, 7, 2), (256, 3, 1)):
        ids = np.ascontiguousarray(rng.integers(1, 30522, size=(batch, T), dtype=np.int64))
        mask = np.ones((batch, T), dtype=np.int64)
        binding = s.io_binding()
        binding.bind_cpu_input("input_ids", ids)
        binding.bind_cpu_input("attention_mask", mask)
        binding.bind_output(s.get_outputs()[0].name)
        res[f"{name}_b{batch}_ms"] = median_ms(lambda: s.run_with_iobinding(binding), runs, warmup)
res["cpu_util"] = (time.process_time() - c0) / (time.perf_counter() - w0)
res["onnxruntime"] = ort.__version__
res["loadavg"] = list(os.getloadavg())
print(json.dumps(res))
PY
done
if [[ -n "$keep" ]]; then
  mkdir -p "$keep" && cp "$out"/*.json "$out"/minilm_int8.onnx "$keep"/
  if [[ -d "$out/minilm" ]]; then cp "$out"/minilm/*.safetensors "$keep"/; fi  # the PTQ checkpoint, for --checkpoint
fi

run_py - "$out" "$rounds" <<'PY'
import json, statistics, sys
import ort_timing
out, rounds = sys.argv[1], int(sys.argv[2])
q = [json.load(open(f"{out}/qatkit.{r}.json")) for r in range(1, rounds + 1)]
o = [json.load(open(f"{out}/ort.{r}.json")) for r in range(1, rounds + 1)]
def qv(key): return statistics.median(d["results"][key]["value"] for d in q)
def qu(key): return [round(d["results"][key]["cpu_util"], 2) for d in q]
def ov(key): return statistics.median(d[key] for d in o)
print(f"all-MiniLM-L6-v2 int8_no_ln (PTQ), sentence embeddings of [B, 128] ids, {rounds} rounds; "
      "medians over rounds of per-round medians (ms)")
print(f"onnxruntime {o[0]['onnxruntime']}, 2 intra-op threads, run_with_iobinding; 'default' = default session options, "
      "'optim.' = all rewrites except the two that approximate (check_onnx.py's optimized)")
ort_timing.print_ratio_table(
    [(b, qv(f"ckpt_minilm_forward_int8_b{b}_t128"), qv(f"ckpt_minilm_forward_fp32_b{b}_t128"),
      ov(f"defaults_b{b}_ms"), ov(f"optimized_b{b}_ms"), qu(f"ckpt_minilm_forward_int8_b{b}_t128")) for b in (1, 32, 256)],
    decimals=3)
c = q[0]["checks"]
print(f"batch 32: INT8 vs fake-quantized min cosine {c.get('ckpt_minilm_int8_vs_fake_quant_min_cosine', float('nan')):.6f}, "
      f"max |Δ| {c.get('ckpt_minilm_int8_vs_fake_quant_max_abs_diff', float('nan')):.3g}; mean cosine to FP32: INT8 "
      f"{c.get('ckpt_minilm_int8_vs_fp32_mean_cosine', float('nan')):.4f}, fake-quantized "
      f"{c.get('ckpt_minilm_fake_quant_vs_fp32_mean_cosine', float('nan')):.4f}")
print(f"onnxruntime cpu_util per round {[round(d['cpu_util'], 2) for d in o]}; loadavg at end of each ORT round "
      f"{[round(d['loadavg'][0], 2) for d in o]}")
print("ORT/INT8 > 1: QATKit's integer path is faster than the faster onnxruntime session; targets ORT/INT8 >= 1, "
      "FP32/INT8 >= 2.5 at batch 32.")
PY
