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
import { exactElementMean, exactWeights, roundRatio } from './exact-rational.js';
import type { MeanKernelParams } from './params.js';

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

export { roundRatio };

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
  const weights = params.weights === null ? null : exactWeights(params.weights);
  for (let i = start; i < end; i++) out[i] = exactElementMean(inputs, weights, i, params, toFloat32);
}
