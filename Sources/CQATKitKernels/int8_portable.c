// Portable integer GEMM, weight packing, activation quantization and CPU dispatch.
#include "int8_internal.h"

#if QK_X86
#include <cpuid.h>

static int qk_detect(void) {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return QK_ISA_PORTABLE;
  int osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1, fma = (ecx >> 12) & 1;
  if (!osxsave || !avx) return QK_ISA_PORTABLE;
  // The OS must save the YMM (and, for AVX-512, the opmask and ZMM) state.
  unsigned xlo, xhi;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  int ymm = (xlo & 0x6) == 0x6, zmm = (xlo & 0xE6) == 0xE6;
  if (!ymm || !__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return QK_ISA_PORTABLE;
  int avx2 = (ebx >> 5) & 1, avx512f = (ebx >> 16) & 1, avx512bw = (ebx >> 30) & 1, avx512vl = (ebx >> 31) & 1;
  int vnni = (ecx >> 11) & 1;
  if (zmm && avx512f && avx512bw && avx512vl && vnni) return QK_ISA_AVX512_VNNI;
  if (avx2 && fma) return QK_ISA_AVX2;
  return QK_ISA_PORTABLE;
}
#else
static int qk_detect(void) { return QK_ISA_PORTABLE; }
#endif

int qk_best_isa(void) {
  static int cached = -1;
  int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (v < 0) {
    v = qk_detect();
    __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
  }
  return v;
}

int qk_isa_supported(int isa) { return isa >= QK_ISA_PORTABLE && isa <= qk_best_isa(); }

void qk_pack_weights(const int8_t *w, int n, int k, int8_t *packed, int32_t *correction) {
  int kpad = qk_padded_depth(k), kq = kpad / 4, panels = (n + QK_NR - 1) / QK_NR;
  memset(packed, 0, qk_packed_weight_bytes(n, k));
  for (int c = 0; c < n; c++) {
    int8_t *panel = packed + (size_t)(c / QK_NR) * (size_t)kq * 128;
    int32_t sum = 0;
    for (int kk = 0; kk < k; kk++) {
      int8_t v = w[(size_t)c * (size_t)k + (size_t)kk];
      panel[(size_t)(kk / 4) * 128 + (size_t)(c % QK_NR) * 4 + (size_t)(kk % 4)] = v;
      sum += v;
    }
    correction[c] = 128 * sum;
  }
  (void)panels;
}

void qk_quantize_pack_weights(int isa, const float *w, int n, int k, const float *multipliers, int qmin,
                              int8_t *packed, int32_t *correction, uint8_t *scratch) {
  int kpad = qk_padded_depth(k), kq = kpad / 4;
  memset(packed, 0, qk_packed_weight_bytes(n, k));
  for (int c = 0; c < n; c++) {
    // Codes + 128, and 128 (code 0) in the padding bytes k..<kpad.
    qk_quantize_u8(isa, w + (size_t)c * (size_t)k, 1, k, k, multipliers[c], qmin, scratch, kpad, kpad);
    int8_t *dst = packed + (size_t)(c / QK_NR) * (size_t)kq * 128 + (size_t)(c % QK_NR) * 4;
    int32_t sum = 0;
    for (int kb = 0; kb < kq; kb++) {
      uint32_t v;
      memcpy(&v, scratch + 4 * (size_t)kb, 4);
      v ^= 0x80808080u;  // back to two's complement codes
      memcpy(dst + (size_t)kb * 128, &v, 4);
      sum += (int32_t)(int8_t)(v & 0xff) + (int32_t)(int8_t)((v >> 8) & 0xff) + (int32_t)(int8_t)((v >> 16) & 0xff) +
             (int32_t)(int8_t)(v >> 24);
    }
    correction[c] = 128 * sum;
  }
}

void qk_gemm_portable(const uint8_t *a, int lda, int r0, int r1, int kpad, const int8_t *packed, int n, int c0,
                      int c1, const qk_epilogue *e) {
  int kq = kpad / 4;
  for (int r = r0; r < r1; r++) {
    const uint8_t *ar = a + (size_t)r * (size_t)lda;
    for (int c = c0; c < c1 && c < n; c++) {
      const int8_t *bp = packed + (size_t)(c / QK_NR) * (size_t)kq * 128 + (size_t)(c % QK_NR) * 4;
      int32_t acc = 0;
      for (int kb = 0; kb < kq; kb++) {
        const int8_t *b = bp + (size_t)kb * 128;
        const uint8_t *x = ar + 4 * kb;
        acc += (int32_t)x[0] * b[0] + (int32_t)x[1] * b[1] + (int32_t)x[2] * b[2] + (int32_t)x[3] * b[3];
      }
      qk_epilogue_one(acc, r, c, e);
    }
  }
}

void qk_quantize_portable(const float *x, int rows, int k, int ldx, float scale, int qmin, uint8_t *codes,
                          int ld_codes, int kpad) {
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * (size_t)ldx;
    uint8_t *cr = codes + (size_t)r * (size_t)ld_codes;
    for (int i = 0; i < k; i++) cr[i] = qk_requantize(xr[i], scale, qmin);
    for (int i = k; i < kpad; i++) cr[i] = 128;
  }
}

void qk_gemm_u8s8(int isa, const uint8_t *a, int lda, int r0, int r1, int kpad, const int8_t *packed, int n,
                  int c0, int c1, const qk_epilogue *e) {
  if (c1 > n) c1 = n;
  if (r0 >= r1 || c0 >= c1) return;
#if QK_X86
  if (isa >= QK_ISA_AVX512_VNNI && qk_best_isa() >= QK_ISA_AVX512_VNNI) {
    qk_gemm_vnni(a, lda, r0, r1, kpad, packed, n, c0, c1, e);
    return;
  }
  if (isa >= QK_ISA_AVX2 && qk_best_isa() >= QK_ISA_AVX2) {
    qk_gemm_avx2(a, lda, r0, r1, kpad, packed, n, c0, c1, e);
    return;
  }
#else
  (void)isa;
#endif
  qk_gemm_portable(a, lda, r0, r1, kpad, packed, n, c0, c1, e);
}

void qk_quantize_u8(int isa, const float *x, int rows, int k, int ldx, float scale, int qmin, uint8_t *codes,
                    int ld_codes, int kpad) {
#if QK_X86
  if (isa >= QK_ISA_AVX512_VNNI && qk_best_isa() >= QK_ISA_AVX512_VNNI) {
    qk_quantize_avx512(x, rows, k, ldx, scale, qmin, codes, ld_codes, kpad);
    return;
  }
  if (isa >= QK_ISA_AVX2 && qk_best_isa() >= QK_ISA_AVX2) {
    qk_quantize_avx2(x, rows, k, ldx, scale, qmin, codes, ld_codes, kpad);
    return;
  }
#else
  (void)isa;
#endif
  qk_quantize_portable(x, rows, k, ldx, scale, qmin, codes, ld_codes, kpad);
}
