/*
 * The fast path of the native half kernel (half.c): half inputs into a half output, block by block, from
 * float64 sums that are exact, the float32 quotient r = float32(s / k) and the half rounding of r, where a
 * midpoint r is resolved by the side of s − r·k (exact: r has 24 significant bits and k < 2^29).
 *
 * Why rounding r (not the exact mean q) is right: a half midpoint M is a float64 and a float32, and both
 * roundings q → s/k → r are monotonic, so r lies on q's side of M or on M itself, where the exact side test
 * decides. The bits are thus those of the reference (the half nearest q, ties to even) whenever s is exact.
 *
 * Exactness is certified per block from the inputs' exponents (every value is a multiple of the unit of the
 * smallest one and the partial sums stay below k times the largest, so 53 bits hold them), else per element
 * with TwoSum; elements neither certifies go back to half.c's general path.
 */
#include <math.h>

#include "half-bits.h"
#include "half.h"

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
  /* A power-of-two k divides exactly by multiplying with 1/k (a division costs several multiplications). */
  double inv = 1.0 / kd;
  int pow2 = frexp(kd, &(int){0}) == 0.5;
  for (size_t i = 0; i < n; i++) {
    double si = s[i];
    float r = (float)(pow2 ? si * inv : si / kd);
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

/* The TwoSum tier of one block. */
static size_t checked_block(const mf_input *in, size_t k, size_t b, size_t m, int out_dtype, uint16_t *out,
                         double *s, double *err) {
  for (size_t j = 0; j < k; j++) {
    sum_half(s, err, (const uint16_t *)in[j].data + b, in[j].dtype == MF_BF16, j == 0, m);
  }
  double kd = (double)k;
  return out_dtype == MF_BF16 ? finish_bf16(s, err, out, kd, m) : finish_f16(s, err, out, kd, m);
}

/* Exponent bounds of one input's block: every nonzero value is a multiple of 2^*low and below 2^*high in
   magnitude. Returns 0 when the block holds an infinity or a NaN. */
HALF_CLONES static int block_range(const uint16_t *restrict x, int bf16, size_t n, int *low, int *high) {
  uint32_t shift = bf16 ? 7 : 10, top = bf16 ? 0xff : 0x1f;
  uint32_t emin = 0xffff, emax = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t h = x[i] & 0x7fff;
    uint32_t e = h >> shift;
    uint32_t lowest = h == 0 ? 0xffff : (e | (e == 0)); /* subnormals share the smallest normal's unit */
    emin = lowest < emin ? lowest : emin;
    emax = e > emax ? e : emax;
  }
  if (emax >= top) return 0;
  int bias = bf16 ? 127 : 15, frac = bf16 ? 7 : 10;
  *low = emin == 0xffff ? 100000 : (int)emin - bias - frac;
  *high = (int)emax - bias + 1;
  return 1;
}

/* s = x (first) or s += x: exact here, by the certificate. */
HALF_CLONES static void add_half(double *restrict s, const uint16_t *restrict x, int bf16, int first, size_t n) {
  if (first) {
    for (size_t i = 0; i < n; i++) s[i] = half_value(x[i], bf16);
    return;
  }
  for (size_t i = 0; i < n; i++) s[i] = s[i] + half_value(x[i], bf16);
}

size_t mf_half_fast_block(const mf_input *in, size_t k, size_t b, size_t m, int out_dtype, uint16_t *out,
                          double *s, double *err) {
  int low = 100000, high = -100000, certified = 1;
  for (size_t j = 0; j < k && certified; j++) {
    int lo, hi;
    certified = block_range((const uint16_t *)in[j].data + b, in[j].dtype == MF_BF16, m, &lo, &hi);
    low = lo < low ? lo : low;
    high = hi > high ? hi : high;
  }
  int log2k = 0;
  while (((size_t)1 << log2k) < k) log2k++;
  if (!certified || high - low + log2k > 53) return checked_block(in, k, b, m, out_dtype, out, s, err);
  for (size_t j = 0; j < k; j++) {
    add_half(s, (const uint16_t *)in[j].data + b, in[j].dtype == MF_BF16, j == 0, m);
  }
  memset(err, 0, sizeof(double) * m);
  double kd = (double)k;
  return out_dtype == MF_BF16 ? finish_bf16(s, err, out, kd, m) : finish_f16(s, err, out, kd, m);
}
