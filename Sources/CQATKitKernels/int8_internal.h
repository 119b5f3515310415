// Shared pieces of the integer kernels (not part of the public header).
#ifndef QATKIT_INT8_INTERNAL_H
#define QATKIT_INT8_INTERNAL_H

#include <math.h>
#include <string.h>

#include "qatkit_int8.h"

// The epilogue's float operations must not be contracted into FMAs: every implementation has to
// round exactly like the others (and like the Swift reference used by the tests).
#pragma STDC FP_CONTRACT OFF

#define QK_GELU_INV_SQRT2 0.70710678118654752f

/// `x > lo ? x : lo`, the semantics of x86 MAXPS (a NaN `x` gives `lo`).
static inline float qk_max(float x, float lo) { return x > lo ? x : lo; }
/// `x < hi ? x : hi`, the semantics of x86 MINPS (a NaN `x` gives `hi`).
static inline float qk_min(float x, float hi) { return x < hi ? x : hi; }

/// PyTorch's exact GELU, evaluated as QATKit's `Tensor.gelu()` does.
static inline float qk_gelu(float y) { return 0.5f * y * (1.0f + erff(y * QK_GELU_INV_SQRT2)); }

/// Code of the next layer's input: `clamp(rint(y * scale), qmin, 127) + 128`.
static inline uint8_t qk_requantize(float y, float scale, int qmin) {
  float v = qk_min(qk_max(y * scale, (float)qmin), 127.0f);
  return (uint8_t)((int)rintf(v) + 128);
}

/// The scalar epilogue of one output.
static inline void qk_epilogue_one(int32_t acc, int row, int col, const qk_epilogue *e) {
  float y = (float)(acc - e->correction[col]);
  y = y * e->scale[col];
  if (e->bias) y = y + e->bias[col];
  if (e->activation == QK_ACT_RELU) {
    y = qk_max(y, 0.0f);
  } else if (e->activation == QK_ACT_GELU) {
    y = qk_gelu(y);
  }
  if (e->out) e->out[(size_t)row * (size_t)e->ld_out + (size_t)col] = y;
  if (e->out_codes) {
    e->out_codes[(size_t)row * (size_t)e->ld_codes + (size_t)col] = qk_requantize(y, e->out_scale, e->out_min);
  }
}

void qk_gemm_portable(const uint8_t *a, int lda, int r0, int r1, int kpad, const int8_t *packed, int n, int c0,
                      int c1, const qk_epilogue *e);
void qk_quantize_portable(const float *x, int rows, int k, int ldx, float scale, int qmin, uint8_t *codes,
                          int ld_codes, int kpad);

#if defined(__x86_64__) || defined(_M_X64)
#define QK_X86 1
void qk_gemm_avx2(const uint8_t *a, int lda, int r0, int r1, int kpad, const int8_t *packed, int n, int c0, int c1,
                  const qk_epilogue *e);
void qk_quantize_avx2(const float *x, int rows, int k, int ldx, float scale, int qmin, uint8_t *codes,
                      int ld_codes, int kpad);
void qk_gemm_vnni(const uint8_t *a, int lda, int r0, int r1, int kpad, const int8_t *packed, int n, int c0, int c1,
                  const qk_epilogue *e);
void qk_quantize_avx512(const float *x, int rows, int k, int ldx, float scale, int qmin, uint8_t *codes,
                        int ld_codes, int kpad);
#endif

#endif
