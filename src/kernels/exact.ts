/**
 * Error-free transformations and float32 rounding helpers used by the kernels.
 *
 * ## References
 * - D. E. Knuth, *The Art of Computer Programming* vol. 2, TwoSum (error-free addition).
 * - T. J. Dekker, "A floating-point technique for extending the available precision", 1971 (TwoProduct by
 *   splitting with 2^27 + 1).
 */

const SPLITTER = 134217729; // 2^27 + 1
const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/** Largest magnitude Dekker's split handles without overflow. */
export const SPLIT_LIMIT = 2 ** 995;

/**
 * The rounding error of `a * b`: returns e with a·b = fl(a·b) + e exactly (Dekker's TwoProduct), for
 * |a|, |b| below {@link SPLIT_LIMIT} so the splits do not overflow, and a product above the subnormal range.
 */
export function productError(a: number, b: number, p: number): number {
  let t = SPLITTER * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const HIGH_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** ⌊log2 |x|⌋ for a finite non-zero float64, exactly (subnormals included). */
export function exponentOf(x: number): number {
  f64[0] = x;
  const biased = (u32[HIGH_WORD] >>> 20) & 0x7ff;
  if (biased !== 0) return biased - 1023;
  return exponentOf(x * 2 ** 64) - 64; // subnormal: scale into the normal range first
}

/**
 * The rounding error of `p = fl(a·b)`, exactly (a·b = p + e), for any finite operands whose product is
 * finite: Dekker's TwoProduct, with the operands' exponents first rebalanced by a power of two (which is
 * exact and keeps the product) when one of them is beyond {@link SPLIT_LIMIT}, so the splits cannot
 * overflow. Exact while the error term is representable, i.e. for products above about 2^-969; below
 * that it is the error as far as float64 can hold it. 0 when `p` is not finite.
 */
export function productErrorAny(a: number, b: number, p: number): number {
  if (p - p !== 0) return 0;
  let x = a;
  let y = b;
  if ((Math.abs(x) >= SPLIT_LIMIT || Math.abs(y) >= SPLIT_LIMIT) && x !== 0 && y !== 0) {
    const shift = (exponentOf(x) - exponentOf(y)) >> 1; // move half the difference to the smaller one
    x *= 2 ** -shift;
    y *= 2 ** shift;
  }
  const e = productError(x, y, p);
  return e - e === 0 ? e : 0;
}

/** The float32 neighbour of float32 `f` in the direction of `toward` (which differs from `f`). */
export function nextFloat32(f: number, toward: number): number {
  if (f === 0) return toward > 0 ? 2 ** -149 : -(2 ** -149);
  f32[0] = f;
  i32[0] += toward > f === f > 0 ? 1 : -1;
  return f32[0];
}

/**
 * True when float64 `m` lies within a few ulps of a float32 midpoint (where double rounding may err): at
 * most 64 float64 ulps (2^-46 relative) away. In float32's normal range that is a look at the 29 mantissa
 * bits float32 drops (a midpoint has them 1000…0); elsewhere the neighbours are computed.
 */
export function nearFloat32Midpoint(m: number): boolean {
  const a = Math.abs(m);
  if (a >= 2 ** -125 && a < 2 ** 127) {
    f64[0] = m;
    const d = (u32[1 - HIGH_WORD] & 0x1fffffff) - 0x10000000;
    return d <= 64 && d >= -64;
  }
  const f = Math.fround(m);
  if (f === m || !Number.isFinite(f)) return false;
  const g = nextFloat32(f, m);
  if (!Number.isFinite(g)) return false;
  const mid = (f + g) / 2;
  return Math.abs(m - mid) <= Math.abs(mid) * 2 ** -46 + 2 ** -1070;
}

/**
 * Rounds the quotient (s + c) / (wHi + wLo) to float32 exactly, given its float64 approximation `m`.
 *
 * Rounding the float64 `m` to float32 (double rounding) is wrong only when `m` lies within a few float64
 * ulps of a float32 midpoint; there the sign of the residual (s + c) − mid·(wHi + wLo), computed with an
 * error-free product, decides the side. Ties go to even, as IEEE-754 and numpy do.
 */
export function roundQuotientToFloat32(m: number, s: number, c: number, wHi: number, wLo: number): number {
  const f = Math.fround(m);
  if (f === m || !Number.isFinite(f)) return f;
  const g = nextFloat32(f, m);
  if (!Number.isFinite(g)) return f;
  const mid = (f + g) / 2; // exact: f and g are float32 values, their sum fits 25 bits
  if (Math.abs(m - mid) > Math.abs(mid) * 2 ** -48 + 2 ** -1070) return f;
  const p = mid * wHi;
  // s − p is exact (s is within a few ulps of p); c and the product's error term are of one size, so their
  // difference comes before the small mid·wLo (with weights 1 and 1e39, c − mid·wLo lost mid·wLo entirely).
  const r = s - p + (c - productError(mid, wHi, p)) - mid * wLo;
  if (Number.isNaN(r)) return f; // operands beyond the split range: keep the float64 rounding
  if (r === 0) return Math.fround(mid);
  return (r > 0 === g > f) !== wHi < 0 ? g : f;
}
