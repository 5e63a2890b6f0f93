/*
 * Stream accumulators in native code (see kernel.h): the running state of `runningMean` — per element the
 * sequential float64 sum s, and for float32 outputs its TwoSum compensation c — advanced one input at a time
 * over an element range, and finished into a result. The per-element math is accumulate.h's, the same the
 * batch kernel runs, so after n inputs the finish equals the batch kernel's result on those n inputs.
 */
#include "accumulate.h"

/* The first input: s = x exactly and c = 0, as the scalar kernel starts an element from its first input. */
#define DEFINE_FIRST(NAME, T)                                                              \
  CLONES static void NAME(double *restrict s, const T *restrict a, size_t n) {              \
    for (size_t i = 0; i < n; i++) s[i] = (double)a[i];                                     \
  }
DEFINE_FIRST(first_f64, double)
DEFINE_FIRST(first_f32, float)
DEFINE_FIRST(first_i8, int8_t)
DEFINE_FIRST(first_u8, uint8_t)
DEFINE_FIRST(first_i16, int16_t)
DEFINE_FIRST(first_u16, uint16_t)
DEFINE_FIRST(first_i32, int32_t)
DEFINE_FIRST(first_u32, uint32_t)

static void first_one(double *s, const mf_input *x, size_t i0, size_t n) {
  switch (x->dtype) {
    case MF_F64: first_f64(s, (const double *)x->data + i0, n); break;
    case MF_F32: first_f32(s, (const float *)x->data + i0, n); break;
    case MF_I8: first_i8(s, (const int8_t *)x->data + i0, n); break;
    case MF_U8: first_u8(s, (const uint8_t *)x->data + i0, n); break;
    case MF_I16: first_i16(s, (const int16_t *)x->data + i0, n); break;
    case MF_U16: first_u16(s, (const uint16_t *)x->data + i0, n); break;
    case MF_I32: first_i32(s, (const int32_t *)x->data + i0, n); break;
    default: first_u32(s, (const uint32_t *)x->data + i0, n); break;
  }
}

/* How many of n states are not finite (s, or c when given). */
CLONES static size_t count_bad(const double *restrict s, const double *restrict c, size_t n) {
  size_t bad = 0;
  if (c) {
    for (size_t i = 0; i < n; i++) bad += ((s[i] - s[i]) != (s[i] - s[i])) | ((c[i] - c[i]) != (c[i] - c[i]));
  } else {
    for (size_t i = 0; i < n; i++) bad += (s[i] - s[i]) != (s[i] - s[i]);
  }
  return bad;
}

/* Saves the block's states, then adds x into them (or starts them from x); mf_acc's step for one block. */
static void step_block(const mf_input *x, double *s, double *c, size_t b, size_t n, int first, double *olds,
                       double *oldc) {
  memcpy(olds, s + b, n * sizeof(double));
  if (c) memcpy(oldc, c + b, n * sizeof(double));
  if (first) {
    first_one(s + b, x, b, n);
    if (c) memset(c + b, 0, n * sizeof(double));
  } else {
    add_one(c ? COMP : PLAIN, s + b, c ? c + b : NULL, x, b, n);
  }
}

/* Appends (index, old s, old c) of every element of the block whose state is not finite to spill. */
static void spill_block(const double *s, const double *c, size_t b, size_t n, const double *olds,
                        const double *oldc, double *spill, size_t *count) {
  for (size_t i = 0; i < n; i++) {
    double si = s[b + i], ci = c ? c[b + i] : 0.0;
    if ((si - si) == (si - si) && (ci - ci) == (ci - ci)) continue;
    spill[3 * *count] = (double)(b + i);
    spill[3 * *count + 1] = olds[i];
    spill[3 * *count + 2] = c ? oldc[i] : 0.0;
    (*count)++;
  }
}

size_t mf_acc(const mf_input *x, double *s, double *c, size_t start, size_t end, int first, double *spill,
              size_t cap, size_t *nspill) {
  double olds[BLK], oldc[BLK];
  size_t count = 0;
  size_t b = start;
  for (; b < end; b += BLK) {
    size_t n = end - b < BLK ? end - b : BLK;
    if (count + n > cap) break;
    step_block(x, s, c, b, n, first, olds, oldc);
    if (count_bad(s + b, c ? c + b : NULL, n) != 0) spill_block(s, c, b, n, olds, oldc, spill, &count);
  }
  *nspill = count;
  return b < end ? b : end;
}

size_t mf_finish_f64(const double *s, double *out, double kd, size_t start, size_t end) {
  size_t bad = 0;
  for (size_t b = start; b < end; b += BLK) {
    size_t n = end - b < BLK ? end - b : BLK;
    bad += finish_f64(s + b, out + b, kd, n);
  }
  return bad;
}

/* mf_finish_f64c over one block: writes the quotients and counts the lanes not finite (q or c). */
CLONES static size_t finish_f64c(const double *restrict s, const double *restrict c, double *restrict out,
                                 double kd, size_t n) {
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    double sc = s[i] + c[i];
    double q = (c[i] == 0.0 ? s[i] : sc) / kd;
    out[i] = q;
    bad += ((q - q) != (q - q)) | ((c[i] - c[i]) != (c[i] - c[i]));
  }
  return bad;
}

size_t mf_finish_f64c(const double *s, const double *c, double *out, double kd, size_t start, size_t end) {
  size_t bad = 0;
  for (size_t b = start; b < end; b += BLK) {
    size_t n = end - b < BLK ? end - b : BLK;
    bad += finish_f64c(s + b, c + b, out + b, kd, n);
  }
  return bad;
}

/* The float32 finish of one block; appends the lanes that need the caller's exact finisher to flags. */
static void finish_block_f32(const double *s, const double *c, float *out, double kd, size_t b, size_t n,
                             int32_t *flags, size_t *count) {
  if (finish_comp(s + b, c + b, out + b, kd, n) == 0) return;
  for (size_t i = b; i < b + n; i++) {
    if (finish_lane(s[i], c[i], kd, out + i)) flags[(*count)++] = (int32_t)i;
  }
}

size_t mf_finish_f32(const double *s, const double *c, float *out, double kd, size_t start, size_t end,
                     int32_t *flags, size_t cap, size_t *nflag) {
  size_t count = 0;
  size_t b = start;
  for (; b < end; b += BLK) {
    size_t n = end - b < BLK ? end - b : BLK;
    if (count + n > cap) break;
    finish_block_f32(s, c, out, kd, b, n, flags, &count);
  }
  *nflag = count;
  return b < end ? b : end;
}

/*
 * mf_acc then the finish, block by block while the block is in L1: one call and one pass fewer per stream
 * item than accumulate + finish (a stream of small images pays per call). Every block is finished; the
 * elements it spills are finished again by the caller's overflow-safe path, the flagged ones by its exact
 * finisher. A spilled element's state is not finite, so its finish counts it: the f64 finish's count
 * replaces the scan of the states.
 */
size_t mf_acc_finish(const mf_input *x, double *s, double *c, void *out, double kd, size_t start, size_t end,
                     int first, double *spill, size_t cap, size_t *nspill, int32_t *flags, size_t fcap,
                     size_t *nflag) {
  double olds[BLK], oldc[BLK];
  size_t count = 0, flagged = 0;
  size_t b = start;
  for (; b < end; b += BLK) {
    size_t n = end - b < BLK ? end - b : BLK;
    if (count + n > cap || (c && flagged + n > fcap)) break;
    step_block(x, s, c, b, n, first, olds, oldc);
    size_t bad;
    if (c) {
      finish_block_f32(s, c, (float *)out, kd, b, n, flags, &flagged);
      bad = count_bad(s + b, c + b, n);
    } else {
      bad = finish_f64(s + b, (double *)out + b, kd, n);
    }
    if (bad != 0) spill_block(s, c, b, n, olds, oldc, spill, &count);
  }
  *nspill = count;
  *nflag = flagged;
  return b < end ? b : end;
}
