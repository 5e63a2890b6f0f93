import fc from 'fast-check';
import { firstValueFrom, from, last, lastValueFrom, range, map as rxMap, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  meanFusion,
  OptionError,
  ShapeMismatchError,
  type Tensor,
  tensor,
  windowMean,
} from '../../src/index.js';
import { run } from './helpers.js';

const f64 = (values: number[]): Tensor => tensor(new Float64Array(values));
const ulp = (x: number): number => {
  const a = Math.abs(x) || 2 ** -1074;
  return Math.max(2 ** -1074, 2 ** (Math.floor(Math.log2(a)) - 52));
};

/**
 * Checks every emission against meanFusion of its window: identical when either is not finite, else
 * within `ulps` units of the error scale (the mean of |x| over the window, which bounds cancellation).
 */
function expectWindows(
  got: Tensor[],
  tensors: Tensor[],
  weights: number[] | undefined,
  size: number,
  whileFilling: boolean,
  options: { nan?: 'propagate' | 'omit'; dtype?: 'float32' | 'float64' },
  ulps: number,
): void {
  const first = whileFilling ? 0 : size - 1;
  expect(got).toHaveLength(Math.max(0, tensors.length - first));
  got.forEach((t, j) => {
    const end = first + j + 1;
    const start = Math.max(0, end - size);
    const win = tensors.slice(start, end);
    const want = meanFusion(win, { ...options, weights: weights?.slice(start, end) });
    const scale = meanFusion(
      win.map((w) => f64(Array.from(w.data, Math.abs))),
      { nan: options.nan, weights: weights?.slice(start, end).map(Math.abs) },
    );
    expect(t.dtype).toBe(want.dtype);
    for (let i = 0; i < want.data.length; i++) {
      const a = t.data[i];
      const b = want.data[i];
      if (!Number.isFinite(a) || !Number.isFinite(b)) {
        expect(
          Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)),
          `window ending ${end}, element ${i}: ${a} vs ${b}`,
        ).toBe(true);
        continue;
      }
      // The compensation term rounds relative to the largest value added or removed since the last
      // restart (at most two windows back): ~2^-100 of it, far below an ulp unless magnitudes differ wildly.
      let big = 0;
      for (const w of tensors.slice(Math.max(0, end - 2 * size), end))
        big = Math.max(big, Math.abs(w.data[i]) || 0);
      const tol =
        ulps * Math.max(ulp(scale.data[i]), want.dtype === 'float32' ? ulp(Math.fround(b)) * 2 ** 29 : 0) +
        2 ** -98 * big;
      expect(Math.abs(a - b), `window ending ${end}, element ${i}: ${a} vs ${b}`).toBeLessThanOrEqual(tol);
    }
  });
}

describe('windowMean', () => {
  it('emits the mean of the last size inputs once full, or while filling', async () => {
    const items = [1, 2, 3, 4, 5].map((x) => f64([x, -x]));
    const full = await run(items, windowMean(3));
    expect(full.map((t) => Array.from(t.data))).toEqual([
      [2, -2],
      [3, -3],
      [4, -4],
    ]);
    const filling = await run(items, windowMean(3, { emitWhileFilling: true }));
    expect(filling.map((t) => t.data[0])).toEqual([1, 1.5, 2, 3, 4]);
    expect(new Set(filling.map((t) => t.data.buffer)).size).toBe(5);
  });

  it('agrees with meanFusion of each window (random streams, NaN/inf sprinkles, weights)', async () => {
    const value = fc.oneof(
      { weight: 12, arbitrary: fc.double({ min: -1e3, max: 1e3, noNaN: true }) },
      { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -1.7e308, 1.7e308) },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 7 }),
        fc.array(fc.array(value, { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 30 }),
        fc.constantFrom('propagate', 'omit'),
        fc.constantFrom('float32', 'float64'),
        fc.boolean(),
        fc.boolean(),
        async (size, rows, nan, dtype, weighted, whileFilling) => {
          const tensors = rows.map((r) => (dtype === 'float32' ? tensor(new Float32Array(r)) : f64(r)));
          const weights = weighted ? rows.map((_, j) => 1 + (j % 4)) : undefined;
          const items =
            weights === undefined ? tensors : tensors.map((t, j) => ({ tensor: t, weight: weights[j] }));
          const got = await run(items, windowMean(size, { nan, emitWhileFilling: whileFilling }));
          expectWindows(got, tensors, weights, size, whileFilling, { nan }, 4);
        },
      ),
      { numRuns: Number(process.env.FC_RUNS ?? 200) },
    );
  });

  it('stays within a few ulps of meanFusion of the window after a million inputs', async () => {
    // Positive data over four decades: a plain add/subtract running sum drifts by many ulps here.
    let seed = 12345;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const N = 1_000_000;
    const size = 100;
    const values = new Float64Array(4 * N);
    for (let j = 0; j < values.length; j++) values[j] = next() * 10 ** (next() * 4);
    const shape = Object.freeze([4]);
    const item = (j: number): Tensor => ({
      data: values.subarray(4 * j, 4 * j + 4),
      shape,
      dtype: 'float64',
    });
    const final = await firstValueFrom(range(0, N).pipe(rxMap(item), windowMean(size), last()));
    const recent = Array.from({ length: size }, (_, j) => item(N - size + j));
    const want = meanFusion(recent);
    for (let i = 0; i < 4; i++) {
      expect(Math.abs(final.data[i] - want.data[i])).toBeLessThanOrEqual(4 * ulp(want.data[i]));
    }
  }, 20_000);

  it('errors on shape changes with the position and both shapes; rejects bad arguments', async () => {
    const p = run([f64([1]), f64([1]), f64([1, 2])], windowMean(2));
    await expect(p).rejects.toBeInstanceOf(ShapeMismatchError);
    await expect(p).rejects.toThrow('stream item 2 has shape (2,) but stream item 0 has shape (1,)');
    expect(() => windowMean(0)).toThrow(OptionError);
    expect(() => windowMean(1.5)).toThrow(
      'Expected `size` to be an integer from 1 and up, got `1.5` (number)',
    );
    expect(() => windowMean(2, { emitWhileFilling: 'yes' as unknown as boolean })).toThrow(OptionError);
    const zero = [
      { tensor: f64([1]), weight: 1 },
      { tensor: f64([1]), weight: -1 },
    ];
    await expect(run(zero, windowMean(2))).rejects.toThrow(/sum to 0/);
  });
});

describe('windowMean after a huge input has left the window', () => {
  // The trial's streams: a value of ~1e38 (or −2^60) leaves its rounding in the compensation; the windows
  // after it must still be within a few ulps of meanFusion of the window (they are recomputed exactly).
  const streams: Array<[number[], number]> = [
    [[1e38, 1e18, 1, 2, 3], 3],
    [[-3.4e38, -(2 ** 60), -0.386, -21, -347776], 3],
    [[5, -(2 ** 60), 1, 2, 3, 4, 5, 6, 7], 6],
  ];
  for (const [values, size] of streams) {
    for (const Ctor of [Float64Array, Float32Array]) {
      it(`${Ctor.name} [${values.join(', ')}], window ${size}`, async () => {
        const items = values.map((v) => tensor(new Ctor([v, -v, v / 3]), [3]));
        const got = await lastValueFrom(from(items).pipe(windowMean(size), toArray()));
        for (const [e, t] of got.entries()) {
          const want = meanFusion(items.slice(e, e + size));
          for (let i = 0; i < 3; i++) {
            const a = t.data[i] as number;
            const b = want.data[i] as number;
            const ulp = Ctor === Float32Array ? 2 ** -23 : 2 ** -52;
            expect(Math.abs(a - b), `emission ${e}, element ${i}: ${a} vs ${b}`).toBeLessThanOrEqual(
              4 * ulp * Math.abs(b),
            );
          }
        }
      });
    }
  }
});
