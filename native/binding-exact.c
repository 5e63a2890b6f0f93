/*
 * Node-API face of the exact mode kernels (exact.h), registered by binding.c:
 *
 *   meanExact(inputs: TypedArray[], out: Float64Array | Float32Array, start, end, flags: Int32Array)
 *     -> index reached; flags[0] = how many element indices follow in flags[1..] (to compute exactly)
 *   accumulateExact(x: TypedArray, s: Float64Array, c: Float64Array, start, end, first: boolean,
 *     flags: Int32Array) -> index reached; flags as meanExact's (elements left unchanged, x not added)
 *   finishExact(s: Float64Array, c: Float64Array, out: Float64Array | Float32Array, d, start, end,
 *     flags: Int32Array) -> index reached; flags as meanExact's
 */
#include <stdlib.h>

#include "exact.h"
#include "napi-args.h"

static napi_value done(napi_env env, int32_t *flags, size_t count, size_t reached) {
  flags[0] = (int32_t)count;
  napi_value r;
  CHECK(napi_create_double(env, (double)reached, &r));
  return r;
}

static napi_value MeanExact(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return fail(env, "native kernel: meanExact takes 5 arguments");
  int32_t *flags;
  size_t cap;
  if (!flags_arg(env, argv[4], &flags, &cap)) return fail(env, "native kernel: flags must be an Int32Array of 2 or more elements");
  int odt;
  size_t olen;
  void *out;
  if (!typed(env, argv[1], &odt, &olen, &out) || (odt != MF_F64 && odt != MF_F32)) {
    return fail(env, "native kernel: bad output array");
  }
  mf_input *in;
  size_t k, start, end;
  if (!parse(env, argv, odt, &in, &k, &out, &start, &end)) return NULL;
  size_t count = 0;
  size_t reached = mf_mean_exact(in, k, out, odt == MF_F32, start, end, flags + 1, cap, &count);
  free(in);
  return done(env, flags, count, reached);
}

static napi_value AccumulateExact(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) return fail(env, "native kernel: accumulateExact takes 7 arguments");
  size_t start, end;
  if (!index_arg(env, argv[3], &start) || !index_arg(env, argv[4], &end) || end < start) {
    return fail(env, "native kernel: bad element range");
  }
  mf_input x;
  if (!input_arg(env, argv[0], end, &x)) return fail(env, "native kernel: bad input");
  double *s, *c;
  if (!state_args(env, argv[1], argv[2], end, 0, &s, &c)) return fail(env, "native kernel: bad state arrays");
  bool first;
  CHECK(napi_get_value_bool(env, argv[5], &first));
  int32_t *flags;
  size_t cap;
  if (!flags_arg(env, argv[6], &flags, &cap)) return fail(env, "native kernel: flags must be an Int32Array of 2 or more elements");
  size_t count = 0;
  size_t reached = mf_acc_exact(&x, s, c, start, end, first, flags + 1, cap, &count);
  return done(env, flags, count, reached);
}

static napi_value FinishExact(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) return fail(env, "native kernel: finishExact takes 7 arguments");
  size_t start, end;
  double d;
  if (!count_and_range(env, argv, 3, &d, &start, &end) || !(d > 0.0) || d > 0x1p900) {
    return fail(env, "native kernel: bad range or divisor");
  }
  void *s, *c, *out;
  int odt;
  size_t olen;
  if (!typed_of(env, argv[0], MF_F64, end, &s) || !typed_of(env, argv[1], MF_F64, end, &c) ||
      !typed(env, argv[2], &odt, &olen, &out) || (odt != MF_F64 && odt != MF_F32) || olen < end) {
    return fail(env, "native kernel: bad state or output array");
  }
  int32_t *flags;
  size_t cap;
  if (!flags_arg(env, argv[6], &flags, &cap)) return fail(env, "native kernel: flags must be an Int32Array of 2 or more elements");
  size_t count = 0;
  size_t reached = mf_finish_exact(s, c, out, odt == MF_F32, d, start, end, flags + 1, cap, &count);
  return done(env, flags, count, reached);
}

napi_status mf_define_exact(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"meanExact", NULL, MeanExact, NULL, NULL, NULL, napi_enumerable, NULL},
      {"accumulateExact", NULL, AccumulateExact, NULL, NULL, NULL, napi_enumerable, NULL},
      {"finishExact", NULL, FinishExact, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
