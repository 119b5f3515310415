// Non-temporal ("streaming") stores for Swift kernels whose output is larger than the caches:
// the line is written to memory without first being read into the cache (no read-for-ownership),
// as glibc's memcpy does for large copies. Swift has no such store; these static inline functions
// are compiled by clang and inlined into the Swift callers (Swift's SIMD16<Float> / SIMD16<UInt8>
// are these ext_vector types).
#ifndef QATKIT_STREAM_H
#define QATKIT_STREAM_H

typedef float qk_f32x16 __attribute__((ext_vector_type(16)));
typedef unsigned char qk_u8x16 __attribute__((ext_vector_type(16)));

/// Stores 16 floats at a 64-byte aligned address, bypassing the cache.
static inline __attribute__((always_inline)) void qk_stream_f32x16(float *p, qk_f32x16 v) {
  __builtin_nontemporal_store(v, (qk_f32x16 *)p);
}

/// Stores 16 bytes at a 16-byte aligned address, bypassing the cache.
static inline __attribute__((always_inline)) void qk_stream_u8x16(unsigned char *p, qk_u8x16 v) {
  __builtin_nontemporal_store(v, (qk_u8x16 *)p);
}

/// Orders earlier streaming stores before later stores (call before handing the output to another
/// thread).
static inline __attribute__((always_inline)) void qk_stream_fence(void) {
#if defined(__x86_64__)
  __builtin_ia32_sfence();
#else
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

/// Asks the CPU to start loading the cache line at `p` into L2 (for reading),
/// so a later pass over it does not wait for memory.
static inline __attribute__((always_inline)) void qk_prefetch(const void *p) { __builtin_prefetch(p, 0, 2); }

#endif
