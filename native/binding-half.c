/*
 * Node-API face of the half-precision kernels (half.h, files.h), registered by binding.c:
 *
 *   meanHalf(inputs: TypedArray[], dtypes: number[], out: Float64Array | Float32Array | Uint16Array,
 *     outDtype, start, end) -> status (half.h mf_mean_half; dtypes[j] 8/9 = float16/bfloat16 bits, else
 *     the typed array's own type)
 *   meanFilesHalf(fds: number[], offsets: number[], dtypes: number[], out, outDtype, count) -> status
 *     (files.h mf_mean_files_half)
 */
#include <stdlib.h>

#include "files.h"
#include "half.h"
#include "napi-args.h"

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
  size_t count;
  if (!index_arg(env, argv[5], &count)) return fail(env, "native kernel: bad count");
  int odt;
  void *out;
  if (!half_out(env, argv[3], argv[4], count, &odt, &out)) return fail(env, "native kernel: bad output array");
  mf_file *files;
  uint32_t k;
  if (!files_arg(env, argv, MF_BF16, "native kernel: meanFilesHalf expects arrays of fds, offsets and dtypes",
                 &files, &k))
    return NULL;
  int status = mf_mean_files_half(files, k, out, odt, count);
  free(files);
  napi_value r;
  CHECK(napi_create_int32(env, status, &r));
  return r;
}

napi_status mf_define_half(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"meanHalf", NULL, MeanHalf, NULL, NULL, NULL, napi_enumerable, NULL},
      {"meanFilesHalf", NULL, MeanFilesHalf, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
