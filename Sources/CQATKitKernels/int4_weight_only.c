// INT4 weight-only GEMM (see qatkit_w4.h): AVX-512, AVX2 and portable versions of one loop nest.
// Tiles of up to 4 rows share each unpacked group of 32 weights; per output, a vector accumulates a
// block, is scaled by the block's factor into a second vector, which is summed at the end.
#include "int8_internal.h"
#include "qatkit_w4.h"

void qk_w4_pack(const uint8_t *codes, int n, int k, uint8_t *packed) {
  for (int c = 0; c < n; c++) {
    const uint8_t *src = codes + (size_t)c * (size_t)k / 2;
    uint8_t *dst = packed + (size_t)c * (size_t)k / 2;
    for (int g = 0; g < k / 32; g++) {
      for (int j = 0; j < 16; j++) {
        int e0 = 32 * g + j, e1 = e0 + 16;
        uint8_t lo = (uint8_t)((e0 & 1) ? src[e0 / 2] >> 4 : src[e0 / 2] & 15);
        uint8_t hi = (uint8_t)((e1 & 1) ? src[e1 / 2] >> 4 : src[e1 / 2] & 15);
        dst[16 * g + j] = (uint8_t)(lo | (hi << 4));
      }
    }
  }
}

static inline float qk_w4_finish(float acc, int c, const float *bias, int activation) {
  float y = acc;
  if (bias) y = y + bias[c];
  if (activation == QK_ACT_RELU) {
    y = qk_max(y, 0.0f);
  } else if (activation == QK_ACT_GELU) {
    y = qk_gelu(y);
  }
  return y;
}

static inline int qk_w4_code(uint8_t nibble) { return (int)((nibble ^ 8u) & 15u) - 8; }

static void qk_w4_portable(const float *x, int ldx, int r0, int r1, int k, const uint8_t *packed, int c0, int c1,
                           const float *factor, int block, const float *bias, int activation, float *out, int ld_out) {
  int nb = k / block;
  for (int r = r0; r < r1; r++) {
    const float *xr = x + (size_t)r * (size_t)ldx;
    for (int c = c0; c < c1; c++) {
      const uint8_t *w = packed + (size_t)c * (size_t)k / 2;
      float total = 0;
      for (int b = 0; b < nb; b++) {
        float part = 0;
        for (int g = b * block / 32; g < (b + 1) * block / 32; g++) {
          for (int j = 0; j < 16; j++) {
            uint8_t byte = w[16 * g + j];
            part += xr[32 * g + j] * (float)qk_w4_code(byte & 15);
            part += xr[32 * g + j + 16] * (float)qk_w4_code(byte >> 4);
          }
        }
        total += part * factor[(size_t)c * (size_t)nb + (size_t)b];
      }
      out[(size_t)r * (size_t)ld_out + (size_t)c] = qk_w4_finish(total, c, bias, activation);
    }
  }
}

#if QK_X86
#include <immintrin.h>

#define QK_W4_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define QK_W4_AVX2 __attribute__((target("avx2,fma")))

static inline __attribute__((always_inline)) QK_W4_AVX512 void
w4_tile512(const int rows, const float *x, int ldx, int k, const uint8_t *w, const float *f, int block, float *sums) {
  __m512 acc[4], tot[4];
  for (int r = 0; r < rows; r++) tot[r] = _mm512_setzero_ps();
  const __m512i fifteen = _mm512_set1_epi32(15), eight = _mm512_set1_epi32(8);
  int groups = block / 32;
  for (int b = 0; b < k / block; b++) {
    for (int r = 0; r < rows; r++) acc[r] = _mm512_setzero_ps();
    for (int g = b * groups; g < (b + 1) * groups; g++) {
      __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(w + 16 * g)));
      __m512i lo = _mm512_sub_epi32(_mm512_xor_si512(_mm512_and_si512(v, fifteen), eight), eight);
      __m512i hi = _mm512_sub_epi32(_mm512_xor_si512(_mm512_srli_epi32(v, 4), eight), eight);
      __m512 wl = _mm512_cvtepi32_ps(lo), wh = _mm512_cvtepi32_ps(hi);
      for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * (size_t)ldx + 32 * g;
        acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(xr), wl, acc[r]);
        acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(xr + 16), wh, acc[r]);
      }
    }
    __m512 fb = _mm512_set1_ps(f[b]);
    for (int r = 0; r < rows; r++) tot[r] = _mm512_fmadd_ps(acc[r], fb, tot[r]);
  }
  for (int r = 0; r < rows; r++) sums[r] = _mm512_reduce_add_ps(tot[r]);
}

static QK_W4_AVX512 void qk_w4_avx512(const float *x, int ldx, int r0, int r1, int k, const uint8_t *packed, int c0,
                                      int c1, const float *factor, int block, const float *bias, int activation,
                                      float *out, int ld_out) {
  int nb = k / block;
  for (int r = r0; r < r1; r += 4) {
    int rows = r1 - r < 4 ? r1 - r : 4;
    const float *xr = x + (size_t)r * (size_t)ldx;
    for (int c = c0; c < c1; c++) {
      const uint8_t *w = packed + (size_t)c * (size_t)k / 2;
      const float *f = factor + (size_t)c * (size_t)nb;
      float sums[4];
      switch (rows) {
        case 4: w4_tile512(4, xr, ldx, k, w, f, block, sums); break;
        case 3: w4_tile512(3, xr, ldx, k, w, f, block, sums); break;
        case 2: w4_tile512(2, xr, ldx, k, w, f, block, sums); break;
        default: w4_tile512(1, xr, ldx, k, w, f, block, sums); break;
      }
      for (int i = 0; i < rows; i++) out[(size_t)(r + i) * (size_t)ld_out + (size_t)c] = qk_w4_finish(sums[i], c, bias, activation);
    }
  }
}

static inline __attribute__((always_inline)) QK_W4_AVX2 float qk_hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

static inline __attribute__((always_inline)) QK_W4_AVX2 void
w4_tile256(const int rows, const float *x, int ldx, int k, const uint8_t *w, const float *f, int block, float *sums) {
  __m256 acc[4], tot[4];
  for (int r = 0; r < rows; r++) tot[r] = _mm256_setzero_ps();
  const __m256i fifteen = _mm256_set1_epi32(15), eight = _mm256_set1_epi32(8);
  int groups = block / 32;
  for (int b = 0; b < k / block; b++) {
    for (int r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps();
    for (int g = b * groups; g < (b + 1) * groups; g++) {
      for (int h = 0; h < 2; h++) {  // bytes 0-7 (inputs 0-7, 16-23), bytes 8-15 (inputs 8-15, 24-31)
        __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(w + 16 * g + 8 * h)));
        __m256i lo = _mm256_sub_epi32(_mm256_xor_si256(_mm256_and_si256(v, fifteen), eight), eight);
        __m256i hi = _mm256_sub_epi32(_mm256_xor_si256(_mm256_srli_epi32(v, 4), eight), eight);
        __m256 wl = _mm256_cvtepi32_ps(lo), wh = _mm256_cvtepi32_ps(hi);
        for (int r = 0; r < rows; r++) {
          const float *xr = x + (size_t)r * (size_t)ldx + 32 * g + 8 * h;
          acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(xr), wl, acc[r]);
          acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(xr + 16), wh, acc[r]);
        }
      }
    }
    __m256 fb = _mm256_set1_ps(f[b]);
    for (int r = 0; r < rows; r++) tot[r] = _mm256_fmadd_ps(acc[r], fb, tot[r]);
  }
  for (int r = 0; r < rows; r++) sums[r] = qk_hsum256(tot[r]);
}

static QK_W4_AVX2 void qk_w4_avx2(const float *x, int ldx, int r0, int r1, int k, const uint8_t *packed, int c0,
                                  int c1, const float *factor, int block, const float *bias, int activation,
                                  float *out, int ld_out) {
  int nb = k / block;
  for (int r = r0; r < r1; r += 4) {
    int rows = r1 - r < 4 ? r1 - r : 4;
    const float *xr = x + (size_t)r * (size_t)ldx;
    for (int c = c0; c < c1; c++) {
      const uint8_t *w = packed + (size_t)c * (size_t)k / 2;
      const float *f = factor + (size_t)c * (size_t)nb;
      float sums[4];
      switch (rows) {
        case 4: w4_tile256(4, xr, ldx, k, w, f, block, sums); break;
        case 3: w4_tile256(3, xr, ldx, k, w, f, block, sums); break;
        case 2: w4_tile256(2, xr, ldx, k, w, f, block, sums); break;
        default: w4_tile256(1, xr, ldx, k, w, f, block, sums); break;
      }
      for (int i = 0; i < rows; i++) out[(size_t)(r + i) * (size_t)ld_out + (size_t)c] = qk_w4_finish(sums[i], c, bias, activation);
    }
  }
}
#endif

void qk_gemm_f32_w4(int isa, const float *x, int ldx, int r0, int r1, int k, const uint8_t *packed, int c0, int c1,
                    const float *factor, int block, const float *bias, int activation, float *out, int ld_out) {
  if (r0 >= r1 || c0 >= c1 || k <= 0 || block <= 0 || block % 32 || k % block) return;
#if QK_X86
  // The weight-only kernel needs AVX-512 F/BW/DQ/VL only (no VNNI): any AVX-512 CPU that the
  // VNNI check passed qualifies; AVX2 + FMA otherwise.
  if (isa >= QK_ISA_AVX512_VNNI && qk_best_isa() >= QK_ISA_AVX512_VNNI) {
    qk_w4_avx512(x, ldx, r0, r1, k, packed, c0, c1, factor, block, bias, activation, out, ld_out);
    return;
  }
  if (isa >= QK_ISA_AVX2 && qk_best_isa() >= QK_ISA_AVX2) {
    qk_w4_avx2(x, ldx, r0, r1, k, packed, c0, c1, factor, block, bias, activation, out, ld_out);
    return;
  }
#else
  (void)isa;
#endif
  qk_w4_portable(x, ldx, r0, r1, k, packed, c0, c1, factor, block, bias, activation, out, ld_out);
}
