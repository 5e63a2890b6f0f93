/* The plain mean over chunks of input files mapped into memory (files.c). */
#ifndef MEAN_FUSION_FILES_H
#define MEAN_FUSION_FILES_H

#include "kernel.h"

/** One input's chunk: an open file, the byte offset of the chunk's first element, its element type. */
typedef struct {
  int fd;
  uint64_t offset;
  int dtype;
} mf_file;

/**
 * out[0..count) = the plain mean of `count` elements of every file, from its mapped pages (float32 output
 * when out_f32). Float32: flagged element indices as mf_mean_f32; float64: *nflag = non-finite results.
 * exact: the exact mode's kernel (exact.h, mf_mean_exact), whose flags are the elements it left uncertified.
 * Returns 0 on success, -1 when a file cannot be mapped or is shorter than the chunk (nothing written that
 * counts: the caller reads the chunk another way), 1 when the float32 flags overflowed cap, -2 out of memory.
 */
int mf_mean_files(const mf_file *files, size_t k, void *out, int out_f32, size_t count, int32_t *flags,
                  size_t cap, size_t *nflag, int exact);

/**
 * The plain mean of half-precision (MF_F16/MF_BF16, half.h) or mixed inputs, read from the files in
 * cache-sized steps (pread), into out of out_dtype (MF_F64, MF_F32, MF_F16, MF_BF16), as mf_mean_half.
 * Returns 0 on success, -1 when a file ends before the chunk does, 1 when the chunk needs the reference's
 * slow paths (the caller reads it another way), -2 out of memory.
 */
int mf_mean_files_half(const mf_file *files, size_t k, void *out, int out_dtype, size_t count);

#endif
