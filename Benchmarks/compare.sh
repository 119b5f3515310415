#!/usr/bin/env bash
# Runs QATKit's benchmark and the PyTorch + ModelOpt reference one after the other (never
# concurrently: they would compete for the same cores) and prints QATKit-vs-reference ratios.
#
#   Benchmarks/compare.sh [--keep DIR] [extra qatkit-bench args, e.g. --filter matmul]
#
# Environment:
#   QATKIT_TORCH_PYTHON  python with torch 2.13.0 + nvidia-modelopt 0.47.0 (default: python3)
#   QATKIT_REFERENCE     path of torch_reference.py (default: ../shared/bench/torch_reference.py
#                        relative to the package root)
#   QATKIT_SCRATCH_PATH  SwiftPM scratch path for the release build (default: .build)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${QATKIT_TORCH_PYTHON:-python3}"
ref="${QATKIT_REFERENCE:-$root/../shared/bench/torch_reference.py}"
keep=""
if [[ "${1:-}" == "--keep" ]]; then keep="$2"; shift 2; fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

scratch=()
if [[ -n "${QATKIT_SCRATCH_PATH:-}" ]]; then scratch=(--scratch-path "$QATKIT_SCRATCH_PATH"); fi

echo "building qatkit-bench (release)…" >&2
(cd "$root" && swift build -c release "${scratch[@]}" --product qatkit-bench >&2)
bin="$(cd "$root" && swift build -c release "${scratch[@]}" --show-bin-path)/qatkit-bench"

echo "running qatkit-bench…" >&2
"$bin" --json "$@" > "$out/qatkit.json"
echo "running $ref with $py…" >&2
"$py" "$ref" --json > "$out/torch.json"
if [[ -n "$keep" ]]; then mkdir -p "$keep" && cp "$out"/*.json "$keep"/; fi

"$py" - "$out/qatkit.json" "$out/torch.json" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))["results"]
ref_doc = json.load(open(sys.argv[2]))
ref = ref_doc["results"]

def val(d, k):
    if k.startswith("anchor:"):  # a fixed number from ../shared/reference/ANCHORS.md
        return float(k.split(":", 1)[1])
    if k.startswith("qatkit:"):  # another QATKit item of the same run (e.g. INT8 vs FP32 inference)
        d, k = ours, k.split(":", 1)[1]
    e = d.get(k)
    return None if e is None else e.get("value")

# (QATKit key, reference key, target "QATKit is ≥ X times better", note)
pairs = [
    ("matmul_f32_1024", "matmul_f32_1024", 0.85, "torch.matmul"),
    ("matmul_f32_1024_nt", "matmul_f32_1024", 0.85, "A·Bᵀ vs torch NN"),
    ("matmul_f32_1024_tn", "matmul_f32_1024", 0.85, "Aᵀ·B vs torch NN"),
    ("matmul_f32_256", "matmul_f32_256", 0.85, "torch.matmul"),
    ("matmul_f32_256_nt", "matmul_f32_256", 0.85, "A·Bᵀ vs torch NN"),
    ("matmul_f32_256_tn", "matmul_f32_256", 0.85, "Aᵀ·B vs torch NN"),
    ("fake_quant_int8_per_channel", "fake_quant_modelopt_int8_per_channel", 10, "ModelOpt TensorQuantizer"),
    ("fake_quant_int8_per_channel_ste", "fake_quant_modelopt_int8_per_channel", 10, "+ STE mask"),
    ("fake_quant_int8_per_channel", "fake_quant_torch_int8_per_channel", None, "torch.fake_quantize_per_channel_affine"),
    ("fake_quant_int4_per_channel", "fake_quant_modelopt_int4_per_channel", 10, "ModelOpt TensorQuantizer"),
    ("fake_quant_int4_per_channel_ste", "fake_quant_modelopt_int4_per_channel", 10, "+ STE mask"),
    ("fake_quant_fp8_e4m3_per_tensor", "fake_quant_modelopt_fp8_e4m3_per_tensor", 10, "ModelOpt TensorQuantizer"),
    ("fake_quant_fp8_e4m3_per_tensor_ste", "fake_quant_modelopt_fp8_e4m3_per_tensor", 10, "+ STE mask"),
    ("mlp_train_step_fp32_b64", "mlp_train_step_fp32_b64", 2, "time"),
    ("mlp_train_step_fp32_b1024", "mlp_train_step_fp32_b1024", 1, "time"),
    ("mlp_train_step_int8_b64", "mlp_train_step_int8_b64", 2, "QAT INT8 vs ModelOpt"),
    ("mlp_train_step_int8_b1024", "mlp_train_step_int8_b1024", 1, "QAT INT8 vs ModelOpt"),
    ("mlp_train_step_w2a4_b64", "mlp_train_step_w2a4_b64", 2, "QAT W2A4 vs ModelOpt"),
    ("mlp_train_step_w2a4_b1024", "mlp_train_step_w2a4_b1024", 1, "QAT W2A4 vs ModelOpt"),
    ("epoch_fp32_b64", "epoch_fp32_b64", 1, "time"),
    ("epoch_qat_int8_b64", "epoch_qat_int8_b64", 1, "time"),
    ("epoch_qat_w2a4_b64", "epoch_qat_w2a4_b64", 1, "time"),
    ("epoch_qat_kd_w2a4_b64", "anchor:0.054", 1, "vs ANCHORS.md QAT+KD epoch 54 ms (not in torch_reference.py; other run)"),
    ("fp32_train_30_epochs", "fp32_train_30_epochs", 1, "time (one run)"),
    ("cnn_train_step_fp32_b64", "cnn_train_step_fp32_b64", 1.5, "CNN step vs PyTorch"),
    ("cnn_train_step_int8_b64", "cnn_train_step_int8_b64", 1.5, "CNN QAT INT8 step vs ModelOpt"),
    ("mlp_forward_int8_b1", "qatkit:mlp_forward_fp32_b1", 1, "integer inference vs QATKit FP32 forward"),
    ("mlp_forward_int8_b32", "qatkit:mlp_forward_fp32_b32", 1, "integer inference vs QATKit FP32 forward"),
    ("mlp_forward_int8_b256", "qatkit:mlp_forward_fp32_b256", 1, "integer inference vs QATKit FP32 forward"),
    ("mlp_forward_int4wo_b1", "qatkit:mlp_forward_fp32_b1", 1, "INT4 weight-only vs QATKit FP32 forward"),
    ("bert_layer_train_step_fp32_b8_t128", "bert_layer_train_step_fp32_b8_t128", 1, "BERT layer step vs torch"),
    ("bert_layer_train_step_int8_b8_t128", "bert_layer_train_step_fp32_b8_t128", 1, "QAT INT8 step vs torch FP32"),
    ("bert_layer_train_step_int8_b8_t128", "bert_layer_train_step_int8_b8_t128", 1.5, "QAT INT8 step vs ModelOpt"),
    ("minilm_encoder_forward_b32_t128", "minilm_encoder_forward_b32_t128", 1, "MiniLM encoder forward vs torch"),
]

print(f"{'QATKit key':38s} {'QATKit':>10s} {'reference':>10s} {'unit':8s} {'×better':>8s} {'target':>7s}  note")
for ok, rk, target, note in pairs:
    if ok not in ours:
        continue
    a, b = val(ours, ok), val(ref, rk)
    unit = ours[ok]["unit"]
    if a is None or b is None:
        other = ours.get(rk.split(":", 1)[1]) if rk.startswith("qatkit:") else ref.get(rk)
        why = ours[ok].get("error") or (other or {}).get("error") or "missing"
        print(f"{ok:38s} {'—':>10s} {'—':>10s} {unit:8s} {'—':>8s} {'':>7s}  {why}")
        continue
    better = a / b if ours[ok]["higher_is_better"] else b / a
    flag = "" if target is None else ("ok" if better >= target else "MISS")
    tgt = "" if target is None else f"≥{target:g}"
    print(f"{ok:38s} {a:10.3f} {b:10.3f} {unit:8s} {better:8.2f} {tgt:>7s}  {flag} {note}")

copy = val(ours, "memory_copy_512mib")
streaming = [(k, e) for k, e in sorted(ours.items()) if e.get("fraction_of_memory_copy") and e.get("value")]
if streaming:
    head = f"memory copy 512 MiB {copy:.1f} GB/s; " if copy else ""
    print(f"\n{head}streaming kernels against copies of the same 64 MiB timed alternately with each, cold caches"
          " (target ≥0.85 of memcpy):")
    print(f"  {'':38s} {'kernel':>8s}  {'memcpy':>8s} {'×':>5s}  {'NT copy':>8s} {'×':>5s}")
    for k, e in streaming:
        f = e["fraction_of_memory_copy"]
        g = e.get("fraction_of_streaming_copy", 0)
        print(f"  {k:38s} {e['value']:8.2f}  {e.get('copy_gb_per_s', 0):8.2f} {f:5.2f}  "
              f"{e.get('streaming_copy_gb_per_s', 0):8.2f} {g:5.2f}  {'ok' if f >= 0.85 else 'MISS'}")

steps = [k for k in ("cnn_train_step_fp32_b64", "cnn_train_step_int8_b64", "bert_layer_train_step_fp32_b8_t128",
                     "bert_layer_train_step_int8_b8_t128", "minilm_encoder_forward_b32_t128") if (ours.get(k) or {}).get("gflop_per_s")]
if steps:
    print("\nCNN / BERT steps as a fraction of the SGEMM rate of the same run (GEMM flop of the step / time / matmul_f32_1024):")
    for k in steps:
        e = ours[k]
        flop = e["gflop_per_s"] * e["median_s"] * 1e9
        theirs = val(ref, "matmul_f32_1024")
        r = (ref.get(k) or {}).get("median_s")
        line = f"  {k:38s} QATKit {e['gflop_per_s']:6.0f} GFLOP/s"
        if e.get("fraction_of_sgemm"): line += f" = {e['fraction_of_sgemm']:.2f} of its SGEMM"
        if r and theirs: line += f"; reference {flop / r / 1e9:6.0f} GFLOP/s = {flop / r / 1e9 / theirs:.2f} of torch.matmul"
        print(line)

cu = [(k, e.get("cpu_util")) for k, e in ours.items() if e.get("cpu_util")]
print(f"\nreference env: torch {ref_doc['env'].get('torch')}, modelopt {ref_doc['env'].get('modelopt')}, "
      f"threads {ref_doc['env'].get('torch_threads')}; loadavg at end {ref_doc.get('loadavg_end')}")
print("cpu_util well below the thread count means another process competed for the cores; rerun then.")
PY
