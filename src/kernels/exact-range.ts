/**
 * The exact mode kernel (`exact: true`) over an element range: every result is the value of the output
 * dtype nearest the exact Σ wᵢ·xᵢ / Σ wᵢ of the inputs as given, ties to even, for any data.
 *
 * A certified fast path (error-free running state and a rounding certificate: exact-sum.ts, and its C twin
 * native/exact.h) decides almost every element; the rest go to the exact accumulator of
 * exact-rational.ts (BigInt dyadic rationals: one pass over the element's k inputs, so even data where every
 * element needs it runs in time linear in k·n). Correct rounding is unique, so the native and JavaScript
 * paths, every thread count and every chunking give the same bits. Non-finite inputs give what the default
 * mode gives (±inf, NaN). Pure, synchronous, unchecked (callers validate).
 */
import type { AnyTypedArray, FloatArray, TypedArray } from '../tensor/dtype.js';
import { exactElementMean, exactWeights } from './exact-rational.js';
import { exactProductError, exactStep, finishExact, stepState } from './exact-sum.js';
import { hasBigIntInput } from './int64.js';
import { nativeReads } from './native.js';
import { meanExactNative, nativeExact } from './native-exact.js';
import type { MeanKernelParams } from './params.js';

/**
 * One NaN for every path: NaNs made by different hardware operations (inf − inf, 0·inf) differ in their
 * sign bit; the exact mode writes the quiet NaN 0x7ff8… wherever its result is NaN.
 */
export function canonical(x: number): number {
  return x === x ? x : Number.NaN;
}

/** Below this many elements a native call costs more than the JavaScript loop saves. */
const NATIVE_MIN_ELEMENTS = 64;

/** Divisors the certificate takes: finite and of a magnitude in [2^-400, 2^400] (else all exact). */
function certifiable(d: number): boolean {
  const a = Math.abs(d);
  return a >= 2 ** -400 && a <= 2 ** 400;
}

let lastWeights: Float64Array | null = null;
let lastSum = Number.NaN;

/**
 * Σw exactly as one float64 when the TwoSum cascade over the weights is error-free (weights such as 1, 3,
 * 0.25, or 1 and −0.99), else NaN: the certificate then has no single divisor and every element is exact.
 */
function exactWeightSum(weights: Float64Array): number {
  if (weights === lastWeights) return lastSum;
  let s = 0;
  let c = 0;
  let ok = true;
  for (let j = 0; j < weights.length && ok; j++) {
    ok = exactStep(s, c, weights[j]);
    s = stepState.s;
    c = stepState.c;
  }
  // s + c is the exact sum; it is one float64 when c is 0 or s + c rounds without error.
  const sum = s + c;
  lastWeights = weights;
  lastSum = ok && sum - s === c ? sum : Number.NaN;
  return lastSum;
}

/**
 * Writes `out[i]` = the exactly rounded mean of `inputs[·][i]` for `start ≤ i < end` (float64 or float32
 * output; float16/bfloat16 are handled around this by half-range.ts). Same contract as `meanRange`.
 */
export function meanRangeExact(
  inputs: readonly AnyTypedArray[],
  out: FloatArray,
  start: number,
  end: number,
  params: MeanKernelParams,
): void {
  const toFloat32 = out instanceof Float32Array;
  const weights = params.weights === null ? null : exactWeights(params.weights);
  if (hasBigIntInput(inputs)) {
    for (let i = start; i < end; i++)
      out[i] = canonical(exactElementMean(inputs, weights, i, params, toFloat32, true));
    return;
  }
  const numbers = inputs as readonly TypedArray[];
  if (params.weights === null && !params.nanOmit && end - start >= NATIVE_MIN_ELEMENTS) {
    const native = nativeExact();
    if (native !== null && nativeReads(numbers)) {
      meanExactNative(native, numbers, out, start, end, (i) => {
        out[i] = canonical(exactElementMean(numbers, null, i, params, toFloat32, true));
      });
      return;
    }
  }
  const d = params.weights === null ? inputs.length : exactWeightSum(params.weights);
  for (let i = start; i < end; i++) {
    let r = certifiedElement(numbers, i, params, d, toFloat32);
    if (Number.isNaN(r)) r = canonical(exactElementMean(numbers, weights, i, params, toFloat32, true));
    out[i] = r;
  }
}

/**
 * The certified fast path of element i: its error-free state over the inputs (products w·x as TwoProduct
 * pairs, NaN inputs skipped under `nan: 'omit'` with the divisor counted per element), finished by
 * {@link finishExact}. NaN when the element needs the exact accumulator.
 *
 * @param d - The divisor without NaN omission: k, or the weights' exact sum (NaN when it is not one float64).
 */
function certifiedElement(
  inputs: readonly TypedArray[],
  i: number,
  params: MeanKernelParams,
  d: number,
  toFloat32: boolean,
): number {
  const weights = params.weights;
  const nanOmit = params.nanOmit;
  let s = 0;
  let c = 0;
  let lost = 0; // Σ of what steps that were not error-free lost (a bound for the finish)
  let ds = 0; // the divisor under omission: a count, or the weights' error-free state (ds, dc)
  let dc = 0;
  let started = false;
  for (let j = 0; j < inputs.length; j++) {
    const x = inputs[j][i];
    if (nanOmit && x !== x) continue;
    const w = weights === null ? 1 : weights[j];
    const v = weights === null ? x : w * x;
    const e = weights === null ? 0 : exactProductError(w, x, v);
    if (e !== e) return Number.NaN;
    if (!started) {
      s = v;
      c = e;
      started = true;
      if (x - x !== 0) return Number.NaN; // ±inf or NaN: the exact accumulator gives the default result
    } else {
      if (!exactStep(s, c, v)) {
        if (x - x !== 0 || stepState.lost !== stepState.lost) return Number.NaN; // not finite
        lost += Math.abs(stepState.lost);
      }
      s = stepState.s;
      c = stepState.c;
      if (e !== 0) {
        // c + e: its rounding error (exact by TwoSum) is lost too.
        const t = c + e;
        const z = t - c;
        lost += Math.abs(c - (t - z) + (e - z));
        c = t;
      }
    }
    if (nanOmit) {
      if (weights === null) ds += 1;
      else {
        if (!exactStep(ds, dc, w)) return Number.NaN;
        ds = stepState.s;
        dc = stepState.c;
      }
    }
  }
  if (!started) return Number.NaN; // every input NaN and omitted
  let divisor = d;
  if (nanOmit) {
    divisor = ds + dc;
    if (divisor - ds !== dc) return Number.NaN; // the counted weights' sum is not one float64
  }
  if (!certifiable(divisor)) return Number.NaN;
  if (!(lost < Number.POSITIVE_INFINITY)) return Number.NaN;
  return finishExact(s, c, divisor, toFloat32, lost);
}
