#!/usr/bin/env python3
"""Check QATKit's ONNX exports with tools QATKit did not write: onnx's checker and onnxruntime.

    python scripts/check_onnx.py DIR_OR_FILE.onnx ...

For every `NAME.onnx` (a file, or every one in a directory) with a `NAME.reference.safetensors` next to it (written
by `qatkit-run export ... --format onnx --reference`, or by the test `ONNXRuntimeArtifacts`, which `.ci/run` runs):

1. `onnx.checker.check_model(full_check=True)` passes (the graph, its types and its shapes are valid ONNX);
2. onnxruntime (CPU) runs the graph on the reference inputs (the digits test set):
   - "reference": graph optimizations off, every operator as the ONNX spec defines it. Its accuracy equals QATKit's,
     it predicts the same class on every row, and its logits agree with QATKit's within
     REFERENCE_TOLERANCE x max|logit|;
   - "optimized": onnxruntime's graph optimizations (ORT_ENABLE_ALL), what a deployment runs, except two rewrites
     that approximate the model rather than run it: `session.qdq_matmulnbits_accuracy_level = 1` (by default, level
     4, DequantizeLinear -> MatMul becomes MatMulNBits, which quantizes the *activations* to int8 on the fly:
     2% error measured on a plain INT8-weight MatMul) and the WeightBiasQuantization transformer disabled (it
     rounds each bias to a multiple of input scale x weight scale: 8% logit error measured on the W2A4 MLP). Its
     accuracy equals QATKit's and its logits agree within OPTIMIZED_TOLERANCE x max|logit|;
   - "defaults": a plain onnxruntime session, reported for information only.

Why logits are not bit-identical (README, "Export"): QuantizeLinear divides by the scale amax/maxBound where QATKit
(as ModelOpt) multiplies by maxBound/amax, and integer weights dequantize as q x scale where QATKit divides; both
differ by at most a few ulp, but a value that sits within an ulp of a rounding tie (round-half-to-even on both
sides) can land one quantization step away, which moves a logit by about one step x |weight|. Optimized sessions
fuse operators into kernels that sum in another order, which can hit that case elsewhere (onnxruntime issue #32132
describes the same one-step difference in its fused integer kernels).

BERT models (a reference file with `kind` = `sentence_embedding` in its metadata: `input_ids`, `attention_mask`,
QATKit's `embeddings` and optionally the FP32 model's `fp32_embeddings`; written by `qatkit-run export MINILM_CKPT
--format onnx --reference` on the 500 bundled eval sentences, or by `ONNXRuntimeArtifacts` on a tiny random BERT and,
when fetched, all-MiniLM-L6-v2): onnxruntime runs the whole padded batch, and its L2-normalized embeddings must agree
with QATKit's: in the "reference" and "optimized" sessions, for a graph without Q/DQ every sentence's cosine to
QATKit's embedding is at least 1 - EMBEDDING_COSINE_TOLERANCE and no component differs by more than
EMBEDDING_ABS_TOLERANCE (the embeddings have norm 1); for a quantized graph (see QDQ_* below for why) the mean cosine
to QATKit is at least 1 - QDQ_MEAN_COSINE_TOLERANCE, the worst at least QDQ_WORST_COSINE, and the mean cosine to FP32
equals QATKit's within QDQ_FP32_QUALITY_TOLERANCE. With `fp32_embeddings`, the mean / min cosine to FP32 is printed for QATKit and for
onnxruntime side by side (the quality number of the README's MiniLM tables).

Asymmetric (affine) exports: a reference file with metadata `zero_points` = `required` fails unless the graph has a
Q/DQ node with a nonzero zero point (so a silently symmetric export cannot pass); the report counts those nodes.

Needs numpy, onnx, onnxruntime (no safetensors package: the reference file is parsed here). Exit code 1 on any
failure.
"""
import json
import os
import struct
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort

REFERENCE_TOLERANCE = 1e-3
OPTIMIZED_TOLERANCE = 1e-2
# Classifier graphs that quantize activations downstream of a transcendental operator (softmax, erf, tanh, exp,
# sigmoid: the digits transformer's attention and GELU) meet more rounding ties than the "one step x |weight|" above
# allows for in REFERENCE_TOLERANCE: QATKit's vectorized exp/erf and onnxruntime's differ by a few ulp, so an
# activation code can land one step away (measured: 3.1e-3 x max|logit| on the INT8 digits transformer, every
# prediction equal). Their reference session is held to OPTIMIZED_TOLERANCE, still with identical predictions.
TRANSCENDENTAL_OPS = {"Softmax", "Erf", "Tanh", "Exp", "Sigmoid"}
EMBEDDING_COSINE_TOLERANCE = 1e-4
EMBEDDING_ABS_TOLERANCE = 1e-2
# Graphs with Q/DQ: a value within an ulp of a rounding tie lands one INT8 step away in one of the two (QuantizeLinear
# divides by amax/127, QATKit multiplies by 127/amax), and in a 6-layer encoder with per-tensor ranges set by outliers
# that one step spreads: on MiniLM INT8 W8A8, 359 of 500 sentences agree to 1e-14 and the others by up to 2.2e-2 in
# cosine. Checked instead: the mean cosine to QATKit, the worst one, and the quality against FP32, equal to QATKit's.
QDQ_MEAN_COSINE_TOLERANCE = 5e-3
QDQ_WORST_COSINE = 0.95
QDQ_FP32_QUALITY_TOLERANCE = 5e-3


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": np.float32, "I64": np.int64, "I8": np.int8, "U8": np.uint8}
    tensors = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        tensors[name] = np.frombuffer(data[a:b], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return tensors, meta


def sessions():
    """(mode, graph optimization level or None for a plain session) of the three onnxruntime configurations."""
    return [("reference", ort.GraphOptimizationLevel.ORT_DISABLE_ALL),
            ("optimized", ort.GraphOptimizationLevel.ORT_ENABLE_ALL), ("defaults", None)]


def open_session(path, level):
    if level is None:
        return ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    options.add_session_config_entry("session.qdq_matmulnbits_accuracy_level", "1")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=["WeightBiasQuantization"])


def cosines(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def check_embedding(name, path, model, opset, ref, meta):
    """A BERT graph: input_ids + attention_mask -> sentence embedding, against QATKit's embeddings."""
    want = ref["embeddings"]
    fp32 = ref.get("fp32_embeddings")
    qdq = sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)
    feeds = {"input_ids": ref["input_ids"].astype(np.int64), "attention_mask": ref["attention_mask"].astype(np.int64)}
    ok = True
    report = []
    for mode, level in sessions():
        session = open_session(path, level)
        got = session.run(None, feeds)[0]
        cos = cosines(got, want)
        diff = float(np.abs(got - want).max())
        line = (f"{mode}: cosine to QATKit mean 1 - {1 - cos.mean():.1e}, worst 1 - {1 - cos.min():.1e} "
                f"(sentence {int(cos.argmin())}), {int((cos > 1 - 1e-10).sum())}/{len(cos)} within 1e-10, max |diff| {diff:.2e}")
        if fp32 is not None:
            c = cosines(got, fp32)
            line += f"; vs FP32 mean / min cosine {c.mean():.4f} / {c.min():.4f}"
        report.append(line)
        if mode == "defaults":
            continue
        if qdq:
            if cos.mean() < 1 - QDQ_MEAN_COSINE_TOLERANCE or cos.min() < QDQ_WORST_COSINE:
                print(f"FAIL {name} ({mode}): mean / worst cosine to QATKit {cos.mean():.6f} / {cos.min():.6f} "
                      f"< 1 - {QDQ_MEAN_COSINE_TOLERANCE} / {QDQ_WORST_COSINE}")
                ok = False
            if fp32 is not None:
                theirs, ours = cosines(got, fp32).mean(), cosines(want, fp32).mean()
                if abs(theirs - ours) > QDQ_FP32_QUALITY_TOLERANCE:
                    print(f"FAIL {name} ({mode}): mean cosine to FP32 {theirs:.4f}, QATKit's {ours:.4f}")
                    ok = False
            continue
        if cos.min() < 1 - EMBEDDING_COSINE_TOLERANCE:
            print(f"FAIL {name} ({mode}): worst cosine {cos.min():.8f} < 1 - {EMBEDDING_COSINE_TOLERANCE}")
            ok = False
        if diff > EMBEDDING_ABS_TOLERANCE:
            print(f"FAIL {name} ({mode}): max |embedding difference| {diff:.3g} > {EMBEDDING_ABS_TOLERANCE}")
            ok = False
    head = f"{'ok  ' if ok else 'FAIL'} {name}: opset {opset}, {qdq} Q/DQ nodes, {want.shape[0]} sentences " \
           f"(T = {ref['input_ids'].shape[1]})"
    if fp32 is not None:
        c = cosines(want, fp32)
        head += f"; QATKit vs FP32 mean / min cosine {c.mean():.4f} / {c.min():.4f}"
    print(head + "\n       onnxruntime " + "\n       onnxruntime ".join(report))
    return ok


def nonzero_zero_points(model):
    """Q/DQ nodes whose zero point (third input, an initializer) holds a nonzero value: asymmetric quantizers."""
    inits = {t.name: t for t in model.graph.initializer}
    count = 0
    for n in model.graph.node:
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(n.input) < 3 or n.input[2] not in inits:
            continue
        t = inits[n.input[2]]
        if t.data_type in (onnx.TensorProto.INT4, onnx.TensorProto.UINT4):
            values = np.frombuffer(t.raw_data, dtype=np.uint8)  # two nibbles a byte: nonzero iff a nibble is
        elif t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8):
            values = np.asarray(onnx.numpy_helper.to_array(t))
        else:
            continue
        count += int(np.any(values != 0))
    return count


def check(path):
    name = os.path.basename(path)[: -len(".onnx")]
    ref_path = path[: -len(".onnx")] + ".reference.safetensors"
    if not os.path.exists(ref_path):
        print(f"{name}: no reference file {ref_path}")
        return False
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    ref, meta = read_safetensors(ref_path)
    if meta.get("kind") == "sentence_embedding":
        return check_embedding(name, path, model, opset, ref, meta)
    labels = ref["labels"].astype(np.int64)
    want = ref["logits"]
    qat_pred = want.argmax(axis=1)
    qat_acc = (qat_pred == labels).mean()
    scale = float(np.abs(want).max())
    qdq = sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)
    ok = True
    report = []
    ops = {n.op_type for n in model.graph.node}
    quantized_activations = sum(n.op_type == "QuantizeLinear" for n in model.graph.node) > 0
    zero_points = nonzero_zero_points(model)
    if meta.get("zero_points") == "required" and not zero_points:
        print(f"FAIL {name}: asymmetric (affine) export without a nonzero zero point")
        ok = False
    reference_tolerance = (OPTIMIZED_TOLERANCE if quantized_activations and ops & TRANSCENDENTAL_OPS
                           else REFERENCE_TOLERANCE)
    tolerances = {"reference": reference_tolerance, "optimized": OPTIMIZED_TOLERANCE, "defaults": None}
    for mode, level in sessions():
        tolerance = tolerances[mode]
        session = open_session(path, level)
        (input_name,) = [i.name for i in session.get_inputs()]
        logits = session.run(None, {input_name: ref["input"]})[0]
        pred = logits.argmax(axis=1)
        acc = (pred == labels).mean()
        differ = int((pred != qat_pred).sum())
        diff = float(np.abs(logits - want).max())
        report.append(f"{mode} {acc:.2%}, max |diff| {diff / scale:.1e} of max |logit|, {differ} predictions differ")
        if tolerance is None:
            continue
        if acc != qat_acc:
            print(f"FAIL {name} ({mode}): onnxruntime accuracy {acc:.4%} vs QATKit {qat_acc:.4%}")
            ok = False
        if mode == "reference" and differ:
            print(f"FAIL {name} ({mode}): {differ} predictions differ from QATKit's")
            ok = False
        if diff > tolerance * scale:
            print(f"FAIL {name} ({mode}): max |logit difference| {diff:.3g} > {tolerance} x {scale:.3g}")
            ok = False
    print(f"{'ok  ' if ok else 'FAIL'} {name}: opset {opset}, {qdq} Q/DQ nodes"
          + (f" ({zero_points} with nonzero zero points)" if zero_points else "") + f"; QATKit {qat_acc:.2%} "
          f"(metadata {float(meta.get('qatkit_accuracy', 'nan')):.2%})\n       onnxruntime " + "\n       onnxruntime ".join(report))
    return ok


def main(args):
    if not args:
        print(__doc__)
        return 2
    files = []
    for a in args:
        if os.path.isdir(a):
            files += sorted(os.path.join(a, f) for f in os.listdir(a) if f.endswith(".onnx"))
        else:
            files.append(a)
    if not files:
        print("no .onnx files found")
        return 1
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}, numpy {np.__version__}")
    results = [check(f) for f in files]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
