/*
 * Native mean-fusion kernels: the plain (unweighted, NaN-propagating) mean of k inputs over an element
 * range, reading the inputs where they are (any memory a typed array views) and writing the output in place.
 *
 * Per element the inputs are added in input order in float64, exactly the IEEE-754 operations of the
 * JavaScript scalar kernel (src/kernels/scalar.ts) and the WebAssembly kernel (src/kernels/wasm/kernel.wat),
 * so every kernel gives the same bits. Vectorization is across elements only; the build uses
 * -ffp-contract=off and no -ffast-math, so no addition is fused, reordered or reassociated.
 */
#ifndef MEAN_FUSION_KERNEL_H
#define MEAN_FUSION_KERNEL_H

#include <stddef.h>
#include <stdint.h>

/** Element types of the inputs (the order of src/kernels/native.ts's table). */
enum mf_dtype { MF_F64 = 0, MF_F32, MF_I8, MF_U8, MF_I16, MF_U16, MF_I32, MF_U32 };

/** One input: its data (already offset to element 0) and element type. */
typedef struct {
  const void *data;
  int dtype;
} mf_input;

/**
 * out[i] = (x_0[i] + x_1[i] + … + x_{k-1}[i]) / k for start <= i < end (sequential float64 sum, one
 * division). Returns how many results are not finite (the caller recomputes those on its overflow-safe path).
 */
size_t mf_mean_f64(const mf_input *in, size_t k, double *out, size_t start, size_t end);

/**
 * Float32 results with a certificate: per element the float64 sum s and Σ|x| are accumulated, m = s / k is
 * rounded to float32 where the rounding provably equals the float32 nearest the exact mean, and the element's
 * index is appended to `flags` otherwise (the caller finishes those exactly). Stops before a block whose
 * flags might not fit in `cap`; returns the index it stopped at (end when done) and sets *nflag.
 */
size_t mf_mean_f32(const mf_input *in, size_t k, float *out, size_t start, size_t end, int32_t *flags,
                   size_t cap, size_t *nflag);

size_t mf_mean_f32c(const mf_input *in, size_t k, float *out, size_t start, size_t end, int32_t *flags,
                    size_t cap, size_t *nflag);

/**
 * One input into a running state over elements [start, end): s = x (first) or s += x (c == NULL), or a
 * TwoSum step into (s, c) of x. For each element whose new state is not finite it appends (index, old s, old c)
 * to spill (the caller's overflow-safe path takes over). Stops before a block whose spill might not fit in
 * cap triples; returns the index it stopped at (end when done) and sets *nspill.
 */
size_t mf_acc(const mf_input *x, double *s, double *c, size_t start, size_t end, int first, double *spill,
              size_t cap, size_t *nspill);

/**
 * out[i] = (c[i] == 0 ? s[i] : s[i] + c[i]) / k over [start, end) (a compensated state's float64 finish);
 * returns how many results or compensations are not finite.
 */
size_t mf_finish_f64c(const double *s, const double *c, double *out, double kd, size_t start, size_t end);

/** out[i] = s[i] / k over [start, end); returns how many results are not finite. */
size_t mf_finish_f64(const double *s, double *out, double kd, size_t start, size_t end);

/**
 * The compensated float32 finish of a running state (kernel.wat's fin_f32); flags the elements that need
 * the caller's exact finisher, as mf_mean_f32 does.
 */
size_t mf_finish_f32(const double *s, const double *c, float *out, double kd, size_t start, size_t end,
                     int32_t *flags, size_t cap, size_t *nflag);

/**
 * mf_acc followed, block by block, by the finish with divisor k: mf_finish_f64 into a
 * double out when c == NULL, mf_finish_f32 into a float out otherwise. Spills as mf_acc (into spill, cap
 * triples) and flags as mf_finish_f32 (into flags, fcap indices); stops before a block whose spills or flags
 * might not fit and returns the index it stopped at (end when done).
 */
size_t mf_acc_finish(const mf_input *x, double *s, double *c, void *out, double kd, size_t start, size_t end,
                     int first, double *spill, size_t cap, size_t *nspill, int32_t *flags, size_t fcap,
                     size_t *nflag);

/**
 * One push of a sliding window of plain inputs over elements [0, n): x into the running (s, c) and the fresh
 * (fs, fc) compensated sums, then, when old is not NULL, -old (the input leaving) out of (s, c); then per
 * element peak = max(peak, |s|), inexact |= c != 0, and the same for the fresh sums (window.c).
 */
void mf_window_push(const mf_input *x, const mf_input *old, double *s, double *c, double *fs, double *fc,
                    double *peak, double *fpeak, uint8_t *inexact, uint8_t *finexact, size_t n);

/**
 * The elements of [start, end) whose window sum (s, c) the bound 2 (3 size)^2 2^-106 peak does not place
 * within 2^-52 |s + c| (and that were ever inexact), appended to flags (at most cap); returns the index
 * reached and sets *count.
 */
size_t mf_window_untrusted(const double *s, const double *c, const double *peak, const uint8_t *inexact,
                           double size, size_t start, size_t end, int32_t *flags, size_t cap, size_t *count);

#endif
