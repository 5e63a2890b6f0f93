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

/*
 * The prologue of an entry point taking MIN to MAX arguments: reads them into argv (argc of them) or throws a
 * RangeError naming NAME.
 */
#define ARGS(MAX, MIN, NAME)                                                   \
  size_t argc = MAX;                                                           \
  napi_value argv[MAX];                                                        \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));                 \
  if (argc < MIN) return fail(env, "native kernel: " NAME " takes " #MIN " arguments")

/* A JavaScript number (NULL with an exception pending if it cannot be made). */
napi_value number_value(napi_env env, double v);
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

/* An input typed array of any supported dtype with at least `end` elements. */
int input_arg(napi_env env, napi_value v, size_t end, mf_input *x);
/*
 * A running state: s a Float64Array, c a Float64Array or (when c_may_be_null) null, both covering [0, end);
 * *c is NULL for null.
 */
int state_args(napi_env env, napi_value vs, napi_value vc, size_t end, int c_may_be_null, double **s, double **c);
/* A spill list: a Float64Array of 4 or more elements (count, then (index, old s, old c) triples). */
int spill_arg(napi_env env, napi_value v, double **spill, size_t *cap);
/* A flag list: an Int32Array of 2 or more elements (count, then indices). */
int flags_arg(napi_env env, napi_value v, int32_t **flags, size_t *cap);

/*
 * Reads argv[0..2] as equal-length arrays of fds, byte offsets and dtype codes (0..max_dtype) into *files
 * (malloc'd, *k entries); throws and returns 0 on anything else.
 */
int files_arg(napi_env env, napi_value *argv, int max_dtype, const char *what, mf_file **files, uint32_t *k);

#endif
