/*
 * The exact mode's certified finish (see exact.h for the method and its references): the vectorized
 * rounding test per block (with FMA where the CPU has it, Dekker's TwoProduct otherwise), exact ties and
 * one-ulp moves, and the scalar path for near ties (the exact sign of a four-term sum).
 */
#include <math.h>
#include <string.h>

#include "dispatch.h"
#include "exact-internal.h"
#include "exact.h"

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
size_t mf_exact_finish_block(const double *s, const double *c, const double *m, void *out, int f32, double d,
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
