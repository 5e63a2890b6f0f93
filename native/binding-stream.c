/*
 * Node-API face of the stream accumulators (stream.c, declared in kernel.h), registered by binding.c:
 *
 *   accumulate(x: TypedArray, s: Float64Array, c: Float64Array | null, start, end, first: boolean,
 *     spill: Float64Array, negate?: boolean) -> index reached; spill[0] = how many (index, old s, old c)
 *     triples follow
 *   finishF64c(s: Float64Array, c: Float64Array, out: Float64Array, k, start, end) -> count of non-finite
 *   finishF64(s: Float64Array, out: Float64Array, k, start, end) -> count of non-finite results
 *   accumulateFinish(x: TypedArray, s: Float64Array, c: Float64Array | null, out: Float64Array (c null) |
 *     Float32Array, k, start, end, first: boolean, spill: Float64Array, flags: Int32Array) -> index
 *     reached; accumulate's step, then finishF64's or finishF32's finish, with spill and flags as theirs
 *   finishF32(s: Float64Array, c: Float64Array, out: Float32Array, k, start, end, flags: Int32Array)
 *     -> index reached; flags as meanF32's
 */
#include "napi-args.h"

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

static napi_value AccumulateFinish(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 10) return fail(env, "native kernel: accumulateFinish takes 10 arguments");
  size_t start, end;
  double k;
  if (!count_and_range(env, argv, 4, &k, &start, &end)) return fail(env, "native kernel: bad range or count");
  mf_input x;
  size_t xlen;
  void *xdata;
  if (!typed(env, argv[0], &x.dtype, &xlen, &xdata) || xlen < end) return fail(env, "native kernel: bad input");
  x.data = xdata;
  void *s, *c = NULL, *out, *spill, *flags;
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[2], &t));
  if (!typed_of(env, argv[1], MF_F64, end, &s) || (t != napi_null && !typed_of(env, argv[2], MF_F64, end, &c)) ||
      !typed_of(env, argv[3], c == NULL ? MF_F64 : MF_F32, end, &out)) {
    return fail(env, "native kernel: bad state or output arrays");
  }
  size_t slen, flen;
  int sdt, fdt;
  if (!typed(env, argv[8], &sdt, &slen, &spill) || sdt != MF_F64 || slen < 4) {
    return fail(env, "native kernel: spill must be a Float64Array of 4 or more elements");
  }
  if (!typed(env, argv[9], &fdt, &flen, &flags) || fdt != MF_I32 || flen < 2) {
    return fail(env, "native kernel: flags must be an Int32Array of 2 or more elements");
  }
  bool first;
  CHECK(napi_get_value_bool(env, argv[7], &first));
  size_t nspill = 0, nflag = 0;
  size_t reached = mf_acc_finish(&x, s, c, out, k, start, end, first, (double *)spill + 1, (slen - 1) / 3,
                                 &nspill, (int32_t *)flags + 1, flen - 1, &nflag);
  ((double *)spill)[0] = (double)nspill;
  ((int32_t *)flags)[0] = (int32_t)nflag;
  napi_value r;
  CHECK(napi_create_double(env, (double)reached, &r));
  return r;
}

napi_status mf_define_stream(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"accumulate", NULL, Accumulate, NULL, NULL, NULL, napi_enumerable, NULL},
      {"accumulateFinish", NULL, AccumulateFinish, NULL, NULL, NULL, napi_enumerable, NULL},
      {"finishF64", NULL, FinishF64, NULL, NULL, NULL, napi_enumerable, NULL},
      {"finishF32", NULL, FinishF32, NULL, NULL, NULL, napi_enumerable, NULL},
      {"finishF64c", NULL, FinishF64c, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
