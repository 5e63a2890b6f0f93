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
 *     flags: Int32Array, exact?: boolean) -> status (files.h); flags[0] = flagged (float32, exact mode) or
 *     non-finite (float64) count
 *   meanExact, accumulateExact, finishExact: the exact mode (binding-exact.c)
 *   meanHalf, meanFilesHalf: the half-precision kernels (binding-half.c)
 *   startWriteback, dropWritten, preallocate: the output's page cache and blocks (writeback.c)
 */
#include <stdlib.h>

#include "files.h"
#include "kernel.h"
#include "napi-args.h"

/* Registers the exact mode entry points (binding-exact.c). */
napi_status mf_define_exact(napi_env env, napi_value exports);
/* Registers the half-precision entry points (binding-half.c). */
napi_status mf_define_half(napi_env env, napi_value exports);
/* Registers the writeback and preallocation calls (writeback.c). */
napi_status mf_define_writeback(napi_env env, napi_value exports);

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
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return fail(env, "native kernel: meanFiles takes 6 arguments");
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
  bool exact = false;
  if (argc >= 7) CHECK(napi_get_value_bool(env, argv[6], &exact));
  mf_file *files;
  uint32_t k;
  if (!files_arg(env, argv, MF_U32, "native kernel: meanFiles expects arrays of fds, offsets and dtypes", &files, &k))
    return NULL;
  size_t n = 0;
  int status = mf_mean_files(files, k, out, odt == MF_F32, count, (int32_t *)flags + 1, flen - 1, &n, exact);
  free(files);
  ((int32_t *)flags)[0] = (int32_t)n;
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
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  if (mf_define_exact(env, exports) != napi_ok) return NULL;
  if (mf_define_half(env, exports) != napi_ok) return NULL;
  if (mf_define_writeback(env, exports) != napi_ok) return NULL;
  return exports;
}
