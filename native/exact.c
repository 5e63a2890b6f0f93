/*
 * Exact mode kernels (see exact.h for the method and its references). Pure C, no Node-API: binding.c wraps
 * them. Blocks of BLK elements keep their states in L1 cache; runs of four float64 or float32 inputs are
 * added in one pass, other dtypes one input a pass, always in input order.
 */
#include "exact.h"

#include <math.h>
#include <string.h>

/* accumulate.h: the plain scanned sums and their certificate (block_exact), shared with mean.c. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "accumulate.h"
#pragma GCC diagnostic pop

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

/* Input x's elements [i0, i0 + n) into the block state: set when first, else one exact step each. */
static void exact_one(const mf_input *x, int first, double *s, double *c, double *m, size_t i0, size_t n) {
#define CASE(CODE, NAME, T)                                               \
  case CODE:                                                              \
    if (first) NAME##_xset(s, c, m, AT(x, T, i0), n);                     \
    else NAME##_x1(s, c, m, AT(x, T, i0), n);                             \
    break;
  switch (x->dtype) {
    CASE(MF_F64, ex_f64, double)
    CASE(MF_F32, ex_f32, float)
    CASE(MF_I8, ex_i8, int8_t)
    CASE(MF_U8, ex_u8, uint8_t)
    CASE(MF_I16, ex_i16, int16_t)
    CASE(MF_U16, ex_u16, uint16_t)
    CASE(MF_I32, ex_i32, int32_t)
    default: /* MF_U32 */
      if (first) ex_u32_xset(s, c, m, AT(x, uint32_t, i0), n);
      else ex_u32_x1(s, c, m, AT(x, uint32_t, i0), n);
  }
#undef CASE
}

/* Input x's elements [i0, i0 + n) into the scanned block state. */
static void scanned_one(const mf_input *x, int first, double *s, double *c, uint64_t *range, size_t i0, size_t n) {
#define CASE(CODE, NAME, T)                                               \
  case CODE:                                                              \
    if (first) NAME##_sset(s, c, range, AT(x, T, i0), n);                 \
    else NAME##_s1(s, c, range, AT(x, T, i0), n);                         \
    break;
  switch (x->dtype) {
    CASE(MF_F64, ex_f64, double)
    CASE(MF_F32, ex_f32, float)
    CASE(MF_I8, ex_i8, int8_t)
    CASE(MF_U8, ex_u8, uint8_t)
    CASE(MF_I16, ex_i16, int16_t)
    CASE(MF_U16, ex_u16, uint16_t)
    CASE(MF_I32, ex_i32, int32_t)
    default: /* MF_U32 */
      if (first) ex_u32_sset(s, c, range, AT(x, uint32_t, i0), n);
      else ex_u32_s1(s, c, range, AT(x, uint32_t, i0), n);
  }
#undef CASE
}

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


/* Dekker's TwoProduct: the error e of p = fl(a b), a b = p + e exactly (|a|, |b| < 2^995, no underflow). */
static inline double product_error(double a, double b, double p) {
  const double split = 134217729.0; /* 2^27 + 1 */
  double t = split * a;
  double ah = t - (t - a), al = a - ah;
  t = split * b;
  double bh = t - (t - b), bl = b - bh;
  return (((ah * bh - p) + ah * bl) + al * bh) + al * bl;
}

/* Of two neighbouring positive values of the output format, the one whose last significand bit is 0. */
static inline double even_of(double a, double b, int f32) {
  if (f32) return (bits32((float)a) & 1u) == 0 ? a : b;
  return (bits64(a) & 1u) == 0 ? a : b;
}

/*
 * The exact sign (-1, 0, 1) of a + b + c + d by repeated error-free distillation (VecSum) until the largest
 * term outweighs the others' magnitudes; 2 when that takes more than a few passes.
 */
static int sign4(double a, double b, double c, double d) {
  for (int pass = 0; pass < 8; pass++) {
    double s = a + b, z = s - a;
    double e1 = (a - (s - z)) + (b - z);
    double t = s + c;
    z = t - s;
    double e2 = (s - (t - z)) + (c - z);
    s = t + d;
    z = s - t;
    double e3 = (t - (s - z)) + (d - z);
    double tail = fabs(e1) + fabs(e2) + fabs(e3);
    if (tail == 0.0) return (s > 0.0) - (s < 0.0);
    if (fabs(s) > tail * (1.0 + 0x1p-50)) return s > 0.0 ? 1 : -1;
    a = e1;
    b = e2;
    c = e3;
    d = s;
  }
  return 2;
}

/*
 * The certified finish of one state (exact.h): returns 1 and stores the correctly rounded (s + c) / d in
 * *res (rounded to float32 when f32), or 0 when the element needs the exact accumulator. d > 0, finite.
 */
static inline int finish_one(double s, double c, double d, int f32, double *res) {
  double hi = s + c;
  double z = hi - s;
  double lo = (s - (hi - z)) + (c - z);
  if (hi == 0.0) {
    /* s + c = 0 exactly: -0 only when every term was -0 (then s, their IEEE sum, is -0). */
    double zero = s == 0.0 ? s : 0.0;
    *res = f32 ? (double)(float)(zero / d) : zero / d;
    return 1;
  }
  double a = fabs(hi);
  if (!(a >= 0x1p-900 && a <= 0x1p990)) return 0; /* NaN fails too */
  double q = hi / d;
  double y = f32 ? (double)(float)q : q;
  /* y is within about one spacing of the result: at most two moves to a neighbour. */
  for (int move = 0; move < 3; move++) {
    double ay = fabs(y);
    if (!(ay > 0.0 && ay < 0x1p1000)) return 0; /* float32 underflow or overflow */
    double p = y * d;
    double pe = product_error(y, d, p);
    double dp = hi - p; /* exact: Sterbenz */
    double r = (dp + lo) - pe;
    double err = (fabs(dp) + fabs(lo) + fabs(pe)) * 0x1p-50;
    double up, down;
    if (f32) {
      uint32_t b = bits32((float)ay);
      up = (double)of_bits32(b + 1u) - ay;
      down = ay - (double)of_bits32(b - 1u);
    } else {
      uint64_t b = bits64(ay);
      up = of_bits64(b + 1u) - ay;
      down = ay - of_bits64(b - 1u);
    }
    if (!(up < INFINITY)) return 0; /* float32's largest value: overflow is near */
    /* With y < 0 the spacing above |y| lies below y: mirror the residual. */
    double sg = y < 0.0 ? -1.0 : 1.0;
    double rr = sg * r;
    double hu = d * up * 0.5;
    double hd = d * down * 0.5;
    *res = y;
    if ((rr + err < hu) & (rr - err > -hd)) return 1;
    /* Near or on a midpoint, or beyond: the exact signs of R -/+ spacing/2 decide, ties to even. */
    int above = sign4(sg * dp, sg * lo, -sg * pe, -hu);
    if (above == 0) {
      *res = sg * even_of(ay, ay + up, f32);
      return 1;
    }
    if (above == 1) {
      y = sg * (ay + up);
      continue;
    }
    if (above != -1) return 0; /* undecided */
    int below = sign4(sg * dp, sg * lo, -sg * pe, hd);
    if (below == 0) {
      *res = sg * even_of(ay, ay - down, f32);
      return 1;
    }
    if (below == -1) {
      y = sg * (ay - down);
      continue;
    }
    return below == 1;
  }
  return 0;
}

/*
 * The common case of finish_one for a block, branch-free so it vectorizes: out[i] = y and bad[i] = 0 where
 * the first certificate holds (no zero sum, no tie, in range, m[i] == 0), bad[i] = 1 elsewhere.
 */
#define DEFINE_FAST(NAME, OUT, F32, PERR)                                                                     \
  CLONES static size_t NAME(const double *restrict s, const double *restrict c, const double *restrict m,  \
                            OUT *restrict out, int64_t *restrict bad, double d, size_t n) {               \
    size_t failed = 0;                                                                                     \
    for (size_t i = 0; i < n; i++) {                                                                       \
      double si = s[i], ci = c[i];                                                                         \
      double hi = si + ci, z = hi - si;                                                                    \
      double lo = (si - (hi - z)) + (ci - z);                                                              \
      double a = fabs(hi);                                                                                 \
      double y = F32 ? (double)(float)(hi / d) : hi / d;                                                   \
      double ay = fabs(y);                                                                                 \
      double p = y * d;                                                                                    \
      double pe = PERR(y, d, p);                                                                           \
      double dp = hi - p;                                                                                  \
      /* r = dp + lo - pe, with its two rounding errors: when both are 0, r is R exactly. */               \
      double r1 = dp + lo, z1 = r1 - dp;                                                                   \
      double e1 = (dp - (r1 - z1)) + (lo - z1);                                                            \
      double r = r1 - pe, z2 = r - r1;                                                                     \
      double e2 = (r1 - (r - z2)) + (-pe - z2);                                                            \
      /* m[i] bounds the errors the state lost (marked blocks); 0: the state is exact. */                   \
      double mm = m[i], lost = mm * (1.0 + 0x1p-20);                                                       \
      int exact = (e1 == 0.0) & (e2 == 0.0) & (mm == 0.0);                                                 \
      double err = (exact ? 0.0 : (fabs(dp) + fabs(lo) + fabs(pe)) * 0x1p-50) + lost;                      \
      double up, down;                                                                                     \
      uint64_t odd;                                                                                        \
      if (F32) {                                                                                           \
        uint32_t b = bits32((float)ay);                                                                    \
        up = (double)of_bits32(b + 1u) - ay;                                                               \
        down = ay - (double)of_bits32(b - 1u);                                                             \
        odd = b & 1u;                                                                                      \
      } else {                                                                                             \
        uint64_t b = bits64(ay);                                                                           \
        up = of_bits64(b + 1u) - ay;                                                                       \
        down = ay - of_bits64(b - 1u);                                                                     \
        odd = b & 1u;                                                                                      \
      }                                                                                                    \
      double rr = copysign(1.0, y) * r;                                                                    \
      double hu = d * up * 0.5, hd = d * down * 0.5;                                                       \
      int inside = (rr + err < hu) & (rr - err > -hd);                                                     \
      /* An exact tie goes to the even neighbour: |y| itself when its last bit is 0. */                   \
      int tie_up = exact & (rr == hu), tie_down = exact & (rr == -hd);                                     \
      /* Beyond a midpoint, inside the neighbour's cell (whose far midpoint is at least 1.5 spacings      \
         above, or 1.25 below, |y|): the neighbour. */                                                     \
      int next = (rr - err > hu) & (rr + err < 3.0 * hu);                                                  \
      int prev = (rr + err < -hd) & (rr - err > -2.5 * hd);                                                \
      int go_up = next | (odd & tie_up), go_down = prev | (odd & tie_down);                                \
      double mag = ay;                                                                                     \
      mag = go_up ? ay + up : mag;                                                                         \
      mag = go_down ? ay - down : mag;                                                                     \
      int ok = (mm < INFINITY) & (a >= 0x1p-900) & (a <= 0x1p990) & (ay > 0.0) & (ay < 0x1p1000) &         \
               (up < INFINITY) & (inside | tie_up | tie_down | next | prev);                               \
      out[i] = (OUT)copysign(mag, y);                                                                      \
      bad[i] = !ok;                                                                                        \
      failed += !ok;                                                                                       \
    }                                                                                                      \
    return failed;                                                                                         \
  }
DEFINE_FAST(fast_f64, double, 0, product_error)
DEFINE_FAST(fast_f32, float, 1, product_error)
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
/* With hardware FMA the product's error is one fused operation (exact, like Dekker's). Only called when the
   CPU has FMA, so the default clone never runs. */
#define FMA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define FMA_ERROR(a, b, p) __builtin_fma(a, b, -(p))
#undef CLONES
#define CLONES FMA_CLONES
/*
 * The float64 finish with FMA, cheaper: y = RN(hi / d) makes the residual hi - y d a float64 (a property of
 * correctly rounded division without underflow), so one FMA gives it exactly, and R = r + e with
 * (r, e) = TwoSum(hi - y d, lo) exactly. Since r = RN(R), comparing r with a float64 bound T decides R
 * against T except when r == T, where the sign of e does. A |y| that is a power of two (unequal spacings
 * around it) is left to finish_one.
 */
/* fast_f64_fma for an exact state (m = 0 everywhere: scanned blocks, stream finishes): no bounds to carry. */
FMA_CLONES static size_t fast_f64_fma_tight(const double *restrict s, const double *restrict c,
                                            double *restrict out, int64_t *restrict bad, double d, size_t n) {
  size_t failed = 0;
  for (size_t i = 0; i < n; i++) {
    double si = s[i], ci = c[i];
    double hi = si + ci, z = hi - si;
    double lo = (si - (hi - z)) + (ci - z);
    double a = fabs(hi);
    double y = hi / d;
    double ay = fabs(y);
    double r0 = __builtin_fma(-y, d, hi); /* exact */
    double r = r0 + lo, z1 = r - r0;
    double e = (r0 - (r - z1)) + (lo - z1); /* R = r + e exactly */
    uint64_t b = bits64(ay);
    double ulp = of_bits64(b & 0x7ff0000000000000u) * 0x1p-52;
    int pow2 = (b & 0x000fffffffffffffu) == 0;
    double h = d * ulp * 0.5;
    double sg = copysign(1.0, y);
    double rr = sg * r, ee = sg * e;
    int inside = ((rr < h) | ((rr == h) & (ee < 0.0))) & ((rr > -h) | ((rr == -h) & (ee > 0.0)));
    int tie_up = (rr == h) & (ee == 0.0), tie_down = (rr == -h) & (ee == 0.0);
    int next = (rr > h) & (rr < 2.9 * h), prev = (rr < -h) & (rr > -2.4 * h);
    int odd = (int)(b & 1u);
    int go_up = next | (odd & tie_up), go_down = prev | (odd & tie_down);
    double mag = ay;
    mag = go_up ? ay + ulp : mag;
    mag = go_down ? ay - ulp : mag;
    int ok = (a >= 0x1p-900) & (a <= 0x1p990) & (ay >= 0x1p-960) & (ay < 0x1p1000) & !pow2 &
             (inside | tie_up | tie_down | next | prev);
    out[i] = copysign(mag, y);
    bad[i] = !ok;
    failed += !ok;
  }
  return failed;
}

FMA_CLONES static size_t fast_f64_fma(const double *restrict s, const double *restrict c,
                                      const double *restrict m, double *restrict out, int64_t *restrict bad,
                                      double d, size_t n) {
  size_t failed = 0;
  for (size_t i = 0; i < n; i++) {
    double si = s[i], ci = c[i];
    double hi = si + ci, z = hi - si;
    double lo = (si - (hi - z)) + (ci - z);
    double a = fabs(hi);
    double y = hi / d;
    double ay = fabs(y);
    double r0 = __builtin_fma(-y, d, hi); /* exact */
    double r = r0 + lo, z1 = r - r0;
    double e = (r0 - (r - z1)) + (lo - z1); /* R = r + e exactly */
    uint64_t b = bits64(ay);
    double ulp = of_bits64(b & 0x7ff0000000000000u) * 0x1p-52;
    int pow2 = (b & 0x000fffffffffffffu) == 0;
    double h = d * ulp * 0.5; /* half the spacing, scaled by d */
    double sg = copysign(1.0, y);
    double rr = sg * r, ee = sg * e;
    /* m[i] bounds the errors the state lost (marked blocks): then only bounds decide, no tie. */
    double mm = m[i], lost = mm * (1.0 + 0x1p-20);
    double top = rr + fabs(ee) + lost, bottom = rr - fabs(ee) - lost;
    int loose = mm != 0.0;
    int tight = !loose;
    int below_up = (loose & (top < h)) | (tight & ((rr < h) | ((rr == h) & (ee < 0.0))));
    int above_down = (loose & (bottom > -h)) | (tight & ((rr > -h) | ((rr == -h) & (ee > 0.0))));
    int tie_up = tight & (rr == h) & (ee == 0.0), tie_down = tight & (rr == -h) & (ee == 0.0);
    int next = (bottom > h) & (top < 2.9 * h), prev = (top < -h) & (bottom > -2.4 * h);
    int odd = (int)(b & 1u);
    int go_up = next | (odd & tie_up), go_down = prev | (odd & tie_down);
    double mag = ay;
    mag = go_up ? ay + ulp : mag;
    mag = go_down ? ay - ulp : mag;
    int ok = (mm < INFINITY) & (a >= 0x1p-900) & (a <= 0x1p990) & (ay >= 0x1p-960) & (ay < 0x1p1000) & !pow2 &
             ((below_up & above_down) | tie_up | tie_down | next | prev);
    out[i] = copysign(mag, y);
    bad[i] = !ok;
    failed += !ok;
  }
  return failed;
}
DEFINE_FAST(fast_f32_fma, float, 1, FMA_ERROR)
#undef CLONES
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define HAVE_FMA_PATH 1
#endif

/* The mark of an exact state (scanned blocks, stream finishes). */
static const double zeros[BLK];

/* The vectorized finish of n states; m == NULL: the states are exact. */
static size_t fast_finish(const double *s, const double *c, const double *m, void *out, int f32, double d,
                          int64_t *bad, size_t n) {
#ifdef HAVE_FMA_PATH
  static int fma = -1;
  if (fma < 0) fma = __builtin_cpu_supports("fma") ? 1 : 0;
  if (fma && !f32 && m == NULL) return fast_f64_fma_tight(s, c, (double *)out, bad, d, n);
  if (m == NULL) m = zeros;
  if (fma) return f32 ? fast_f32_fma(s, c, m, (float *)out, bad, d, n) : fast_f64_fma(s, c, m, (double *)out, bad, d, n);
#endif
  if (m == NULL) m = zeros;
  return f32 ? fast_f32(s, c, m, (float *)out, bad, d, n) : fast_f64(s, c, m, (double *)out, bad, d, n);
}

/* Finishes the n states s[0..n) (elements i0..i0+n) into out[i0..], appending uncertified elements to flags. */
static size_t finish_block(const double *s, const double *c, const double *m, void *out, int f32, double d,
                           size_t i0, size_t n, int32_t *flags, size_t count) {
  int64_t bad[BLK];
  size_t failed = f32 ? fast_finish(s, c, m, (float *)out + i0, 1, d, bad, n)
                      : fast_finish(s, c, m, (double *)out + i0, 0, d, bad, n);
  if (failed == 0) return count;
  for (size_t i = 0; i < n; i++) {
    if (!bad[i]) continue;
    double r;
    int ok = (m == NULL || m[i] == 0.0) && finish_one(s[i], c[i], d, f32, &r);
    if (!ok) {
      flags[count++] = (int32_t)(i0 + i);
      continue;
    }
    if (f32) ((float *)out)[i0 + i] = (float)r;
    else ((double *)out)[i0 + i] = r;
  }
  return count;
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
    count = finish_block(s, c, scanned ? NULL : m, out, f32, kd, b, n, flags, count);
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
    count = finish_block(s + b, c + b, NULL, out, f32, d, b, n, flags, count);
  }
  *nflag = count;
  return b < end ? b : end;
}
