/** The accuracy yardstick of bench/peers.ts, checked against exact BigInt rational arithmetic. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maxUlpError, sampleIndices, ulpOf } from '../bench/peers-exact.js';

/** Every finite double is m · 2^-1074 · 2^s for an integer m; return m · 2^(1074 + SHIFT) as a BigInt. */
const SHIFT = 60n;
function toScaled(x: number): bigint {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const sign = bits >> 63n ? -1n : 1n;
  const exponent = (bits >> 52n) & 0x7ffn;
  const fraction = bits & ((1n << 52n) - 1n);
  const m = exponent === 0n ? fraction : fraction | (1n << 52n);
  const shift = exponent === 0n ? 0n : exponent - 1n; // value = m · 2^(shift − 1074)
  return sign * (m << (shift + SHIFT));
}

/** |k·y − Σx| / k in units of `ulp`, exactly (to 2^-30), with BigInts. */
function referenceUlps(xs: readonly number[], y: number, ulp: number): number {
  const k = BigInt(xs.length);
  const s = xs.reduce((acc, x) => acc + toScaled(x), 0n);
  let diff = k * toScaled(y) - s;
  if (diff < 0n) diff = -diff;
  const denominator = k * toScaled(ulp);
  return Number((diff << 30n) / denominator) / 2 ** 30;
}

/** The ulp of the exact mean of `xs` in `dtype`, from its BigInt binary exponent. */
function exactUlp(xs: readonly number[], dtype: 'float32' | 'float64'): number {
  const k = BigInt(xs.length);
  let s = xs.reduce((acc, x) => acc + toScaled(x), 0n);
  if (s < 0n) s = -s;
  const [bits, minExp] = dtype === 'float64' ? [52, -1022] : [23, -126];
  if (s === 0n) return 2 ** (minExp - bits);
  // Largest e with k · 2^e ≤ s, in the scaled units (value = scaled · 2^-(1074 + SHIFT)).
  let e = s.toString(2).length - k.toString(2).length - 1;
  while (k << BigInt(e + 1) <= s) e += 1;
  const exponent = e - 1074 - Number(SHIFT);
  return 2 ** (Math.max(exponent, minExp) - bits);
}

function nextUp64(x: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) + (x >= 0 ? 1n : -1n));
  return view.getFloat64(0);
}

describe('ulpOf', () => {
  it('gives the spacing of float64 and float32 values, including around powers of two and subnormals', () => {
    expect(ulpOf(1, 'float64')).toBe(2 ** -52);
    expect(ulpOf(1.5, 'float64')).toBe(2 ** -52);
    expect(ulpOf(1 - 2 ** -53, 'float64')).toBe(2 ** -53);
    expect(ulpOf(2 - 2 ** -52, 'float64')).toBe(2 ** -52);
    expect(ulpOf(0.75, 'float64')).toBe(2 ** -53);
    expect(ulpOf(-3, 'float64')).toBe(2 ** -51);
    expect(ulpOf(0, 'float64')).toBe(2 ** -1074);
    expect(ulpOf(2 ** -1070, 'float64')).toBe(2 ** -1074);
    expect(ulpOf(1, 'float32')).toBe(2 ** -23);
    expect(ulpOf(1000.5, 'float32')).toBe(2 ** -14);
    expect(ulpOf(2 ** -130, 'float32')).toBe(2 ** -149);
  });
});

describe('sampleIndices', () => {
  it('takes every index up to the limit, then an even stride within range', () => {
    expect(Array.from(sampleIndices(5, 8))).toEqual([0, 1, 2, 3, 4]);
    const s = sampleIndices(1000, 64);
    expect(s.length).toBe(64);
    expect(s[0]).toBe(0);
    expect(s[63]).toBeLessThan(1000);
    for (let i = 1; i < s.length; i++) expect(s[i]).toBeGreaterThan(s[i - 1]);
  });
});

describe('maxUlpError', () => {
  it('is 0 for an exact mean and counts whole ulps for neighbours', () => {
    const a = new Float64Array([1, 0.5]);
    const b = new Float64Array([2, 0.25]);
    const idx = sampleIndices(2, 8);
    expect(maxUlpError([a, b], new Float64Array([1.5, 0.375]), idx, 'float64')).toBe(0);
    expect(maxUlpError([a, b], new Float64Array([nextUp64(1.5), 0.375]), idx, 'float64')).toBe(1);
    // float32: the mean of 1, 2, 2 is 5/3; its nearest float32 is 1/3 ulp away.
    const f = (v: number) => new Float32Array([v]);
    const third = maxUlpError([f(1), f(2), f(2)], f(5 / 3), sampleIndices(1, 8), 'float32');
    expect(third).toBeCloseTo(1 / 3, 12);
  });

  it('reports Infinity for a non-finite output and rejects bad arguments', () => {
    const a = new Float64Array([1]);
    expect(maxUlpError([a], new Float64Array([Number.NaN]), sampleIndices(1, 8), 'float64')).toBe(
      Number.POSITIVE_INFINITY,
    );
    expect(() => maxUlpError([], new Float64Array(1), sampleIndices(1, 8), 'float64')).toThrow(RangeError);
    expect(() => maxUlpError([a], new Float64Array(1), new Uint32Array([3]), 'float64')).toThrow(
      /out of range/,
    );
  });

  it('agrees with exact rational arithmetic on arbitrary float64 inputs and outputs', () => {
    const finite = fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(
        fc.array(finite, { minLength: 1, maxLength: 32 }),
        fc.integer({ min: -6, max: 6 }),
        (xs, shift) => {
          let y = xs.reduce((s, x) => s + x, 0) / xs.length;
          for (let i = 0; i < Math.abs(shift); i++) y = shift > 0 ? nextUp64(y) : -nextUp64(-y);
          const got = maxUlpError(
            xs.map((x) => new Float64Array([x])),
            new Float64Array([y]),
            new Uint32Array([0]),
            'float64',
          );
          const want = referenceUlps(xs, y, exactUlp(xs, 'float64'));
          expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-6 * Math.max(1, want));
        },
      ),
    );
  });

  it('agrees with exact rational arithmetic on float32 inputs with a float32 output', () => {
    const f32 = fc.float({ min: -1e4, max: 1e4, noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(fc.array(f32, { minLength: 1, maxLength: 32 }), (xs) => {
        const y = Math.fround(xs.reduce((s, x) => Math.fround(s + x), 0) / xs.length); // float32 running sum
        const got = maxUlpError(
          xs.map((x) => new Float32Array([x])),
          new Float32Array([y]),
          new Uint32Array([0]),
          'float32',
        );
        const want = referenceUlps(xs, y, exactUlp(xs, 'float32'));
        expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-6 * Math.max(1, want));
      }),
    );
  });
});
