// Issue 14, fault 5: int64/uint64 inputs everywhere other integers go, with the same promise: the float64
// (or float32) nearest the exact mean. Checked against an exact BigInt rational reference, with values near
// ±2^63 and 2^64 − 1 where a float64 accumulator would round.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeanFusion } from '../src/fusion/MeanFusion.js';
import { meanFusion } from '../src/fusion/mean-fusion.js';
import { readNpy } from '../src/io/npy/read.js';
import { writeNpy } from '../src/io/npy/write.js';
import { fuseFilesAsync } from '../src/jobs/fuseFiles.js';
import { runningMean } from '../src/operators/runningMean.js';
import { windowMean } from '../src/operators/windowMean.js';
import { FusionPool } from '../src/pool/FusionPool.js';
import { allocate } from '../src/tensor/alloc.js';
import { type AnyTensor, tensor } from '../src/tensor/tensor.js';
import { run } from './operators/helpers.js';
import { ratToFloat32, ratToFloat64, toScaled } from './reference/exact-mean.js';

const FIX = fileURLToPath(new URL('./fixtures/npy/', import.meta.url));
const BIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const U64_MAX = 2n ** 64n - 1n;

/** The exact Σ wⱼxⱼ / Σ wⱼ of finite values (BigInt or number), rounded once, from the reference. */
function exact(
  values: readonly (bigint | number)[],
  weights: readonly number[] | null,
  f32: boolean,
): number {
  let num = 0n;
  let den = 0n;
  for (let j = 0; j < values.length; j++) {
    const v = values[j];
    const x = typeof v === 'bigint' ? v << 1074n : toScaled(v);
    const w = toScaled(weights === null ? 1 : weights[j]);
    num += w * x;
    den += w;
  }
  if (den === 0n) return Number.NaN;
  return f32 ? ratToFloat32(num, den << 1074n) : ratToFloat64(num, den << 1074n);
}

function expectExact(got: AnyTensor, inputs: readonly AnyTensor[], weights: number[] | null): void {
  const f32 = got.dtype === 'float32';
  for (let i = 0; i < got.data.length; i++) {
    const want = exact(
      inputs.map((t) => t.data[i]),
      weights,
      f32,
    );
    expect(
      Object.is(got.data[i], want) || (Number.isNaN(want) && Number.isNaN(got.data[i] as number)),
      `element ${i}: ${got.data[i]} vs ${want}`,
    ).toBe(true);
  }
}

const a = tensor(new BigInt64Array([I64_MAX, I64_MIN, I64_MAX - 1n, I64_MIN + 1n, 2n ** 53n + 1n, -1n]));
const b = tensor(new BigInt64Array([I64_MAX, I64_MIN, I64_MAX, I64_MIN, 2n ** 53n, 2n ** 62n]));
const u = tensor(new BigUint64Array([U64_MAX, U64_MAX - 1n, 2n ** 63n, 0n, 1n, 2n ** 53n + 1n]));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'int64-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('meanFusion on int64/uint64', () => {
  it('values near ±2^63 and 2^64 − 1: the float64 and float32 nearest the exact mean', () => {
    for (const xs of [[a, b], [a, b, u], [u, u, u], [u], [a], [b, a, a]]) {
      const m = meanFusion(xs);
      expect(m.dtype).toBe('float64');
      expectExact(m, xs, null);
      expectExact(meanFusion(xs, { dtype: 'float32' }), xs, null);
    }
    // mean(2^63 − 1, 2^63 − 1) is 2^63 − 1, which rounds to 2^63; the exact sum 2^64 − 2 never appears.
    expect(meanFusion([a, b]).data[0]).toBe(2 ** 63);
    expect(meanFusion([u, u]).data[0]).toBe(2 ** 64);
    // (2^53 + 1 + 2^53) / 2 = 2^53 + 0.5, nearest 2^53 (float64 holds neither 2^53 + 1 nor the exact sum).
    expect(meanFusion([a, b]).data[4]).toBe(2 ** 53);
  });

  it('mixed with other dtypes, weighted (weights across the exponent range), NaN omission', () => {
    const f = tensor(new Float64Array([0.5, -1e300, 1e-300, 3.25, Number.NaN, 2 ** 70]));
    const i8 = tensor(new Int8Array([-128, 127, 0, 1, -1, 5]));
    for (const weights of [null, [1, 3, 0.5], [1e300, 1e-300, 2], [1e-305, 1e-305, 1e-305], [-1, 2, 0.1]]) {
      const options = weights === null ? {} : { weights };
      for (const dtype of ['float64', 'float32'] as const) {
        const m = meanFusion([a, u, i8], { ...options, dtype });
        expectExact(m, [a, u, i8], weights);
      }
    }
    // A float input with a NaN: propagated, or omitted (its weight leaves the denominator).
    const p = meanFusion([a, f]);
    expect(Number.isNaN(p.data[4])).toBe(true);
    const o = meanFusion([a, f], { nan: 'omit', weights: [2, 1] });
    expect(o.data[4]).toBe(Number(a.data[4]));
    expect(o.data[0]).toBe(exact([a.data[0], 0.5], [2, 1], false));
    expect(o.data[1]).toBe(exact([a.data[1], -1e300], [2, 1], false));
    // An infinity decides the element as for any other dtype.
    expect(meanFusion([a, tensor(new Float32Array([Infinity, 0, 0, 0, 0, 0]))]).data[0]).toBe(Infinity);
  });

  it('property: random int64/uint64 tensors, weights, output dtypes against the exact reference', () => {
    const i64 = fc.bigInt({ min: I64_MIN, max: I64_MAX });
    const u64 = fc.bigInt({ min: 0n, max: U64_MAX });
    const weight = fc.oneof(
      fc.double({ min: -1e6, max: 1e6, noNaN: true }),
      fc.integer({ min: -1074, max: 1023 }).map((e) => 2 ** e * 1.5),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.array(fc.oneof(i64, u64), { minLength: 5, maxLength: 5 })), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.option(fc.array(weight, { minLength: 6, maxLength: 6 }), { nil: undefined }),
        fc.constantFrom('float32' as const, 'float64' as const),
        (specs, ws, dtype) => {
          const xs = specs.map(([signed, values]) =>
            signed
              ? tensor(BigInt64Array.from(values, (v) => BigInt.asIntN(64, v)))
              : tensor(BigUint64Array.from(values, (v) => BigInt.asUintN(64, v))),
          );
          const weights = ws?.slice(0, xs.length);
          let sum = 0;
          for (const w of weights ?? []) sum += w;
          if (
            weights !== undefined &&
            (sum === 0 || !Number.isFinite(weights.reduce((s, w) => s + Math.abs(w), 0)))
          )
            return;
          expectExact(meanFusion(xs, { weights, dtype }), xs, weights ?? null);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('allocate, MeanFusion (with a preprocess stack) and the pool take int64', async () => {
    const t = allocate('int64', [6], { shared: true });
    t.data.set(a.data);
    expect(t.data).toBeInstanceOf(BigInt64Array);
    const f = new MeanFusion({ preprocess: [(x) => x] });
    expectExact(f.forward([t, b]), [a, b], null);
    const pool = new FusionPool({ threads: 2, inlineBytes: 0 });
    try {
      const s = allocate('uint64', [6], { shared: true });
      s.data.set(u.data);
      const fused = await pool.fuse([t, s, t], { chunkRows: 1 });
      expect(Array.from(fused.data)).toEqual(Array.from(meanFusion([a, u, a]).data));
      expectExact(fused, [a, u, a], null);
    } finally {
      await pool.close();
    }
  });
});

describe('int64 streams', () => {
  it('runningMean: each emission is meanFusion of the prefix, exactly rounded (weighted too)', async () => {
    const items = [a, b, a, b, b];
    const got = await run(items, runningMean());
    got.forEach((m, n) => expectExact(m, items.slice(0, n + 1), null));
    got.forEach((m, n) =>
      expect(Array.from(m.data)).toEqual(Array.from(meanFusion(items.slice(0, n + 1)).data)),
    );
    const weights = [1, 3, 1e-300, 2.5, 1e300];
    const weighted = await run(
      items.map((tensor, j) => ({ tensor, weight: weights[j] })),
      runningMean({ dtype: 'float32' }),
    );
    weighted.forEach((m, n) => expectExact(m, items.slice(0, n + 1), weights.slice(0, n + 1)));
  });

  it('windowMean: the exact mean of the window, however long the stream', async () => {
    const items = Array.from({ length: 9 }, (_, j) => (j % 3 === 0 ? a : b));
    const got = await run(items, windowMean(3, { emitWhileFilling: true }));
    got.forEach((m, n) => expectExact(m, items.slice(Math.max(0, n - 2), n + 1), null));
    const uu = await run([u, u, u, u], windowMean(2));
    expect(uu.length).toBe(3);
    uu.forEach((m) => expectExact(m, [u, u], null));
  });
});

describe('int64 .npy files (fixtures written by numpy)', () => {
  it('fuseFiles and the CLI read <i8, >i8 and <u8 and give the exact means', async () => {
    const files = ['near_limits_i8_a.npy', 'near_limits_i8_b.npy'].map((f) => join(FIX, f));
    const xs = await Promise.all(files.map(readNpy));
    expect(xs.map((x) => x.dtype)).toEqual(['int64', 'int64']);
    const out = join(dir, 'i8.npy');
    await fuseFilesAsync(files, out, { threads: 2, chunkRows: 1 });
    const got = await readNpy(out);
    expectExact(got, xs, null);
    expect(got.data[0]).toBe(2 ** 63);
    const stacked = join(FIX, 'near_limits_u8.npy');
    const r = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(
        process.execPath,
        [BIN, '--stacked', stacked, '-o', 'u8.npy', '--json', '-w', '1,3'],
        { cwd: dir },
        (e, stdout) => resolve({ code: e === null ? 0 : 1, stdout }),
      );
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ dtype: 'float64', k: 2, shape: [4] });
    const stack = await readNpy(stacked);
    const rows = [0, 1].map((j) => tensor((stack.data as BigUint64Array).subarray(4 * j, 4 * j + 4)));
    expectExact(await readNpy(join(dir, 'u8.npy')), rows, [1, 3]);
    // The written file is a plain float64 .npy.
    expect((await readFile(join(dir, 'u8.npy'))).subarray(0, 6).toString('latin1')).toBe('\x93NUMPY');
  });

  it('writes and reads back int64 tensors bit for bit', async () => {
    const path = join(dir, 'rt.npy');
    await writeNpy(path, u);
    expect(Array.from((await readNpy(path)).data as BigUint64Array)).toEqual(Array.from(u.data));
  });
});
