/*
 * Plain float64 sums of a run of float32 inputs, in input order, that also track the range of the inputs'
 * magnitudes for the exactness test of block_exact (accumulate.h): the smallest nonzero magnitude minus one
 * and the largest, as bit patterns (magnitudes of non-negative floats order like their bit patterns;
 * subtracting one wraps zero to the largest unsigned, so zeros never count as the smallest). The scan works
 * on the float32 bit patterns as integers (AND, subtract, unsigned min/max), never in float64.
 *
 * Why runs of eight, cut into chunks of 16 elements, with software prefetch: the float32 kernel is bound by
 * how fast it pulls its k input streams from memory, not by its arithmetic. A block of BLK float32 elements
 * is one 4 KiB page of each input, and the hardware prefetchers stop at page boundaries, so every block
 * starts k streams cold (and takes k TLB misses) unless the next page is asked for ahead of time. Each
 * chunk of 16 elements is one 64-byte line of every input of the run; the chunk touches the same line
 * PREFETCH_AHEAD elements ahead, so the loads of the following block are in flight while this one adds.
 * Eight inputs a pass also halve the passes over the block's accumulator compared with runs of four.
 *
 * Per element the additions are those of the scalar kernel, in input order: grouping inputs into passes
 * never changes a sum's bits, and min/max do not depend on order.
 */
#ifndef MEAN_FUSION_SCAN_F32_H
#define MEAN_FUSION_SCAN_F32_H

#include <stdint.h>
#include <string.h>

#include "dispatch.h"

/* Elements ahead of the current chunk that each chunk prefetches: half a block (measured: 512 to 1024 help,
   hint "all cache levels" best; none is up to a third slower at k = 8 and 32 on 4 KiB pages). */
#define PREFETCH_AHEAD 512

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch((p), 0, 3)
#else
#define PREFETCH(p) ((void)(p))
#endif

/* One magnitude x (float32 bits) into the running range (lo: smallest nonzero minus one, hi: largest). */
#define SCAN(x)                          \
  do {                                   \
    uint32_t m_ = (x) & 0x7fffffffu;     \
    uint32_t l_ = m_ - 1u;               \
    lo = l_ < lo ? l_ : lo;              \
    hi = m_ > hi ? m_ : hi;              \
  } while (0)

/* Element i of the W inputs p[0..W) added in order to FIRST (acc[i] + x_0, or x_0 alone), into acc[i]. */
#define SUM_RUN(W, FIRST, i)                                          \
  do {                                                                \
    double v_ = FIRST;                                                \
    for (int j_ = 1; j_ < (W); j_++) v_ = v_ + (double)p[j_][i];      \
    acc[i] = v_;                                                      \
  } while (0)

/*
 * NAME(acc, p, n, range): acc[i] = FIRST + x_1[i] + … + x_{W-1}[i] over i < n for the W float32 inputs
 * p[0..W) (already offset to the block), widening range. The chunk loop keeps the range in 16 lanes
 * (vector registers) and folds them once at the end; the tail finishes element by element.
 */
#define DEFINE_SCAN_RUN(NAME, W, FIRST)                                                                    \
  CLONES static void NAME(double *restrict acc, const float *const *p, size_t n, uint32_t *range) {        \
    uint32_t lanes_lo[16], lanes_hi[16];                                                                   \
    for (int t = 0; t < 16; t++) lanes_lo[t] = range[0], lanes_hi[t] = range[1];                           \
    size_t i = 0;                                                                                          \
    for (; i + 16 <= n; i += 16) {                                                                         \
      for (int j = 0; j < (W); j++) PREFETCH(p[j] + i + PREFETCH_AHEAD);                                   \
      for (size_t t = 0; t < 16; t++) SUM_RUN(W, FIRST(i + t), i + t);                                     \
      for (size_t t = 0; t < 16; t++) {                                                                    \
        uint32_t lo = lanes_lo[t], hi = lanes_hi[t];                                                       \
        for (int j = 0; j < (W); j++) {                                                                    \
          uint32_t x;                                                                                      \
          memcpy(&x, p[j] + i + t, sizeof x);                                                              \
          SCAN(x);                                                                                         \
        }                                                                                                  \
        lanes_lo[t] = lo, lanes_hi[t] = hi;                                                                \
      }                                                                                                    \
    }                                                                                                      \
    uint32_t lo = range[0], hi = range[1];                                                                 \
    for (int t = 0; t < 16; t++) {                                                                         \
      lo = lanes_lo[t] < lo ? lanes_lo[t] : lo;                                                            \
      hi = lanes_hi[t] > hi ? lanes_hi[t] : hi;                                                            \
    }                                                                                                      \
    for (; i < n; i++) {                                                                                   \
      SUM_RUN(W, FIRST(i), i);                                                                             \
      for (int j = 0; j < (W); j++) {                                                                      \
        uint32_t x;                                                                                        \
        memcpy(&x, p[j] + i, sizeof x);                                                                    \
        SCAN(x);                                                                                           \
      }                                                                                                    \
    }                                                                                                      \
    range[0] = lo;                                                                                         \
    range[1] = hi;                                                                                         \
  }

#define SCAN_SET(i) ((double)p[0][i])
#define SCAN_ADD(i) (acc[i] + (double)p[0][i])
DEFINE_SCAN_RUN(scan_f32_8set, 8, SCAN_SET)
DEFINE_SCAN_RUN(scan_f32_8, 8, SCAN_ADD)
DEFINE_SCAN_RUN(scan_f32_4set, 4, SCAN_SET)
DEFINE_SCAN_RUN(scan_f32_4, 4, SCAN_ADD)
DEFINE_SCAN_RUN(scan_f32_2set, 2, SCAN_SET)
DEFINE_SCAN_RUN(scan_f32_2, 2, SCAN_ADD)
DEFINE_SCAN_RUN(scan_f32_1set, 1, SCAN_SET)
DEFINE_SCAN_RUN(scan_f32_1, 1, SCAN_ADD)
#undef SCAN_SET
#undef SCAN_ADD
#undef DEFINE_SCAN_RUN
#undef SUM_RUN
#undef SCAN

/*
 * The first `take` (1 to 8) of the float32 inputs p[0..), offset by i0, into acc (set: acc = the run's sum;
 * else acc += it, in order), widening range. Returns how many inputs it took: the largest of 8, 4, 2, 1
 * that fits.
 */
static inline size_t scan_f32_run(double *acc, const float *const *p, size_t take, size_t n, uint32_t *range,
                                  int set) {
  if (take >= 8) {
    (set ? scan_f32_8set : scan_f32_8)(acc, p, n, range);
    return 8;
  }
  if (take >= 4) {
    (set ? scan_f32_4set : scan_f32_4)(acc, p, n, range);
    return 4;
  }
  if (take >= 2) {
    (set ? scan_f32_2set : scan_f32_2)(acc, p, n, range);
    return 2;
  }
  (set ? scan_f32_1set : scan_f32_1)(acc, p, n, range);
  return 1;
}

#endif
