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

/*
 * Whether a last run of eight also finishes (SUM_RUN): measured side by side, 1.2-1.5x faster at k = 8 with
 * AVX2 or AVX-512 (fewer passes over the block), but 0.93-0.97x with SSE2's sixteen 128-bit registers
 * (spills), so only where the AVX2 or AVX-512 clones run. Elsewhere (other architectures: not measured) the
 * separate pass.
 */
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define FUSED_FINISH __builtin_cpu_supports("avx2")
#else
#define FUSED_FINISH 0
#endif

/* One magnitude x (float32 bits) into the running range (lo: smallest nonzero minus one, hi: largest). */
#define SCAN(x)                          \
  do {                                   \
    uint32_t m_ = (x) & 0x7fffffffu;     \
    uint32_t l_ = m_ - 1u;               \
    lo = l_ < lo ? l_ : lo;              \
    hi = m_ > hi ? m_ : hi;              \
  } while (0)

/*
 * 1 unless rounding m = fl(s fl(1/k)) of an exact sum s to float32 is certified (finish_exact in mean.c):
 * m within float32's normal range (read from its exponent bits) and its low 29 bits not within 2 of a
 * midpoint's 2^28, or an exact tie (m k = s), or s a signed zero. Integer tests on the bit patterns, so
 * every lane runs the same instructions.
 */
static inline uint64_t exact_lane_fails(double s, double m, double kd) {
  uint64_t mb, sb;
  memcpy(&mb, &m, sizeof mb);
  memcpy(&sb, &s, sizeof sb);
  uint64_t normal = ((mb >> 52 & 0x7ff) - (1023 - 126)) < 254; /* 2^-126 <= |m| < 2^128 */
  uint64_t d = (mb & 0x1fffffff) - (0x10000000 - 2);
  uint64_t far = d > 4;
  uint64_t tie = (d == 2) & (m * kd == s);
  uint64_t zero = (sb << 1) == 0; /* s == 0.0 */
  return 1 ^ (zero | (normal & (far | tie)));
}

/*
 * Element i of the W inputs p[0..W) added in order to FIRST (acc[i] + x_0, or x_0 alone), into acc[i]; when
 * FIN (the block's last run), also out[i] = float32(fl(s r)) and its certificate failure into count.
 */
#define SUM_RUN(W, FIN, FIRST, i)                                     \
  do {                                                                \
    double v_ = FIRST;                                                \
    for (int j_ = 1; j_ < (W); j_++) v_ = v_ + (double)p[j_][i];      \
    acc[i] = v_;                                                      \
    if (FIN) {                                                        \
      double m_ = v_ * r;                                             \
      out[i] = (float)m_;                                             \
      count += exact_lane_fails(v_, m_, kd);                          \
    }                                                                 \
  } while (0)

/*
 * NAME(acc, p, n, range, out, kd): acc[i] = FIRST + x_1[i] + … + x_{W-1}[i] over i < n for the W float32
 * inputs p[0..W) (already offset to the block), widening range; with FIN it also writes out as
 * finish_exact would and returns how many lanes that certificate fails (else 0). The chunk loop keeps the
 * range in 16 lanes (vector registers) and folds them once at the end; the tail goes element by element.
 */
#define DEFINE_SCAN_RUN(NAME, W, FIN, FIRST)                                                               \
  CLONES static size_t NAME(double *restrict acc, const float *const *p, size_t n, uint32_t *range,        \
                            float *restrict out, double kd) {                                              \
    uint64_t count = 0;                                                                                    \
    double r = 1.0 / kd;                                                                                   \
    uint32_t lanes_lo[16], lanes_hi[16];                                                                   \
    for (int t = 0; t < 16; t++) lanes_lo[t] = range[0], lanes_hi[t] = range[1];                           \
    size_t i = 0;                                                                                          \
    for (; i + 16 <= n; i += 16) {                                                                         \
      for (int j = 0; j < (W); j++) PREFETCH(p[j] + i + PREFETCH_AHEAD);                                   \
      for (size_t t = 0; t < 16; t++) SUM_RUN(W, FIN, FIRST(i + t), i + t);                                \
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
      SUM_RUN(W, FIN, FIRST(i), i);                                                                        \
      for (int j = 0; j < (W); j++) {                                                                      \
        uint32_t x;                                                                                        \
        memcpy(&x, p[j] + i, sizeof x);                                                                    \
        SCAN(x);                                                                                           \
      }                                                                                                    \
    }                                                                                                      \
    range[0] = lo;                                                                                         \
    range[1] = hi;                                                                                         \
    (void)out, (void)r;                                                                                    \
    return (size_t)count;                                                                                  \
  }

#define SCAN_SET(i) ((double)p[0][i])
#define SCAN_ADD(i) (acc[i] + (double)p[0][i])
#define DEFINE_SCAN_RUNS(W)                                         \
  DEFINE_SCAN_RUN(scan_f32_##W##set, W, 0, SCAN_SET)                \
  DEFINE_SCAN_RUN(scan_f32_##W, W, 0, SCAN_ADD)
DEFINE_SCAN_RUNS(8)
DEFINE_SCAN_RUNS(4)
DEFINE_SCAN_RUNS(2)
DEFINE_SCAN_RUNS(1)
#undef DEFINE_SCAN_RUNS
/* Only runs of eight finish as they add: for narrower runs the finish's extra registers cost more than the
   separate pass over the sums (k = 2 ran 0.9x the unfused pass with AVX2, measured side by side). */
DEFINE_SCAN_RUN(scan_f32_8set_fin, 8, 1, SCAN_SET)
DEFINE_SCAN_RUN(scan_f32_8_fin, 8, 1, SCAN_ADD)
#undef SCAN_SET
#undef SCAN_ADD
#undef DEFINE_SCAN_RUN
#undef SUM_RUN
#undef SCAN

typedef size_t (*scan_run_fn)(double *, const float *const *, size_t, uint32_t *, float *, double);

/*
 * The first `take` (1 to 8) of the float32 inputs p[0..), offset by i0, into acc (set: acc = the run's sum;
 * else acc += it, in order), widening range; with out (the run ends the block's inputs) a run of eight
 * also does the finish of SUM_RUN where FUSED_FINISH, adding its failures to *count and setting *finished.
 * Returns how many inputs it took: the largest of 8, 4, 2, 1 that fits.
 */
static inline size_t scan_f32_run(double *acc, const float *const *p, size_t take, size_t n, uint32_t *range,
                                  int set, float *out, double kd, size_t *count, int *finished) {
  static const scan_run_fn runs[4][2] = {
      {scan_f32_8, scan_f32_8set},
      {scan_f32_4, scan_f32_4set},
      {scan_f32_2, scan_f32_2set},
      {scan_f32_1, scan_f32_1set},
  };
  int w = take >= 8 ? 0 : take >= 4 ? 1 : take >= 2 ? 2 : 3;
  size_t width = (size_t)8 >> w;
  *finished = out != NULL && take == 8 && FUSED_FINISH;
  if (*finished) *count += (set ? scan_f32_8set_fin : scan_f32_8_fin)(acc, p, n, range, out, kd);
  else runs[w][set != 0](acc, p, n, range, out, kd);
  return width;
}

#endif
