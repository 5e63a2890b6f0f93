/*
 * Native mean-fusion kernels (see kernel.h). Pure C, no Node-API: binding.c wraps them.
 *
 * Work goes in blocks of BLK elements whose float64 accumulators stay in L1 cache; each input byte is read
 * from memory once, in place. Runs of up to four consecutive float64 (or float32) inputs are added in one
 * pass over the accumulator, other dtypes one input a pass; either way each element's sum is
 * (((-0 + x_0) + x_1) + …) + x_{k-1}, the order of every other kernel (-0 + x is exactly x).
 *
 * Runtime CPU dispatch: on x86-64 Linux with GCC or clang the block functions are compiled for AVX-512,
 * AVX2 and the SSE2 baseline (target_clones) and the loader picks the widest the CPU has. Every variant
 * performs the same IEEE-754 operations per element, so the bits do not depend on the CPU.
 *
 * ## The float32 certificate
 * With s the float64 sequential sum of k terms and A the float64 sum of their magnitudes, the exact sum S
 * satisfies |S - s| <= gamma_{k-1} * sum|x_i| <= (k-1) u A / (1 - (k-1)u)^2 with u = 2^-53 (Higham,
 * *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §4.2), and m = fl(s / k) adds at most u|m|.
 * So the exact mean M lies within T = u (A + 2|m|) (1 + 1e-7) of m = fl(s fl(1/k)) for any k < 2^40 (the
 * product by the rounded reciprocal adds at most 2u|m|). Rounding m to float32 gives the float32 nearest M
 * whenever no float32 rounding midpoint lies within T of m (see `certified`). When the block's sums are
 * provably exact (`block_exact`), A drops out: only the division's rounding remains, and an m exactly on a
 * midpoint with m k = s is an exact tie, which the conversion to float32 rounds to even. Elements that fail (near
 * a midpoint, heavy cancellation, subnormal or beyond float32's range, not finite) are recomputed with the
 * WebAssembly kernel's compensated sum and finish (`compensated` below), which flags the few that need the
 * caller's exact finisher. Exact ties are common with float32 inputs (a float64 sum of float32 values is
 * often exact, and its quotient by k lands on a midpoint in a few per cent of elements); the compensated
 * pass proves them (c = 0, q·k = s) and rounds them to even.
 */
#include "kernel.h"

#include <math.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#define BLK 1024
/* Outputs of at least this many bytes per call are written with non-temporal stores (see store_out). */
#define STREAM_MIN_BYTES (1u << 20)

#if defined(__x86_64__) || defined(_M_X64)
#include <emmintrin.h>
#define HAVE_STREAM 1
#endif

/*
 * Copies a finished block to the output. Large outputs are written with non-temporal (streaming) stores:
 * they bypass the caches, so the output's lines are not first read from memory (a third of the traffic
 * of a k = 2 job) and do not evict the inputs. Small ones use ordinary stores, so a result read right after
 * (a stream operator's) stays in cache. Only the stores differ: the bits are the same.
 */
static void store_out(void *dst, const void *src, size_t bytes, int stream) {
#ifdef HAVE_STREAM
  if (stream) {
    char *d = (char *)dst;
    const char *s = (const char *)src;
    size_t head = (16 - ((uintptr_t)d & 15)) & 15;
    if (head > bytes) head = bytes;
    memcpy(d, s, head);
    d += head;
    s += head;
    bytes -= head;
    for (; bytes >= 16; bytes -= 16, d += 16, s += 16) {
      _mm_stream_si128((__m128i *)d, _mm_loadu_si128((const __m128i *)s));
    }
    memcpy(d, s, bytes);
    return;
  }
#else
  (void)stream;
#endif
  memcpy(dst, src, bytes);
}

/* Orders streaming stores before the caller (another thread, or JavaScript) reads the output. */
static void store_fence(int stream) {
#ifdef HAVE_STREAM
  if (stream) _mm_sfence();
#else
  (void)stream;
#endif
}

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

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

/*
 * Plain sums of float32 inputs that also track the smallest nonzero and the largest magnitude seen, as bit
 * patterns (magnitudes of non-negative floats order like their bit patterns; subtracting one wraps zero to
 * the largest unsigned), for the exactness test of block_exact.
 */
#define SCAN(x)                          \
  do {                                   \
    uint32_t m_ = (x) & 0x7fffffffu;     \
    uint32_t l_ = m_ - 1u;               \
    lo = l_ < lo ? l_ : lo;              \
    hi = m_ > hi ? m_ : hi;              \
  } while (0)

CLONES static void add_f32_1s(double *restrict acc, const float *restrict a, size_t n, uint32_t *range) {
  const uint32_t *restrict ab = (const uint32_t *)a;
  uint32_t lo = range[0], hi = range[1];
  for (size_t i = 0; i < n; i++) {
    acc[i] = acc[i] + (double)a[i];
    SCAN(ab[i]);
  }
  range[0] = lo;
  range[1] = hi;
}

CLONES static void add_f32_4s(double *restrict acc, const float *restrict a, const float *restrict b,
                              const float *restrict c, const float *restrict d, size_t n, uint32_t *range) {
  const uint32_t *restrict ab = (const uint32_t *)a, *restrict bb = (const uint32_t *)b;
  const uint32_t *restrict cb = (const uint32_t *)c, *restrict db = (const uint32_t *)d;
  uint32_t lo = range[0], hi = range[1];
  for (size_t i = 0; i < n; i++) {
    acc[i] = (((acc[i] + (double)a[i]) + (double)b[i]) + (double)c[i]) + (double)d[i];
    SCAN(ab[i]);
    SCAN(bb[i]);
    SCAN(cb[i]);
    SCAN(db[i]);
  }
  range[0] = lo;
  range[1] = hi;
}
#undef SCAN

static double f32_of_bits(uint32_t bits) {
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
static int block_exact(const mf_input *in, size_t k, const uint32_t *range) {
  double u = 1.0, bound = 0.0;
  uint32_t lo = range[0] + 1u;
  if (lo != 0x80000000u) { /* some nonzero float32 */
    u = lo < 0x00800000u ? 0x1p-149 : f32_of_bits(lo) * 0x1p-24;
  }
  double hi = f32_of_bits(range[1]);
  for (size_t j = 0; j < k; j++) {
    switch (in[j].dtype) {
      case MF_F32: bound += hi; break;
      case MF_I32: case MF_U32: bound += 0x1p32; break;
      default: bound += 0x1p16; break;
    }
  }
  return bound < 0x1p53 * u;
}

enum mode { PLAIN, SCAN, MAG, COMP };

/* Adds one input's elements [i0, i0 + n) into acc (and |x| into aux for MAG, or TwoSum into aux for COMP). */
static void add_one(enum mode mode, double *acc, double *aux, uint32_t *range, const mf_input *x, size_t i0,
                    size_t n) {
  if (mode == SCAN && x->dtype == MF_F32) {
    add_f32_1s(acc, (const float *)x->data + i0, n, range);
    return;
  }
#define ONE(NAME, T)                                                          \
  if (mode == MAG) NAME##_1m(acc, aux, (const T *)x->data + i0, n);          \
  else if (mode == COMP) NAME##_1c(acc, aux, (const T *)x->data + i0, n);    \
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
    if (mode == SCAN && sizeof(T) == 4) add_f32_4s(acc, (const float *)a, (const float *)b,        \
                                 (const float *)c, (const float *)d, n, range);                 \
    else if (mode == MAG) NAME##_4m(acc, aux, a, b, c, d, n);                                   \
    else if (mode == COMP) NAME##_4c(acc, aux, a, b, c, d, n);                                  \
    else NAME##_4(acc, a, b, c, d, n);                                                          \
  } while (0)

/*
 * Accumulates every input over elements [i0, i0 + n), in input order, into acc (from -0) and aux (from 0):
 * the plain sum (PLAIN), the plain sum and the range of float32 magnitudes (SCAN: no float64 inputs, range
 * as in block_exact), the sum and Σ|x| (MAG), or the TwoSum-compensated sum (COMP).
 */
static void accumulate(enum mode mode, const mf_input *in, size_t k, double *acc, double *aux, uint32_t *range,
                       size_t i0, size_t n) {
  for (size_t i = 0; i < n; i++) acc[i] = -0.0;
  if (mode == SCAN) {
    range[0] = 0xffffffffu;
    range[1] = 0;
  }
  if (mode == MAG || mode == COMP)
    for (size_t i = 0; i < n; i++) aux[i] = 0.0;
  const mf_input *end = in + k;
  while (in < end) {
    int t = in[0].dtype;
    if (end - in >= 4 && (t == MF_F64 || t == MF_F32) && in[1].dtype == t && in[2].dtype == t &&
        in[3].dtype == t) {
      if (t == MF_F64) FOUR(add_f64, double);
      else FOUR(add_f32, float);
      in += 4;
    } else {
      add_one(mode, acc, aux, range, in, i0, n);
      in += 1;
    }
  }
}
#undef FOUR

/*
 * The certificate of the top comment: rounding m = fl(s fl(1/k)) (within 2u|m| of s / k: two roundings)
 * to float32 gives the float32 nearest the exact mean, given mag = Σ|x|.
 * f = float32(m); r = m - f is exact; the midpoint on m's side of f is half an ulp of f away (2^(e-24) for
 * 2^e <= |f| < 2^(e+1); half that below |f| = 2^e), so that half ulp minus |r| is m's distance to it.
 */
static inline int certified(double m, double mag, double s) {
  double am = fabs(m);
  double f = (double)(float)m;
  double af = fabs(f);
  uint64_t fb;
  memcpy(&fb, &af, sizeof fb);
  fb &= 0x7ff0000000000000u; /* 2^e */
  double p2;
  memcpy(&p2, &fb, sizeof p2);
  double half = (af == p2) & (am < af) ? p2 * 0x1p-25 : p2 * 0x1p-24;
  double room = half - fabs(m - f);
  int normal = (am >= 0x1p-126) & (am < 0x1p128);
  /* s == 0 with mag == 0: every input a signed zero, an exact sum. NaN fails every comparison. */
  return ((s == 0.0) & (mag == 0.0)) | (normal & (room > (mag + 2.0 * am) * (0x1p-53 * 1.0000001)));
}

CLONES static size_t finish_f64(const double *restrict acc, double *restrict out, double kd, size_t n) {
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    double q = acc[i] / kd;
    out[i] = q;
    bad += (q - q) != (q - q); /* NaN exactly when q is infinite or NaN */
  }
  return bad;
}

size_t mf_mean_f64(const mf_input *in, size_t k, double *out, size_t start, size_t end) {
  double acc[BLK], res[BLK];
  size_t bad = 0;
  double kd = (double)k;
  int stream = (end - start) * sizeof(double) >= STREAM_MIN_BYTES;
  for (size_t b = start; b < end; b += BLK) {
    size_t n = end - b < BLK ? end - b : BLK;
    accumulate(PLAIN, in, k, acc, NULL, NULL, b, n);
    bad += finish_f64(acc, res, kd, n);
    store_out(out + b, res, n * sizeof(double), stream);
  }
  store_fence(stream);
  return bad;
}

/* Writes float32(m) for every element, bad[i] = 1 where the certificate fails; returns how many failed. */
CLONES static size_t finish_f32(const double *restrict acc, const double *restrict mag, float *restrict out,
                                uint8_t *restrict bad, double kd, size_t n) {
  size_t count = 0;
  double r = 1.0 / kd;
  for (size_t i = 0; i < n; i++) {
    double s = acc[i];
    double m = s * r;
    out[i] = (float)m;
    uint8_t f = !certified(m, mag[i], s);
    bad[i] = f;
    count += f;
  }
  return count;
}

/*
 * finish_f32 for a block whose sums are exact (block_exact): m = fl(s fl(1/k)) is within 2u|m| of the exact
 * mean, so rounding it is right unless m's 29 bits below float32 precision, L, lie within 2 of a midpoint's
 * 2^28 (neighbouring cells' midpoints are 2^27 or more ulps away); an exact tie (L = 2^28, m k = s, exact
 * since m then has 25 significant bits and k < 2^28) rounds to even as the conversion does.
 */
CLONES static size_t finish_exact(const double *restrict acc, float *restrict out, uint8_t *restrict bad,
                                  double kd, size_t n) {
  size_t count = 0;
  double r = 1.0 / kd;
  for (size_t i = 0; i < n; i++) {
    double s = acc[i];
    double m = s * r;
    out[i] = (float)m;
    int64_t bits;
    memcpy(&bits, &m, sizeof bits);
    int64_t d = (bits & 0x1fffffff) - (0x10000000 - 2);
    double am = fabs(m);
    int far = (d < 0) | (d > 4);
    int tie = (d == 2) & (m * kd == s);
    int ok = (s == 0.0) | ((am >= 0x1p-126) & (am < 0x1p128) & (far | tie));
    bad[i] = (uint8_t)!ok;
    count += !ok;
  }
  return count;
}

/* Element i of input x as float64. */
static inline double load(const mf_input *x, size_t i) {
  switch (x->dtype) {
    case MF_F64: return ((const double *)x->data)[i];
    case MF_F32: return ((const float *)x->data)[i];
    case MF_I8: return ((const int8_t *)x->data)[i];
    case MF_U8: return ((const uint8_t *)x->data)[i];
    case MF_I16: return ((const int16_t *)x->data)[i];
    case MF_U16: return ((const uint16_t *)x->data)[i];
    case MF_I32: return ((const int32_t *)x->data)[i];
    default: return ((const uint32_t *)x->data)[i];
  }
}

/*
 * The compensated finish of the WebAssembly kernel for one element (kernel.wat's addm2/fin_f32): Knuth's
 * TwoSum over the inputs in order, q = (c == 0 ? s : s + c) / k rounded to float32. Returns 0 (and writes
 * *out) unless the element needs the exact finisher of the caller, exactly when fin_f32 would flag it: s
 * or q not finite, q subnormal in float32, or q within 64 float64 ulps of a float32 midpoint without being
 * an exact tie.
 */
static int compensated(const mf_input *in, size_t k, size_t i, double kd, float *out) {
  double s = -0.0, c = 0.0;
  for (size_t j = 0; j < k; j++) {
    double v = load(&in[j], i);
    double t = s + v;
    double z = t - s;
    c = c + ((s - (t - z)) + (v - z));
    s = t;
  }
  double q = (c == 0.0 ? s : s + c) / kd;
  if ((s - s) != (s - s) || (q - q) != (q - q)) return 1;
  if (fabs(q) < 0x1p-126 && q != 0.0) return 1;
  uint64_t bits;
  memcpy(&bits, &q, sizeof bits);
  int64_t low = (int64_t)(bits & 0x1fffffff) - 0x10000000;
  if ((low < 0 ? -low : low) <= 64 && !(low == 0 && c == 0.0 && q * kd == s)) return 1;
  *out = (float)q;
  return 0;
}


/* fin_f32 of kernel.wat over a block: writes float32(q) and returns how many lanes need the exact finisher. */
CLONES static size_t finish_comp(const double *restrict acc, const double *restrict cmp, float *restrict out,
                                 double kd, size_t n) {
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    double s = acc[i], c = cmp[i];
    double sc = s + c;
    double q = (c == 0.0 ? s : sc) / kd;
    out[i] = (float)q;
    uint64_t bits;
    memcpy(&bits, &q, sizeof bits);
    int64_t low = (int64_t)(bits & 0x1fffffff) - 0x10000000;
    int64_t sign = low >> 63;
    int64_t dist = (low ^ sign) - sign;
    int tie = (low == 0) & (c == 0.0) & (q * kd == s);
    int near = (dist <= 64) & !tie;
    int sub = (fabs(q) < 0x1p-126) & (q != 0.0);
    bad += ((s - s) != (s - s)) | ((q - q) != (q - q)) | sub | near;
  }
  return bad;
}


/*
 * Finishes the lanes of a block that failed the certificate (bad[i] = 1): with the compensated sum and
 * finish of the WebAssembly kernel, and appends those that need the caller's exact finisher to flags.
 */
static void fix_block(const mf_input *in, size_t k, size_t b, size_t n, size_t failed, double *acc, double *aux,
                      float *res, uint8_t *bad, double kd, int32_t *flags, size_t *count) {
  if (failed > n / 16) {
    /* Many uncertified lanes: one vectorized compensated pass over the block, whose inputs are still in
       cache, beats lane by lane. */
    accumulate(COMP, in, k, acc, aux, NULL, b, n);
    if (finish_comp(acc, aux, res, kd, n) == 0) return;
    for (size_t i = 0; i < n; i++) bad[i] = 1;
  }
  for (size_t i = 0; i < n; i++) {
    if (bad[i] && compensated(in, k, b + i, kd, res + i)) flags[(*count)++] = (int32_t)(b + i);
  }
}

size_t mf_mean_f32(const mf_input *in, size_t k, float *out, size_t start, size_t end, int32_t *flags,
                   size_t cap, size_t *nflag) {
  double acc[BLK], aux[BLK];
  float res[BLK];
  uint8_t bad[BLK];
  size_t count = 0;
  int stream = (end - start) * sizeof(float) >= STREAM_MIN_BYTES;
  int any_f64 = 0;
  for (size_t j = 0; j < k; j++) any_f64 |= in[j].dtype == MF_F64;
  double kd = (double)k;
  size_t b = start;
  for (; b < end; b += BLK) {
    size_t n = end - b < BLK ? end - b : BLK;
    if (count + n > cap) break;
    size_t failed;
    uint32_t range[2];
    if (!any_f64) accumulate(SCAN, in, k, acc, NULL, range, b, n);
    if (!any_f64 && block_exact(in, k, range)) {
      failed = finish_exact(acc, res, bad, kd, n);
    } else {
      accumulate(MAG, in, k, acc, aux, NULL, b, n);
      failed = finish_f32(acc, aux, res, bad, kd, n);
    }
    if (failed > 0) fix_block(in, k, b, n, failed, acc, aux, res, bad, kd, flags, &count);
    store_out(out + b, res, n * sizeof(float), stream);
  }
  store_fence(stream);
  *nflag = count;
  return b < end ? b : end;
}

