// AVX-512 VNNI integer GEMM: vpdpbusd adds four u8 x s8 products into each 32-bit lane. Tiles of up
// to 8 rows x 32 columns keep 16 zmm accumulators; a row's four activation bytes are broadcast to
// every lane and multiplied with one packed step of the panel (4 depths x 32 columns = 2 zmm).
#include "int8_internal.h"

#if QK_X86
#include <immintrin.h>

#define QK_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

static inline __attribute__((always_inline)) QK_VNNI void
vnni_epilogue16(__m512i acc, int row, int c0, int n, const qk_epilogue *e) {
  int valid = n - c0;
  if (valid <= 0) return;
  __mmask16 mk = valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1u);
  __m512i corr = _mm512_maskz_loadu_epi32(mk, e->correction + c0);
  __m512 y = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, corr));
  y = _mm512_mul_ps(y, _mm512_maskz_loadu_ps(mk, e->scale + c0));
  if (e->bias) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(mk, e->bias + c0));
  if (e->activation == QK_ACT_RELU) {
    y = _mm512_max_ps(y, _mm512_setzero_ps());
  } else if (e->activation == QK_ACT_GELU) {
    float t[16];
    _mm512_storeu_ps(t, y);
    for (int i = 0; i < 16; i++) t[i] = qk_gelu(t[i]);
    y = _mm512_loadu_ps(t);
  }
  if (e->out) _mm512_mask_storeu_ps(e->out + (size_t)row * (size_t)e->ld_out + (size_t)c0, mk, y);
  if (e->out_codes) {
    __m512 v = _mm512_mul_ps(y, _mm512_set1_ps(e->out_scale));
    v = _mm512_max_ps(v, _mm512_set1_ps((float)e->out_min));
    v = _mm512_min_ps(v, _mm512_set1_ps(127.0f));
    __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(128));
    _mm512_mask_cvtepi32_storeu_epi8(e->out_codes + (size_t)row * (size_t)e->ld_codes + (size_t)c0, mk, q);
  }
}

static inline __attribute__((always_inline)) QK_VNNI void
vnni_tile(const int rows, const uint8_t *a, int lda, const int8_t *bp, int kq, int row0, int col0, int n,
          const qk_epilogue *e) {
  __m512i acc0[8], acc1[8];
  for (int r = 0; r < rows; r++) {
    acc0[r] = _mm512_setzero_si512();
    acc1[r] = _mm512_setzero_si512();
  }
  for (int kb = 0; kb < kq; kb++) {
    __m512i b0 = _mm512_loadu_si512((const void *)(bp + (size_t)kb * 128));
    __m512i b1 = _mm512_loadu_si512((const void *)(bp + (size_t)kb * 128 + 64));
    for (int r = 0; r < rows; r++) {
      int32_t v;
      memcpy(&v, a + (size_t)r * (size_t)lda + 4 * (size_t)kb, 4);
      __m512i av = _mm512_set1_epi32(v);
      acc0[r] = _mm512_dpbusd_epi32(acc0[r], av, b0);
      acc1[r] = _mm512_dpbusd_epi32(acc1[r], av, b1);
    }
  }
  for (int r = 0; r < rows; r++) {
    vnni_epilogue16(acc0[r], row0 + r, col0, n, e);
    vnni_epilogue16(acc1[r], row0 + r, col0 + 16, n, e);
  }
}

QK_VNNI void qk_gemm_vnni(const uint8_t *a, int lda, int r0, int r1, int kpad, const int8_t *packed, int n, int c0,
                          int c1, const qk_epilogue *e) {
  int kq = kpad / 4;
  // Columns outside c0..<c1 of a panel are computed but not stored.
  int last = c1 < n ? c1 : n;
  // Rows in blocks of about 256 KiB of codes, every panel over one block before the next: the
  // block stays in L2 across panels instead of the whole row range streaming once per panel.
  int block = (256 * 1024 / (kpad > 0 ? kpad : 1)) & ~7;
  if (block < 8) block = 8;
  for (int rb = r0; rb < r1; rb += block) {
    int rend = rb + block < r1 ? rb + block : r1;
    for (int c = c0; c < last; c += QK_NR) {
      const int8_t *bp = packed + (size_t)(c / QK_NR) * (size_t)kq * 128;
      int nlim = c + QK_NR < last ? c + QK_NR : last;
      for (int r = rb; r < rend; r += 8) {
        const uint8_t *ar = a + (size_t)r * (size_t)lda;
        switch (rend - r >= 8 ? 8 : rend - r) {
          case 8: vnni_tile(8, ar, lda, bp, kq, r, c, nlim, e); break;
          case 7: vnni_tile(7, ar, lda, bp, kq, r, c, nlim, e); break;
          case 6: vnni_tile(6, ar, lda, bp, kq, r, c, nlim, e); break;
          case 5: vnni_tile(5, ar, lda, bp, kq, r, c, nlim, e); break;
          case 4: vnni_tile(4, ar, lda, bp, kq, r, c, nlim, e); break;
          case 3: vnni_tile(3, ar, lda, bp, kq, r, c, nlim, e); break;
          case 2: vnni_tile(2, ar, lda, bp, kq, r, c, nlim, e); break;
          default: vnni_tile(1, ar, lda, bp, kq, r, c, nlim, e); break;
        }
      }
    }
  }
}

QK_VNNI void qk_quantize_avx512(const float *x, int rows, int k, int ldx, float scale, int qmin, uint8_t *codes,
                                int ld_codes, int kpad) {
  __m512 s = _mm512_set1_ps(scale), lo = _mm512_set1_ps((float)qmin), hi = _mm512_set1_ps(127.0f);
  __m512i off = _mm512_set1_epi32(128);
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * (size_t)ldx;
    uint8_t *cr = codes + (size_t)r * (size_t)ld_codes;
    for (int i = 0; i < k; i += 16) {
      int valid = k - i;
      __mmask16 mk = valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1u);
      __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, xr + i), s);
      v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
      __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(v), off);
      _mm512_mask_cvtepi32_storeu_epi8(cr + i, mk, q);
    }
    for (int i = k; i < kpad; i++) cr[i] = 128;
  }
}
#endif
