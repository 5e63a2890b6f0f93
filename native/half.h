/* float16/bfloat16 decoding, exactly rounded encoding and the plain mean of half inputs (half.c). */
#ifndef MEAN_FUSION_HALF_H
#define MEAN_FUSION_HALF_H

#include "kernel.h"

/** Element types beyond kernel.h's mf_dtype: IEEE binary16 and bfloat16 bit patterns (uint16). */
#define MF_F16 8
#define MF_BF16 9

/** dest[i] = the exact float32 value of the half bit pattern src[i] (bf16: bfloat16, else float16). */
void mf_decode_half(const uint16_t *src, int bf16, size_t n, float *dest);

/**
 * out[i] = the half nearest r[i] where that is also the half nearest the exact mean (r[i] correctly rounded
 * float32, not a half midpoint). Where r[i] is a finite half midpoint out[i] is left as the truncation and
 * i is appended to ties (capacity n); returns how many ties.
 */
size_t mf_round_half(const float *r, uint16_t *out, int bf16, size_t n, int32_t *ties);

/**
 * The fast path of one block [b, b + m) of mf_mean_half when every input and the output are half (half-fast.c):
 * writes out[0..m) and returns 0, or returns how many elements it could not serve (then out is to be
 * overwritten). s and err are scratch of m float64 each.
 */
size_t mf_half_fast_block(const mf_input *in, size_t k, size_t b, size_t m, int out_dtype, uint16_t *out,
                          double *s, double *err);

/**
 * out[0..count) = the plain mean of count elements of the inputs (any mf_dtype, MF_F16, MF_BF16), with the
 * bits of the JavaScript reference (src/kernels/half-range.ts): out_dtype MF_F64 or MF_F32 writes the
 * float kernel's result of the decoded inputs; MF_F16/MF_BF16 the half nearest the exact mean, ties to
 * even. Returns 0, or 1 when an element needs the reference's slow paths (non-finite float64 result,
 * flagged float32 element, a tie it cannot decide in float64): then nothing written counts, or -2 out of
 * memory.
 */
int mf_mean_half(const mf_input *in, size_t k, void *out, int out_dtype, size_t count);

#endif
