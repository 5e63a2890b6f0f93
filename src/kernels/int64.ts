/**
 * The exact kernel for fusions with int64/uint64 inputs (`BigInt64Array`, `BigUint64Array`): each result is
 * the float64 (or float32) nearest the exact mean, ties to even.
 *
 * int64 values do not fit a float64 accumulator: 2^63 − 1 rounds to 2^63, and the sum of k such values
 * needs 64 + log2(k) bits. The plain mean of integer inputs therefore sums each element exactly in two
 * float64 words: the high 32 bits of every 64-bit input in one, the low 32 bits (and the narrower integer
 * inputs whole) in the other, both exact below 2^53 for k < 2^20. A total below 2^53 is then one float64
 * and one correctly rounded division; a larger one is divided as a two-float sum with an exact residual,
 * and rounded from the exact BigInt quotient only when it lies too close to a rounding midpoint to tell. Weighted
 * means, and inputs that mix int64 with float data, are summed exactly as BigInt dyadic rationals (every
 * finite float64 is an integer times 2^-1074). Non-finite float inputs give what the scalar kernel gives
 * (±inf, NaN), and `nan: 'omit'` skips NaN float inputs. Pure, synchronous, unchecked.
 *
 * ## References
 * - IEEE 754-2019, 4.3.1 (round to nearest, ties to even).
 */
import { endianness } from 'node:os';
import type { AnyTypedArray, BigIntArray, FloatArray, TypedArray } from '../tensor/dtype.js';
import { nearFloat32Midpoint, productError, roundQuotientToFloat32 } from './exact.js';
import type { MeanKernelParams } from './params.js';
import { meanElement } from './scalar.js';

/** Word order of a 64-bit integer in memory: index of the low 32-bit word. */
const LO = endianness() === 'LE' ? 0 : 1;
const HI = 1 - LO;
/** Below this many inputs the two-word sums of the plain mean are exact (k · 2^33 < 2^53). */
const TWO_WORD_MAX_INPUTS = 2 ** 20;
const TWO_53 = 2 ** 53;

/** True when any input is a BigInt array: the fusion then runs on {@link meanRangeInt64}. */
export function hasBigIntInput(inputs: readonly AnyTypedArray[]): boolean {
  for (const x of inputs) if (x instanceof BigInt64Array || x instanceof BigUint64Array) return true;
  return false;
}

function isBig(x: AnyTypedArray): x is BigIntArray {
  return x instanceof BigInt64Array || x instanceof BigUint64Array;
}

function isFloat(x: AnyTypedArray): boolean {
  return x instanceof Float64Array || x instanceof Float32Array;
}

/** Bits of a positive BigInt. */
function bitLength(a: bigint): number {
  return a.toString(2).length;
}

/**
 * The float64 (or float32) nearest p/q, ties to even; q ≠ 0. Subnormal results are rounded at the
 * format's smallest exponent, results beyond its range are ±inf.
 */
export function roundRatio(p: bigint, q: bigint, toFloat32: boolean): number {
  let num = p;
  let den = q;
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  if (num === 0n) return 0;
  const negative = num < 0n;
  const a = negative ? -num : num;
  const bits = toFloat32 ? 24 : 53;
  const emin = toFloat32 ? -149 : -1074;
  // a/den lies in [2^(la−lq−1), 2^(la−lq+1)): with e = la − lq − bits the quotient a/(den·2^e) has bits or
  // bits + 1 bits; one step up fixes the latter. e is the exponent of the result's last bit.
  let e = bitLength(a) - bitLength(den) - bits;
  const divide = (at: number): [bigint, bigint, bigint] => {
    const n = at >= 0 ? a : a << BigInt(-at);
    const d = at >= 0 ? den << BigInt(at) : den;
    return [n / d, n % d, d];
  };
  let [m, r, d] = divide(e);
  if (m >= 1n << BigInt(bits)) [m, r, d] = divide(++e);
  if (e < emin) [m, r, d] = divide((e = emin));
  const twice = 2n * r;
  if (twice > d || (twice === d && (m & 1n) === 1n)) m += 1n;
  const magnitude = Number(m) * 2 ** e;
  const v = toFloat32 ? Math.fround(magnitude) : magnitude;
  return negative ? -v : v;
}

/** Scratch for the inputs' 32-bit words (views on the same memory) and per-input facts of one call. */
interface Plan {
  readonly lo: (Uint32Array | null)[];
  readonly hi: (Int32Array | Uint32Array | null)[];
  readonly floats: boolean;
}

function planOf(inputs: readonly AnyTypedArray[]): Plan {
  const lo: (Uint32Array | null)[] = [];
  const hi: (Int32Array | Uint32Array | null)[] = [];
  let floats = false;
  for (const x of inputs) {
    if (isBig(x)) {
      lo.push(new Uint32Array(x.buffer, x.byteOffset, x.length * 2));
      hi.push(
        x instanceof BigInt64Array
          ? new Int32Array(x.buffer, x.byteOffset, x.length * 2)
          : new Uint32Array(x.buffer, x.byteOffset, x.length * 2),
      );
    } else {
      lo.push(null);
      hi.push(null);
      floats ||= isFloat(x);
    }
  }
  return { lo, hi, floats };
}

/** The plain mean of element i of integer inputs, from exact two-word sums. */
function plainIntegerMean(
  inputs: readonly AnyTypedArray[],
  plan: Plan,
  i: number,
  toFloat32: boolean,
): number {
  const k = inputs.length;
  let high = 0;
  let low = 0;
  for (let j = 0; j < k; j++) {
    const lo = plan.lo[j];
    if (lo === null) low += (inputs[j] as TypedArray)[i];
    else {
      low += lo[2 * i + LO];
      high += (plan.hi[j] as Int32Array | Uint32Array)[2 * i + HI];
    }
  }
  const t = high * 2 ** 32 + low; // exact whenever |t| < 2^53 (both terms are exact integers)
  if (Math.abs(t) < TWO_53) {
    const m = t / k;
    return toFloat32 ? roundQuotientToFloat32(m, t, 0, k, 0) : m;
  }
  const r = twoWordMean(high * 2 ** 32, low, k, toFloat32);
  return r === r ? r : roundRatio((BigInt(high) << 32n) + BigInt(low), BigInt(k), toFloat32);
}

const bits64 = new Float64Array(1);
const words64 = new Uint32Array(bits64.buffer);

/** The float64 next to finite non-zero `x` away from zero (`up`) or towards it. */
function neighbour(x: number, up: boolean): number {
  bits64[0] = x;
  if (up) {
    if (words64[LO] === 0xffffffff) words64[HI]++;
    words64[LO]++;
  } else {
    if (words64[LO] === 0) words64[HI]--;
    words64[LO]--;
  }
  return bits64[0];
}

/** (s + e) − q·k to about 2^-53 of its size, for q within a few ulps of (s + e)/k (s − p is then exact). */
function residual(s: number, e: number, q: number, k: number): number {
  const p = q * k;
  return s - p - productError(q, k, p) + e;
}

/**
 * The mean (hi + lo)/k of an exact integer total hi + lo (both exact integers, |total| ≥ 2^53) without
 * BigInts: the float64 quotient corrected by its residual, checked to lie clearly within half a spacing of
 * the exact mean; NaN when it is too close to a midpoint to tell (then the caller rounds with BigInts).
 */
function twoWordMean(hi: number, lo: number, k: number, toFloat32: boolean): number {
  const s = hi + lo;
  const z = s - hi;
  const e = hi - (s - z) + (lo - z); // TwoSum: hi + lo = s + e exactly
  const q = s / k;
  const cand = q + residual(s, e, q, k) / k;
  if (toFloat32) return nearFloat32Midpoint(cand) ? Number.NaN : Math.fround(cand);
  const rc = residual(s, e, cand, k);
  if (rc === 0) return cand;
  const away = rc > 0 === cand > 0; // the exact mean lies beyond cand, away from zero
  const spacing = Math.abs(neighbour(cand, away) - cand);
  return Math.abs(rc) / k < (spacing / 2) * (1 - 2 ** -20) ? cand : Number.NaN;
}

/** Trailing zero bits of a non-zero BigInt. */
function trailingZeros(n: bigint): number {
  const a = n < 0n ? -n : n;
  return bitLength(a & -a) - 1;
}

/** An exact finite float64 as N · 2^-1074 (N a BigInt). */
const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
function scaled(x: number): bigint {
  if (x === 0) return 0n;
  f64[0] = x;
  const bits = u64[0];
  const exp = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & 0xfffffffffffffn;
  const n = (exp === 0 ? frac : frac | 0x10000000000000n) << BigInt(Math.max(exp, 1) - 1);
  return x < 0 ? -n : n;
}

/**
 * The general exact mean of element i: Σ wⱼ·xⱼ / Σ wⱼ as BigInt dyadic rationals (weights, float inputs,
 * NaN omission), or the scalar kernel's ±inf/NaN when a counted input is not finite.
 */
function generalMean(
  inputs: readonly AnyTypedArray[],
  weights: readonly bigint[] | null,
  i: number,
  params: MeanKernelParams,
  toFloat32: boolean,
  one: Float64Array[],
): number {
  let s = 0n;
  let w = 0n;
  let withFloats = false;
  // First pass: non-finite float inputs decide the result as in the scalar kernel; find whether any float
  // input counts (then integers are scaled by 2^1074 to share the floats' unit).
  for (let j = 0; j < inputs.length; j++) {
    const x = inputs[j];
    if (isBig(x)) continue;
    const v = x[i];
    if (Number.isNaN(v) && params.nanOmit) continue;
    if (!Number.isFinite(v)) return nonFiniteMean(inputs, i, params, toFloat32, one);
    if (isFloat(x)) withFloats = true;
  }
  for (let j = 0; j < inputs.length; j++) {
    const x = inputs[j];
    let term: bigint;
    if (isBig(x)) term = withFloats ? x[i] << 1074n : x[i];
    else {
      const v = x[i];
      if (Number.isNaN(v)) continue; // omitted (propagation returned above)
      term = withFloats ? scaled(v) : BigInt(v); // integers of the narrow dtypes are exact
    }
    const wj = weights === null ? 1n : weights[j];
    s += wj * term;
    w += wj;
  }
  if (w === 0n) return Number.NaN; // weights cancelled (or every input omitted)
  return roundRatio(s, withFloats ? w << 1074n : w, toFloat32);
}

/** The scalar kernel on element i with 64-bit inputs converted to numbers: only ±inf/NaN come out of it here. */
function nonFiniteMean(
  inputs: readonly AnyTypedArray[],
  i: number,
  params: MeanKernelParams,
  toFloat32: boolean,
  one: Float64Array[],
): number {
  for (let j = 0; j < inputs.length; j++) one[j][0] = Number(inputs[j][i]);
  return meanElement(one, 0, params, toFloat32, 0);
}

/**
 * The exactly rounded mean of element i of any inputs (numbers or BigInts), weighted or not: used by the
 * scalar kernel to settle a weighted float32 result whose float64 quotient lies within a few ulps of a
 * float32 midpoint, where compensated sums cannot tell the side (rare: about one element in 2^40).
 */
export function exactElementMean(
  inputs: readonly AnyTypedArray[],
  i: number,
  params: MeanKernelParams,
  toFloat32: boolean,
): number {
  const weights = params.weights === null ? null : Array.from(params.weights, scaled);
  return generalMean(
    inputs,
    weights,
    i,
    params,
    toFloat32,
    inputs.map(() => new Float64Array(1)),
  );
}

/**
 * Writes `out[i]` = the mean of `inputs[·][i]` for `start ≤ i < end`, exactly rounded, for inputs of
 * which at least one is a BigInt array. Same contract as `meanRange`.
 */
export function meanRangeInt64(
  inputs: readonly AnyTypedArray[],
  out: FloatArray,
  start: number,
  end: number,
  params: MeanKernelParams,
): void {
  const toFloat32 = out instanceof Float32Array;
  const plan = planOf(inputs);
  if (params.weights === null && !plan.floats && inputs.length < TWO_WORD_MAX_INPUTS) {
    for (let i = start; i < end; i++) out[i] = plainIntegerMean(inputs, plan, i, toFloat32);
    return;
  }
  // Weights as exact integers N·2^-1074 (the common scale cancels in Σ w·x / Σ w, and so does a common
  // power of two, which keeps the BigInts short for ordinary weights such as 1, 3 or 0.25).
  let weights = params.weights === null ? null : Array.from(params.weights, scaled);
  if (weights !== null) {
    let shift = 2200n;
    for (const n of weights) if (n !== 0n) shift = BigInt(Math.min(Number(shift), trailingZeros(n)));
    if (shift > 0n && shift < 2200n) weights = weights.map((n) => n >> shift);
  }
  const one = inputs.map(() => new Float64Array(1));
  for (let i = start; i < end; i++) out[i] = generalMean(inputs, weights, i, params, toFloat32, one);
}
