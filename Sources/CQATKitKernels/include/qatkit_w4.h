// INT4 weight-only GEMM: float activations times 4-bit weight codes with one scale per block of
// the input axis, dequantized on the fly (the weights stay 4 bits in memory: 1/8 of FP32).
#ifndef QATKIT_W4_H
#define QATKIT_W4_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Bytes of the repacked weight of `n` outputs x `k` inputs (`k` a multiple of 32): `n * k / 2`.
static inline size_t qk_w4_packed_bytes(int n, int k) { return (size_t)n * (size_t)k / 2; }

/// Repacks 4-bit two's complement codes (QATKit's export packing: row-major `n x k`, element `2j` in
/// the low nibble of byte `j`) so that each group of 32 inputs is 16 bytes whose byte `j` holds
/// element `j` (low nibble) and element `j + 16` (high nibble). `k` must be a multiple of 32.
void qk_w4_pack(const uint8_t *codes, int n, int k, uint8_t *packed);

/// `out[r, c] = act(sum_b (sum_{i in block b} x[r, i] * q[c, i]) * factor[c * (k / block) + b] + bias[c])`
/// for rows `r0..<r1` and columns `c0..<c1`; `block` a multiple of 32 dividing `k`. The block sums are
/// vector accumulations, so the three instruction sets round differently (each within float
/// rounding of the exact sum).
void qk_gemm_f32_w4(int isa, const float *x, int ldx, int r0, int r1, int k, const uint8_t *packed, int c0, int c1,
                    const float *factor, int block, const float *bias, int activation, float *out, int ld_out);

#ifdef __cplusplus
}
#endif

#endif
