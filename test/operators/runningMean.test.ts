import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DTypeError,
  EmptyInputError,
  meanFusion,
  OptionError,
  runningMean,
  ShapeMismatchError,
  type Tensor,
  tensor,
} from '../../src/index.js';
import { firstBitDifference, run } from './helpers.js';

const f64 = (values: number[]): Tensor => tensor(new Float64Array(values));
const f32 = (values: number[]): Tensor => tensor(new Float32Array(values));

/** Checks every prefix's emission against meanFusion of that prefix, bitwise. */
async function expectPrefixesExact(
  tensors: Tensor[],
  weights: number[] | undefined,
  options: { nan?: 'propagate' | 'omit'; dtype?: 'float32' | 'float64' } = {},
): Promise<void> {
  const items = weights === undefined ? tensors : tensors.map((t, i) => ({ tensor: t, weight: weights[i] }));
  const out = await run(items, runningMean(options));
  expect(out).toHaveLength(tensors.length);
  out.forEach((got, n) => {
    const want = meanFusion(tensors.slice(0, n + 1), { ...options, weights: weights?.slice(0, n + 1) });
    const diff = firstBitDifference(got, want);
    if (diff !== -1) {
      throw new Error(
        `prefix ${n + 1}: element ${diff}: got ${got.data[diff as number]}, meanFusion ${want.data[diff as number]}`,
      );
    }
  });
}

describe('runningMean equals meanFusion of every prefix, bitwise', () => {
  it('keeps -0 and handles the documented overflow cases', async () => {
    await expectPrefixesExact(
      [f64([-0, 1.7e308, 1e308]), f64([-0, -1.7e308, 1e308]), f64([-0, 1.7e308, 1])],
      undefined,
    );
    const out = await run(
      [f64([1.7e308]), f64([-1.7e308]), f64([1.7e308])],
      runningMean({ emit: 'complete' }),
    );
    expect(out[0].data[0]).toBeCloseTo(5.666666666666667e307, -300);
    expect(Number.isFinite(out[0].data[0])).toBe(true);
    const twice = await run([f64([1e308]), f64([1e308])], runningMean());
    expect(Array.from(twice[1].data)).toEqual([1e308]);
  });

  it('handles infinities, NaN and overflow followed by an opposite infinity', async () => {
    const rows = [
      [1.7e308, Number.POSITIVE_INFINITY, Number.NaN, 1, 1.7e308],
      [1.7e308, Number.NEGATIVE_INFINITY, 2, Number.NaN, 1.7e308],
      [Number.NEGATIVE_INFINITY, 3, 4, 5, -1.7e308],
      [1, 2, 3, 4, -1.7e308],
    ];
    for (const nan of ['propagate', 'omit'] as const) {
      await expectPrefixesExact(rows.map(f64), undefined, { nan });
      await expectPrefixesExact(rows.map(f64), undefined, { nan, dtype: 'float32' });
      await expectPrefixesExact(rows.map(f64), [0.5, 3, 0.25, 2], { nan });
      await expectPrefixesExact(rows.map(f64), [0.5, 3, 0.25, 2], { nan, dtype: 'float32' });
    }
  });

  it('rescales across powers of two of k (overflowing element, 40 inputs)', async () => {
    const rows = Array.from({ length: 40 }, (_, j) =>
      f64([(j % 3 === 2 ? -1 : 1) * 1.6e308, 1e308 * (j % 2), 3]),
    );
    await expectPrefixesExact(rows, undefined);
    await expectPrefixesExact(rows, undefined, { dtype: 'float32' });
    await expectPrefixesExact(
      rows,
      Array.from({ length: 40 }, (_, j) => 1 + (j % 5) / 4),
    );
  });

  it('matches on random streams (dtypes, shapes, NaN/-0/inf/huge sprinkles, weights)', async () => {
    const special = fc.constantFrom(
      Number.NaN,
      -0,
      0,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      1.7e308,
      -1.7e308,
      1e308,
      5e-324,
    );
    const value = fc.oneof(
      { weight: 6, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }) },
      { weight: 3, arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true }).map(Math.fround) },
      { weight: 1, arbitrary: special },
    );
    const dtype = fc.constantFrom('float64', 'float32', 'int16', 'uint8');
    await fc.assert(
      fc.asyncProperty(
        // Below 64 elements meanFusion runs the scalar kernel, from 64 up the SIMD one: cover both.
        fc.oneof(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 64, max: 70 })),
        fc.integer({ min: 1, max: 12 }),
        dtype,
        fc.constantFrom('propagate', 'omit'),
        fc.constantFrom(undefined, 'float32', 'float64'),
        fc.boolean(),
        fc.infiniteStream(value),
        fc.infiniteStream(
          fc.oneof(fc.integer({ min: 1, max: 100 }), fc.double({ min: -4, max: 8, noNaN: true })),
        ),
        async (size, k, dt, nan, outDtype, weighted, values, weightStream) => {
          const tensors = Array.from({ length: k }, () => {
            const raw = Array.from({ length: size }, () => values.next().value as number);
            if (dt === 'float64') return f64(raw);
            if (dt === 'float32') return f32(raw);
            if (dt === 'int16')
              return tensor(new Int16Array(raw.map((x) => (Number.isFinite(x) ? x % 30000 : 7))));
            return tensor(new Uint8Array(raw.map((x) => (Number.isFinite(x) ? Math.abs(x) % 256 : 3))));
          });
          let weights: number[] | undefined;
          if (weighted) {
            weights = tensors.map(() => weightStream.next().value as number);
            // meanFusion refuses a zero weight sum; keep every prefix's sum away from 0.
            let total = 0;
            weights = weights.map((w) => {
              total += w;
              if (total === 0) {
                total += 1;
                return w + 1;
              }
              return w;
            });
          }
          await expectPrefixesExact(tensors, weights, { nan, dtype: outDtype });
        },
      ),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
  });
});

describe('runningMean stream rules', () => {
  it("emits once on completion with emit: 'complete', and errors on an empty stream", async () => {
    const out = await run([f32([1, 2]), f32([2, 3]), f32([4, 4])], runningMean({ emit: 'complete' }));
    expect(out).toHaveLength(1);
    expect(Array.from(out[0].data)).toEqual(
      Array.from(meanFusion([f32([1, 2]), f32([2, 3]), f32([4, 4])]).data),
    );
    await expect(run([], runningMean({ emit: 'complete' }))).rejects.toBeInstanceOf(EmptyInputError);
    expect(await run([], runningMean())).toEqual([]);
  });

  it('never mutates an emitted tensor', async () => {
    const out = await run([f64([1, 2]), f64([3, 4]), f64([5, 6])], runningMean());
    expect(out.map((t) => Array.from(t.data))).toEqual([
      [1, 2],
      [2, 3],
      [3, 4],
    ]);
    expect(new Set(out.map((t) => t.data.buffer)).size).toBe(3);
  });

  it('errors with the position and both shapes on a shape change, and emits nothing after', async () => {
    const p = run([f64([1, 2]), f64([3, 4]), f64([1, 2, 3]), f64([5, 6])], runningMean());
    await expect(p).rejects.toBeInstanceOf(ShapeMismatchError);
    await expect(p).rejects.toThrow('stream item 2 has shape (3,) but stream item 0 has shape (2,)');
  });

  it('errors on a dtype change, mixed weighted/plain items, a bad weight, a zero weight sum', async () => {
    await expect(run([f64([1]), f32([1])], runningMean())).rejects.toBeInstanceOf(DTypeError);
    await expect(run([f64([1]), f32([1])], runningMean())).rejects.toThrow(/stream item 1 has dtype float32/);
    await expect(run([f64([1]), { tensor: f64([1]), weight: 1 }], runningMean())).rejects.toThrow(
      /stream item 1 is a weighted item/,
    );
    await expect(run([{ tensor: f64([1]), weight: Number.NaN }], runningMean())).rejects.toThrow(
      /weight of stream item 0 to be a finite number/,
    );
    const zero = [
      { tensor: f64([1]), weight: 2 },
      { tensor: f64([1]), weight: -2 },
    ];
    await expect(run(zero, runningMean())).rejects.toBeInstanceOf(OptionError);
  });

  it('rejects bad options when called', () => {
    expect(() => runningMean({ emit: 'never' as 'each' })).toThrow(OptionError);
    expect(() => runningMean({ nan: 'drop' as 'omit' })).toThrow(OptionError);
    expect(() => runningMean({ weights: [1] } as never)).toThrow(/give each stream item a weight/);
    expect(() => runningMean({ out: f64([1]) } as never)).toThrow(OptionError);
  });
});
