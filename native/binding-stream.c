/*
 * Node-API face of the stream accumulators (stream.c, declared in kernel.h), registered by binding.c:
 *
 *   accumulate(x: TypedArray, s: Float64Array, c: Float64Array | null, start, end, first: boolean,
 *     spill: Float64Array) -> index reached; spill[0] = how many (index, old s, old c)
 *     triples follow
 *   finishF64c(s: Float64Array, c: Float64Array, out: Float64Array, k, start, end) -> count of non-finite
 *   finishF64(s: Float64Array, out: Float64Array, k, start, end) -> count of non-finite results
 *   accumulateFinish(x: TypedArray, s: Float64Array, c: Float64Array | null, out: Float64Array (c null) |
 *     Float32Array, k, start, end, first: boolean, spill: Float64Array, flags: Int32Array) -> index
 *     reached; accumulate's step, then finishF64's or finishF32's finish, with spill and flags as theirs
 *   finishF32(s: Float64Array, c: Float64Array, out: Float32Array, k, start, end, flags: Int32Array)
 *     -> index reached; flags as meanF32's
 *   windowPush(x: TypedArray, old: TypedArray | null, s, c, fs, fc, peak: Float64Array, fpeak: Float64Array,
 *     inexact: Uint8Array, finexact: Uint8Array) -> element count; one push of a plain sliding window
 *   windowUntrusted(s, c, peak: Float64Array, inexact: Uint8Array, size, start, end, flags: Int32Array)
 *     -> index reached; flags[0] = how many indices of elements to recompute from the window follow
 */
#include "napi-args.h"

#define SPILL_MESSAGE "native kernel: spill must be a Float64Array of 4 or more elements"
#define FLAGS_MESSAGE "native kernel: flags must be an Int32Array of 2 or more elements"

static napi_value Accumulate(napi_env env, napi_callback_info info) {
  ARGS(7, 7, "accumulate");
  size_t start, end;
  if (!index_arg(env, argv[3], &start) || !index_arg(env, argv[4], &end) || end < start) {
    return fail(env, "native kernel: bad element range");
  }
  mf_input x;
  if (!input_arg(env, argv[0], end, &x)) return fail(env, "native kernel: bad input");
  double *s, *c, *spill;
  size_t cap;
  if (!state_args(env, argv[1], argv[2], end, 1, &s, &c)) return fail(env, "native kernel: bad state arrays");
  if (!spill_arg(env, argv[6], &spill, &cap)) return fail(env, SPILL_MESSAGE);
  bool first;
  CHECK(napi_get_value_bool(env, argv[5], &first));
  size_t count = 0;
  size_t reached = mf_acc(&x, s, c, start, end, first, spill + 1, cap, &count);
  spill[0] = (double)count;
  return number_value(env, (double)reached);
}

static napi_value FinishF64(napi_env env, napi_callback_info info) {
  ARGS(5, 5, "finishF64");
  size_t start, end;
  double k;
  if (!count_and_range(env, argv, 2, &k, &start, &end)) return fail(env, "native kernel: bad range or count");
  void *s, *out;
  if (!typed_of(env, argv[0], MF_F64, end, &s) || !typed_of(env, argv[1], MF_F64, end, &out)) {
    return fail(env, "native kernel: bad state or output array");
  }
  return number_value(env, (double)mf_finish_f64(s, out, k, start, end));
}

static napi_value FinishF64c(napi_env env, napi_callback_info info) {
  ARGS(6, 6, "finishF64c");
  size_t start, end;
  double k;
  if (!count_and_range(env, argv, 3, &k, &start, &end)) return fail(env, "native kernel: bad range or count");
  void *s, *c, *out;
  if (!typed_of(env, argv[0], MF_F64, end, &s) || !typed_of(env, argv[1], MF_F64, end, &c) ||
      !typed_of(env, argv[2], MF_F64, end, &out)) {
    return fail(env, "native kernel: bad state or output array");
  }
  return number_value(env, (double)mf_finish_f64c(s, c, out, k, start, end));
}

static napi_value FinishF32(napi_env env, napi_callback_info info) {
  ARGS(7, 7, "finishF32");
  size_t start, end;
  double k;
  if (!count_and_range(env, argv, 3, &k, &start, &end)) return fail(env, "native kernel: bad range or count");
  double *s, *c;
  void *out;
  int32_t *flags;
  size_t fcap;
  if (!state_args(env, argv[0], argv[1], end, 0, &s, &c) || !typed_of(env, argv[2], MF_F32, end, &out)) {
    return fail(env, "native kernel: bad state or output array");
  }
  if (!flags_arg(env, argv[6], &flags, &fcap)) return fail(env, FLAGS_MESSAGE);
  size_t count = 0;
  size_t reached = mf_finish_f32(s, c, out, k, start, end, flags + 1, fcap, &count);
  flags[0] = (int32_t)count;
  return number_value(env, (double)reached);
}

static napi_value AccumulateFinish(napi_env env, napi_callback_info info) {
  ARGS(10, 10, "accumulateFinish");
  size_t start, end;
  double k;
  if (!count_and_range(env, argv, 4, &k, &start, &end)) return fail(env, "native kernel: bad range or count");
  mf_input x;
  if (!input_arg(env, argv[0], end, &x)) return fail(env, "native kernel: bad input");
  double *s, *c, *spill;
  void *out;
  int32_t *flags;
  size_t cap, fcap;
  if (!state_args(env, argv[1], argv[2], end, 1, &s, &c) ||
      !typed_of(env, argv[3], c == NULL ? MF_F64 : MF_F32, end, &out)) {
    return fail(env, "native kernel: bad state or output arrays");
  }
  if (!spill_arg(env, argv[8], &spill, &cap)) return fail(env, SPILL_MESSAGE);
  if (!flags_arg(env, argv[9], &flags, &fcap)) return fail(env, FLAGS_MESSAGE);
  bool first;
  CHECK(napi_get_value_bool(env, argv[7], &first));
  size_t nspill = 0, nflag = 0;
  size_t reached =
      mf_acc_finish(&x, s, c, out, k, start, end, first, spill + 1, cap, &nspill, flags + 1, fcap, &nflag);
  spill[0] = (double)nspill;
  flags[0] = (int32_t)nflag;
  return number_value(env, (double)reached);
}

static napi_value WindowPush(napi_env env, napi_callback_info info) {
  ARGS(10, 10, "windowPush");
  mf_input x, old;
  size_t n;
  int dt;
  void *data;
  if (!typed(env, argv[0], &dt, &n, &data) || !input_arg(env, argv[0], n, &x)) {
    return fail(env, "native kernel: bad input");
  }
  napi_valuetype t;
  CHECK(napi_typeof(env, argv[1], &t));
  if (t != napi_null && !input_arg(env, argv[1], n, &old)) return fail(env, "native kernel: bad leaving input");
  double *s, *c, *fs, *fc;
  void *peak, *fpeak, *inexact, *finexact;
  if (!state_args(env, argv[2], argv[3], n, 0, &s, &c) || !state_args(env, argv[4], argv[5], n, 0, &fs, &fc) ||
      !typed_of(env, argv[6], MF_F64, n, &peak) || !typed_of(env, argv[7], MF_F64, n, &fpeak) ||
      !typed_of(env, argv[8], MF_U8, n, &inexact) || !typed_of(env, argv[9], MF_U8, n, &finexact)) {
    return fail(env, "native kernel: bad window state arrays");
  }
  mf_window_push(&x, t == napi_null ? NULL : &old, s, c, fs, fc, (double *)peak, (double *)fpeak,
                 (uint8_t *)inexact, (uint8_t *)finexact, n);
  return number_value(env, (double)n);
}

static napi_value WindowUntrusted(napi_env env, napi_callback_info info) {
  ARGS(8, 8, "windowUntrusted");
  size_t start, end;
  double size;
  if (!count_and_range(env, argv, 4, &size, &start, &end)) return fail(env, "native kernel: bad range or size");
  double *s, *c;
  void *peak, *inexact;
  int32_t *flags;
  size_t fcap;
  if (!state_args(env, argv[0], argv[1], end, 0, &s, &c) || !typed_of(env, argv[2], MF_F64, end, &peak) ||
      !typed_of(env, argv[3], MF_U8, end, &inexact)) {
    return fail(env, "native kernel: bad window state arrays");
  }
  if (!flags_arg(env, argv[7], &flags, &fcap)) return fail(env, FLAGS_MESSAGE);
  size_t count = 0;
  size_t reached = mf_window_untrusted(s, c, (const double *)peak, (const uint8_t *)inexact, size, start, end,
                                       flags + 1, fcap, &count);
  flags[0] = (int32_t)count;
  return number_value(env, (double)reached);
}

napi_status mf_define_stream(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"accumulate", NULL, Accumulate, NULL, NULL, NULL, napi_enumerable, NULL},
      {"accumulateFinish", NULL, AccumulateFinish, NULL, NULL, NULL, napi_enumerable, NULL},
      {"finishF64", NULL, FinishF64, NULL, NULL, NULL, napi_enumerable, NULL},
      {"finishF32", NULL, FinishF32, NULL, NULL, NULL, napi_enumerable, NULL},
      {"finishF64c", NULL, FinishF64c, NULL, NULL, NULL, napi_enumerable, NULL},
      {"windowPush", NULL, WindowPush, NULL, NULL, NULL, napi_enumerable, NULL},
      {"windowUntrusted", NULL, WindowUntrusted, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
