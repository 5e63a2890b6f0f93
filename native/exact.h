/*
 * The exact mode's per-element math (`exact: true`): an error-free running state and a certified finish.
 *
 * State: per element a pair (s, c) whose exact sum is the exact sum of the inputs so far, kept by two
 * TwoSum steps per input: (s, e) = TwoSum(s, x) is exact (Knuth), and (c, e2) = TwoSum(c, e) is exact when
 * e2 = 0. A block whose inputs' magnitudes are close (see scan_certifies in exact.c) needs only c += e; a
 * wider block keeps the mark m = Σ|e2| per element (a float64 bound on what the pair lost: a sum of
 * non-negative terms, zero exactly when every term is, NaN for ±inf, NaN or overflow), which the finish
 * takes as an error bound (no tie can then be certified).
 *
 * Finish: N = s + c renormalised by TwoSum to hi + lo (exact), candidate y = fl(hi / D) rounded to the
 * output format, and the exact residual R = N - y·D = (hi - p) + lo - pe (p + pe = y·D by TwoProduct, hi - p
 * exact by Sterbenz's lemma). y is the correctly rounded N / D exactly when R / D lies strictly between
 * minus half the spacing below y and half the spacing above y; R is evaluated with two roundings, bounded
 * by 2^-50 (|hi - p| + |lo| + |pe|) (four times the worst case), and anything closer (ties included), beyond
 * the ranges where those steps are exact, or not finite is left to the caller.
 *
 * ## References
 * - D. E. Knuth, *The Art of Computer Programming* vol. 2, §4.2.2 (TwoSum); T. J. Dekker, 1971 (TwoProduct).
 * - T. Ogita, S. M. Rump, S. Oishi, "Accurate sum and dot product", SIAM J. Sci. Comput. 26(6), 2005
 *   (error-free transformations, cascaded summation).
 * - P. H. Sterbenz, *Floating-Point Computation*, 1974 (exact subtraction of nearby values).
 */
#ifndef MEAN_FUSION_EXACT_H
#define MEAN_FUSION_EXACT_H

#include <stddef.h>
#include <stdint.h>

#include "kernel.h"

/**
 * The correctly rounded plain mean of k inputs over [start, end) (exact mode): writes out[i] (double* or,
 * when f32, float*) for every certified element and appends the others' indices to flags (the caller
 * computes those exactly). Stops before a block whose flags might not fit in cap; returns the index it
 * stopped at (end when done) and sets *nflag.
 */
size_t mf_mean_exact(const mf_input *in, size_t k, void *out, int f32, size_t start, size_t end, int32_t *flags,
                     size_t cap, size_t *nflag);

/**
 * One input into an exact running state (s, c) over [start, end): s = x, c = 0 when first, else the two
 * TwoSum steps. Elements whose step is not error-free are left unchanged and their indices appended to flags
 * (the caller adds x to its exact accumulator). Stops before a block whose flags might not fit in cap.
 */
size_t mf_acc_exact(const mf_input *x, double *s, double *c, size_t start, size_t end, int first, int32_t *flags,
                    size_t cap, size_t *nflag);

/**
 * The certified finish of exact running states with divisor d > 0 (for example k): out[i] for every
 * certified element, the others' indices appended to flags.
 */
size_t mf_finish_exact(const double *s, const double *c, void *out, int f32, double d, size_t start, size_t end,
                       int32_t *flags, size_t cap, size_t *nflag);

#endif
