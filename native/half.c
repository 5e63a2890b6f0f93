/*
 * float16/bfloat16 in C: exact decoding to float32, rounding of correctly rounded float32 results to half
 * precision with every midpoint resolved from the inputs, and the plain mean of half inputs block by block:
 * half inputs into a half output by the fast path of half-fast.c where float64 sums are exact, every other
 * block (mixed dtypes, float32/float64 outputs, inexact sums) by decoding, the float32 kernel of mean.c
 * and rounding. The same operations, in the same order, as the
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
#include "half-bits.h"
#include "load.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Elements per block: k decoded float32 blocks of 4 KiB (or the fast path's two float64 sums) stay in L1/L2
   cache for the kernel and the rounding. */
#define HB 1024

void mf_decode_half(const uint16_t *src, int bf16, size_t n, float *dest) {
  uint32_t *d = (uint32_t *)dest;
  if (bf16) {
    for (size_t i = 0; i < n; i++) d[i] = (uint32_t)src[i] << 16;
  } else {
    for (size_t i = 0; i < n; i++) d[i] = f16_to_bits(src[i]);
  }
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

/* The sign of mean(x_j[i]) − mid for the plain mean, or 2 when float64 cannot tell it exactly. */
static int tie_side(const mf_input *in, size_t k, size_t i, float mid) {
  double t = load(&in[0], i);
  for (size_t j = 1; j < k; j++) {
    double x = load(&in[j], i);
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
    if (fast && mf_half_fast_block(in, k, b, m, out_dtype, (uint16_t *)out + b, sums, sums + HB) == 0) continue;
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
