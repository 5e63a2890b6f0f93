/*
 * The finishes of the native kernels (included by accumulate.h): the float64 quotient of a block, and the
 * WebAssembly kernel's compensated float32 finish (fin_f32) per lane and per block, with the compensated
 * sum of one element that feeds it.
 */
#ifndef MEAN_FUSION_FINISH_H
#define MEAN_FUSION_FINISH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "block-add.h"
#include "dispatch.h"
#include "kernel.h"
#include "load.h"

__attribute__((unused)) CLONES static size_t finish_f64(const double *restrict acc, double *restrict out,
                                                        double kd, size_t n) {
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    double q = acc[i] / kd;
    out[i] = q;
    bad += (q - q) != (q - q); /* NaN exactly when q is infinite or NaN */
  }
  return bad;
}

/*
 * kernel.wat's fin_f32 for one lane: q = (c == 0 ? s : s + c) / k rounded to float32. Returns 0 (and writes
 * *out) unless the lane needs the caller's exact finisher, exactly when fin_f32 flags it: s or q not
 * finite, q subnormal in float32, or q within 64 float64 ulps of a float32 midpoint without being an exact
 * tie (c = 0 and q k = s).
 */
static inline int finish_lane(double s, double c, double kd, float *out) {
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

/*
 * The compensated finish of the WebAssembly kernel for one element (kernel.wat's addm2 + fin_f32): Knuth's
 * TwoSum over the inputs in order, then finish_lane.
 */
static inline int compensated(const mf_input *in, size_t k, size_t i, double kd, float *out) {
  double s = -0.0, c = 0.0;
  for (size_t j = 0; j < k; j++) {
    double v = load(&in[j], i);
    TWO_SUM(s, c, v);
  }
  return finish_lane(s, c, kd, out);
}

/*
 * fin_f32 of kernel.wat over a block, without its divisions: writes float32(q) and returns 0 when no lane
 * needs the exact finisher; otherwise the caller runs finish_lane on every lane of the block, which decides
 * exactly as fin_f32. With r = RN(1/k), p = RN(base r) lies within 3.1 float64 ulps of q = RN(base / k)
 * (three roundings of relative error at most 2^-53), so a lane whose p is more than 72 ulps from a float32
 * midpoint, at least 2^-125 in magnitude (or base = 0) and finite has float32(p) = float32(q) and is not
 * flagged by fin_f32 either; any other lane counts here. A division costs several multiplications.
 */
__attribute__((unused)) CLONES static size_t finish_comp(const double *restrict acc, const double *restrict cmp,
                                                         float *restrict out, double kd, size_t n) {
  double r = 1.0 / kd;
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    double s = acc[i], c = cmp[i];
    double sc = s + c;
    double base = c == 0.0 ? s : sc;
    double p = base * r;
    out[i] = (float)p;
    uint64_t bits;
    memcpy(&bits, &p, sizeof bits);
    int64_t low = (int64_t)(bits & 0x1fffffff) - 0x10000000;
    int64_t sign = low >> 63;
    int64_t dist = (low ^ sign) - sign;
    int near = dist <= 72;
    int tiny = (fabs(p) < 0x1p-125) & (base != 0.0);
    bad += ((s - s) != (s - s)) | ((p - p) != (p - p)) | tiny | near;
  }
  return bad;
}

#endif
