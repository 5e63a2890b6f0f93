/*
 * Argument readers shared by the Node-API wrappers (binding.c, binding-exact.c): they check only what memory
 * safety needs (types, lengths, ranges) and throw a RangeError or TypeError otherwise.
 */
#include "napi-args.h"

#include <stdlib.h>

napi_value throw_type(napi_env env) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_type_error(env, NULL, info && info->error_message ? info->error_message : "napi call failed");
  return NULL;
}

napi_value fail(napi_env env, const char *message) {
  napi_throw_range_error(env, NULL, message);
  return NULL;
}

static int dtype_of(napi_typedarray_type t) {
  switch (t) {
    case napi_float64_array: return MF_F64;
    case napi_float32_array: return MF_F32;
    case napi_int8_array: return MF_I8;
    case napi_uint8_array:
    case napi_uint8_clamped_array: return MF_U8;
    case napi_int16_array: return MF_I16;
    case napi_uint16_array: return MF_U16;
    case napi_int32_array: return MF_I32;
    case napi_uint32_array: return MF_U32;
    default: return -1;
  }
}

/* Reads a typed array argument: its element type, length and data pointer (already at byteOffset). */
int typed(napi_env env, napi_value v, int *dtype, size_t *length, void **data) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type t;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &t, length, data, &ab, &offset) != napi_ok) return 0;
  *dtype = dtype_of(t);
  return *dtype >= 0;
}

/* Parses (inputs, out, start, end); fills *in (malloc'd) and checks every array covers [start, end). */
int parse(napi_env env, napi_value *argv, int want_out, mf_input **in, size_t *k, void **out,
                 size_t *start, size_t *end) {
  uint32_t len = 0;
  bool is_array = false;
  if (napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[0], &len) != napi_ok || len == 0) {
    fail(env, "native kernel: expected a non-empty array of inputs");
    return 0;
  }
  int64_t s, e;
  if (napi_get_value_int64(env, argv[2], &s) != napi_ok || napi_get_value_int64(env, argv[3], &e) != napi_ok ||
      s < 0 || e < s) {
    fail(env, "native kernel: bad element range");
    return 0;
  }
  int odt;
  size_t olen;
  if (!typed(env, argv[1], &odt, &olen, out) || odt != want_out || (size_t)e > olen) {
    fail(env, "native kernel: bad output array");
    return 0;
  }
  mf_input *list = malloc(sizeof(mf_input) * len);
  if (!list) {
    fail(env, "native kernel: out of memory");
    return 0;
  }
  for (uint32_t j = 0; j < len; j++) {
    napi_value v;
    size_t n;
    void *data;
    if (napi_get_element(env, argv[0], j, &v) != napi_ok || !typed(env, v, &list[j].dtype, &n, &data) ||
        (size_t)e > n) {
      free(list);
      fail(env, "native kernel: an input is not a supported typed array covering the range");
      return 0;
    }
    list[j].data = data;
  }
  *in = list;
  *k = len;
  *start = (size_t)s;
  *end = (size_t)e;
  return 1;
}

/* A typed array argument of element type `want` with at least `min` elements. */
int typed_of(napi_env env, napi_value v, int want, size_t min, void **data) {
  int dt;
  size_t len;
  return typed(env, v, &dt, &len, data) && dt == want && len >= min;
}

/* Reads argv[i] as an element index or count (a non-negative integer). */
int index_arg(napi_env env, napi_value v, size_t *out) {
  int64_t x;
  if (napi_get_value_int64(env, v, &x) != napi_ok || x < 0) return 0;
  *out = (size_t)x;
  return 1;
}

/* Reads argv[ik] as the divisor k and argv[ik + 1], argv[ik + 2] as an element range [start, end). */
int count_and_range(napi_env env, napi_value *argv, size_t ik, double *k, size_t *start, size_t *end) {
  return napi_get_value_double(env, argv[ik], k) == napi_ok && index_arg(env, argv[ik + 1], start) &&
         index_arg(env, argv[ik + 2], end) && *end >= *start;
}

int files_arg(napi_env env, napi_value *argv, int max_dtype, const char *what, mf_file **files, uint32_t *k) {
  bool a1, a2, a3;
  uint32_t n = 0;
  if (napi_is_array(env, argv[0], &a1) != napi_ok || napi_is_array(env, argv[1], &a2) != napi_ok ||
      napi_is_array(env, argv[2], &a3) != napi_ok || !a1 || !a2 || !a3 ||
      napi_get_array_length(env, argv[0], &n) != napi_ok || n == 0) {
    fail(env, what);
    return 0;
  }
  mf_file *list = malloc(sizeof(mf_file) * n);
  if (!list) {
    fail(env, "native kernel: out of memory");
    return 0;
  }
  for (uint32_t j = 0; j < n; j++) {
    napi_value v;
    int32_t fd, dt;
    int64_t off;
    if (napi_get_element(env, argv[0], j, &v) != napi_ok || napi_get_value_int32(env, v, &fd) != napi_ok ||
        napi_get_element(env, argv[1], j, &v) != napi_ok || napi_get_value_int64(env, v, &off) != napi_ok ||
        napi_get_element(env, argv[2], j, &v) != napi_ok || napi_get_value_int32(env, v, &dt) != napi_ok ||
        fd < 0 || off < 0 || dt < 0 || dt > max_dtype) {
      free(list);
      fail(env, "native kernel: bad file, offset or dtype");
      return 0;
    }
    list[j].fd = fd;
    list[j].offset = (uint64_t)off;
    list[j].dtype = dt;
  }
  *files = list;
  *k = n;
  return 1;
}

int input_arg(napi_env env, napi_value v, size_t end, mf_input *x) {
  size_t len;
  void *data;
  if (!typed(env, v, &x->dtype, &len, &data) || len < end) return 0;
  x->data = data;
  return 1;
}

int state_args(napi_env env, napi_value vs, napi_value vc, size_t end, int c_may_be_null, double **s, double **c) {
  void *ps, *pc = NULL;
  if (!typed_of(env, vs, MF_F64, end, &ps)) return 0;
  napi_valuetype t;
  if (napi_typeof(env, vc, &t) != napi_ok) return 0;
  if (!(c_may_be_null && t == napi_null) && !typed_of(env, vc, MF_F64, end, &pc)) return 0;
  *s = (double *)ps;
  *c = (double *)pc;
  return 1;
}

int spill_arg(napi_env env, napi_value v, double **spill, size_t *cap) {
  int dt;
  size_t len;
  void *data;
  if (!typed(env, v, &dt, &len, &data) || dt != MF_F64 || len < 4) return 0;
  *spill = (double *)data;
  *cap = (len - 1) / 3;
  return 1;
}

int flags_arg(napi_env env, napi_value v, int32_t **flags, size_t *cap) {
  int dt;
  size_t len;
  void *data;
  if (!typed(env, v, &dt, &len, &data) || dt != MF_I32 || len < 2) return 0;
  *flags = (int32_t *)data;
  *cap = len - 1;
  return 1;
}

napi_value number_value(napi_env env, double v) {
  napi_value r;
  CHECK(napi_create_double(env, v, &r));
  return r;
}
