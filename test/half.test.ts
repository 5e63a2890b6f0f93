import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DTypeError, meanFusion, OptionError, type Tensor, tensor } from '../src/index.js';
import {
  decodeBFloat16,
  decodeFloat16,
  encodeBFloat16,
  encodeFloat16,
  halfToFloat32,
  toHalfBits,
} from '../src/tensor/half.js';
import { exactMeanRounded, ratToBFloat16, ratToFloat16, toScaled } from './reference/exact-mean.js';

type Half = 'float16' | 'bfloat16';
const HALVES: Half[] = ['float16', 'bfloat16'];
const decode = (h: number, d: Half) => (d === 'float16' ? decodeFloat16(h) : decodeBFloat16(h));
const encode = (x: number, d: Half) => (d === 'float16' ? encodeFloat16(x) : encodeBFloat16(x));
const ONE = 1n << 1074n;
const refRound = (x: number, d: Half) => {
  if (!Number.isFinite(x) || x === 0) return x;
  return d === 'float16' ? ratToFloat16(toScaled(x), ONE) : ratToBFloat16(toScaled(x), ONE);
};
const half = (values: number[], d: Half, shape = [values.length]): Tensor =>
  tensor(toHalfBits(values, d), shape, d);
const values = (t: Tensor) => Array.from(halfToFloat32(t.data as Uint16Array, t.dtype as Half));

describe('half-precision encoding and decoding', () => {
  it.each(HALVES)('%s: every bit pattern decodes exactly and encodes back (NaN to the quiet NaN)', (d) => {
    const bits = new Uint16Array(65536).map((_, i) => i);
    const decoded = halfToFloat32(bits, d);
    for (let h = 0; h < 65536; h++) {
      const x = decode(h, d);
      expect(Object.is(decoded[h], Math.fround(x)) || (Number.isNaN(x) && Number.isNaN(decoded[h]))).toBe(
        true,
      );
      if (Number.isNaN(x)) expect(encode(x, d)).toBe(d === 'float16' ? 0x7e00 : 0x7fc0);
      else expect(encode(x, d)).toBe(h);
    }
  });
  it('decodes known values', () => {
    expect(decodeFloat16(0x3c00)).toBe(1);
    expect(decodeFloat16(0x7bff)).toBe(65504);
    expect(decodeFloat16(0x0001)).toBe(2 ** -24);
    expect(decodeFloat16(0x8000)).toBe(-0);
    expect(decodeFloat16(0xfc00)).toBe(-Infinity);
    expect(decodeBFloat16(0x3f80)).toBe(1);
    expect(decodeBFloat16(0x0001)).toBe(2 ** -133);
    expect(decodeBFloat16(0x7f7f)).toBe((2 - 2 ** -7) * 2 ** 127);
  });
  it('rounds to nearest, ties to even, with IEEE overflow and subnormals', () => {
    expect(encodeFloat16(65519.99)).toBe(0x7bff);
    expect(encodeFloat16(65520)).toBe(0x7c00); // the tie with 2^16 goes to the even pattern: ∞
    expect(encodeFloat16(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(encodeFloat16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(encodeFloat16(2 ** -25)).toBe(0); // tie between 0 and the smallest subnormal → 0
    expect(encodeFloat16(2 ** -25 + 2 ** -40)).toBe(1);
    expect(encodeFloat16(-(2 ** -26))).toBe(0x8000);
    expect(encodeFloat16(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up into the normal range
    expect(encodeBFloat16(706)).toBe(encodeBFloat16(704));
    expect(encodeBFloat16(3.4e38)).toBe(0x7f80);
  });
  it.each(HALVES)('%s: encoding any double matches an exact BigInt rounding', (d) => {
    const doubles = fc.oneof(
      fc.double({ noNaN: true }),
      fc.double({ min: -70000, max: 70000, noNaN: true }),
      fc.double({ min: -1e-4, max: 1e-4, noNaN: true }),
      fc.double({ min: -1e-38, max: 1e-38, noNaN: true }),
    );
    fc.assert(
      fc.property(doubles, (x) => {
        expect(Object.is(decode(encode(x, d), d), refRound(x, d))).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('meanFusion with float16 and bfloat16', () => {
  it("gives the issue's examples", () => {
    expect(values(meanFusion([half([60000], 'float16'), half([60000], 'float16')]))).toEqual([60000]);
    const nan = half([Number.NaN], 'float16');
    const many = [...Array.from({ length: 300 }, () => half([250], 'float16')), nan];
    const r = meanFusion(many, { nan: 'omit' });
    expect(r.dtype).toBe('float16');
    expect(values(r)).toEqual([250]);
    expect(values(meanFusion([half([692], 'bfloat16'), half([720], 'bfloat16')]))).toEqual([704]);
  });
  it('picks the output dtype as the issue says; `dtype` and `out` may ask for any float dtype', () => {
    const f16 = half([1, 2], 'float16');
    const bf16 = half([1, 2], 'bfloat16');
    const f32 = tensor(new Float32Array([1, 2]));
    expect(meanFusion([f16, f16]).dtype).toBe('float16');
    expect(meanFusion([bf16, bf16]).dtype).toBe('bfloat16');
    expect(meanFusion([f16, bf16]).dtype).toBe('float32');
    expect(meanFusion([f16, f32]).dtype).toBe('float64');
    expect(meanFusion([f16, tensor(new Int8Array([1, 2]))]).dtype).toBe('float64');
    expect(meanFusion([f32, f32], { dtype: 'bfloat16' }).dtype).toBe('bfloat16');
    expect(meanFusion([f16, bf16], { dtype: 'float16' }).data).toEqual(f16.data);
    const out = tensor(new Uint16Array(2), [2], 'bfloat16');
    expect(meanFusion([f32, f32], { out })).toBe(out);
    expect(values(out)).toEqual([1, 2]);
    expect(() => meanFusion([f32], { dtype: 'float8' as never })).toThrow(OptionError);
  });
  it('reads a Uint16Array as uint16 unless its dtype says float16/bfloat16', () => {
    const u = new Uint16Array([0x3c00]);
    expect(meanFusion([tensor(u)]).data[0]).toBe(0x3c00);
    expect(meanFusion([{ data: u, shape: [1], dtype: 'float16' }]).data[0]).toBe(0x3c00);
    expect(values(meanFusion([{ data: u, shape: [1], dtype: 'float16' }], { dtype: 'float16' }))).toEqual([
      1,
    ]);
    expect(() => tensor(new Float32Array(1), [1], 'float16')).toThrow(DTypeError);
    expect(() => meanFusion([{ data: new Int16Array(1), shape: [1], dtype: 'bfloat16' }])).toThrow(
      DTypeError,
    );
  });
  it('keeps ±0, ±inf and NaN as IEEE says', () => {
    const d = 'float16';
    expect(Object.is(values(meanFusion([half([-0], d), half([-0], d)]))[0], -0)).toBe(true);
    expect(values(meanFusion([half([Infinity], d), half([1], d)]))[0]).toBe(Infinity);
    expect(values(meanFusion([half([Infinity], d), half([-Infinity], d)]))[0]).toBeNaN();
    expect(values(meanFusion([half([65504], d), half([65504], d)]))[0]).toBe(65504);
    // float32 inputs whose mean is above float16's range overflow to ∞ in a float16 output.
    expect(values(meanFusion([tensor(new Float32Array([70000]))], { dtype: d }))[0]).toBe(Infinity);
    expect(values(meanFusion([tensor(new Float32Array([65520]))], { dtype: d }))[0]).toBe(Infinity);
    expect(values(meanFusion([tensor(new Float64Array([65519.999]))], { dtype: d }))[0]).toBe(65504);
  });

  const halfBits = fc.integer({ min: 0, max: 0xffff });
  for (const d of HALVES) {
    it(`${d}: every element is the ${d} nearest the exact mean (weights, NaN omission, midpoints)`, () => {
      const n = 80; // above the SIMD threshold, so both kernel paths run
      const arb = fc.record({
        k: fc.integer({ min: 1, max: 6 }),
        seed: fc.array(halfBits, { minLength: 6 * n, maxLength: 6 * n }),
        near: fc.boolean(),
        weights: fc.option(fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 6, maxLength: 6 })),
        omit: fc.boolean(),
      });
      fc.assert(
        fc.property(arb, ({ k, seed, near, weights, omit }) => {
          // `near`: inputs one ulp apart (bit patterns ± 1), whose means are often exact midpoints.
          const bits = Array.from({ length: k }, (_, j) =>
            Uint16Array.from({ length: n }, (_, i) =>
              near ? (seed[i] & 0x7ffe) + (seed[j * n + i] & 1) : seed[j * n + i],
            ),
          );
          const inputs = bits.map((b) => tensor(b, [n], d));
          const w = weights === null ? undefined : weights.slice(0, k);
          const got = meanFusion(inputs, { weights: w, nan: omit ? 'omit' : 'propagate' });
          expect(got.dtype).toBe(d);
          const got32 = meanFusion(inputs, {
            weights: w,
            nan: omit ? 'omit' : 'propagate',
            dtype: 'float32',
          });
          const decoded = inputs.map((t) => tensor(halfToFloat32(t.data as Uint16Array, d)));
          const want32 = meanFusion(decoded, { weights: w, nan: omit ? 'omit' : 'propagate' });
          expect(got32.data).toEqual(want32.data); // float32 output: bitwise meanFusion of the decoded inputs
          const vals = decoded.map((t) => Array.from(t.data));
          for (let i = 0; i < n; i++) {
            const want = exactMeanRounded(
              vals.map((v) => v[i]),
              w ?? null,
              omit,
              d,
            );
            const g = decode((got.data as Uint16Array)[i], d);
            if (!(Object.is(g, want) || (Number.isNaN(g) && Number.isNaN(want)))) {
              throw new Error(`element ${i}: got ${g}, want ${want} from ${vals.map((v) => v[i])}`);
            }
          }
        }),
        { numRuns: 150 },
      );
    });
  }
  for (const d of HALVES) {
    it(`${d}: model-weight-like data (few binades, exact float64 sums) is rounded exactly, ties to even`, () => {
      const n = 300;
      const arb = fc.record({
        k: fc.integer({ min: 1, max: 9 }),
        seed: fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 9 * n, maxLength: 9 * n }),
        zeros: fc.boolean(),
      });
      const [frac, bias] = d === 'float16' ? [10, 15] : [7, 127];
      fc.assert(
        fc.property(arb, ({ k, seed, zeros }) => {
          // Exponents within 6 binades below 1, any sign and fraction: ties are frequent for k = 2, 4, 8.
          const bits = Array.from({ length: k }, (_, j) =>
            Uint16Array.from({ length: n }, (_, i) => {
              const r = seed[j * n + i];
              if (zeros && r % 7 === 0) return r & 0x8000;
              return (r & 0x8000) | ((bias - 1 - (r % 6)) << frac) | ((r >>> 3) & ((1 << frac) - 1));
            }),
          );
          const inputs = bits.map((b) => tensor(b, [n], d));
          const got = meanFusion(inputs);
          const vals = inputs.map((t) => Array.from(halfToFloat32(t.data as Uint16Array, d)));
          for (let i = 0; i < n; i++) {
            const want = exactMeanRounded(
              vals.map((v) => v[i]),
              null,
              false,
              d,
            );
            const g = decode((got.data as Uint16Array)[i], d);
            if (!Object.is(g, want)) throw new Error(`k=${k} element ${i}: got ${g}, want ${want}`);
          }
        }),
        { numRuns: 200 },
      );
    });
  }
  it('inputs whose float64 sum is inexact take the exact path: 1.5, 1.5·2^-8 and 2^-100 in bfloat16', () => {
    // Σ = 3·(0.5 + 2^-9) + 2^-100: just above three times a bfloat16 midpoint, which a float64 sum loses.
    const xs = [1.5, 1.5 * 2 ** -8, 2 ** -100].map((v) => half([v], 'bfloat16'));
    expect(values(meanFusion(xs))).toEqual([0.5 + 2 ** -8]);
    expect(values(meanFusion([...xs.slice(0, 2), half([-(2 ** -100)], 'bfloat16')]))).toEqual([0.5]);
  });
  it('rounds float64 inputs to float16 from the exact mean, not from a rounded float32', () => {
    // 1 + 2^-11 + 2^-40 is above the float16 midpoint 1 + 2^-11, but its float32 rounding is the midpoint.
    const x = tensor(new Float64Array([1 + 2 ** -11 + 2 ** -40, 1 + 2 ** -11 - 2 ** -40, 1 + 2 ** -11]));
    const r = meanFusion([x], { dtype: 'float16' });
    expect(values(r)).toEqual([1 + 2 ** -10, 1, 1]);
    const w = meanFusion([x, x], { dtype: 'bfloat16', weights: [1e-300, 3e-300] });
    expect(values(w)).toEqual([1, 1, 1]);
  });
});
