/**
 * Exact means as BigInt dyadic rationals: every finite float64 is an integer times a power of two, so
 * Σ wⱼ·xⱼ / Σ wⱼ over int64, integer and float inputs is a ratio of two BigInts times 2^e, rounded once
 * (to nearest, ties to even) to float64 or float32. Used by the int64 kernel for weighted means, mixed
 * inputs and totals too close to a rounding midpoint to tell otherwise.
 *
 * ## References
 * - IEEE 754-2019, 4.3.1 (round to nearest, ties to even).
 */
import type { AnyTypedArray, BigIntArray } from '../tensor/dtype.js';
import type { MeanKernelParams } from './params.js';
import { meanElement } from './scalar.js';

function isBig(x: AnyTypedArray): x is BigIntArray {
  return x instanceof BigInt64Array || x instanceof BigUint64Array;
}

/** Bits of a positive BigInt. */
function bitLength(a: bigint): number {
  return a.toString(2).length;
}

/**
 * The float64 (or float32) nearest p/q · 2^scale, ties to even; q ≠ 0. Subnormal results are rounded at
 * the format's smallest exponent, results beyond its range are ±inf.
 */
export function roundRatio(p: bigint, q: bigint, toFloat32: boolean, scale = 0): number {
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
  const emin = (toFloat32 ? -149 : -1074) - scale;
  // a/den lies in [2^(la−lq−1), 2^(la−lq+1)): with e = la − lq − bits the quotient a/(den·2^e) has bits or
  // bits + 1 bits; one step up fixes the latter. e + scale is the exponent of the result's last bit.
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
  // m < 2^54 is exact as a number; 2^(e + scale) is split in two so it cannot overflow before the product.
  const half = Math.trunc((e + scale) / 2);
  const magnitude = Number(m) * 2 ** half * 2 ** (e + scale - half);
  const v = toFloat32 ? Math.fround(magnitude) : magnitude;
  return negative ? -v : v;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LOW = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;

/** A finite non-zero float64 as an odd integer m (a number below 2^53) and an exponent: x = m · 2^exponent. */
function decompose(x: number): [number, number] {
  f64[0] = x;
  const high = u32[1 - LOW];
  const lo = u32[LOW];
  const biased = (high >>> 20) & 0x7ff;
  const top = (high & 0xfffff) + (biased !== 0 ? 0x100000 : 0); // bits 32–52 of the significand
  // Strip trailing zeros (a float32 widened to float64 has 29): the BigInts stay short.
  const tz = lo !== 0 ? 31 - Math.clz32(lo & -lo) : 63 - Math.clz32(top & -top);
  const m = (top * 2 ** 32 + lo) / 2 ** tz;
  return [x < 0 ? -m : m, Math.max(biased, 1) - 1075 + tz];
}

/** An exact finite float64 as N · 2^-1074 (N a BigInt). */
export function scaled(x: number): bigint {
  if (x === 0) return 0n;
  const [m, e] = decompose(x);
  return BigInt(m) << BigInt(e + 1074);
}

/** Trailing zero bits of a non-zero BigInt. */
function trailingZeros(n: bigint): number {
  const a = n < 0n ? -n : n;
  return bitLength(a & -a) - 1;
}

let lastWeights: Float64Array | undefined;
let lastExact: bigint[] = [];

/**
 * The weights as exact integers Nⱼ with wⱼ = Nⱼ · 2^t for one common t (which cancels in Σ w·x / Σ w):
 * short BigInts for ordinary weights such as 1, 3 or 0.25. Cached for the last weights array seen.
 */
export function exactWeights(weights: Float64Array): bigint[] {
  if (weights === lastWeights) return lastExact;
  let exact = Array.from(weights, scaled);
  let shift = Number.POSITIVE_INFINITY;
  for (const n of exact) if (n !== 0n) shift = Math.min(shift, trailingZeros(n));
  if (shift > 0 && Number.isFinite(shift)) exact = exact.map((n) => n >> BigInt(shift));
  lastWeights = weights;
  lastExact = exact;
  return exact;
}

/**
 * The exactly rounded mean of element i: Σ wⱼ·xⱼ / Σ wⱼ with BigInt dyadic rationals (weights, float and
 * integer inputs of any width, NaN omission), or the scalar kernel's ±inf/NaN when a counted input is not
 * finite (64-bit inputs converted to numbers there: only the non-finite inputs decide such a result).
 *
 * @param weights - From {@link exactWeights}, or `null` for the plain mean.
 * @param signedZero - An exactly zero sum gives the IEEE sign of Σ wⱼ·xⱼ / Σ wⱼ (−0 only when every counted
 *   term wⱼ·xⱼ is −0; the exact mode's rule) instead of +0.
 */
export function exactElementMean(
  inputs: readonly AnyTypedArray[],
  weights: readonly bigint[] | null,
  i: number,
  params: MeanKernelParams,
  toFloat32: boolean,
  signedZero = false,
): number {
  const k = inputs.length;
  // First pass: non-finite inputs decide the result as in the scalar kernel; find the smallest exponent,
  // the unit every term is expressed in (0 for integers, whose values are exact BigInts).
  let low = Number.POSITIVE_INFINITY;
  for (let j = 0; j < k; j++) {
    const x = inputs[j];
    if (isBig(x)) {
      low = Math.min(low, 0);
      continue;
    }
    const v = x[i];
    if (Number.isNaN(v) && params.nanOmit) continue;
    if (!Number.isFinite(v)) return nonFiniteMean(inputs, i, params, toFloat32);
    if (v !== 0) low = Math.min(low, decompose(v)[1]);
  }
  if (!Number.isFinite(low)) low = 0;
  let s = 0n;
  let w = 0n;
  let negativeZeros = true; // every counted term so far is −0 (IEEE: their sum is −0)
  for (let j = 0; j < k; j++) {
    const x = inputs[j];
    let term: bigint;
    if (isBig(x)) {
      term = low === 0 ? x[i] : x[i] << BigInt(-low);
      negativeZeros = false;
    } else {
      const v = x[i];
      if (Number.isNaN(v)) continue; // omitted (propagation returned above)
      if (negativeZeros) {
        const p = params.weights === null ? v : params.weights[j] * v;
        negativeZeros = p === 0 && 1 / p < 0;
      }
      if (v === 0) term = 0n;
      else {
        const [m, e] = decompose(v);
        term = e === low ? BigInt(m) : BigInt(m) << BigInt(e - low);
      }
    }
    const wj = weights === null ? 1n : weights[j];
    s += wj === 1n ? term : wj * term;
    w += wj;
  }
  if (w === 0n) return Number.NaN; // weights cancelled (or every input omitted)
  if (signedZero && s === 0n) {
    const zero = negativeZeros ? -0 : 0;
    return w < 0n ? -zero : zero;
  }
  return roundRatio(s, w, toFloat32, low);
}

const one: Float64Array[] = [];

/** The scalar kernel on element i with every input converted to a number: for non-finite results only. */
function nonFiniteMean(
  inputs: readonly AnyTypedArray[],
  i: number,
  params: MeanKernelParams,
  toFloat32: boolean,
): number {
  while (one.length < inputs.length) one.push(new Float64Array(1));
  const xs = one.slice(0, inputs.length);
  for (let j = 0; j < inputs.length; j++) xs[j][0] = Number(inputs[j][i]);
  return meanElement(xs, 0, params, toFloat32, 0);
}
