// Integer GEMM kernels for QATKit's INT8 inference: u8 (activation codes + 128) x s8 (weight codes)
// -> s32, with the dequantization, bias, activation and the next layer's requantization fused into
// the epilogue. Three implementations behind one runtime dispatch: AVX-512 VNNI (vpdpbusd), AVX2
// (vpmaddwd on 16-bit lanes, exact), and portable C. All three give bit-identical results: the
// integer sums are exact and the epilogue does the same float operations in the same order.
//
// Swift cannot express VNNI or per-function target attributes, hence this C target. It builds on
// any x86-64 (the vector paths carry their own target attributes and run only when CPUID reports
// the instructions) and on other architectures (portable path only).
#ifndef QATKIT_INT8_H
#define QATKIT_INT8_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction sets of the integer kernels.
enum {
  QK_ISA_PORTABLE = 0,
  QK_ISA_AVX2 = 1,
  QK_ISA_AVX512_VNNI = 2,
};

/// Columns of one packed weight panel.
#define QK_NR 32

/// The best instruction set this CPU supports (CPUID on x86-64; portable elsewhere).
int qk_best_isa(void);

/// Whether `isa` can run on this CPU.
int qk_isa_supported(int isa);

/// `k` rounded up to a multiple of 4 (the depth of one packed step).
static inline int qk_padded_depth(int k) { return (k + 3) & ~3; }

/// Bytes of the packed form of an `n x k` weight: ceil(n / 32) panels of `padded_depth(k) * 32`.
static inline size_t qk_packed_weight_bytes(int n, int k) {
  return (size_t)((n + QK_NR - 1) / QK_NR) * (size_t)qk_padded_depth(k) * QK_NR;
}

/// Packs `w` (`n x k`, row-major, int8 codes, PyTorch's `[out, in]` layout) into panels of 32
/// output columns: byte `(p * kpad/4 + kb) * 128 + c * 4 + j` holds `w[32p + c][4kb + j]` (zero
/// past `n` or `k`). `correction[c] = 128 * sum_k w[c][k]` undoes the +128 of the activation codes.
void qk_pack_weights(const int8_t *w, int n, int k, int8_t *packed, int32_t *correction);

/// Quantizes float weights `w` (`n x k`, row-major, PyTorch's `[out, in]`) to INT8 codes
/// `clamp(rint(w[c][i] * multipliers[c]), qmin, 127)` and packs them as `qk_pack_weights` does
/// (same bytes, same `correction`), without an intermediate code matrix: each row is quantized by
/// `qk_quantize_u8` into `scratch` (at least `qk_padded_depth(k)` bytes) and stored 4 bytes at a time.
/// For training, where the weights change every step.
void qk_quantize_pack_weights(int isa, const float *w, int n, int k, const float *multipliers, int qmin,
                              int8_t *packed, int32_t *correction, uint8_t *scratch);

/// Activation functions applied in the epilogue.
enum {
  QK_ACT_NONE = 0,
  QK_ACT_RELU = 1,
  QK_ACT_GELU = 2,
};

/// The epilogue: `y = float(acc - correction[c]) * scale[c] + bias[c]` (separate multiply and
/// add), then the activation, then either stored as float, or requantized for the next layer as
/// `clamp(rint(y * out_scale), out_min, 127) + 128`.
typedef struct {
  const int32_t *correction;
  const float *scale;
  const float *bias;  // may be NULL
  int activation;
  float *out;         // float output (or NULL)
  int ld_out;
  uint8_t *out_codes; // requantized output (or NULL)
  int ld_codes;
  float out_scale;
  int out_min;        // -128, or -127 for a narrow range
} qk_epilogue;

/// `C[rows r0..<r1, columns c0..<c1] = A . W^T` followed by the epilogue, with `A` the `m x kpad`
/// activation codes (u8, rows `lda` bytes apart) and `W` packed by `qk_pack_weights` for `n`
/// columns. `c0` must be a multiple of 32. Runs on the calling thread.
void qk_gemm_u8s8(int isa, const uint8_t *a, int lda, int r0, int r1, int kpad, const int8_t *packed, int n,
                  int c0, int c1, const qk_epilogue *epilogue);

/// Quantizes rows of floats to activation codes: `clamp(rint(x * scale), qmin, 127) + 128`, for
/// `rows x k` values (`ldx` floats apart) into rows of `ld_codes` bytes; bytes `k..<kpad` are
/// set to 128 (code 0).
void qk_quantize_u8(int isa, const float *x, int rows, int k, int ldx, float scale, int qmin, uint8_t *codes,
                    int ld_codes, int kpad);

#ifdef __cplusplus
}
#endif

#endif
