/**
 * The float16/bfloat16 adapter of the mean kernel: half-precision inputs are decoded block by block into
 * float32 (exact), the float32 kernel runs on the block, and a half-precision output is rounded from the
 * kernel's correctly rounded float32 with every rounding midpoint resolved exactly.
 *
 * Why the last step is exact: a half midpoint M (the value halfway between two neighbouring half values) is a
 * float32, and rounding to nearest is monotonic, so the float32 r nearest the exact mean q lies on the same
 * side of M as q unless r = M. Rounding r to half is therefore a single correct rounding except when r is a
 * midpoint; there the sign of q − M decides, computed from the element's inputs: in float64 when every
 * addition and product was exact (the common case: half values have few bits), otherwise with BigInt.
 *
 * ## References
 * - IEEE Std 754-2019 §4.3.1 (roundTiesToEven); S. Boldo, G. Melquiond, "When double rounding is odd", 2005
 *   (why rounding a rounded value again is not a correct rounding in general).
 */
import type { FloatArray, TypedArray } from '../tensor/dtype.js';
import { decodeHalfInto, type HalfDType } from '../tensor/half.js';
import { productError, SPLIT_LIMIT } from './exact.js';
import { meanHalfNative } from './native-half.js';
import type { HalfKernelDTypes, MeanKernelParams } from './params.js';

/** Elements per block: k float32 blocks of 16 KiB stay in cache next to the kernel's own staging. */
const BLOCK = 4096;

/** Reused scratch (one float32 block per input, plus the float32 result block), grown on demand. */
let scratch = new Float32Array(0);

type Kernel = (
  inputs: readonly TypedArray[],
  out: FloatArray,
  start: number,
  end: number,
  params: MeanKernelParams,
) => void;

/**
 * Writes the mean of elements `[start, end)` of `inputs` into `out`, where `params.half` names the inputs
 * and the output that are float16/bfloat16 (`Uint16Array` bit patterns). The result is bitwise that of
 * `kernel` on the inputs decoded to float32 for a float32/float64 output, and the half value nearest the
 * exact mean (ties to even) for a half output, whenever `kernel`'s float32 result is correctly rounded.
 */
export function meanRangeHalf(
  inputs: readonly TypedArray[],
  out: FloatArray | Uint16Array,
  start: number,
  end: number,
  params: MeanKernelParams,
  kernel: Kernel,
): void {
  const half = params.half as HalfKernelDTypes;
  // The plain mean runs in C when the addon is loaded (native/half.c, the same bits).
  // (The exact mode, weights and NaN omission take the reference.)
  const plainMean = params.weights === null && !params.nanOmit && params.exact !== true;
  if (plainMean && meanHalfNative(inputs, out, start, end, half)) return;
  meanRangeHalfReference(inputs, out, start, end, params, kernel);
}

/**
 * {@link meanRangeHalf} in JavaScript (block decode, `kernel`, exact rounding): the reference the native
 * half kernel must match bit for bit, and the path of weighted, NaN-omitting and exact-mode means.
 */
export function meanRangeHalfReference(
  inputs: readonly TypedArray[],
  out: FloatArray | Uint16Array,
  start: number,
  end: number,
  params: MeanKernelParams,
  kernel: Kernel,
): void {
  const half = params.half as HalfKernelDTypes;
  const plain: MeanKernelParams = {
    weights: params.weights,
    nanOmit: params.nanOmit,
    ...(params.exact === true ? { exact: true } : {}),
  };
  const k = inputs.length;
  const halfOut = half.out;
  const need = (k + 1) * BLOCK;
  if (scratch.length < need) scratch = new Float32Array(need);
  const f32out = scratch.subarray(k * BLOCK, (k + 1) * BLOCK);
  for (let b = start; b < end; b += BLOCK) {
    const m = Math.min(BLOCK, end - b);
    const views = inputs.map((x, j) => {
      const dt = half.inputs[j];
      if (dt === null) return x.subarray(b, b + m);
      return decodeHalfInto(x as Uint16Array, dt, b, m, scratch.subarray(j * BLOCK, j * BLOCK + m));
    });
    if (halfOut === null) {
      kernel(views, (out as FloatArray).subarray(b, b + m), 0, m, plain);
      continue;
    }
    const r = f32out.subarray(0, m);
    kernel(views, r, 0, m, plain);
    roundBlock(r, out as Uint16Array, b, halfOut, views, plain);
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Rounds a block of correctly rounded float32 results `r` to `dtype` into `out[at…]`. bfloat16 is the high
 * half of a float32, so the common case is one shift and one comparison of the low half with 0x8000; ties
 * and float16 go through {@link roundToHalf}.
 */
function roundBlock(
  r: Float32Array,
  out: Uint16Array,
  at: number,
  dtype: HalfDType,
  views: readonly TypedArray[],
  params: MeanKernelParams,
): void {
  const m = r.length;
  if (dtype === 'bfloat16') {
    // Int32 bits (not Uint32): values with the sign bit set stay small integers in optimised code.
    const bits = new Int32Array(r.buffer, r.byteOffset, m);
    for (let i = 0; i < m; i++) {
      const u = bits[i];
      const rest = u & 0xffff;
      if (rest !== 0x8000 && (u & 0x7fffffff) <= 0x7f800000) {
        // Not a tie, not NaN: the sign-and-magnitude bits cut, plus one (away from zero) above half.
        out[at + i] = (u >>> 16) + (rest > 0x8000 ? 1 : 0);
      } else {
        out[at + i] = roundToHalf(r[i], dtype, views, i, params);
      }
    }
    return;
  }
  for (let i = 0; i < m; i++) out[at + i] = roundToHalf(r[i], dtype, views, i, params);
}

/**
 * The half nearest the exact mean of element `i`, given its correctly rounded float32 `r`: the bits of r
 * cut to the half format (toward zero) and the cut-off bits compared with half an ulp, all in integers;
 * only an exact tie (r is a midpoint) asks the inputs which side the exact mean lies on.
 */
function roundToHalf(
  r: number,
  dtype: HalfDType,
  views: readonly TypedArray[],
  i: number,
  params: MeanKernelParams,
): number {
  f32[0] = r;
  const u = u32[0];
  const sign = (u >>> 16) & 0x8000;
  const e = (u >>> 23) & 0xff;
  if (e === 0xff)
    return (u & 0x7fffff) !== 0
      ? dtype === 'float16'
        ? 0x7e00
        : 0x7fc0
      : sign | (dtype === 'float16' ? 0x7c00 : 0x7f80);
  let t: number; // |r| truncated to the half format, as bits without the sign
  let rest: number; // the cut-off bits
  let half: number; // half an ulp of the half format, in the same units as `rest`
  if (dtype === 'bfloat16') {
    t = (u >>> 16) & 0x7fff;
    rest = u & 0xffff;
    half = 0x8000;
  } else if (e >= 143) {
    return sign | 0x7c00; // |r| ≥ 2^16: beyond the overflow threshold 65520
  } else if (e >= 113) {
    t = ((e - 112) << 10) | ((u & 0x7fffff) >>> 13);
    rest = u & 0x1fff;
    half = 0x1000;
  } else if (e >= 102) {
    // float16 subnormal: |r| / 2^-24 = significand · 2^(e − 126), cut at `shift` bits.
    const shift = 126 - e;
    const m = (u & 0x7fffff) | 0x800000;
    t = m >>> shift;
    rest = m & ((1 << shift) - 1);
    half = 1 << (shift - 1);
  } else {
    return sign; // |r| < 2^-25: rounds to zero
  }
  // t + 1 carries into the exponent where it must (and reaches ∞ from the largest finite value).
  if (rest < half) return sign | t;
  if (rest > half) return sign | (t + 1);
  const side = compareMean(views, i, params, r);
  if (side === 0) return sign | ((t & 1) === 0 ? t : t + 1);
  // side > 0: the exact mean is above the midpoint r, so away from zero for r > 0, toward it for r < 0.
  const away = side > 0 ? sign === 0 : sign !== 0;
  return sign | (away ? t + 1 : t);
}

/**
 * The sign of q − mid, where q = Σ wⱼxⱼ / Σ wⱼ is the exact mean of element `i` (NaNs skipped when
 * `nanOmit`; the caller has a finite float32 result, so the finite inputs that count are all there is).
 */
export function compareMean(
  views: readonly ArrayLike<number>[],
  i: number,
  params: MeanKernelParams,
  mid: number,
): number {
  const { weights, nanOmit } = params;
  if (weights === null && !nanOmit) {
    // The plain mean: Σx against mid·k. Half-precision inputs usually sum exactly in float64.
    const k = views.length;
    let t = views[0][i];
    let exactSum = true;
    for (let j = 1; j < k; j++) {
      const x = views[j][i];
      const u = t + x;
      const z = u - t;
      if (t - (u - z) + (x - z) !== 0) exactSum = false;
      t = u;
    }
    const p = mid * k;
    // Exact: t and p are within a factor of 2 (q rounds to mid), and p's error is computed exactly.
    if (exactSum && Number.isFinite(t) && Math.abs(p) >= 2 ** -969)
      return Math.sign(t - p - productError(mid, k, p));
  }
  let s = 0;
  let w = 0;
  let exact = true;
  for (let j = 0; j < views.length; j++) {
    const x = views[j][i];
    if (nanOmit && Number.isNaN(x)) continue;
    const wj = weights === null ? 1 : weights[j];
    let v = x;
    if (weights !== null) {
      v = wj * x;
      if (v !== 0 && (Math.abs(v) < 2 ** -969 || Math.abs(x) >= SPLIT_LIMIT || Math.abs(wj) >= SPLIT_LIMIT)) {
        exact = false;
      } else if (v !== 0 && productError(wj, x, v) !== 0) exact = false;
    }
    const t = s + v;
    const z = t - s;
    if (s - (t - z) + (v - z) !== 0 || !Number.isFinite(t)) exact = false;
    s = t;
    const u = w + wj;
    const y = u - w;
    if (w - (u - y) + (wj - y) !== 0) exact = false;
    w = u;
  }
  if (exact) {
    const p = mid * w;
    if (Number.isFinite(p) && Math.abs(p) >= 2 ** -969) {
      // s and p are within a factor of 2 of each other here (q rounds to mid in float32), so s − p is
      // exact (Sterbenz) and the sign of (s − p) − e, e the product's exact error, is that of s − mid·w.
      const d = s - p - productError(mid, w, p);
      return Math.sign(d) * Math.sign(w);
    }
  }
  return compareMeanBig(views, i, params, mid);
}

/** {@link compareMean} in exact integer arithmetic (every finite double is an integer times 2^-1074). */
function compareMeanBig(
  views: readonly ArrayLike<number>[],
  i: number,
  params: MeanKernelParams,
  mid: number,
): number {
  let num = 0n;
  let den = 0n;
  for (let j = 0; j < views.length; j++) {
    const x = views[j][i];
    if (params.nanOmit && Number.isNaN(x)) continue;
    const w = params.weights === null ? 1 : params.weights[j];
    num += scaled(w) * scaled(x);
    den += scaled(w);
  }
  const d = num - scaled(mid) * den;
  const sd = d > 0n ? 1 : d < 0n ? -1 : 0;
  return den < 0n ? -sd : sd;
}

const dv = new DataView(new ArrayBuffer(8));

/** The finite double x as the integer x · 2^1074. */
function scaled(x: number): bigint {
  if (x === 0) return 0n;
  dv.setFloat64(0, x);
  const bits = dv.getBigUint64(0);
  const exp = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & 0xfffffffffffffn;
  const mant = exp === 0 ? frac : frac | 0x10000000000000n;
  const v = mant << BigInt(Math.max(exp, 1) - 1);
  return bits >> 63n ? -v : v;
}
