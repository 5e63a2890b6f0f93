/**
 * IEEE 754 binary16 (`float16`) and Google Brain's bfloat16, stored as raw bit patterns in `Uint16Array`
 * (Node 20 has no `Float16Array`): exact decoding and correctly rounded encoding (to nearest, ties to even).
 *
 * A leaf module: it imports nothing, so worker threads can load it on its own.
 *
 * ## References
 * - IEEE Std 754-2019, §3.6 (binary16: 1 sign, 5 exponent, 10 fraction bits, bias 15) and §4.3.1
 *   (roundTiesToEven; overflow to ±∞ when the rounded value exceeds the largest finite number).
 * - bfloat16: the upper 16 bits of an IEEE binary32 (1 sign, 8 exponent, 7 fraction bits, bias 127), as in
 *   TensorFlow, PyTorch and `ml_dtypes`.
 */

/** The two half-precision dtypes. */
export type HalfDType = 'float16' | 'bfloat16';

/** True for `'float16'` and `'bfloat16'`. */
export function isHalfDType(dtype: unknown): dtype is HalfDType {
  return dtype === 'float16' || dtype === 'bfloat16';
}

/** The parameters of one half format. */
interface HalfFormat {
  /** Fraction bits. */
  readonly frac: number;
  /** Exponent bias. */
  readonly bias: number;
  /** Smallest normal magnitude, 2^(1 − bias). */
  readonly minNormal: number;
  /** 2^(frac + bias − 1): scales a subnormal magnitude to its integer fraction field. */
  readonly subScale: number;
  /** The midpoint between the largest finite value and 2^(emax+1): from here on values round to ∞. */
  readonly overflow: number;
  /** Bits of +∞ and of the canonical quiet NaN. */
  readonly inf: number;
  readonly nan: number;
}

const F16: HalfFormat = {
  frac: 10,
  bias: 15,
  minNormal: 2 ** -14,
  subScale: 2 ** 24,
  overflow: 65520, // (2 − 2^-11) · 2^15
  inf: 0x7c00,
  nan: 0x7e00,
};

const BF16: HalfFormat = {
  frac: 7,
  bias: 127,
  minNormal: 2 ** -126,
  subScale: 2 ** 133,
  overflow: (2 - 2 ** -8) * 2 ** 127,
  inf: 0x7f80,
  nan: 0x7fc0,
};

/** The largest finite float16 (65504) and bfloat16 (≈ 3.39e38). */
export const FLOAT16_MAX = 65504;
export const BFLOAT16_MAX = (2 - 2 ** -7) * 2 ** 127;

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
/** Index of the high (sign and exponent) word of a float64 in `u32`. */
const HI = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f ? 1 : 0;
const f32 = new Float32Array(1);
const f32bits = new Uint32Array(f32.buffer);
const TWO52 = 2 ** 52;

/** Correctly rounded encoding of a float64 into `fmt` (ties to even; NaN → the canonical quiet NaN). */
function encode(x: number, fmt: HalfFormat): number {
  if (x !== x) return fmt.nan;
  const sign = x < 0 || (x === 0 && 1 / x < 0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= fmt.overflow) return sign | fmt.inf;
  if (a < fmt.minNormal) {
    // Subnormal (or zero): the fraction is a·2^(frac + bias − 1) rounded to an integer. Adding and
    // subtracting 2^52 rounds to an integer, ties to even, exactly as IEEE addition does. A result of
    // 2^frac is the smallest normal number, whose encoding is that same integer.
    return sign | (a * fmt.subScale + TWO52 - TWO52);
  }
  f64[0] = a;
  const e = ((u32[HI] >>> 20) & 0x7ff) - 1023;
  // a·2^(frac − e) ∈ [2^frac, 2^(frac+1)): the significand as an integer; exact power-of-two scaling.
  const n = a * 2 ** (fmt.frac - e) + TWO52 - TWO52;
  // n = 2^(frac+1) carries into the exponent field, which is the correct encoding.
  return sign | (((e + fmt.bias) << fmt.frac) + n - (1 << fmt.frac));
}

/**
 * The float16 nearest `x` (IEEE 754 roundTiesToEven), as bits. ±0, ±∞ and subnormals as IEEE says; values
 * from 65520 up round to ∞; every NaN gives the quiet NaN 0x7e00.
 */
export function encodeFloat16(x: number): number {
  return encode(x, F16);
}

/**
 * The bfloat16 nearest `x` (roundTiesToEven), as bits. Values from (2 − 2^-8)·2^127 up round to ∞; every
 * NaN gives the quiet NaN 0x7fc0.
 */
export function encodeBFloat16(x: number): number {
  return encode(x, BF16);
}

/** The exact value of the float16 bit pattern `h` (bits 16 and up ignored). */
export function decodeFloat16(h: number): number {
  const e = (h >>> 10) & 0x1f;
  const f = h & 0x3ff;
  const v =
    e === 0 ? f * 2 ** -24 : e === 31 ? (f === 0 ? Infinity : Number.NaN) : (1024 + f) * 2 ** (e - 25);
  return h & 0x8000 ? -v : v;
}

/** The exact value of the bfloat16 bit pattern `h` (bits 16 and up ignored). */
export function decodeBFloat16(h: number): number {
  f32bits[0] = (h & 0xffff) << 16;
  return f32[0];
}

/** Encodes `x` into `dtype`'s bits. */
export function encodeHalf(x: number, dtype: HalfDType): number {
  return encode(x, dtype === 'float16' ? F16 : BF16);
}

/** Decodes `dtype`'s bits `h`. */
export function decodeHalf(h: number, dtype: HalfDType): number {
  return dtype === 'float16' ? decodeFloat16(h) : decodeBFloat16(h);
}

let f16Table: Float32Array | undefined;

/** The value of every float16 bit pattern, built on first use (256 KiB). */
function float16Table(): Float32Array {
  if (f16Table === undefined) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = decodeFloat16(h);
  }
  return f16Table;
}

/**
 * Decodes `n` elements of `src` from index `from` into `dest[0..n)` (exact: every float16 and bfloat16 is a
 * float32). Returns `dest`.
 */
export function decodeHalfInto(
  src: Uint16Array,
  dtype: HalfDType,
  from: number,
  n: number,
  dest: Float32Array,
): Float32Array {
  if (dtype === 'bfloat16') {
    // A bfloat16 is the high half of a float32: shift the bits into place.
    const bits = new Uint32Array(dest.buffer, dest.byteOffset, n);
    for (let i = 0; i < n; i++) bits[i] = src[from + i] << 16;
  } else {
    const table = float16Table();
    for (let i = 0; i < n; i++) dest[i] = table[src[from + i]];
  }
  return dest;
}

/** Decodes a whole half-precision array into a new Float32Array (exact). */
export function halfToFloat32(src: Uint16Array, dtype: HalfDType): Float32Array {
  return decodeHalfInto(src, dtype, 0, src.length, new Float32Array(src.length));
}

/** Encodes each element of `src` (correctly rounded, ties to even) into a new Uint16Array of `dtype` bits. */
export function toHalfBits(src: ArrayLike<number>, dtype: HalfDType): Uint16Array {
  const fmt = dtype === 'float16' ? F16 : BF16;
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = encode(src[i], fmt);
  return out;
}
