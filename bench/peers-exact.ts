/**
 * The accuracy yardstick of the peers benchmark: the error of a computed mean, in ulps of the output dtype,
 * against the exact mean of the same inputs.
 *
 * Written independently of the library's kernels on purpose (a yardstick must not share code with what it
 * measures). For each checked element the k inputs are summed into a floating-point expansion (a list of
 * non-overlapping float64 components whose exact sum is the exact sum S of the inputs, so nothing is
 * rounded), then k·y is subtracted exactly (k·y = p + e by an error-free product) to get the exact residual
 * k·y − S, which is rounded once. The error is |k·y − S| / (k · ulp of the mean), so the figure is exact to
 * about 1e-15 relative, far below the 0.01-ulp resolution shown in the results.
 *
 * ## References
 * - J. R. Shewchuk, "Adaptive Precision Floating-Point Arithmetic and Fast Robust Geometric Predicates",
 *   1997 (expansions, Grow-Expansion with zero elimination).
 * - T. J. Dekker, "A floating-point technique for extending the available precision", 1971 (splitting).
 */

/** The float arrays the benchmark compares. */
export type FloatData = Float32Array | Float64Array;

/** Output dtypes whose ulps are measured. */
export type UlpDType = 'float32' | 'float64';

/** Dekker's splitting constant 2^27 + 1. */
const SPLIT = 134217729;

/**
 * Adds `b` to the expansion `e[0..len)` in place (components in increasing magnitude, non-overlapping) and
 * returns the new length; zero components are dropped, so the expansion stays short for similar magnitudes.
 * `e` needs room for `len + 1` components.
 */
function grow(e: Float64Array, len: number, b: number): number {
  let q = b;
  let out = 0;
  for (let i = 0; i < len; i++) {
    const a = e[i];
    const s = q + a;
    const bv = s - q;
    const err = q - (s - bv) + (a - bv); // TwoSum: q + a = s + err exactly
    q = s;
    if (err !== 0) e[out++] = err;
  }
  if (q !== 0 || out === 0) e[out++] = q;
  return out;
}

/** The rounding error of `a * b` (a·b = fl(a·b) + error exactly) for moderate magnitudes. */
function twoProductError(a: number, b: number, p: number): number {
  let t = SPLIT * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

/** Sum of an expansion's components, smallest first (the largest component dominates). */
function approximate(e: Float64Array, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i++) s += e[i];
  return s;
}

/**
 * The unit in the last place of the `dtype` value nearest `x` (for |x| at a power of two, the ulp above it).
 * Subnormal spacing at the bottom of the range (2^-1074 for float64, 2^-149 for float32).
 */
export function ulpOf(x: number, dtype: UlpDType): number {
  const mantissaBits = dtype === 'float64' ? 52 : 23;
  const minExponent = dtype === 'float64' ? -1022 : -126;
  const a = Math.abs(x);
  if (a === 0 || !Number.isFinite(a)) return 2 ** (minExponent - mantissaBits);
  let e = Math.floor(Math.log2(a));
  // Math.log2 may round across a power of two: correct by one either way.
  if (2 ** e > a) e -= 1;
  else if (2 ** (e + 1) <= a) e += 1;
  return 2 ** (Math.max(e, minExponent) - mantissaBits);
}

/**
 * Element indices checked for accuracy: every element when `n ≤ maxSamples`, else `maxSamples` elements
 * evenly strided across the whole array (inputs are i.i.d., so a stride is an unbiased sample).
 */
export function sampleIndices(n: number, maxSamples: number): Uint32Array {
  if (n <= maxSamples) return Uint32Array.from({ length: n }, (_, i) => i);
  const step = n / maxSamples;
  return Uint32Array.from({ length: maxSamples }, (_, i) => Math.floor(i * step));
}

/** Sign of the exact sum of an expansion: that of its largest (last) non-zero component. */
function expansionSign(e: Float64Array, len: number): number {
  return len === 0 ? 0 : Math.sign(e[len - 1]);
}

/**
 * The ulp of the exact mean S/k, where S is the expansion `e[0..len)`. The rounded estimate of S/k may land
 * on the other side of a power of two than the exact mean, where the ulp doubles, so the binade is
 * confirmed exactly by comparing |S| with k·2^e on a copy of the expansion.
 */
function exactMeanUlp(
  e: Float64Array,
  len: number,
  k: number,
  dtype: UlpDType,
  scratch: Float64Array,
): number {
  const sign = expansionSign(e, len);
  let ulp = ulpOf(approximate(e, len) / k, dtype);
  if (sign === 0) return ulp;
  const mantissaBits = dtype === 'float64' ? 52 : 23;
  const minUlp = dtype === 'float64' ? 2 ** -1074 : 2 ** -149;
  const compare = (bound: number): number => {
    // sign(|S| − bound), exactly: bound = k·2^e is exact in float64 for the k used here
    scratch.set(e.subarray(0, len));
    return sign * expansionSign(scratch, grow(scratch, len, -sign * bound));
  };
  if (ulp > minUlp && compare(k * ulp * 2 ** mantissaBits) < 0) ulp /= 2;
  else if (compare(k * ulp * 2 ** (mantissaBits + 1)) >= 0) ulp *= 2;
  return ulp;
}

/**
 * Largest error of `out` against the exact element-wise mean of `inputs`, in ulps of `dtype`, over the
 * elements at `indices`. NaN or infinite outputs of finite inputs give `Infinity`.
 *
 * @param inputs - k ≥ 1 arrays of finite values (float32 or float64), each at least as long as `out`.
 * @param out - The computed means (the same length as the inputs).
 * @param indices - Element indices to check (see {@link sampleIndices}).
 * @param dtype - The output dtype whose ulps are counted.
 * @throws {RangeError} when `inputs` is empty or an index is out of range of `out`.
 */
export function maxUlpError(
  inputs: readonly FloatData[],
  out: ArrayLike<number>,
  indices: Uint32Array,
  dtype: UlpDType,
): number {
  const k = inputs.length;
  if (k === 0) throw new RangeError('Expected at least one input, got 0');
  const e = new Float64Array(k + 3);
  const scratch = new Float64Array(k + 3);
  let worst = 0;
  for (let s = 0; s < indices.length; s++) {
    const i = indices[s];
    if (i >= out.length) throw new RangeError(`Index ${i} is out of range of an output of ${out.length}`);
    let len = 0;
    for (let j = 0; j < k; j++) len = grow(e, len, inputs[j][i]);
    const ulp = exactMeanUlp(e, len, k, dtype, scratch);
    const y = out[i];
    if (!Number.isFinite(y)) return Number.POSITIVE_INFINITY;
    const p = k * y;
    const pe = twoProductError(k, y, p);
    len = grow(e, len, -p);
    len = grow(e, len, -pe);
    const residual = approximate(e, len); // S − k·y, rounded once
    const ulps = Math.abs(residual) / (k * ulp); // k·ulp is exact; residual / k could underflow
    if (ulps > worst) worst = ulps;
  }
  return worst;
}
