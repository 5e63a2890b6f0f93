/* Argument readers shared by the Node-API wrappers (see napi-args.c). */
#ifndef MEAN_FUSION_NAPI_ARGS_H
#define MEAN_FUSION_NAPI_ARGS_H

#include <node_api.h>

#include "files.h"
#include "kernel.h"

#define CHECK(call)                                  \
  do {                                               \
    if ((call) != napi_ok) return throw_type(env);   \
  } while (0)

/* Throws the pending Node-API error as a TypeError (unless one is pending); returns NULL. */
napi_value throw_type(napi_env env);
/* Throws a RangeError with message; returns NULL. */
napi_value fail(napi_env env, const char *message);
/* Reads a typed array argument: its element type (enum mf_dtype), length and data pointer. */
int typed(napi_env env, napi_value v, int *dtype, size_t *length, void **data);
/* Parses (inputs, out, start, end); fills *in (malloc'd) and checks every array covers [start, end). */
int parse(napi_env env, napi_value *argv, int want_out, mf_input **in, size_t *k, void **out, size_t *start,
          size_t *end);
/* A typed array argument of element type `want` with at least `min` elements. */
int typed_of(napi_env env, napi_value v, int want, size_t min, void **data);
/* Reads an element index or count (a non-negative integer). */
int index_arg(napi_env env, napi_value v, size_t *out);
/* Reads argv[ik] as the divisor k and argv[ik + 1], argv[ik + 2] as an element range [start, end). */
int count_and_range(napi_env env, napi_value *argv, size_t ik, double *k, size_t *start, size_t *end);

/*
 * Reads argv[0..2] as equal-length arrays of fds, byte offsets and dtype codes (0..max_dtype) into *files
 * (malloc'd, *k entries); throws and returns 0 on anything else.
 */
int files_arg(napi_env env, napi_value *argv, int max_dtype, const char *what, mf_file **files, uint32_t *k);

#endif
