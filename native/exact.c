/*
 * Exact mode kernels (see exact.h for the method and its references). Pure C, no Node-API: binding.c wraps
 * them. Blocks of BLK elements keep their states in L1 cache; runs of four float64 or float32 inputs are
 * added in one pass, other dtypes one input a pass, always in input order.
 */
#include "exact.h"

#include <math.h>
#include <string.h>

#include "dispatch.h"

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

/* Every input, in order, into the block state of elements [i0, i0 + n). */
static void exact_block(const mf_input *in, size_t k, double *s, double *c, double *m, size_t i0, size_t n) {
  exact_one(&in[0], 1, s, c, m, i0, n);
  size_t j = 1;
  while (j < k) {
    int dt = in[j].dtype;
    if (j + 4 <= k && (dt == MF_F64 || dt == MF_F32) && in[j + 1].dtype == dt && in[j + 2].dtype == dt &&
        in[j + 3].dtype == dt) {
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
  double ay = fabs(y);
  if (!(ay > 0.0 && ay < 0x1p1000)) return 0; /* float32 underflow or overflow */
  double p = y * d;
  double pe = fma(y, d, -p);
  double r = ((hi - p) + lo) - pe;
  double err = (fabs(hi - p) + fabs(lo) + fabs(pe)) * 0x1p-50;
  double up, down;
  if (f32) {
    float fy = (float)ay;
    uint32_t b = bits32(fy);
    up = (double)of_bits32(b + 1u) - ay;
    down = ay - (double)of_bits32(b - 1u);
  } else {
    uint64_t b = bits64(ay);
    up = of_bits64(b + 1u) - ay;
    down = ay - of_bits64(b - 1u);
  }
  /* With y < 0 the spacing above |y| lies below y: mirror the residual. */
  double rr = y < 0.0 ? -r : r;
  double hu = d * up * 0.5;
  double hd = d * down * 0.5;
  *res = y;
  return (rr + err < hu) & (rr - err > -hd);
}

/* Finishes the n states s[0..n) (elements i0..i0+n) into out[i0..], appending uncertified elements to flags. */
static size_t finish_block(const double *s, const double *c, const double *m, void *out, int f32, double d,
                           size_t i0, size_t n, int32_t *flags, size_t count) {
  for (size_t i = 0; i < n; i++) {
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
    exact_block(in, k, s, c, m, b, n);
    count = finish_block(s, c, m, out, f32, kd, b, n, flags, count);
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
