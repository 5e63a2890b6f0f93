/**
 * Independent exact reference for the tests: the mean as an exact rational with BigInt arithmetic, then
 * rounded once (to nearest, ties to even) to float64 or float32. Shares no code with src/.
 */

const SCALE_BITS = 1074n; // every finite float64 is an integer multiple of 2^-1074

/** Exact value of a finite double as BigInt · 2^-1074. */
export function toScaled(x: number): bigint {
  if (x === 0) return 0n;
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, x);
  const bits = buf.getBigUint64(0);
  const sign = bits >> 63n ? -1n : 1n;
  const exp = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  const mant = exp === 0 ? frac : frac | (1n << 52n);
  const shift = BigInt(Math.max(exp, 1) - 1);
  return sign * (mant << shift);
}

/** Rounds the rational p/q (q > 0) to the nearest value with `bits` of precision and minimum exponent `emin`. */
function roundRational(p: bigint, q: bigint, bits: number, emin: number, max: number): number {
  if (p === 0n) return 0;
  const neg = p < 0n;
  const a = neg ? -p : p;
  // find e with 2^(bits-1) <= a/q / 2^e < 2^bits
  let e = a.toString(2).length - q.toString(2).length - bits;
  const scaled = (e2: number): [bigint, bigint] => {
    const num = e2 >= 0 ? a : a << BigInt(-e2);
    const den = e2 >= 0 ? q << BigInt(e2) : q;
    return [
      num / den,
      num % den === 0n ? 0n : 2n * (num % den) > den ? 1n : 2n * (num % den) === den ? 2n : 3n,
    ];
  };
  let [m] = scaled(e);
  while (m >= 1n << BigInt(bits)) [m] = scaled(++e);
  while (m < 1n << BigInt(bits - 1)) [m] = scaled(--e);
  if (e < emin) e = emin;
  const [mm, rem] = scaled(e);
  // rem: 0 exact, 1 above half, 2 exactly half, 3 below half
  let r = mm;
  if (rem === 1n || (rem === 2n && (mm & 1n) === 1n)) r += 1n;
  const v = Number(r) * 2 ** e;
  if (v > max) return neg ? -Infinity : Infinity;
  return neg ? -v : v;
}

/** Round p/q to float64. */
export function ratToFloat64(p: bigint, q: bigint): number {
  if (q < 0n) return ratToFloat64(-p, -q);
  return roundRational(p, q, 53, -1074, Number.MAX_VALUE);
}

/** Round p/q to float32. */
export function ratToFloat32(p: bigint, q: bigint): number {
  if (q < 0n) return ratToFloat32(-p, -q);
  // float32 max is (2 - 2^-23) · 2^127; anything rounding above it overflows
  return roundRational(p, q, 24, -149, 3.4028234663852886e38);
}

/** Round p/q to float16 (IEEE binary16: 11 significant bits, smallest subnormal 2^-24, max 65504). */
export function ratToFloat16(p: bigint, q: bigint): number {
  if (q < 0n) return ratToFloat16(-p, -q);
  return roundRational(p, q, 11, -24, 65504);
}

/** Round p/q to bfloat16 (8 significant bits, smallest subnormal 2^-133, max (2 − 2^-7)·2^127). */
export function ratToBFloat16(p: bigint, q: bigint): number {
  if (q < 0n) return ratToBFloat16(-p, -q);
  return roundRational(p, q, 8, -133, (2 - 2 ** -7) * 2 ** 127);
}

/**
 * Exact mean of one element: Σ wⱼxⱼ / Σ wⱼ over the values (NaNs dropped when `omit`), as {p, q} or a
 * special value (NaN/±Infinity) decided by IEEE rules on the exact terms.
 */
export function exactMean(
  values: readonly number[],
  weights: readonly number[] | null,
  omit: boolean,
): { special: number } | { p: bigint; q: bigint } {
  let num = 0n;
  let den = 0n;
  let pos = false;
  let neg = false;
  let count = 0;
  let allNegZero = true;
  for (let j = 0; j < values.length; j++) {
    const x = values[j];
    if (Number.isNaN(x)) {
      if (omit) continue;
      return { special: Number.NaN };
    }
    const w = weights === null ? 1 : weights[j];
    count++;
    if (!Number.isFinite(x)) {
      if (w === 0) return { special: Number.NaN };
      if (x > 0 === w > 0) pos = true;
      else neg = true;
      den += toScaled(w);
      continue;
    }
    allNegZero = allNegZero && Object.is(w * x, -0);
    num += toScaled(w) * toScaled(x);
    den += toScaled(w);
  }
  if (count === 0) return { special: Number.NaN };
  if (pos && neg) return { special: Number.NaN };
  if (den === 0n) return { special: Number.NaN };
  if (pos || neg) return { special: (pos ? 1 : -1) * (den > 0n ? 1 : -1) * Infinity };
  // IEEE: a sum of zeros is −0 only when every term is −0; the quotient's sign then follows Σw's.
  if (num === 0n) return { special: (allNegZero ? -0 : 0) * (den > 0n ? 1 : -1) };
  // num is scaled by 2^2148, den by 2^1074
  return { p: num, q: den << SCALE_BITS };
}

/** The exact mean rounded to float64 or float32. */
export function exactMeanRounded(
  values: readonly number[],
  weights: readonly number[] | null,
  omit: boolean,
  dtype: 'float32' | 'float64' | 'float16' | 'bfloat16',
): number {
  const r = exactMean(values, weights, omit);
  if ('special' in r) return dtype === 'float64' ? r.special : Math.fround(r.special);
  if (dtype === 'float16') return ratToFloat16(r.p, r.q);
  if (dtype === 'bfloat16') return ratToBFloat16(r.p, r.q);
  return dtype === 'float32' ? ratToFloat32(r.p, r.q) : ratToFloat64(r.p, r.q);
}

/** Distance in float64 ulps between a and b (0 for equal, Infinity when one is NaN and the other not). */
export function ulpDistance64(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  if (a === b) return 0;
  const key = (x: number): bigint => {
    const dv = new DataView(new ArrayBuffer(8));
    dv.setFloat64(0, x);
    const bits = dv.getBigInt64(0);
    return bits < 0n ? -(bits & 0x7fffffffffffffffn) : bits;
  };
  const d = key(a) - key(b);
  return Number(d < 0n ? -d : d);
}
