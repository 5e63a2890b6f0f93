/*
 * Node-API face of the native kernels (kernel.h). Context-aware (NAPI_MODULE_INIT), so every worker
 * thread loads its own instance. Arguments are checked only as far as memory safety needs (types, lengths,
 * ranges); the TypeScript wrapper (src/kernels/native.ts) validates everything else.
 *
 *   meanF64(inputs: TypedArray[], out: Float64Array, start, end) -> count of non-finite results
 *   meanF32(inputs: TypedArray[], out: Float32Array, start, end, flags: Int32Array) -> index reached;
 *     flags[0] = how many element indices follow in flags[1..] (the ones to finish exactly)
 *   accumulate, accumulateFinish, finishF64, finishF64c, finishF32: the stream accumulators
 *     (binding-stream.c)
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

/* Registers the stream accumulators' entry points (binding-stream.c). */
napi_status mf_define_stream(napi_env env, napi_value exports);
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
      {"meanFiles", NULL, MeanFiles, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  if (mf_define_stream(env, exports) != napi_ok) return NULL;
  if (mf_define_exact(env, exports) != napi_ok) return NULL;
  if (mf_define_half(env, exports) != napi_ok) return NULL;
  if (mf_define_writeback(env, exports) != napi_ok) return NULL;
  return exports;
}
