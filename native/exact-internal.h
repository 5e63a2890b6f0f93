/* Internals shared by the exact mode's accumulate (exact.c) and finish (exact-finish.c). */
#ifndef MEAN_FUSION_EXACT_INTERNAL_H
#define MEAN_FUSION_EXACT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Bit patterns of float64 and float32 values, and back. */
static inline uint64_t bits64(double x) {
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  return b;
}
static inline double of_bits64(uint64_t b) {
  double x;
  memcpy(&x, &b, sizeof x);
  return x;
}
static inline uint32_t bits32(float x) {
  uint32_t b;
  memcpy(&b, &x, sizeof b);
  return b;
}
static inline float of_bits32(uint32_t b) {
  float x;
  memcpy(&x, &b, sizeof x);
  return x;
}

/*
 * Finishes the n states s[0..n), c[0..n) (elements i0..i0+n) into out[i0..] (float* when f32, else double*)
 * with divisor d > 0; m[i] bounds what a marked state lost (NULL: every state is exact). Appends the indices
 * of elements it cannot certify to flags from flags[count] on; returns the new count.
 */
size_t mf_exact_finish_block(const double *s, const double *c, const double *m, void *out, int f32, double d,
                             size_t i0, size_t n, int32_t *flags, size_t count);

#endif
