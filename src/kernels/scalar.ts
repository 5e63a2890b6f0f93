/**
 * Scalar mean kernel: one element at a time, every feature (weights, NaN omission, compensation, scaling).
 *
 * It serves the weighted and `nan: 'omit'` modes, and is the overflow-safe path for any element whose
 * fast-path result is not finite. Per element, inputs are added in input order, so results do not depend on
 * how the elements are split into blocks, chunks or threads.
 */
import type { FloatArray, TypedArray } from '../tensor/dtype.js';
import { productError, productErrorAny, roundQuotientToFloat32, SPLIT_LIMIT } from './exact.js';
import type { MeanKernelParams } from './params.js';
import { type Float32WeightPlan, float32WeightPlan } from './weight-scale.js';

/**
 * Scale exponent for the overflow-safe path: with inputs scaled by 2^-e the weighted sum cannot overflow,
 * since |Σ wᵢ·xᵢ·2^-e| ≤ Σ|wᵢ| · MAX · 2^-e < MAX.
 */
function safeExponent(k: number, weights: Float64Array | null, plan: Float32WeightPlan | null): number {
  if (plan !== null) return plan.safeExponent;
  let total = k;
  if (weights !== null) {
    total = 0;
    for (let j = 0; j < k; j++) total += Math.abs(weights[j]);
  }
  return scaleExponentFor(total);
}

/** The overflow-safe scale exponent for a total weight (k, or Σ|wᵢ| summed in input order). */
export function scaleExponentFor(total: number): number {
  return Math.max(1, Math.ceil(Math.log2(total)) + 1);
}

/**
 * Mean of element `i` over `inputs`, as float64, or correctly rounded to float32 when `toFloat32`.
 * `scaleExp` > 0 runs the overflow-safe variant (inputs scaled by 2^-scaleExp, result scaled back).
 * The sum is compensated (TwoSum/TwoProduct) when `toFloat32` and a plain sequential sum otherwise; the
 * weight sum is always compensated. A weighted float32 result is computed with the weights scaled by powers
 * of two ({@link float32WeightPlan}), so products and their error terms stay in float64's range.
 */
export function meanElement(
  inputs: readonly TypedArray[],
  i: number,
  params: MeanKernelParams,
  toFloat32: boolean,
  scaleExp: number,
): number {
  const nanOmit = params.nanOmit;
  const plan: Float32WeightPlan | null =
    toFloat32 && params.weights !== null ? float32WeightPlan(params.weights) : null;
  const weights = plan === null ? params.weights : plan.w;
  const scale = 2 ** -scaleExp;
  let s = 0;
  let c = 0;
  let wHi = 0;
  let wLo = 0;
  let started = false;
  for (let j = 0; j < inputs.length; j++) {
    const x = inputs[j][i];
    if (plan !== null && plan.b[j] !== 1) {
      // The weight scale changed (a larger weight): rescale the running sums as a stream does.
      const a = plan.a[j];
      const b = plan.b[j];
      s = s * a * b;
      c = c * a * b;
      wHi = wHi * a * b;
      wLo = wLo * a * b;
    }
    if (nanOmit && Number.isNaN(x)) continue;
    const w = weights === null ? 1 : weights[j];
    const xs = x * scale;
    let v = xs;
    let e = 0;
    if (weights !== null) {
      v = w * xs;
      if (toFloat32) {
        // Dekker's split directly when it cannot overflow (the common case), else with rebalanced exponents.
        e =
          Math.abs(w) < SPLIT_LIMIT && Math.abs(xs) < SPLIT_LIMIT && v - v === 0
            ? productError(w, xs, v)
            : productErrorAny(w, xs, v);
      }
    }
    if (!started) {
      s = v;
      c = e;
      wHi = w;
      started = true;
      continue;
    }
    const t = s + v;
    if (toFloat32) {
      const z = t - s;
      c += s - (t - z) + (v - z) + e;
    }
    // The denominator is always compensated: Σw is then within one rounding of exact.
    const u = wHi + w;
    const y = u - wHi;
    wLo += wHi - (u - y) + (w - y);
    wHi = u;
    s = t;
  }
  if (!started || wHi + wLo === 0) return Number.NaN; // every input NaN (omit) or weights cancelled
  if (!Number.isFinite(s)) {
    if (scaleExp === 0 && !Number.isNaN(s)) {
      return meanElement(inputs, i, params, toFloat32, safeExponent(inputs.length, weights, plan));
    }
    if (scaleExp === 0 && Number.isNaN(s) && !hasNaNOrOpposedInfinities(inputs, i, params)) {
      return meanElement(inputs, i, params, toFloat32, safeExponent(inputs.length, weights, plan));
    }
    const q = s / (wHi + wLo); // ±inf takes the sign of Σw; NaN stays NaN
    return toFloat32 ? Math.fround(q) : q;
  }
  const sum = c === 0 ? s : s + c;
  const m = sum / (wLo === 0 ? wHi : wHi + wLo);
  if (scaleExp > 0) {
    const r = m * 2 ** scaleExp;
    return toFloat32 ? Math.fround(r) : r;
  }
  if (!Number.isFinite(m)) {
    return meanElement(inputs, i, params, toFloat32, safeExponent(inputs.length, weights, plan));
  }
  // A float32 result is decided from the compensated state alone (so that a stream, which keeps only that
  // state, gives the same bits): at an exact or near tie it may land on either neighbour (see README).
  return toFloat32 ? roundQuotientToFloat32(m, s, c, wHi, wLo) : m;
}

/** True when the exact result of element `i` is NaN: a NaN input that counts, 0·inf, or +inf and −inf inputs together. */
function hasNaNOrOpposedInfinities(
  inputs: readonly TypedArray[],
  i: number,
  params: MeanKernelParams,
): boolean {
  let pos = false;
  let neg = false;
  for (let j = 0; j < inputs.length; j++) {
    const x = inputs[j][i];
    if (Number.isNaN(x)) {
      if (!params.nanOmit) return true;
      continue;
    }
    if (Number.isFinite(x)) continue; // finite products that overflowed are handled by scaling
    const v = params.weights === null ? x : params.weights[j] * x;
    if (Number.isNaN(v)) return true; // weight 0 times an infinity
    if (v === Number.POSITIVE_INFINITY) pos = true;
    else if (v === Number.NEGATIVE_INFINITY) neg = true;
  }
  return pos && neg;
}

/** Writes the mean of elements [start, end) of `inputs` into `out` with the scalar kernel. */
export function meanRangeScalar(
  inputs: readonly TypedArray[],
  out: FloatArray,
  start: number,
  end: number,
  params: MeanKernelParams,
): void {
  const toFloat32 = out instanceof Float32Array;
  for (let i = start; i < end; i++) out[i] = meanElement(inputs, i, params, toFloat32, 0);
}

/** The overflow-safe result of element `i` (used by the fast path for elements whose result is not finite). */
export function meanElementSafe(
  inputs: readonly TypedArray[],
  i: number,
  params: MeanKernelParams,
  toFloat32: boolean,
): number {
  return meanElement(inputs, i, params, toFloat32, 0);
}
