/* Bit-level helpers shared by half.c and half-fast.c (static inline: each file gets its own copy). */
#ifndef MEAN_FUSION_HALF_BITS_H
#define MEAN_FUSION_HALF_BITS_H

#include <stdint.h>
#include <string.h>

static inline uint32_t bits_of(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static inline float float_of(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* The float16 h as float32 bits: the magnitude's bits moved into place and scaled by 2^112 (exact, also for
   subnormals); ±inf as is; every NaN as the quiet NaN with h's sign (what the reference's table holds). */
static inline uint32_t f16_to_bits(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  if ((h & 0x7c00) == 0x7c00) return sign | ((h & 0x3ff) ? 0x7fc00000u : 0x7f800000u);
  return sign | bits_of(float_of((uint32_t)(h & 0x7fff) << 13) * 0x1p112f);
}

/* The half nearest the float32 bits u, or, when u is a finite half midpoint, -1 with *trunc the bits cut
   toward zero (sign included). Ported from roundToHalf in src/kernels/half-range.ts. */
static inline int32_t round_bits(uint32_t u, int bf16, uint32_t *trunc) {
  uint32_t sign = (u >> 16) & 0x8000;
  uint32_t e = (u >> 23) & 0xff;
  if (e == 0xff) {
    if (u & 0x7fffff) return bf16 ? 0x7fc0 : 0x7e00;
    return (int32_t)(sign | (bf16 ? 0x7f80 : 0x7c00));
  }
  uint32_t t, rest, half;
  if (bf16) {
    t = (u >> 16) & 0x7fff;
    rest = u & 0xffff;
    half = 0x8000;
  } else if (e >= 143) {
    return (int32_t)(sign | 0x7c00);
  } else if (e >= 113) {
    t = ((e - 112) << 10) | ((u & 0x7fffff) >> 13);
    rest = u & 0x1fff;
    half = 0x1000;
  } else if (e >= 102) {
    uint32_t shift = 126 - e;
    uint32_t m = (u & 0x7fffff) | 0x800000;
    t = m >> shift;
    rest = m & ((1u << shift) - 1);
    half = 1u << (shift - 1);
  } else {
    return (int32_t)sign;
  }
  if (rest < half) return (int32_t)(sign | t);
  if (rest > half) return (int32_t)(sign | (t + 1));
  *trunc = sign | t;
  return -1;
}

#endif
