"""Shared by the onnxruntime halves of Benchmarks/onnx-compare*.sh: the two session setups and the
timing loop, so both comparisons measure onnxruntime the same way."""
import time

import onnxruntime as ort


def session(onnx_path, optimized):
    """A 2-thread sequential CPU session. 'optimized' = all graph rewrites except the two that
    approximate (scripts/check_onnx.py's "optimized"); otherwise the default options."""
    o = ort.SessionOptions()
    o.intra_op_num_threads = 2
    o.inter_op_num_threads = 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if optimized:
        o.add_session_config_entry("session.qdq_matmulnbits_accuracy_level", "1")
        o.add_session_config_entry("optimization.disable_specified_optimizers", "WeightBiasQuantization")
    return ort.InferenceSession(onnx_path, o, providers=["CPUExecutionProvider"])


def median_ms(fn, runs, warmup):
    """Median wall time of `runs` calls of fn after `warmup` untimed ones, in milliseconds."""
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(runs):
        s = time.perf_counter()
        fn()
        t.append(time.perf_counter() - s)
    t.sort()
    return 1e3 * t[len(t) // 2]


def print_ratio_table(rows, decimals):
    """The side-by-side table both comparisons print: rows of (batch, QATKit INT8 ms, QATKit FP32 ms,
    onnxruntime default ms, onnxruntime optimized ms, QATKit INT8 cpu_util per round); ORT/INT8
    compares with the faster onnxruntime session."""
    print(f"{'batch':>5s} {'QATKit INT8':>11s} {'QATKit FP32':>11s} {'ORT default':>11s} {'ORT optim.':>11s} "
          f"{'ORT/INT8':>8s} {'FP32/INT8':>9s}  cpu_util INT8 (per round)")
    for b, i8, f32, od, oo, util in rows:
        print(f"{b:5d} {i8:11.{decimals}f} {f32:11.{decimals}f} {od:11.{decimals}f} {oo:11.{decimals}f} "
              f"{min(od, oo) / i8:8.2f} {f32 / i8:9.2f}  {util}")
