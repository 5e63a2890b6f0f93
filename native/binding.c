/*
 * Node-API face of the native kernels (kernel.h). Context-aware (NAPI_MODULE_INIT), so every worker
 * thread loads its own instance. Arguments are checked only as far as memory safety needs (types, lengths,
 * ranges); the TypeScript wrapper (src/kernels/native.ts) validates everything else.
 *
 *   meanF64(inputs: TypedArray[], out: Float64Array, start, end) -> count of non-finite results
 *   meanF32(inputs: TypedArray[], out: Float32Array, start, end, flags: Int32Array) -> index reached;
 *     flags[0] = how many element indices follow in flags[1..] (the ones to finish exactly)
 *   accumulate(x: TypedArray, s: Float64Array, c: Float64Array | null, start, end, first: boolean,
 *     spill: Float64Array, negate?: boolean) -> index reached; spill[0] = how many (index, old s, old c)
 *     triples follow
 *   finishF64c(s: Float64Array, c: Float64Array, out: Float64Array, k, start, end) -> count of non-finite
 *   finishF64(s: Float64Array, out: Float64Array, k, start, end) -> count of non-finite results
 *   finishF32(s: Float64Array, c: Float64Array, out: Float32Array, k, start, end, flags: Int32Array)
 *     -> index reached; flags as meanF32's
 *   meanFiles(fds: number[], offsets: number[], dtypes: number[], out: Float64Array | Float32Array, count,
 *     flags: Int32Array) -> status (files.h); flags[0] = flagged (float32) or non-finite (float64) count
 *   meanHalf(inputs: TypedArray[], dtypes: number[], out: Float64Array | Float32Array | Uint16Array,
 *     outDtype, start, end) -> status (half.h mf_mean_half; dtypes[j] 8/9 = float16/bfloat16 bits, else
 *     the typed array's own type)
 *   meanFilesHalf(fds: number[], offsets: number[], dtypes: number[], out, outDtype, count) -> status
 *     (files.h mf_mean_files_half)
 */
#include <node_api.h>
#include <stdlib.h>

#include "files.h"
#include "half.h"
#include "kernel.h"

#define CHECK(call)                                  \
  do {                                               \
    if ((call) != napi_ok) return throw_type(env);   \
  } while (0)

static napi_value throw_type(napi_env env) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_type_error(env, NULL, info && info->error_message ? info->error_message : "napi call failed");
  return NULL;
}

static napi_value fail(napi_env env, const char *message) {
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
static int typed(napi_env env, napi_value v, int *dtype, size_t *length, void **data) {
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
static int parse(napi_env env, napi_value *argv, int want_out, mf_input **in, size_t *k, void **out,
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

static napi_value MeanF64(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) return fail(env, "native kernel: meanF64 takes 4 arguments");
  mf_input *in;
  size_t k, start, end;
  void *out;
  if (!parse(env, argv, MF_F64, &in, &k, &out, &start, &end)) return NULL;
  size_t bad = mf_mean_f64(in, k, (double *)out, start, end);
  free(in);
  napi_value r;
  CHECK(napi_create_double(env, (double)bad, &r));
  return r;
}

static napi_value MeanF32(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return fail(env, "native kernel: meanF32 takes 5 arguments");
  int fdt;
  size_t flen;
  void *flags;
  if (!typed(env, argv[4], &fdt, &flen, &flags) || fdt != MF_I32 || flen < 2) {
    return fail(env, "native kernel: flags must be an Int32Array of 2 or more elements");
  }
  mf_input *in;
  size_t k, start, end;
  void *out;
  if (!parse(env, argv, MF_F32, &in, &k, &out, &start, &end)) return NULL;
  size_t count = 0;
  size_t reached = mf_mean_f32(in, k, (float *)out, start, end, (int32_t *)flags + 1, flen - 1, &count);
  free(in);
  ((int32_t *)flags)[0] = (int32_t)count;
  napi_value r;
  CHECK(napi_create_double(env, (double)reached, &r));
  return r;
}

/* A typed array argument of element type `want` with at least `min` elements. */
static int typed_of(napi_env env, napi_value v, int want, size_t min, void **data) {
  int dt;
  size_t len;
  return typed(env, v, &dt, &len, data) && dt == want && len >= min;
}

/* Reads argv[i] as an element index or count (a non-negative integer). */
static int index_arg(napi_env env, napi_value v, size_t *out) {
  int64_t x;
  if (napi_get_value_int64(env, v, &x) != napi_ok || x < 0) return 0;
  *out = (size_t)x;
  return 1;
}

/* Reads argv[ik] as the divisor k and argv[ik + 1], argv[ik + 2] as an element range [start, end). */
static int count_and_range(napi_env env, napi_value *argv, size_t ik, double *k, size_t *start, size_t *end) {
  return napi_get_value_double(env, argv[ik], k) == napi_ok && index_arg(env, argv[ik + 1], start) &&
         index_arg(env, argv[ik + 2], end) && *end >= *start;
}

static napi_value Accumulate(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) return fail(env, "native kernel: accumulate takes 7 arguments");
  size_t start, end;
  if (!index_arg(env, argv[3], &start) || !index_arg(env, argv[4], &end) || end < start) {
    return fail(env, "native kernel: bad element range");
  }
  mf_input x;
  size_t xlen;
  void *xdata;
  if (!typed(env, argv[0], &x.dtype, &xlen, &xdata) || xlen < end) return fail(env, "native kernel: bad input");
  x.data = xdata;
  void *s, *c = NULL, *spill;
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[2], &t));
  if (!typed_of(env, argv[1], MF_F64, end, &s) || (t != napi_null && !typed_of(env, argv[2], MF_F64, end, &c))) {
    return fail(env, "native kernel: bad state arrays");
  }
  size_t slen;
  int sdt;
  if (!typed(env, argv[6], &sdt, &slen, &spill) || sdt != MF_F64 || slen < 4) {
    return fail(env, "native kernel: spill must be a Float64Array of 4 or more elements");
  }
  bool first, negate = false;
  CHECK(napi_get_value_bool(env, argv[5], &first));
  if (argc >= 8) CHECK(napi_get_value_bool(env, argv[7], &negate));
  if (negate && (first || c == NULL)) return fail(env, "native kernel: negate needs a compensated state");
  size_t count = 0;
  size_t reached = mf_acc(&x, s, c, start, end, first, negate, (double *)spill + 1, (slen - 1) / 3, &count);
  ((double *)spill)[0] = (double)count;
  napi_value r;
  CHECK(napi_create_double(env, (double)reached, &r));
  return r;
}

static napi_value FinishF64(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return fail(env, "native kernel: finishF64 takes 5 arguments");
  size_t start, end;
  double k;
  if (!count_and_range(env, argv, 2, &k, &start, &end)) return fail(env, "native kernel: bad range or count");
  void *s, *out;
  if (!typed_of(env, argv[0], MF_F64, end, &s) || !typed_of(env, argv[1], MF_F64, end, &out)) {
    return fail(env, "native kernel: bad state or output array");
  }
  napi_value r;
  CHECK(napi_create_double(env, (double)mf_finish_f64(s, out, k, start, end), &r));
  return r;
}

static napi_value FinishF64c(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return fail(env, "native kernel: finishF64c takes 6 arguments");
  size_t start, end;
  double k;
  if (!count_and_range(env, argv, 3, &k, &start, &end)) return fail(env, "native kernel: bad range or count");
  void *s, *c, *out;
  if (!typed_of(env, argv[0], MF_F64, end, &s) || !typed_of(env, argv[1], MF_F64, end, &c) ||
      !typed_of(env, argv[2], MF_F64, end, &out)) {
    return fail(env, "native kernel: bad state or output array");
  }
  napi_value r;
  CHECK(napi_create_double(env, (double)mf_finish_f64c(s, c, out, k, start, end), &r));
  return r;
}

static napi_value FinishF32(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) return fail(env, "native kernel: finishF32 takes 7 arguments");
  size_t start, end;
  double k;
  if (!count_and_range(env, argv, 3, &k, &start, &end)) return fail(env, "native kernel: bad range or count");
  void *s, *c, *out, *flags;
  size_t flen;
  int fdt;
  if (!typed_of(env, argv[0], MF_F64, end, &s) || !typed_of(env, argv[1], MF_F64, end, &c) ||
      !typed_of(env, argv[2], MF_F32, end, &out)) {
    return fail(env, "native kernel: bad state or output array");
  }
  if (!typed(env, argv[6], &fdt, &flen, &flags) || fdt != MF_I32 || flen < 2) {
    return fail(env, "native kernel: flags must be an Int32Array of 2 or more elements");
  }
  size_t count = 0;
  size_t reached = mf_finish_f32(s, c, out, k, start, end, (int32_t *)flags + 1, flen - 1, &count);
  ((int32_t *)flags)[0] = (int32_t)count;
  napi_value r;
  CHECK(napi_create_double(env, (double)reached, &r));
  return r;
}

static napi_value MeanFiles(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return fail(env, "native kernel: meanFiles takes 6 arguments");
  uint32_t k = 0;
  bool a1, a2, a3;
  if (napi_is_array(env, argv[0], &a1) != napi_ok || napi_is_array(env, argv[1], &a2) != napi_ok ||
      napi_is_array(env, argv[2], &a3) != napi_ok || !a1 || !a2 || !a3 ||
      napi_get_array_length(env, argv[0], &k) != napi_ok || k == 0) {
    return fail(env, "native kernel: meanFiles expects arrays of fds, offsets and dtypes");
  }
  size_t count;
  if (!index_arg(env, argv[4], &count)) return fail(env, "native kernel: bad count");
  int odt;
  size_t olen;
  void *out;
  if (!typed(env, argv[3], &odt, &olen, &out) || (odt != MF_F64 && odt != MF_F32) || olen < count) {
    return fail(env, "native kernel: bad output array");
  }
  int fdt;
  size_t flen;
  void *flags;
  if (!typed(env, argv[5], &fdt, &flen, &flags) || fdt != MF_I32 || flen < 2) {
    return fail(env, "native kernel: flags must be an Int32Array of 2 or more elements");
  }
  mf_file *files = malloc(sizeof(mf_file) * k);
  if (!files) return fail(env, "native kernel: out of memory");
  for (uint32_t j = 0; j < k; j++) {
    napi_value v;
    int32_t fd, dt;
    int64_t off;
    if (napi_get_element(env, argv[0], j, &v) != napi_ok || napi_get_value_int32(env, v, &fd) != napi_ok ||
        napi_get_element(env, argv[1], j, &v) != napi_ok || napi_get_value_int64(env, v, &off) != napi_ok ||
        napi_get_element(env, argv[2], j, &v) != napi_ok || napi_get_value_int32(env, v, &dt) != napi_ok ||
        fd < 0 || off < 0 || dt < 0 || dt > MF_U32) {
      free(files);
      return fail(env, "native kernel: bad file, offset or dtype");
    }
    files[j].fd = fd;
    files[j].offset = (uint64_t)off;
    files[j].dtype = dt;
  }
  size_t n = 0;
  int status = mf_mean_files(files, k, out, odt == MF_F32, count, (int32_t *)flags + 1, flen - 1, &n);
  free(files);
  ((int32_t *)flags)[0] = (int32_t)n;
  napi_value r;
  CHECK(napi_create_int32(env, status, &r));
  return r;
}

/* Bytes per element of each dtype code (kernel.h, half.h). */
static const size_t HALF_ITEM[] = {8, 4, 1, 1, 2, 2, 4, 4, 2, 2};

/* The output of the half kernels: a typed array matching outDtype (MF_F64, MF_F32, MF_F16, MF_BF16). */
static int half_out(napi_env env, napi_value v, napi_value code, size_t min, int *out_dtype, void **data) {
  int dt;
  size_t len;
  if (napi_get_value_int32(env, code, out_dtype) != napi_ok || !typed(env, v, &dt, &len, data) || len < min) return 0;
  if (*out_dtype == MF_F16 || *out_dtype == MF_BF16) return dt == MF_U16;
  return (*out_dtype == MF_F64 || *out_dtype == MF_F32) && dt == *out_dtype;
}

static napi_value MeanHalf(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return fail(env, "native kernel: meanHalf takes 6 arguments");
  uint32_t k = 0, kd = 0;
  bool a1, a2;
  if (napi_is_array(env, argv[0], &a1) != napi_ok || napi_is_array(env, argv[1], &a2) != napi_ok || !a1 || !a2 ||
      napi_get_array_length(env, argv[0], &k) != napi_ok || napi_get_array_length(env, argv[1], &kd) != napi_ok ||
      k == 0 || kd != k) {
    return fail(env, "native kernel: meanHalf expects arrays of inputs and dtypes");
  }
  size_t start, end;
  if (!index_arg(env, argv[4], &start) || !index_arg(env, argv[5], &end) || end < start) {
    return fail(env, "native kernel: bad element range");
  }
  int odt;
  void *out;
  if (!half_out(env, argv[2], argv[3], end, &odt, &out)) return fail(env, "native kernel: bad output array");
  mf_input *in = malloc(sizeof(mf_input) * k);
  if (!in) return fail(env, "native kernel: out of memory");
  for (uint32_t j = 0; j < k; j++) {
    napi_value v, c;
    int32_t code;
    size_t n;
    void *data;
    if (napi_get_element(env, argv[0], j, &v) != napi_ok || !typed(env, v, &in[j].dtype, &n, &data) || n < end ||
        napi_get_element(env, argv[1], j, &c) != napi_ok || napi_get_value_int32(env, c, &code) != napi_ok ||
        ((code == MF_F16 || code == MF_BF16) && in[j].dtype != MF_U16)) {
      free(in);
      return fail(env, "native kernel: an input is not a supported typed array covering the range");
    }
    if (code == MF_F16 || code == MF_BF16) in[j].dtype = code;
    in[j].data = (const char *)data + start * HALF_ITEM[in[j].dtype];
  }
  int status = mf_mean_half(in, k, (char *)out + start * HALF_ITEM[odt], odt, end - start);
  free(in);
  napi_value r;
  CHECK(napi_create_int32(env, status, &r));
  return r;
}

static napi_value MeanFilesHalf(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return fail(env, "native kernel: meanFilesHalf takes 6 arguments");
  uint32_t k = 0;
  bool a1, a2, a3;
  if (napi_is_array(env, argv[0], &a1) != napi_ok || napi_is_array(env, argv[1], &a2) != napi_ok ||
      napi_is_array(env, argv[2], &a3) != napi_ok || !a1 || !a2 || !a3 ||
      napi_get_array_length(env, argv[0], &k) != napi_ok || k == 0) {
    return fail(env, "native kernel: meanFilesHalf expects arrays of fds, offsets and dtypes");
  }
  size_t count;
  if (!index_arg(env, argv[5], &count)) return fail(env, "native kernel: bad count");
  int odt;
  void *out;
  if (!half_out(env, argv[3], argv[4], count, &odt, &out)) return fail(env, "native kernel: bad output array");
  mf_file *files = malloc(sizeof(mf_file) * k);
  if (!files) return fail(env, "native kernel: out of memory");
  for (uint32_t j = 0; j < k; j++) {
    napi_value v;
    int32_t fd, dt;
    int64_t off;
    if (napi_get_element(env, argv[0], j, &v) != napi_ok || napi_get_value_int32(env, v, &fd) != napi_ok ||
        napi_get_element(env, argv[1], j, &v) != napi_ok || napi_get_value_int64(env, v, &off) != napi_ok ||
        napi_get_element(env, argv[2], j, &v) != napi_ok || napi_get_value_int32(env, v, &dt) != napi_ok ||
        fd < 0 || off < 0 || dt < 0 || dt > MF_BF16) {
      free(files);
      return fail(env, "native kernel: bad file, offset or dtype");
    }
    files[j].fd = fd;
    files[j].offset = (uint64_t)off;
    files[j].dtype = dt;
  }
  int status = mf_mean_files_half(files, k, out, odt, count);
  free(files);
  napi_value r;
  CHECK(napi_create_int32(env, status, &r));
  return r;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"meanF64", NULL, MeanF64, NULL, NULL, NULL, napi_enumerable, NULL},
      {"meanF32", NULL, MeanF32, NULL, NULL, NULL, napi_enumerable, NULL},
      {"accumulate", NULL, Accumulate, NULL, NULL, NULL, napi_enumerable, NULL},
      {"finishF64", NULL, FinishF64, NULL, NULL, NULL, napi_enumerable, NULL},
      {"finishF32", NULL, FinishF32, NULL, NULL, NULL, napi_enumerable, NULL},
      {"finishF64c", NULL, FinishF64c, NULL, NULL, NULL, napi_enumerable, NULL},
      {"meanFiles", NULL, MeanFiles, NULL, NULL, NULL, napi_enumerable, NULL},
      {"meanHalf", NULL, MeanHalf, NULL, NULL, NULL, napi_enumerable, NULL},
      {"meanFilesHalf", NULL, MeanFilesHalf, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
