/*
 * Exact mode kernels, the accumulate side (see exact.h for the method and its references; the finish is in
 * exact-finish.c). Pure C, no Node-API: binding-exact.c wraps them. Blocks of BLK elements keep their
 * states in L1 cache; runs of eight or four float64 or float32 inputs are added in one pass, other dtypes
 * one input a pass, always in input order.
 */
#include "exact.h"

#include "exact-internal.h"

#include <math.h>
#include <string.h>

/* accumulate.h: the plain scanned sums and their certificate (block_exact), shared with mean.c. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "accumulate.h"
#pragma GCC diagnostic pop


/* One error-free step of term v into (s, c), adding |e2| (zero when the step was exact) to the mark m. */
#define EXACT_STEP(s, c, m, v)                         \
  do {                                                 \
    double t_ = s + v;                                 \
    double z_ = t_ - s;                                \
    double e_ = (s - (t_ - z_)) + (v - z_);            \
    double u_ = c + e_;                                \
    double w_ = u_ - c;                                \
    double f_ = (c - (u_ - w_)) + (e_ - w_);           \
    c = u_;                                            \
    s = t_;                                            \
    m = m + fabs(f_);                                  \
  } while (0)

/* The first input of a block: s = x (so -0 survives), c = 0, m = x - x (NaN for ±inf and NaN, else 0). */
#define DEFINE_SET(NAME, T)                                                                              \
  CLONES static void NAME##_xset(double *restrict s, double *restrict c, double *restrict m,               \
                                 const T *restrict a, size_t n) {                                         \
    for (size_t i = 0; i < n; i++) {                                                                      \
      double x = (double)a[i];                                                                            \
      s[i] = x;                                                                                           \
      c[i] = 0.0;                                                                                         \
      m[i] = fabs(x - x);                                                                                 \
    }                                                                                                     \
  }
#define DEFINE_STEP1(NAME, T)                                                                            \
  CLONES static void NAME##_x1(double *restrict s, double *restrict c, double *restrict m,                 \
                               const T *restrict a, size_t n) {                                           \
    for (size_t i = 0; i < n; i++) {                                                                      \
      double si = s[i], ci = c[i], mi = m[i], v = (double)a[i];                                           \
      EXACT_STEP(si, ci, mi, v);                                                                          \
      s[i] = si;                                                                                          \
      c[i] = ci;                                                                                          \
      m[i] = mi;                                                                                          \
    }                                                                                                     \
  }
#define DEFINE_STEP4(NAME, T)                                                                            \
  CLONES static void NAME##_x4(double *restrict s, double *restrict c, double *restrict m,                 \
                               const T *restrict a, const T *restrict b, const T *restrict d,             \
                               const T *restrict e, size_t n) {                                           \
    for (size_t i = 0; i < n; i++) {                                                                      \
      double si = s[i], ci = c[i], mi = m[i], v;                                                          \
      v = (double)a[i];                                                                                   \
      EXACT_STEP(si, ci, mi, v);                                                                          \
      v = (double)b[i];                                                                                   \
      EXACT_STEP(si, ci, mi, v);                                                                          \
      v = (double)d[i];                                                                                   \
      EXACT_STEP(si, ci, mi, v);                                                                          \
      v = (double)e[i];                                                                                   \
      EXACT_STEP(si, ci, mi, v);                                                                          \
      s[i] = si;                                                                                          \
      c[i] = ci;                                                                                          \
      m[i] = mi;                                                                                          \
    }                                                                                                     \
  }
#define DEFINE_EXACT(NAME, T) DEFINE_SET(NAME, T) DEFINE_STEP1(NAME, T)
DEFINE_EXACT(ex_f64, double)
DEFINE_EXACT(ex_f32, float)
DEFINE_EXACT(ex_i8, int8_t)
DEFINE_EXACT(ex_u8, uint8_t)
DEFINE_EXACT(ex_i16, int16_t)
DEFINE_EXACT(ex_u16, uint16_t)
DEFINE_EXACT(ex_i32, int32_t)
DEFINE_EXACT(ex_u32, uint32_t)
DEFINE_STEP4(ex_f64, double)
DEFINE_STEP4(ex_f32, float)

/*
 * The scanned variant, for blocks whose inputs' magnitudes are close enough (see scan_certifies): the TwoSum
 * errors go into c by plain addition, and range = {min nonzero |x| bits - 1, max |x| bits} is tracked.
 */
#define ABS_BITS(x) (bits64(x) & 0x7fffffffffffffffu)
#define SCAN(lo, hi, x)                                  \
  do {                                                   \
    uint64_t b_ = ABS_BITS(x);                           \
    uint64_t l_ = b_ - 1u; /* 0 wraps to the maximum */  \
    lo = l_ < lo ? l_ : lo;                              \
    hi = b_ > hi ? b_ : hi;                              \
  } while (0)
#define SCAN_STEP(s, c, lo, hi, v)                       \
  do {                                                   \
    double t_ = s + v;                                   \
    double z_ = t_ - s;                                  \
    c = c + ((s - (t_ - z_)) + (v - z_));                \
    s = t_;                                              \
    SCAN(lo, hi, v);                                     \
  } while (0)
#define DEFINE_SCANNED(NAME, T)                                                                          \
  CLONES static void NAME##_sset(double *restrict s, double *restrict c, uint64_t *restrict range,        \
                                 const T *restrict a, size_t n) {                                         \
    uint64_t lo = range[0], hi = range[1];                                                                \
    for (size_t i = 0; i < n; i++) {                                                                      \
      double x = (double)a[i];                                                                            \
      s[i] = x;                                                                                           \
      c[i] = 0.0;                                                                                         \
      SCAN(lo, hi, x);                                                                                    \
    }                                                                                                     \
    range[0] = lo;                                                                                        \
    range[1] = hi;                                                                                        \
  }                                                                                                       \
  CLONES static void NAME##_s1(double *restrict s, double *restrict c, uint64_t *restrict range,          \
                               const T *restrict a, size_t n) {                                           \
    uint64_t lo = range[0], hi = range[1];                                                                \
    for (size_t i = 0; i < n; i++) {                                                                      \
      double si = s[i], ci = c[i], v = (double)a[i];                                                      \
      SCAN_STEP(si, ci, lo, hi, v);                                                                       \
      s[i] = si;                                                                                          \
      c[i] = ci;                                                                                          \
    }                                                                                                     \
    range[0] = lo;                                                                                        \
    range[1] = hi;                                                                                        \
  }
#define S4_BODY(T, FIRST)                                \
  for (size_t i = 0; i < n; i++) {                       \
    double si, ci, v = (double)a[i];                     \
    if (FIRST) {                                         \
      si = v;                                            \
      ci = 0.0;                                          \
      SCAN(lo, hi, v);                                   \
    } else {                                             \
      si = s[i];                                         \
      ci = c[i];                                         \
      SCAN_STEP(si, ci, lo, hi, v);                      \
    }                                                    \
    v = (double)b[i];                                    \
    SCAN_STEP(si, ci, lo, hi, v);                        \
    v = (double)d[i];                                    \
    SCAN_STEP(si, ci, lo, hi, v);                        \
    v = (double)e[i];                                    \
    SCAN_STEP(si, ci, lo, hi, v);                        \
    s[i] = si;                                           \
    c[i] = ci;                                           \
  }
/* A run of four inputs in one pass; two loops (first or not), so no side is computed under masks. */
#define DEFINE_SCANNED4(NAME, T)                                                                         \
  CLONES static void NAME##_s4(double *restrict s, double *restrict c, uint64_t *restrict range,          \
                               const T *restrict a, const T *restrict b, const T *restrict d,             \
                               const T *restrict e, size_t n, int first) {                                \
    uint64_t lo = range[0], hi = range[1];                                                                \
    if (first) {                                                                                          \
      S4_BODY(T, 1)                                                                                       \
    } else {                                                                                              \
      S4_BODY(T, 0)                                                                                       \
    }                                                                                                     \
    range[0] = lo;                                                                                        \
    range[1] = hi;                                                                                        \
  }
DEFINE_SCANNED(ex_f64, double)
DEFINE_SCANNED(ex_f32, float)
DEFINE_SCANNED(ex_i8, int8_t)
DEFINE_SCANNED(ex_u8, uint8_t)
DEFINE_SCANNED(ex_i16, int16_t)
DEFINE_SCANNED(ex_u16, uint16_t)
DEFINE_SCANNED(ex_i32, int32_t)
DEFINE_SCANNED(ex_u32, uint32_t)
DEFINE_SCANNED4(ex_f64, double)
DEFINE_SCANNED4(ex_f32, float)
/* Eight consecutive float64 inputs in one pass (the state stays in registers across all eight). */
#define S8_BODY(FIRST)                                   \
  for (size_t i = 0; i < n; i++) {                       \
    double si, ci, v = a0[i];                            \
    if (FIRST) {                                         \
      si = v;                                            \
      ci = 0.0;                                          \
      SCAN(lo, hi, v);                                   \
    } else {                                             \
      si = s[i];                                         \
      ci = c[i];                                         \
      SCAN_STEP(si, ci, lo, hi, v);                      \
    }                                                    \
    v = a1[i];                                           \
    SCAN_STEP(si, ci, lo, hi, v);                        \
    v = a2[i];                                           \
    SCAN_STEP(si, ci, lo, hi, v);                        \
    v = a3[i];                                           \
    SCAN_STEP(si, ci, lo, hi, v);                        \
    v = a4[i];                                           \
    SCAN_STEP(si, ci, lo, hi, v);                        \
    v = a5[i];                                           \
    SCAN_STEP(si, ci, lo, hi, v);                        \
    v = a6[i];                                           \
    SCAN_STEP(si, ci, lo, hi, v);                        \
    v = a7[i];                                           \
    SCAN_STEP(si, ci, lo, hi, v);                        \
    s[i] = si;                                           \
    c[i] = ci;                                           \
  }
CLONES static void ex_f64_s8(double *restrict s, double *restrict c, uint64_t *restrict range,
                             const double *const *restrict x, size_t n, int first) {
  uint64_t lo = range[0], hi = range[1];
  const double *restrict a0 = x[0], *restrict a1 = x[1], *restrict a2 = x[2], *restrict a3 = x[3];
  const double *restrict a4 = x[4], *restrict a5 = x[5], *restrict a6 = x[6], *restrict a7 = x[7];
  /* Two loops, not one with a test inside: the vectorizer would compute both sides under masks. */
  if (first) {
    S8_BODY(1)
  } else {
    S8_BODY(0)
  }
  range[0] = lo;
  range[1] = hi;
}

#define AT(x, T, i0) ((const T *)(x)->data + (i0))

/* Calls ex_<dtype>_<SET> when first, else ex_<dtype>_<STEP>, with (s, c, STATE, x's data at i0, n). */
#define BY_DTYPE(x, SET, STEP, STATE)                                                \
  do {                                                                               \
    switch ((x)->dtype) {                                                            \
      CASE(MF_F64, ex_f64, double, SET, STEP, STATE)                                 \
      CASE(MF_F32, ex_f32, float, SET, STEP, STATE)                                  \
      CASE(MF_I8, ex_i8, int8_t, SET, STEP, STATE)                                   \
      CASE(MF_U8, ex_u8, uint8_t, SET, STEP, STATE)                                  \
      CASE(MF_I16, ex_i16, int16_t, SET, STEP, STATE)                                \
      CASE(MF_U16, ex_u16, uint16_t, SET, STEP, STATE)                               \
      CASE(MF_I32, ex_i32, int32_t, SET, STEP, STATE)                                \
      default: /* MF_U32 */                                                          \
        if (first) ex_u32_##SET(s, c, STATE, AT(x, uint32_t, i0), n);                \
        else ex_u32_##STEP(s, c, STATE, AT(x, uint32_t, i0), n);                     \
    }                                                                                \
  } while (0)
#define CASE(CODE, NAME, T, SET, STEP, STATE)                                        \
  case CODE:                                                                         \
    if (first) NAME##_##SET(s, c, STATE, AT(x, T, i0), n);                           \
    else NAME##_##STEP(s, c, STATE, AT(x, T, i0), n);                                \
    break;

/* Input x's elements [i0, i0 + n) into the marked block state: set when first, else one exact step each. */
static void exact_one(const mf_input *x, int first, double *s, double *c, double *m, size_t i0, size_t n) {
  BY_DTYPE(x, xset, x1, m);
}

/* Input x's elements [i0, i0 + n) into the scanned block state. */
static void scanned_one(const mf_input *x, int first, double *s, double *c, uint64_t *range, size_t i0, size_t n) {
  BY_DTYPE(x, sset, s1, range);
}
#undef CASE

/* True when runs of four consecutive inputs from j share dtype dt, float64 or float32. */
static int run_of_four(const mf_input *in, size_t k, size_t j) {
  int dt = in[j].dtype;
  return j + 4 <= k && (dt == MF_F64 || dt == MF_F32) && in[j + 1].dtype == dt && in[j + 2].dtype == dt &&
         in[j + 3].dtype == dt;
}

/* Every input, in order, into the marked block state of elements [i0, i0 + n). */
static void marked_block(const mf_input *in, size_t k, double *s, double *c, double *m, size_t i0, size_t n) {
  exact_one(&in[0], 1, s, c, m, i0, n);
  size_t j = 1;
  while (j < k) {
    int dt = in[j].dtype;
    if (run_of_four(in, k, j)) {
      if (dt == MF_F64) {
        ex_f64_x4(s, c, m, AT(&in[j], double, i0), AT(&in[j + 1], double, i0), AT(&in[j + 2], double, i0),
                  AT(&in[j + 3], double, i0), n);
      } else {
        ex_f32_x4(s, c, m, AT(&in[j], float, i0), AT(&in[j + 1], float, i0), AT(&in[j + 2], float, i0),
                  AT(&in[j + 3], float, i0), n);
      }
      j += 4;
    } else {
      exact_one(&in[j], 0, s, c, m, i0, n);
      j++;
    }
  }
}

/*
 * True when the scanned block's c is exact: every input, partial sum and TwoSum error is a multiple of
 * U, the smallest ulp of a nonzero input (U > min|x| 2^-53), and every partial sum of the errors is at most
 * sum_i ulp(s_i)/2 <= k(k-1)(1+u)^k max|x| 2^-53 in magnitude; a multiple of U below 2^53 U is a float64, so
 * each addition into c is exact when k^2 max|x| 2^-53 (1 + 1e-4) <= min|x|. Non-finite inputs fail.
 */
static int scan_certifies(const uint64_t *range, double k) {
  if (range[1] == 0) return 1; /* only zeros */
  double mx = of_bits64(range[1]);
  double mn = of_bits64(range[0] + 1u);
  return (mx < 0x1p990 / k) & (mx * (k * k) * (0x1p-53 * 1.0001) <= mn);
}

/*
 * Every input, in order, into the block state of elements [i0, i0 + n): without float64 inputs the plain
 * sums when they are provably exact, else the scanned variant, and when its certificate fails the marked one (m[i] != 0 where a step was not error-free). Returns 1 when the
 * scanned variant held (m unused).
 */
static int exact_block(const mf_input *in, size_t k, double *s, double *c, double *m, size_t i0, size_t n) {
  /* Without float64 inputs the plain float64 sums are often exact (block_exact): s alone holds the sum. */
  int any_f64 = 0;
  for (size_t j = 0; j < k; j++) any_f64 |= in[j].dtype == MF_F64;
  if (!any_f64) {
    uint32_t r32[2];
    accumulate(SCAN, in, k, s, NULL, r32, i0, n);
    if (block_exact(in, k, r32)) {
      memset(c, 0, n * sizeof(double));
      return 1;
    }
  }
  uint64_t range[2] = {UINT64_MAX, 0};
  for (size_t j = 0; j < k;) {
    if (run_of_four(in, k, j) && run_of_four(in, k, j + 4) && in[j].dtype == MF_F64 && in[j + 4].dtype == MF_F64) {
      const double *x[8];
      for (int q = 0; q < 8; q++) x[q] = AT(&in[j + q], double, i0);
      ex_f64_s8(s, c, range, x, n, j == 0);
      j += 8;
    } else if (run_of_four(in, k, j)) {
      if (in[j].dtype == MF_F64) {
        ex_f64_s4(s, c, range, AT(&in[j], double, i0), AT(&in[j + 1], double, i0), AT(&in[j + 2], double, i0),
                  AT(&in[j + 3], double, i0), n, j == 0);
      } else {
        ex_f32_s4(s, c, range, AT(&in[j], float, i0), AT(&in[j + 1], float, i0), AT(&in[j + 2], float, i0),
                  AT(&in[j + 3], float, i0), n, j == 0);
      }
      j += 4;
    } else {
      scanned_one(&in[j], j == 0, s, c, range, i0, n);
      j++;
    }
  }
  if (scan_certifies(range, (double)k)) return 1;
  marked_block(in, k, s, c, m, i0, n);
  return 0;
}



size_t mf_mean_exact(const mf_input *in, size_t k, void *out, int f32, size_t start, size_t end, int32_t *flags,
                     size_t cap, size_t *nflag) {
  double s[BLK], c[BLK], m[BLK];
  size_t count = 0;
  double kd = (double)k;
  size_t b = start;
  for (; b < end; b += BLK) {
    size_t n = end - b < BLK ? end - b : BLK;
    if (count + n > cap) break;
    int scanned = exact_block(in, k, s, c, m, b, n);
    count = mf_exact_finish_block(s, c, scanned ? NULL : m, out, f32, kd, b, n, flags, count);
  }
  *nflag = count;
  return b < end ? b : end;
}

size_t mf_acc_exact(const mf_input *x, double *s, double *c, size_t start, size_t end, int first, int32_t *flags,
                    size_t cap, size_t *nflag) {
  double ts[BLK], tc[BLK], tm[BLK];
  size_t count = 0;
  size_t b = start;
  for (; b < end; b += BLK) {
    size_t n = end - b < BLK ? end - b : BLK;
    if (count + n > cap) break;
    if (!first) {
      memcpy(ts, s + b, n * sizeof(double));
      memcpy(tc, c + b, n * sizeof(double));
      memset(tm, 0, n * sizeof(double));
    }
    exact_one(x, first, ts, tc, tm, b, n);
    for (size_t i = 0; i < n; i++) {
      if (tm[i] != 0.0) {
        flags[count++] = (int32_t)(b + i);
        if (first) s[b + i] = c[b + i] = 0.0; /* an empty state; the caller holds the term exactly */
        continue;
      }
      s[b + i] = ts[i];
      c[b + i] = tc[i];
    }
  }
  *nflag = count;
  return b < end ? b : end;
}

size_t mf_finish_exact(const double *s, const double *c, void *out, int f32, double d, size_t start, size_t end,
                       int32_t *flags, size_t cap, size_t *nflag) {
  size_t count = 0;
  size_t b = start;
  for (; b < end; b += BLK) {
    size_t n = end - b < BLK ? end - b : BLK;
    if (count + n > cap) break;
    count = mf_exact_finish_block(s + b, c + b, NULL, out, f32, d, b, n, flags, count);
  }
  *nflag = count;
  return b < end ? b : end;
}
