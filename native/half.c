/*
 * float16/bfloat16 in C: exact decoding to float32, rounding of correctly rounded float32 results to half
 * precision with every midpoint resolved from the inputs, and the plain mean of half inputs block by block
 * (decode, the float32 kernel of mean.c, round). The same operations, in the same order, as the
 * JavaScript reference src/kernels/half-range.ts and src/tensor/half.ts, so the bits are the same; what
 * this file cannot decide in float64 it hands back (status 1) and the reference does it.
 *
 * Why a midpoint is decided exactly here: for the plain mean q = Σx/k of inputs whose float64 sum t is
 * exact, q − mid has the sign of t − mid·k, and mid·k is exact in float64 (mid has 24 significant bits,
 * k < 2^29), so comparing t with mid·k is exact.
 *
 * ## References
 * - IEEE Std 754-2019 §3.6 (binary16), §4.3.1 (roundTiesToEven); bfloat16 as the high half of binary32.
 */
#include "half.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Elements per block: k decoded float32 blocks of 4 KiB (or the fast path's two float64 sums) stay in L1/L2
   cache for the kernel and the rounding. */
#define HB 1024

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

void mf_decode_half(const uint16_t *src, int bf16, size_t n, float *dest) {
  uint32_t *d = (uint32_t *)dest;
  if (bf16) {
    for (size_t i = 0; i < n; i++) d[i] = (uint32_t)src[i] << 16;
  } else {
    for (size_t i = 0; i < n; i++) d[i] = f16_to_bits(src[i]);
  }
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

size_t mf_round_half(const float *r, uint16_t *out, int bf16, size_t n, int32_t *ties) {
  const uint32_t *u = (const uint32_t *)r;
  size_t count = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t x = u[i];
    uint32_t rest = x & 0xffff;
    if (bf16 && rest != 0x8000 && (x & 0x7fffffff) <= 0x7f800000) {
      out[i] = (uint16_t)((x >> 16) + (rest > 0x8000));
      continue;
    }
    uint32_t trunc = 0;
    int32_t h = round_bits(x, bf16, &trunc);
    if (h >= 0) {
      out[i] = (uint16_t)h;
    } else {
      out[i] = (uint16_t)trunc;
      ties[count++] = (int32_t)i;
    }
  }
  return count;
}

static const size_t ITEM[] = {8, 4, 1, 1, 2, 2, 4, 4, 2, 2};

/* Element i of an input the float kernel reads, as a double (exact). */
static double value_at(const mf_input *x, size_t i) {
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

/* The sign of mean(x_j[i]) − mid for the plain mean, or 2 when float64 cannot tell it exactly. */
static int tie_side(const mf_input *in, size_t k, size_t i, float mid) {
  double t = value_at(&in[0], i);
  for (size_t j = 1; j < k; j++) {
    double x = value_at(&in[j], i);
    double u = t + x;
    double z = u - t;
    if (t - (u - z) + (x - z) != 0) return 2;
    t = u;
  }
  double p = (double)mid * (double)k;
  if (!isfinite(t) || k >= ((size_t)1 << 29) || fabs(p) < 0x1p-969) return 2;
  return (t > p) - (t < p);
}

/* Resolves the ties of one rounded block: side 0 to even, else away from or toward zero. */
static int resolve_ties(const mf_input *in, size_t k, const float *r, uint16_t *out, const int32_t *ties,
                        size_t n) {
  for (size_t f = 0; f < n; f++) {
    size_t i = (size_t)ties[f];
    int side = tie_side(in, k, i, r[i]);
    if (side == 2) return 1;
    uint16_t t = out[i];
    int negative = (t & 0x8000) != 0;
    int away = side == 0 ? (t & 1) != 0 : side > 0 ? !negative : negative;
    out[i] = (uint16_t)(t + (away ? 1 : 0));
  }
  return 0;
}

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define HALF_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HALF_CLONES
#endif

static inline double half_value(uint16_t h, int bf16) {
  return (double)float_of(bf16 ? (uint32_t)h << 16 : f16_to_bits(h));
}

/* The fast path's sums: s = x (first) or s += x, with the TwoSum error's magnitude added into err (so err
   stays 0 exactly while every sum is exact, and turns NaN or nonzero otherwise). */
HALF_CLONES static void sum_half(double *restrict s, double *restrict err, const uint16_t *restrict x, int bf16,
                                 int first, size_t n) {
  if (first) {
    for (size_t i = 0; i < n; i++) {
      s[i] = half_value(x[i], bf16);
      err[i] = 0;
    }
    return;
  }
  for (size_t i = 0; i < n; i++) {
    double v = half_value(x[i], bf16);
    double t = s[i];
    double u = t + v;
    double z = u - t;
    err[i] = err[i] + fabs((t - (u - z)) + (v - z));
    s[i] = u;
  }
}

/* bfloat16 results of exact finite sums s (err 0): r = float32(s / k), cut to bfloat16 and rounded up when
   the cut-off bits are above half, or exactly half and the exact mean is above r's magnitude (or on it with
   an odd cut). r·k is exact (24 + 29 bits), so the side is that of s − r·k. Returns how many elements are
   not served (err not 0, s not finite): the caller redoes their block. */
HALF_CLONES static size_t finish_bf16(const double *restrict s, const double *restrict err, uint16_t *restrict out,
                                      double kd, size_t n) {
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    double si = s[i];
    float r = (float)(si / kd);
    uint32_t u = bits_of(r);
    double p = (double)r * kd;
    uint32_t above = si > p, below = si < p;
    uint32_t neg = u >> 31, cut = u >> 16, rest = u & 0xffff;
    /* Branch-free (so it vectorizes): off the midpoint toward the exact side; on it, to even. */
    uint32_t away = ((above ^ neg) & (above | below)) | (cut & 1 & ~(above | below));
    uint32_t up = (rest > 0x8000) | ((rest == 0x8000) & away);
    out[i] = (uint16_t)(cut + up);
    bad += (err[i] != 0) | !(fabs(si) <= 1.7976931348623157e308);
  }
  return bad;
}

/* float16 results of exact finite sums, as finish_bf16 (the cut through round_bits). */
static size_t finish_f16(const double *s, const double *err, uint16_t *out, double kd, size_t n) {
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    if (err[i] != 0 || !(fabs(s[i]) <= 1.7976931348623157e308)) {
      bad++;
      continue;
    }
    float r = (float)(s[i] / kd);
    uint32_t cut = 0;
    int32_t h = round_bits(bits_of(r), 0, &cut);
    if (h < 0) {
      double p = (double)r * kd;
      int side = (s[i] > p) - (s[i] < p);
      int negative = (cut & 0x8000) != 0;
      int away = side == 0 ? (cut & 1) != 0 : side > 0 ? !negative : negative;
      h = (int32_t)(cut + (away ? 1 : 0));
    }
    out[i] = (uint16_t)h;
  }
  return bad;
}

/* The fast path of one block (every input and the output half, k < 2^29): 0 when it served every element. */
static size_t fast_block(const mf_input *in, size_t k, size_t b, size_t m, int out_dtype, uint16_t *out,
                         double *s, double *err) {
  for (size_t j = 0; j < k; j++) {
    sum_half(s, err, (const uint16_t *)in[j].data + b, in[j].dtype == MF_BF16, j == 0, m);
  }
  double kd = (double)k;
  return out_dtype == MF_BF16 ? finish_bf16(s, err, out, kd, m) : finish_f16(s, err, out, kd, m);
}

int mf_mean_half(const mf_input *in, size_t k, void *out, int out_dtype, size_t count) {
  float *scratch = malloc(sizeof(float) * (k + 1) * HB);
  mf_input *blk = malloc(sizeof(mf_input) * k);
  int32_t *flags = malloc(sizeof(int32_t) * HB);
  double *sums = malloc(sizeof(double) * 2 * HB);
  int status = 0;
  if (!scratch || !blk || !flags || !sums) {
    status = -2;
    goto done;
  }
  int fast = (out_dtype == MF_F16 || out_dtype == MF_BF16) && k < ((size_t)1 << 29);
  for (size_t j = 0; j < k; j++) fast &= in[j].dtype == MF_F16 || in[j].dtype == MF_BF16;
  float *res = scratch + k * HB;
  for (size_t b = 0; b < count && status == 0; b += HB) {
    size_t m = count - b < HB ? count - b : HB;
    /* Exact finite sums (the common case: half values have few bits) go straight to the half result. */
    if (fast && fast_block(in, k, b, m, out_dtype, (uint16_t *)out + b, sums, sums + HB) == 0) continue;
    for (size_t j = 0; j < k; j++) {
      int dt = in[j].dtype;
      const char *at = (const char *)in[j].data + b * ITEM[dt];
      if (dt == MF_F16 || dt == MF_BF16) {
        mf_decode_half((const uint16_t *)at, dt == MF_BF16, m, scratch + j * HB);
        blk[j].data = scratch + j * HB;
        blk[j].dtype = MF_F32;
      } else {
        blk[j].data = at;
        blk[j].dtype = dt;
      }
    }
    if (out_dtype == MF_F64) {
      if (mf_mean_f64(blk, k, (double *)out + b, 0, m) != 0) status = 1;
      continue;
    }
    float *r = out_dtype == MF_F32 ? (float *)out + b : res;
    size_t nflag = 0;
    if (mf_mean_f32(blk, k, r, 0, m, flags, HB, &nflag) != m || nflag != 0) {
      status = 1;
      continue;
    }
    if (out_dtype == MF_F32) continue;
    uint16_t *o = (uint16_t *)out + b;
    size_t nties = mf_round_half(r, o, out_dtype == MF_BF16, m, flags);
    if (nties > 0) status = resolve_ties(blk, k, r, o, flags, nties);
  }
done:
  free(scratch);
  free(blk);
  free(flags);
  free(sums);
  return status;
}
