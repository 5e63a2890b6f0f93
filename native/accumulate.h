/*
 * The per-element math of the native kernels, shared by the batch kernel (mean.c), the stream accumulators
 * (stream.c, window.c), the file chunks (files.c) and the exact mode (exact.c): a block's inputs accumulated
 * in input order by the block adds of block-add.h (plain, with Σ|x|, with a magnitude scan, or
 * TwoSum-compensated), and the finishes of finish.h. Every function here performs, per element, the IEEE-754 operations of the scalar
 * JavaScript kernel (src/kernels/scalar.ts) in the same order.
 *
 * Runtime CPU dispatch: on x86-64 Linux with GCC or clang the block functions are compiled for AVX-512,
 * AVX2 and the SSE2 baseline (target_clones) and the loader picks the widest the CPU has. Every variant
 * performs the same IEEE-754 operations per element, so the bits do not depend on the CPU.
 */
#ifndef MEAN_FUSION_ACCUMULATE_H
#define MEAN_FUSION_ACCUMULATE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernel.h"

#include "block-add.h"
#include "dispatch.h"
#include "finish.h"
#include "scan-f32.h"

enum mode { PLAIN, SCAN, MAG, COMP, COMP_NEG };

/* Adds one input's elements [i0, i0 + n) into acc (and |x| into aux for MAG, or TwoSum into aux for COMP). */
static void add_one(enum mode mode, double *acc, double *aux, const mf_input *x, size_t i0, size_t n) {
#define ONE(NAME, T)                                                          \
  if (mode == MAG) NAME##_1m(acc, aux, (const T *)x->data + i0, n);          \
  else if (mode == COMP) NAME##_1c(acc, aux, (const T *)x->data + i0, n);    \
  else if (mode == COMP_NEG) NAME##_1n(acc, aux, (const T *)x->data + i0, n); \
  else NAME##_1(acc, (const T *)x->data + i0, n);                            \
  return;
  switch (x->dtype) {
    case MF_F64: ONE(add_f64, double)
    case MF_F32: ONE(add_f32, float)
    case MF_I8: ONE(add_i8, int8_t)
    case MF_U8: ONE(add_u8, uint8_t)
    case MF_I16: ONE(add_i16, int16_t)
    case MF_U16: ONE(add_u16, uint16_t)
    case MF_I32: ONE(add_i32, int32_t)
    default: ONE(add_u32, uint32_t)
  }
#undef ONE
}

/* Adds a run of four inputs of one type T (float64 or float32) at elements [i0, i0 + n). */
#define FOUR(NAME, T)                                                                           \
  do {                                                                                          \
    const T *a = (const T *)in[0].data + i0, *b = (const T *)in[1].data + i0;                   \
    const T *c = (const T *)in[2].data + i0, *d = (const T *)in[3].data + i0;                   \
    if (mode == MAG) NAME##_4m(acc, aux, a, b, c, d, n);                                   \
    else if (mode == COMP) NAME##_4c(acc, aux, a, b, c, d, n);                                  \
    else NAME##_4(acc, a, b, c, d, n);                                                          \
  } while (0)

/* The block's first input (PLAIN mode): acc = x. */
static void set_one(double *acc, const mf_input *x, size_t i0, size_t n) {
  switch (x->dtype) {
    case MF_F64: add_f64_1set(acc, (const double *)x->data + i0, n); break;
    case MF_F32: add_f32_1set(acc, (const float *)x->data + i0, n); break;
    case MF_I8: add_i8_1set(acc, (const int8_t *)x->data + i0, n); break;
    case MF_U8: add_u8_1set(acc, (const uint8_t *)x->data + i0, n); break;
    case MF_I16: add_i16_1set(acc, (const int16_t *)x->data + i0, n); break;
    case MF_U16: add_u16_1set(acc, (const uint16_t *)x->data + i0, n); break;
    case MF_I32: add_i32_1set(acc, (const int32_t *)x->data + i0, n); break;
    default: add_u32_1set(acc, (const uint32_t *)x->data + i0, n); break;
  }
}

/*
 * SCAN mode of accumulate: float32 inputs in runs of up to eight with the magnitude scan (scan-f32.h), the
 * integer inputs between them plainly (block_exact bounds those by their dtype). The first input or run sets
 * the accumulator (the same bits as adding to -0). With out, a last run of float32 inputs also writes
 * finish_exact's results into out (valid if block_exact holds) and sets *count to how many lanes it fails;
 * returns whether it did (0: the last input is an integer one; the caller finishes).
 */
static int scan_inputs(const mf_input *in, size_t k, double *acc, uint32_t *range, size_t i0, size_t n,
                       float *out, double kd, size_t *count) {
  const mf_input *end = in + k;
  range[0] = 0xffffffffu;
  range[1] = 0;
  int set = 1, finished = 0;
  *count = 0;
  while (in < end) {
    if (in->dtype == MF_F32) {
      const float *p[8];
      size_t take = 0;
      while (take < 8 && in + take < end && in[take].dtype == MF_F32) {
        p[take] = (const float *)in[take].data + i0;
        take++;
      }
      float *last = in + take == end ? out : NULL;
      in += scan_f32_run(acc, p, take, n, range, set, last, kd, count, &finished);
    } else {
      if (set) set_one(acc, in, i0, n);
      else add_one(PLAIN, acc, NULL, in, i0, n);
      in += 1;
      finished = 0;
    }
    set = 0;
  }
  return finished;
}

/*
 * Accumulates every input over elements [i0, i0 + n), in input order, into acc (from -0) and aux (from 0):
 * the plain sum (PLAIN), the plain sum and the range of float32 magnitudes (SCAN: no float64 inputs, range
 * as in block_exact), the sum and Σ|x| (MAG), or the TwoSum-compensated sum (COMP).
 */
static inline void accumulate(enum mode mode, const mf_input *in, size_t k, double *acc, double *aux, uint32_t *range,
                       size_t i0, size_t n) {
  const mf_input *end = in + k;
  if (mode == PLAIN) {
    /* The first input or run of four sets the accumulator instead of adding to -0 (the same bits). */
    int t = in[0].dtype;
    if (k >= 4 && (t == MF_F64 || t == MF_F32) && in[1].dtype == t && in[2].dtype == t && in[3].dtype == t) {
      if (t == MF_F64) {
        add_f64_4set(acc, (const double *)in[0].data + i0, (const double *)in[1].data + i0,
                     (const double *)in[2].data + i0, (const double *)in[3].data + i0, n);
      } else {
        add_f32_4set(acc, (const float *)in[0].data + i0, (const float *)in[1].data + i0,
                     (const float *)in[2].data + i0, (const float *)in[3].data + i0, n);
      }
      in += 4;
    } else if (k >= 2 && (t == MF_F64 || t == MF_F32) && in[1].dtype == t) {
      /* Two inputs in one pass: at k = 2 one pass over the inputs fewer (a sequential pass per input
         leaves the memory system with one stream at a time). */
      if (t == MF_F64) add_f64_2set(acc, (const double *)in[0].data + i0, (const double *)in[1].data + i0, n);
      else add_f32_2set(acc, (const float *)in[0].data + i0, (const float *)in[1].data + i0, n);
      in += 2;
    } else {
      set_one(acc, in, i0, n);
      in += 1;
    }
  } else if (mode == SCAN) {
    size_t unused;
    scan_inputs(in, k, acc, range, i0, n, NULL, 1.0, &unused);
    return;
  } else {
    for (size_t i = 0; i < n; i++) acc[i] = -0.0;
  }
  if (mode == MAG || mode == COMP)
    for (size_t i = 0; i < n; i++) aux[i] = 0.0;
  while (in < end) {
    int t = in[0].dtype;
    if (end - in >= 4 && (t == MF_F64 || t == MF_F32) && in[1].dtype == t && in[2].dtype == t &&
        in[3].dtype == t) {
      if (t == MF_F64) FOUR(add_f64, double);
      else FOUR(add_f32, float);
      in += 4;
    } else if (mode == PLAIN && end - in >= 2 && (t == MF_F64 || t == MF_F32) && in[1].dtype == t) {
      if (t == MF_F64) add_f64_2(acc, (const double *)in[0].data + i0, (const double *)in[1].data + i0, n);
      else add_f32_2(acc, (const float *)in[0].data + i0, (const float *)in[1].data + i0, n);
      in += 2;
    } else {
      add_one(mode, acc, aux, in, i0, n);
      in += 1;
    }
  }
}
#undef FOUR

static inline double f32_of_bits(uint32_t bits) {
  float f;
  memcpy(&f, &bits, sizeof f);
  return (double)f;
}

/*
 * True when every float64 sum of a block is exact, given the range of its float32 inputs' magnitudes
 * (range[0] - 1: the smallest nonzero as bits, wrapped; range[1]: the largest): every input is a multiple of
 * its own ulp, which for a float32 value x is at least |x| 2^-24 (2^-149 for subnormals) and for an integer
 * at least 1, so every partial sum is a multiple of the smallest such ulp u; partial sums are at most
 * Σ_j max|x_j|, and a sum below 2^53 u is exact. Float64 inputs never take this path.
 */
static inline int block_exact(const mf_input *in, size_t k, const uint32_t *range) {
  double u = INFINITY, bound = 0.0;
  uint32_t lo = range[0] + 1u; /* 0: every float32 input of the block is zero */
  if (lo != 0) u = lo < 0x00800000u ? 0x1p-149 : f32_of_bits(lo) * 0x1p-24;
  double hi = f32_of_bits(range[1]);
  for (size_t j = 0; j < k; j++) {
    switch (in[j].dtype) {
      case MF_F32: bound += hi; break;
      case MF_I32: case MF_U32: bound += 0x1p32; u = u < 1.0 ? u : 1.0; break;
      default: bound += 0x1p16; u = u < 1.0 ? u : 1.0; break; /* an integer's unit is 1 */
    }
  }
  if (u == INFINITY) return 1; /* only zeros: their sums are exact */
  return bound < 0x1p53 * u;
}

#endif
