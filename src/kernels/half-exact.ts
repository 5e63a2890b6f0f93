/**
 * The fast path of the plain mean of half-precision inputs into a half-precision output: when a block's
 * float64 sums are exact (its values span few enough binades, as model weights do), the float64 kernel's
 * sequential sum s is the exact Σx, its quotient m = fl(s / k) is rounded once, and m rounds to the half
 * format correctly with integer operations on its bits. An m exactly on a half midpoint M is a true tie:
 * q = s/k ≠ M would put |s − kM| ≥ 2^L (s a multiple of 2^L, the block's finest input ulp) or ≥ half an
 * ulp of M times k, both more than the k/2 float64 ulps of M that fl(s/k) = M allows, by the exactness
 * bound below. No compensated float32 pass, and no look at the inputs for the frequent ties of k = 2, 4, 8.
 *
 * ## References
 * - IEEE Std 754-2019 §4.3.1 (roundTiesToEven). Exactness: a sum of k values that are multiples of 2^L
 *   and below 2^(E+1) in magnitude is exact in binary64 when log2(k) + E + 1 − L ≤ 53.
 */
import type { HalfDType } from '../tensor/half.js';

/** Fraction bits and exponent bias of each half format. */
const FORMAT = {
  float16: { frac: 10, bias: 15 },
  bfloat16: { frac: 7, bias: 127 },
} as const;

/**
 * True when every partial sum of elements `[at, at + m)` of the inputs (half bit patterns) is exact in
 * float64. False as well for a block holding an infinity, a NaN or a subnormal (the general path then
 * handles it).
 */
export function blockSumsExact(
  inputs: readonly Uint16Array[],
  dtypes: readonly HalfDType[],
  at: number,
  m: number,
): boolean {
  let maxE = -10000;
  let minLsb = 10000;
  for (let j = 0; j < inputs.length; j++) {
    const { frac, bias } = FORMAT[dtypes[j]];
    const range =
      dtypes[j] === 'bfloat16' ? exponentRange8(inputs[j], at, m) : exponentRange5(inputs[j], at, m);
    if (range < 0) return false;
    if (range === 0) continue; // all zeros
    maxE = Math.max(maxE, (range & 0xff) - bias);
    minLsb = Math.min(minLsb, (range >>> 8) - bias - frac);
  }
  return Math.ceil(Math.log2(inputs.length)) + maxE + 1 - minLsb <= 53;
}

/**
 * The smallest and largest exponent fields of the nonzero bfloat16 values in `x[at, at + m)`, as
 * `min << 8 | max`; 0 when all are zero; −1 for a subnormal, an infinity or a NaN.
 */
function exponentRange8(x: Uint16Array, at: number, m: number): number {
  let lo = 0xff;
  let hi = 0;
  for (let i = at; i < at + m; i++) {
    const h = x[i];
    const e = (h >>> 7) & 0xff;
    if (((e - 1) & 0xff) >= 0xfe) {
      // e is 0 or 0xff: ±0 is fine, subnormals, infinities and NaNs are not.
      if (e !== 0 || (h & 0x7f) !== 0) return -1;
      continue;
    }
    lo = Math.min(lo, e);
    hi = Math.max(hi, e);
  }
  return hi === 0 ? 0 : (lo << 8) | hi;
}

/** {@link exponentRange8} for float16 (5-bit exponent field). */
function exponentRange5(x: Uint16Array, at: number, m: number): number {
  let lo = 0x1f;
  let hi = 0;
  for (let i = at; i < at + m; i++) {
    const h = x[i];
    const e = (h >>> 10) & 0x1f;
    if (((e - 1) & 0x1f) >= 0x1e) {
      if (e !== 0 || (h & 0x3ff) !== 0) return -1;
      continue;
    }
    lo = Math.min(lo, e);
    hi = Math.max(hi, e);
  }
  return hi === 0 ? 0 : (lo << 8) | hi;
}

/**
 * Rounds the float64 means `means` (each fl(s/k) of an exact sum s) of a block to `dtype` into
 * `out[at…]`, ties to even. Returns false, having written part of the block, when an element falls in the
 * half format's subnormal range (the caller then reruns the block on the general path).
 */
export function roundMeansExact(
  means: Float64Array,
  out: Uint16Array,
  at: number,
  dtype: HalfDType,
): boolean {
  const { frac, bias } = FORMAT[dtype];
  const words = new Int32Array(means.buffer, means.byteOffset, 2 * means.length);
  const hiWord = LITTLE ? 1 : 0;
  const cut = 20 - frac; // bits of the high word's fraction below the half format's fraction
  const halfBit = 1 << (cut - 1);
  const restMask = (1 << cut) - 1;
  const inf = dtype === 'float16' ? 0x7c00 : 0x7f80;
  for (let i = 0; i < means.length; i++) {
    const hi = words[2 * i + hiWord];
    const lo = words[2 * i + 1 - hiWord];
    const sign = (hi >>> 16) & 0x8000;
    const e64 = (hi >>> 20) & 0x7ff;
    if (e64 === 0 && (hi & 0xfffff) === 0 && lo === 0) {
      out[at + i] = sign; // ±0
      continue;
    }
    const E = e64 - 1023;
    if (E > bias) {
      out[at + i] = sign | inf; // at or beyond 2^(emax+1)
      continue;
    }
    if (E < 1 - bias) return false; // subnormal in the half format
    const t = ((E + bias) << frac) | ((hi & 0xfffff) >>> cut);
    const rest = hi & restMask;
    // Above half an ulp: up; exactly half (m is the midpoint, a true tie: see above): to even.
    const up = rest !== halfBit ? rest > halfBit : lo !== 0 || (t & 1) === 1;
    // t + 1 carries into the exponent where it must (up to ∞ from the largest finite value).
    out[at + i] = sign | (up ? t + 1 : t);
  }
  return true;
}

const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
