/* Block size and runtime CPU dispatch shared by every native kernel (see accumulate.h). */
#ifndef MEAN_FUSION_DISPATCH_H
#define MEAN_FUSION_DISPATCH_H

/* Elements per block: a block's float64 accumulators stay in L1 cache. */
#define BLK 1024

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

#endif
