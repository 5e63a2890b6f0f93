import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meanFusion } from '../src/fusion/mean-fusion.js';
import { FusionPool } from '../src/pool/FusionPool.js';
import { allocate } from '../src/tensor/alloc.js';
import { DTYPES, type DType } from '../src/tensor/dtype.js';
import type { Tensor } from '../src/tensor/tensor.js';

const INTEGER_RANGE: Partial<Record<DType, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
};

/** A value generator per dtype: floats include NaN, ±inf, ±0, subnormals and huge magnitudes. */
function element(dtype: DType): fc.Arbitrary<number | bigint> {
  if (dtype === 'int64') return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
  if (dtype === 'uint64') return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
  const range = INTEGER_RANGE[dtype];
  if (range !== undefined) return fc.integer({ min: range[0], max: range[1] });
  const special = fc.constantFrom(
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    -0,
    0,
    1e308,
    -1e308,
    5e-324,
  );
  const regular = dtype === 'float32' ? fc.float({ noNaN: true }) : fc.double({ noNaN: true });
  return fc.oneof({ arbitrary: regular, weight: 9 }, { arbitrary: special, weight: 1 });
}

/** A job: k shared tensors of one random shape (rank 0–3) and random dtypes, plus fusion options. */
const job = fc
  .record({
    shape: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 0, maxLength: 3 }),
    dtypes: fc.array(fc.constantFrom(...DTYPES), { minLength: 1, maxLength: 4 }),
    nan: fc.constantFrom('propagate' as const, 'omit' as const),
    weighted: fc.boolean(),
    outDtype: fc.constantFrom(undefined, 'float32' as const, 'float64' as const),
    chunkRows: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
    threads: fc.integer({ min: 1, max: 3 }),
  })
  .chain((spec) => {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    return fc.record({
      spec: fc.constant(spec),
      values: fc.tuple(...spec.dtypes.map((d) => fc.array(element(d), { minLength: size, maxLength: size }))),
      weights: fc.array(fc.double({ min: -4, max: 4, noNaN: true }), {
        minLength: spec.dtypes.length,
        maxLength: spec.dtypes.length,
      }),
    });
  });

function bits(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

describe('FusionPool property', () => {
  const pools = new Map<number, FusionPool>();
  beforeAll(() => {
    for (const threads of [1, 2, 3]) pools.set(threads, new FusionPool({ threads, inlineBytes: 0 }));
  });
  afterAll(async () => {
    for (const pool of pools.values()) await pool.close();
  });

  it('is bitwise meanFusion over random shapes, dtypes, weights, NaN modes, chunk sizes and threads', async () => {
    await fc.assert(
      fc.asyncProperty(job, async ({ spec, values, weights }) => {
        const inputs = spec.dtypes.map((dtype, j) => {
          const t = allocate(dtype, spec.shape, { shared: true });
          t.data.set(values[j] as never);
          return t;
        });
        const sum = weights.reduce((a, b) => a + b, 0);
        const options = {
          nan: spec.nan,
          dtype: spec.outDtype,
          weights: spec.weighted && sum !== 0 && Number.isFinite(sum) ? weights : undefined,
        };
        const expected = meanFusion(inputs, options);
        const pool = pools.get(spec.threads) as FusionPool;
        const got = await pool.fuse(inputs, { ...options, chunkRows: spec.chunkRows });
        expect(got.shape).toEqual(expected.shape);
        expect(got.dtype).toBe(expected.dtype);
        expect(bits(got).equals(bits(expected))).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});
