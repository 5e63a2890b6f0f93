/*
 * The sliding window of `windowMean` in native code (see kernel.h): one push advances the running and the
 * fresh compensated sums and tracks, per element, the largest |s| since their start and whether c was ever
 * nonzero; the trust test finds the elements whose compensation may carry more error than a float64 ulp of
 * the sum (src/operators/internal/window-accumulator.ts states the bound and recomputes those elements).
 * The same steps as the JavaScript loops there, element by element, so the bits agree.
 */
#include "accumulate.h"

/* peak = max(peak, |s|) as `if (|s| > peak) peak = |s|` (a NaN never replaces it); inexact |= c != 0. */
CLONES static void track(const double *restrict s, const double *restrict c, double *restrict peak,
                         uint8_t *restrict inexact, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double a = fabs(s[i]);
    peak[i] = a > peak[i] ? a : peak[i];
    inexact[i] |= (uint8_t)(c[i] != 0.0);
  }
}

void mf_window_push(const mf_input *x, const mf_input *old, double *s, double *c, double *fs, double *fc,
                    double *peak, double *fpeak, uint8_t *inexact, uint8_t *finexact, size_t n) {
  for (size_t b = 0; b < n; b += BLK) {
    size_t m = n - b < BLK ? n - b : BLK;
    add_one(COMP, s + b, c + b, x, b, m);
    add_one(COMP, fs + b, fc + b, x, b, m);
    if (old) add_one(COMP_NEG, s + b, c + b, old, b, m);
    track(s + b, c + b, peak + b, inexact + b, m);
    track(fs + b, fc + b, fpeak + b, finexact + b, m);
  }
}

/*
 * Whether lane i is untrusted: marked inexact and its bound above 2^-52 |s + c| (a NaN sum is untrusted, as
 * the comparison fails).
 */
static inline int untrusted(const double *s, const double *c, const double *peak, const uint8_t *inexact,
                            double bound, size_t i) {
  return inexact[i] && !(bound * peak[i] <= 0x1p-52 * fabs(s[i] + c[i]));
}

/* How many lanes of a block are untrusted (vectorized; the caller lists them only when some are). */
CLONES static size_t count_untrusted(const double *restrict s, const double *restrict c,
                                     const double *restrict peak, const uint8_t *restrict inexact,
                                     double bound, size_t n) {
  int64_t count = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t marked = inexact[i] != 0;
    int64_t within = bound * peak[i] <= 0x1p-52 * fabs(s[i] + c[i]);
    count += marked & (within ^ 1);
  }
  return (size_t)count;
}

size_t mf_window_untrusted(const double *s, const double *c, const double *peak, const uint8_t *inexact,
                           double size, size_t start, size_t end, int32_t *flags, size_t cap, size_t *count) {
  double steps = 3.0 * size;
  double bound = 2.0 * steps * steps * 0x1p-106;
  size_t found = 0;
  size_t b = start;
  for (; b < end; b += BLK) {
    size_t n = end - b < BLK ? end - b : BLK;
    if (found + n > cap) break;
    if (count_untrusted(s + b, c + b, peak + b, inexact + b, bound, n) == 0) continue;
    for (size_t i = b; i < b + n; i++) {
      if (untrusted(s, c, peak, inexact, bound, i)) flags[found++] = (int32_t)i;
    }
  }
  *count = found;
  return b < end ? b : end;
}
