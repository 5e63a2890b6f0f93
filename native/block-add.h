/*
 * Block adds of the native kernels (included by accumulate.h): one input, or a run of two or four of one
 * type, added into a block's float64 accumulator in input order, plainly, with Σ|x|, or TwoSum-compensated
 * (also subtracted, for a sliding window's leaving input); and the first input or run written instead of
 * added. Each performs per element the IEEE-754 operations of the scalar kernel (src/kernels/scalar.ts).
 */
#ifndef MEAN_FUSION_BLOCK_ADD_H
#define MEAN_FUSION_BLOCK_ADD_H

#include <math.h>
#include <stdint.h>

#include "dispatch.h"

/* Sums of one input of type T into acc (and, for the _m variant, of |x| into mag). */
#define DEFINE_ADD1(NAME, T)                                                                               \
  CLONES static void NAME##_1(double *restrict acc, const T *restrict a, size_t n) {                       \
    for (size_t i = 0; i < n; i++) acc[i] = acc[i] + (double)a[i];                                         \
  }                                                                                                        \
  CLONES static void NAME##_1m(double *restrict acc, double *restrict mag, const T *restrict a, size_t n) { \
    for (size_t i = 0; i < n; i++) {                                                                       \
      double x = (double)a[i];                                                                             \
      acc[i] = acc[i] + x;                                                                                 \
      mag[i] = mag[i] + fabs(x);                                                                           \
    }                                                                                                      \
  }

/* Sums of a run of four inputs of type T, in input order. */
#define DEFINE_ADD4(NAME, T)                                                                               \
  CLONES static void NAME##_4(double *restrict acc, const T *restrict a, const T *restrict b,              \
                              const T *restrict c, const T *restrict d, size_t n) {                        \
    for (size_t i = 0; i < n; i++)                                                                         \
      acc[i] = (((acc[i] + (double)a[i]) + (double)b[i]) + (double)c[i]) + (double)d[i];                   \
  }                                                                                                        \
  CLONES static void NAME##_4m(double *restrict acc, double *restrict mag, const T *restrict a,             \
                               const T *restrict b, const T *restrict c, const T *restrict d, size_t n) {   \
    for (size_t i = 0; i < n; i++) {                                                                       \
      double x0 = (double)a[i], x1 = (double)b[i], x2 = (double)c[i], x3 = (double)d[i];                   \
      acc[i] = (((acc[i] + x0) + x1) + x2) + x3;                                                           \
      mag[i] = mag[i] + ((fabs(x0) + fabs(x1)) + (fabs(x2) + fabs(x3)));                                   \
    }                                                                                                      \
  }

/* Knuth's TwoSum of one term v into (s, c): the compensated accumulation of kernel.wat's addm2/add8c. */
#define TWO_SUM(s, c, v)                      \
  do {                                        \
    double t_ = s + v;                        \
    double z_ = t_ - s;                       \
    c = c + ((s - (t_ - z_)) + (v - z_));     \
    s = t_;                                   \
  } while (0)

/* Compensated sums of one input, or of a run of four, of type T into (acc, cmp). */
#define DEFINE_ADDC(NAME, T)                                                                                 \
  CLONES static void NAME##_1c(double *restrict acc, double *restrict cmp, const T *restrict a, size_t n) {  \
    for (size_t i = 0; i < n; i++) {                                                                         \
      double s = acc[i], c = cmp[i], v = (double)a[i];                                                       \
      TWO_SUM(s, c, v);                                                                                      \
      acc[i] = s;                                                                                            \
      cmp[i] = c;                                                                                            \
    }                                                                                                        \
  }
#define DEFINE_ADDC4(NAME, T)                                                                                \
  CLONES static void NAME##_4c(double *restrict acc, double *restrict cmp, const T *restrict a,               \
                               const T *restrict b, const T *restrict c4, const T *restrict d, size_t n) {   \
    for (size_t i = 0; i < n; i++) {                                                                         \
      double s = acc[i], c = cmp[i], v;                                                                      \
      v = (double)a[i];                                                                                      \
      TWO_SUM(s, c, v);                                                                                      \
      v = (double)b[i];                                                                                      \
      TWO_SUM(s, c, v);                                                                                      \
      v = (double)c4[i];                                                                                     \
      TWO_SUM(s, c, v);                                                                                      \
      v = (double)d[i];                                                                                      \
      TWO_SUM(s, c, v);                                                                                      \
      acc[i] = s;                                                                                            \
      cmp[i] = c;                                                                                            \
    }                                                                                                        \
  }
DEFINE_ADDC(add_f64, double)
DEFINE_ADDC(add_f32, float)
DEFINE_ADDC(add_i8, int8_t)
DEFINE_ADDC(add_u8, uint8_t)
DEFINE_ADDC(add_i16, int16_t)
DEFINE_ADDC(add_u16, uint16_t)
DEFINE_ADDC(add_i32, int32_t)
DEFINE_ADDC(add_u32, uint32_t)
DEFINE_ADDC4(add_f64, double)
DEFINE_ADDC4(add_f32, float)

/* Compensated subtraction of one input: a TwoSum step with v = -x (a sliding window's leaving input). */
#define DEFINE_SUBC(NAME, T)                                                                                 \
  CLONES static void NAME##_1n(double *restrict acc, double *restrict cmp, const T *restrict a, size_t n) {  \
    for (size_t i = 0; i < n; i++) {                                                                         \
      double s = acc[i], c = cmp[i], v = -(double)a[i];                                                      \
      TWO_SUM(s, c, v);                                                                                      \
      acc[i] = s;                                                                                            \
      cmp[i] = c;                                                                                            \
    }                                                                                                        \
  }
DEFINE_SUBC(add_f64, double)
DEFINE_SUBC(add_f32, float)
DEFINE_SUBC(add_i8, int8_t)
DEFINE_SUBC(add_u8, uint8_t)
DEFINE_SUBC(add_i16, int16_t)
DEFINE_SUBC(add_u16, uint16_t)
DEFINE_SUBC(add_i32, int32_t)
DEFINE_SUBC(add_u32, uint32_t)

DEFINE_ADD1(add_f64, double)
DEFINE_ADD1(add_f32, float)
DEFINE_ADD1(add_i8, int8_t)
DEFINE_ADD1(add_u8, uint8_t)
DEFINE_ADD1(add_i16, int16_t)
DEFINE_ADD1(add_u16, uint16_t)
DEFINE_ADD1(add_i32, int32_t)
DEFINE_ADD1(add_u32, uint32_t)
DEFINE_ADD4(add_f64, double)
DEFINE_ADD4(add_f32, float)

/* Plain sums of a run of two inputs of type T, in input order (k = 2, 3 and the tails of runs of four). */
#define DEFINE_ADD2(NAME, T)                                                                  \
  CLONES static void NAME##_2(double *restrict acc, const T *restrict a, const T *restrict b, size_t n) { \
    for (size_t i = 0; i < n; i++) acc[i] = (acc[i] + (double)a[i]) + (double)b[i];          \
  }
DEFINE_ADD2(add_f64, double)
DEFINE_ADD2(add_f32, float)

/*
 * A block's first input, or first run of four, written instead of added: acc = x_0 (+ x_1 + x_2 + x_3).
 * The same bits as adding to -0 (-0 + x is exactly x), one pass over the accumulator fewer.
 */
#define DEFINE_SET1(NAME, T)                                                                \
  CLONES static void NAME##_1set(double *restrict acc, const T *restrict a, size_t n) {     \
    for (size_t i = 0; i < n; i++) acc[i] = (double)a[i];                                   \
  }
#define DEFINE_SET4(NAME, T)                                                                \
  CLONES static void NAME##_4set(double *restrict acc, const T *restrict a, const T *restrict b, \
                                 const T *restrict c, const T *restrict d, size_t n) {      \
    for (size_t i = 0; i < n; i++) acc[i] = (((double)a[i] + (double)b[i]) + (double)c[i]) + (double)d[i]; \
  }
DEFINE_SET1(add_f64, double)
DEFINE_SET1(add_f32, float)
DEFINE_SET1(add_i8, int8_t)
DEFINE_SET1(add_u8, uint8_t)
DEFINE_SET1(add_i16, int16_t)
DEFINE_SET1(add_u16, uint16_t)
DEFINE_SET1(add_i32, int32_t)
DEFINE_SET1(add_u32, uint32_t)
DEFINE_SET4(add_f64, double)
DEFINE_SET4(add_f32, float)
#define DEFINE_SET2(NAME, T)                                                                \
  CLONES static void NAME##_2set(double *restrict acc, const T *restrict a, const T *restrict b, size_t n) { \
    for (size_t i = 0; i < n; i++) acc[i] = (double)a[i] + (double)b[i];                    \
  }
DEFINE_SET2(add_f64, double)
DEFINE_SET2(add_f32, float)

#endif
