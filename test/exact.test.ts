/**
 * `exact: true` (issue #11): every result is the value of the output dtype nearest the exact mean, checked
 * element by element against the independent BigInt reference of test/reference/exact-mean.ts, on data
 * built to cancel, to sit on rounding ties, and to reach the overflow and subnormal ranges. The suite runs
 * once with the native kernel and once forced to WebAssembly (`npm run test:wasm`): both must match it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MeanFusion, meanFusion, OptionError, type Tensor, tensor } from '../src/index.js';
import { exactMeanRounded } from './reference/exact-mean.js';

type Out = 'float64' | 'float32';

/** A one-element float64 tensor. */
const one = (x: number): Tensor => tensor(Float64Array.of(x));

/** The reference result of every element of a fusion. */
function reference(
  inputs: readonly Tensor[],
  weights: readonly number[] | null,
  omit: boolean,
  dtype: Out,
): number[] {
  const n = inputs[0].data.length;
  const ref: number[] = [];
  for (let i = 0; i < n; i++) {
    const values = inputs.map((t) => Number(t.data[i]));
    ref.push(exactMeanRounded(values, weights, omit, dtype));
  }
  return ref;
}

/** Asserts `got` equals `want` bit for bit (NaN matches any NaN), naming the first differing element. */
function expectBits(got: ArrayLike<number>, want: readonly number[], what: string): void {
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if (Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w))) continue;
    expect.fail(`${what}: element ${i} is ${g}, the exactly rounded mean is ${w}`);
  }
}

/** Tensors of k inputs × n elements from per-input value lists, of dtype float64 or float32. */
function tensors(columns: readonly number[][], dtype: Out): Tensor[] {
  return columns.map((c) => tensor(dtype === 'float32' ? Float32Array.from(c) : Float64Array.from(c)));
}

/**
 * Element generators: ordinary doubles, values that cancel (x, −x around small terms), integers with few
 * or many bits times a shared power of two (sums with a few bits more than a float64: ties), and the
 * overflow and subnormal ranges.
 */
const huge = fc.double({ min: 1e300, max: 1.7976931348623157e308, noNaN: true });
const tiny = fc.oneof(
  fc.integer({ min: -(2 ** 20), max: 2 ** 20 }).map((m) => m * 2 ** -1074),
  fc.double({ min: 2 ** -1022, max: 2 ** -1000, noNaN: true }),
);
const wide = fc.double({ noNaN: true, noDefaultInfinity: true });
const bitsOf = (bits: number, shift: number) =>
  fc
    .bigInt({ min: -(2n ** BigInt(bits)) + 1n, max: 2n ** BigInt(bits) - 1n })
    .map((m) => Number(m) * 2 ** shift);

/** One column-major job: k inputs of n elements, every element drawn by one family. */
function jobOf(dtype: Out) {
  const cell32 = (x: number) => (dtype === 'float32' ? Math.fround(x) : x);
  const family = fc.oneof(
    fc.constant('cancel'),
    fc.constant('ties'),
    fc.constant('wide'),
    fc.constant('huge'),
    fc.constant('tiny'),
    fc.constant('mixed'),
  );
  return fc
    .record({
      k: fc.integer({ min: 1, max: 9 }),
      n: fc.integer({ min: 1, max: 90 }),
      family,
      seed: fc.integer(),
    })
    .chain(({ k, n, family: f }) => {
      const bits = dtype === 'float32' ? 24 : 53;
      const value: fc.Arbitrary<number> =
        f === 'ties'
          ? fc.integer({ min: -30, max: 30 }).chain((e) => bitsOf(bits, e))
          : f === 'wide'
            ? wide
            : f === 'huge'
              ? fc.oneof(
                  huge,
                  huge.map((x) => -x),
                )
              : f === 'tiny'
                ? tiny
                : f === 'mixed'
                  ? fc.oneof(wide, huge, tiny, fc.constantFrom(0, -0, 1, -1, Number.NaN, Infinity))
                  : fc.oneof(
                      fc.double({ min: -1e20, max: 1e20, noNaN: true }),
                      fc.constantFrom(1, -1, 0.1, 3),
                    );
      return fc
        .array(fc.array(value, { minLength: n, maxLength: n }), { minLength: k, maxLength: k })
        .map((cols) => {
          if (f === 'cancel' && k >= 3) {
            // x, then small terms, then −x: the sequential sum loses the small terms entirely.
            for (let i = 0; i < n; i++) {
              cols[0][i] *= 2 ** 40;
              cols[k - 1][i] = -cols[0][i];
            }
          }
          return cols.map((c) => c.map(cell32));
        });
    });
}

describe('exact: true, the issue examples', () => {
  it('float64 [1e16, 1, −1e16] → the float64 nearest 1/3', () => {
    const r = meanFusion([one(1e16), one(1), one(-1e16)], { exact: true });
    expect(r.data[0]).toBe(1 / 3);
    expect(meanFusion([one(1e16), one(1), one(-1e16)]).data[0]).toBe(0); // default unchanged
  });

  it('weights [1, −0.99] on [3, 5] → the float64 nearest the exact rational', () => {
    const r = meanFusion([one(3), one(5), one(2)], { exact: true, weights: [1, -0.99, 0] });
    const want = exactMeanRounded([3, 5, 2], [1, -0.99, 0], false, 'float64');
    expect(r.data[0]).toBe(want);
    expect(want).not.toBe(-194.99999999999986);
  });

  it('float32 [1e30, 1, −1e30, 1] → 0.5', () => {
    const x = [1e30, 1, -1e30, 1].map((v) => tensor(Float32Array.of(v)));
    const r = meanFusion(x, { exact: true });
    expect(r.dtype).toBe('float32');
    expect(r.data[0]).toBe(0.5);
  });

  it('−0 when every term is −0, +0 when non-zero terms cancel; no spurious overflow or underflow', () => {
    const m = (xs: number[], o = {}) =>
      meanFusion(
        xs.map((x) => one(x)),
        { exact: true, ...o },
      ).data[0];
    expect(Object.is(m([-0, -0, -0]), -0)).toBe(true);
    expect(Object.is(m([-0, 0]), 0)).toBe(true);
    expect(Object.is(m([1, -1]), 0)).toBe(true);
    expect(m([1.7e308, 1.7e308, -1.7e308])).toBe(
      exactMeanRounded([1.7e308, 1.7e308, -1.7e308], null, false, 'float64'),
    );
    expect(m([1e308, 1e308])).toBe(1e308);
    expect(m([5e-324, 5e-324, 5e-324])).toBe(5e-324);
    expect(m([5e-324, 0])).toBe(0); // 2^-1075: a tie, to even (0)
    expect(m([5e-324, 5e-324, 0])).toBe(5e-324); // 2/3 of the smallest subnormal
    expect(m([Number.NaN, 1])).toBeNaN();
    expect(m([Infinity, 1])).toBe(Infinity);
    expect(m([Infinity, -Infinity])).toBeNaN();
    expect(m([Number.NaN, 1, 2], { nan: 'omit' })).toBe(1.5);
  });

  it('float16 and bfloat16 outputs are the half values nearest the exact mean', () => {
    const bf = (x: number) => tensor(Float32Array.of(x));
    // 1 + 2^-8 and 1 + 2^-8 + 2^-20: the bfloat16 midpoint 1 + 2^-8 is crossed only by the 2^-21 term.
    const r = meanFusion([bf(1 + 2 ** -8), bf(1 + 2 ** -8 + 2 ** -20)], { exact: true, dtype: 'bfloat16' });
    expect(r.dtype).toBe('bfloat16');
    expect(r.data[0]).toBe(0x3f81); // 1 + 2^-7, not the even 1.0 a float32 tie would give
  });
});

describe('exact: true against the exact reference (property)', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    it(`${dtype}: plain means of cancelling, tied, huge, tiny and mixed data`, () => {
      fc.assert(
        fc.property(jobOf(dtype), (cols) => {
          const inputs = tensors(cols, dtype);
          const got = meanFusion(inputs, { exact: true });
          expect(got.dtype).toBe(dtype);
          expectBits(got.data as Float64Array, reference(inputs, null, false, dtype), dtype);
        }),
        { numRuns: 300 },
      );
    });

    it(`${dtype}: weighted means and nan: 'omit'`, () => {
      const weightArb = fc.oneof(
        fc.integer({ min: -4, max: 9 }),
        fc.double({ min: -1e3, max: 1e3, noNaN: true }),
        fc.constantFrom(1, 0.1, 0.2, 0.7, -0.99, 2 ** 40, 2 ** -40),
      );
      fc.assert(
        fc.property(
          jobOf(dtype),
          fc.array(weightArb, { minLength: 9, maxLength: 9 }),
          fc.boolean(),
          fc.boolean(),
          (cols, ws, weighted, omit) => {
            const inputs = tensors(cols, dtype);
            const weights = ws.slice(0, inputs.length);
            const total = weights.reduce((a, b) => a + b, 0);
            const useWeights = weighted && total !== 0 && Number.isFinite(total);
            const options = { exact: true, nan: omit ? ('omit' as const) : ('propagate' as const) };
            const got = meanFusion(inputs, useWeights ? { ...options, weights } : options);
            const want = reference(inputs, useWeights ? weights : null, omit, dtype);
            expectBits(got.data as Float64Array, want, `${dtype} weighted=${useWeights} omit=${omit}`);
          },
        ),
        { numRuns: 300 },
      );
    });
  }

  it('float64 inputs into a float32 output, and integer inputs', () => {
    fc.assert(
      fc.property(jobOf('float64'), fc.boolean(), (cols, ints) => {
        const inputs = ints
          ? cols.map((c) =>
              tensor(Int32Array.from(c.map((x) => (Number.isFinite(x) ? Math.trunc(x % 2 ** 31) : 0)))),
            )
          : tensors(cols, 'float64');
        const got = meanFusion(inputs, { exact: true, dtype: 'float32' });
        expectBits(got.data as Float32Array, reference(inputs, null, false, 'float32'), 'float32 output');
      }),
      { numRuns: 200 },
    );
  });

  it('long runs of elements (native blocks of 1024) that all need the exact accumulator', () => {
    const n = 3000;
    const cols = [0, 1, 2, 3].map((j) =>
      Array.from({ length: n }, (_, i) => [1e300, 2 ** -1000 * (i + 1), -1e300, 3 ** (i % 40)][j]),
    );
    for (const dtype of ['float64', 'float32'] as const) {
      const inputs = tensors(dtype === 'float32' ? cols.map((c) => c.map((x) => x / 1e270)) : cols, dtype);
      const got = meanFusion(inputs, { exact: true });
      expectBits(got.data as Float64Array, reference(inputs, null, false, dtype), dtype);
    }
  });

  it('large random arrays: the certified fast path agrees with the reference at every element', () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const n = 5000;
    // Same-scale data (the scanned blocks) and magnitudes spread over 20 decades (the marked blocks, whose
    // finish works from a bound on what the state lost).
    const same = () => rand() + rand() * 2 ** -31;
    const wide = () => (rand() - 0.5) * 10 ** (rand() * 20 - 10);
    const runs: [number, () => number][] = [
      [2, same],
      [3, same],
      [8, same],
      [3, wide],
      [8, wide],
    ];
    for (const [k, value] of runs) {
      const cols = Array.from({ length: k }, () => Array.from({ length: n }, value));
      for (const dtype of ['float64', 'float32'] as const) {
        const inputs = tensors(cols, dtype);
        expectBits(
          meanFusion(inputs, { exact: true }).data as Float64Array,
          reference(inputs, null, false, dtype),
          `k=${k} ${value === wide ? 'wide' : 'same'} ${dtype}`,
        );
      }
    }
  });
});

describe('exact: true options', () => {
  it('refuses a non-boolean exact, naming the option', () => {
    expect(() => meanFusion([one(1)], { exact: 'yes' as unknown as boolean })).toThrow(OptionError);
    expect(() => meanFusion([one(1)], { exact: 1 as unknown as boolean })).toThrow(/`exact`/);
    expect(() => new MeanFusion({ exact: 'no' as unknown as boolean })).toThrow(/`exact`/);
  });

  it('MeanFusion({ exact: true }) forwards exactly and reports it in toConfig()', () => {
    const f = new MeanFusion({ exact: true });
    expect(f.forward([one(1e16), one(1), one(-1e16)]).data[0]).toBe(1 / 3);
    expect(f.toConfig().exact).toBe(true);
    expect(new MeanFusion().toConfig().exact).toBe(false);
  });
});
