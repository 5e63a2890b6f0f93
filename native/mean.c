/*
 * Native mean-fusion kernels (see kernel.h). Pure C, no Node-API: binding.c wraps them.
 *
 * Work goes in blocks of BLK elements whose float64 accumulators stay in L1 cache; each input byte is read
 * from memory once, in place. Runs of up to four consecutive float64 (or float32) inputs are added in one
 * pass over the accumulator (the float32 certificate's scan: runs of up to eight, scan-f32.h), other dtypes
 * one input a pass; either way each element's sum is (((-0 + x_0) + x_1) + …) + x_{k-1}, the order of
 * every other kernel (-0 + x is exactly x).
 *
 * The block functions are vectorized for the CPU at run time (see accumulate.h).
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
#include "accumulate.h"


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

size_t mf_mean_f64(const mf_input *in, size_t k, double *out, size_t start, size_t end) {
  double acc[BLK];
  size_t bad = 0;
  double kd = (double)k;
  for (size_t b = start; b < end; b += BLK) {
    size_t n = end - b < BLK ? end - b : BLK;
    accumulate(PLAIN, in, k, acc, NULL, NULL, b, n);
    bad += finish_f64(acc, out + b, kd, n);
  }
  return bad;
}

/* Writes float32(m) for every element, bad[i] = 1 where the certificate fails; returns how many failed. */
CLONES static size_t finish_f32(const double *restrict acc, const double *restrict mag, float *restrict out,
                                int64_t *restrict bad, double kd, size_t n) {
  size_t count = 0;
  double r = 1.0 / kd;
  for (size_t i = 0; i < n; i++) {
    double s = acc[i];
    double m = s * r;
    out[i] = (float)m;
    int64_t f = !certified(m, mag[i], s);
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
CLONES static size_t finish_exact(const double *restrict acc, float *restrict out, int64_t *restrict bad,
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
    bad[i] = !ok;
    count += !ok;
  }
  return count;
}

/*
 * finish_exact without its per-lane flags: writes the same float32(m) and returns the same count, so only a
 * block with failures needs finish_exact for the flags (it rewrites the same values). With the block's
 * inputs in cache, finish_exact's float tests and int64 flag stores took a third of the kernel's time.
 */
CLONES static size_t finish_exact_count(const double *restrict acc, float *restrict out, double kd, size_t n) {
  uint64_t count = 0;
  double r = 1.0 / kd;
  for (size_t i = 0; i < n; i++) {
    double m = acc[i] * r;
    out[i] = (float)m;
    count += exact_lane_fails(acc[i], m, kd);
  }
  return (size_t)count;
}

/*
 * Finishes the lanes of a block that failed the certificate (bad[i] = 1): with the compensated sum and
 * finish of the WebAssembly kernel, and appends those that need the caller's exact finisher to flags.
 */
static void fix_block(const mf_input *in, size_t k, size_t b, size_t n, size_t failed, double *acc, double *aux,
                      float *res, int64_t *bad, double kd, int32_t *flags, size_t *count) {
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

/* Input bytes of a call from which its blocks finish inside the scan (measured crossover: 8 to 32 MiB). */
#ifndef FUSE_BYTES
#define FUSE_BYTES (8u << 20)
#endif

size_t mf_mean_f32(const mf_input *in, size_t k, float *out, size_t start, size_t end, int32_t *flags,
                   size_t cap, size_t *nflag) {
  double acc[BLK], aux[BLK];
  int64_t bad[BLK];
  size_t count = 0;
  int any_f64 = 0;
  for (size_t j = 0; j < k; j++) any_f64 |= in[j].dtype == MF_F64;
  double kd = (double)k;
  /* Inputs read from memory: the scan's last pass writes the exact block's results as it goes (overwritten
     below if the block turns out not to be exact), so the output's stores stream beside the inputs' loads;
     1.15-1.3x at k = 8 from 32 MiB of input up. Cache-resident inputs (8 MiB and less here): the separate
     pass over the block's sums, 1.1x faster there. Both write the same values. */
  float *fused = (end - start) * k * sizeof(float) > FUSE_BYTES ? out : NULL;
  size_t b = start;
  for (; b < end; b += BLK) {
    size_t n = end - b < BLK ? end - b : BLK;
    if (count + n > cap) break;
    size_t failed = 0;
    uint32_t range[2];
    int finished = 0;
    if (!any_f64) finished = scan_inputs(in, k, acc, range, b, n, fused ? fused + b : NULL, kd, &failed);
    if (!any_f64 && block_exact(in, k, range)) {
      if (!finished) failed = finish_exact_count(acc, out + b, kd, n);
      if (failed > 0) failed = finish_exact(acc, out + b, bad, kd, n);
    } else {
      accumulate(MAG, in, k, acc, aux, NULL, b, n);
      failed = finish_f32(acc, aux, out + b, bad, kd, n);
    }
    if (failed > 0) fix_block(in, k, b, n, failed, acc, aux, out + b, bad, kd, flags, &count);
  }
  *nflag = count;
  return b < end ? b : end;
}
