// AVX2 integer GEMM without VNNI: activation codes (u8) and weights (s8) widened to 16 bits and
// multiplied with vpmaddwd, which sums pairs exactly into 32-bit lanes (vpmaddubsw would saturate
// at 255 x -128 x 2). Tiles of up to 4 rows x 8 columns: per row two accumulators hold the two
// partial sums of each column, added pairwise at the end.
#include "int8_internal.h"

#if QK_X86
#include <immintrin.h>

#define QK_AVX2 __attribute__((target("avx2,fma")))

static inline __attribute__((always_inline)) QK_AVX2 void
avx2_epilogue8(__m256i acc, int row, int c0, int n, const qk_epilogue *e) {
  int valid = n - c0;
  if (valid <= 0) return;
  if (valid < 8) {
    int32_t t[8];
    _mm256_storeu_si256((__m256i *)t, acc);
    for (int i = 0; i < valid; i++) qk_epilogue_one(t[i], row, c0 + i, e);
    return;
  }
  __m256i corr = _mm256_loadu_si256((const __m256i *)(e->correction + c0));
  __m256 y = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, corr));
  y = _mm256_mul_ps(y, _mm256_loadu_ps(e->scale + c0));
  if (e->bias) y = _mm256_add_ps(y, _mm256_loadu_ps(e->bias + c0));
  if (e->activation == QK_ACT_RELU) {
    y = _mm256_max_ps(y, _mm256_setzero_ps());
  } else if (e->activation == QK_ACT_GELU) {
    float t[8];
    _mm256_storeu_ps(t, y);
    for (int i = 0; i < 8; i++) t[i] = qk_gelu(t[i]);
    y = _mm256_loadu_ps(t);
  }
  if (e->out) _mm256_storeu_ps(e->out + (size_t)row * (size_t)e->ld_out + (size_t)c0, y);
  if (e->out_codes) {
    __m256 v = _mm256_mul_ps(y, _mm256_set1_ps(e->out_scale));
    v = _mm256_max_ps(v, _mm256_set1_ps((float)e->out_min));
    v = _mm256_min_ps(v, _mm256_set1_ps(127.0f));
    int32_t q[8];
    _mm256_storeu_si256((__m256i *)q, _mm256_add_epi32(_mm256_cvtps_epi32(v), _mm256_set1_epi32(128)));
    uint8_t *dst = e->out_codes + (size_t)row * (size_t)e->ld_codes + (size_t)c0;
    for (int i = 0; i < 8; i++) dst[i] = (uint8_t)q[i];
  }
}

static inline __attribute__((always_inline)) QK_AVX2 void
avx2_tile(const int rows, const uint8_t *a, int lda, const int8_t *bp, int kq, int row0, int col0, int n,
          const qk_epilogue *e) {
  __m256i lo[4], hi[4];
  for (int r = 0; r < rows; r++) {
    lo[r] = _mm256_setzero_si256();
    hi[r] = _mm256_setzero_si256();
  }
  for (int kb = 0; kb < kq; kb++) {
    const int8_t *b = bp + (size_t)kb * 128;
    __m256i wl = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b));
    __m256i wh = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 16)));
    for (int r = 0; r < rows; r++) {
      int32_t v;
      memcpy(&v, a + (size_t)r * (size_t)lda + 4 * (size_t)kb, 4);
      __m256i av = _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(v)));
      lo[r] = _mm256_add_epi32(lo[r], _mm256_madd_epi16(av, wl));
      hi[r] = _mm256_add_epi32(hi[r], _mm256_madd_epi16(av, wh));
    }
  }
  for (int r = 0; r < rows; r++) {
    // [c0 c1 c4 c5 | c2 c3 c6 c7] -> [c0 .. c7]
    __m256i s = _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo[r], hi[r]), 0xD8);
    avx2_epilogue8(s, row0 + r, col0, n, e);
  }
}

QK_AVX2 void qk_gemm_avx2(const uint8_t *a, int lda, int r0, int r1, int kpad, const int8_t *packed, int n, int c0,
                          int c1, const qk_epilogue *e) {
  int kq = kpad / 4;
  int last = c1 < n ? c1 : n;
  for (int c = c0; c < last; c += QK_NR) {
    const int8_t *panel = packed + (size_t)(c / QK_NR) * (size_t)kq * 128;
    for (int sub = 0; sub < QK_NR && c + sub < last; sub += 8) {
      const int8_t *bp = panel + (size_t)sub * 4;
      int nlim = c + QK_NR < last ? c + QK_NR : last;
      for (int r = r0; r < r1; r += 4) {
        const uint8_t *ar = a + (size_t)r * (size_t)lda;
        switch (r1 - r >= 4 ? 4 : r1 - r) {
          case 4: avx2_tile(4, ar, lda, bp, kq, r, c + sub, nlim, e); break;
          case 3: avx2_tile(3, ar, lda, bp, kq, r, c + sub, nlim, e); break;
          case 2: avx2_tile(2, ar, lda, bp, kq, r, c + sub, nlim, e); break;
          default: avx2_tile(1, ar, lda, bp, kq, r, c + sub, nlim, e); break;
        }
      }
    }
  }
}

QK_AVX2 void qk_quantize_avx2(const float *x, int rows, int k, int ldx, float scale, int qmin, uint8_t *codes,
                              int ld_codes, int kpad) {
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * (size_t)ldx;
    uint8_t *cr = codes + (size_t)r * (size_t)ld_codes;
    for (int i = 0; i < k; i++) cr[i] = qk_requantize(xr[i], scale, qmin);
    for (int i = k; i < kpad; i++) cr[i] = 128;
  }
}
#endif
