/**
 * `exact: true` on every path (issue #11): the pool (any thread count and chunk size), `fuseMean`,
 * `runningMean` (every stream prefix), `fuseFiles`, `fuseCheckpoints` and the CLI's `--exact` give bitwise
 * `meanFusion(…, { exact: true })`, which the reference test (exact.test.ts) checks against exact arithmetic.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { from, lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuseMean, meanFusion, runningMean, type Tensor, tensor } from '../src/index.js';
import { readNpy } from '../src/io/npy/read.js';
import { writeNpy } from '../src/io/npy/write.js';
import { readSafetensors } from '../src/io/safetensors/read.js';
import { writeSafetensors } from '../src/io/safetensors/write.js';
import { fuseCheckpointsAsync } from '../src/jobs/fuseCheckpoints.js';
import { fuseFilesAsync } from '../src/jobs/fuseFiles.js';
import { FusionPool } from '../src/pool/FusionPool.js';
import { toHalfBits } from '../src/tensor/half.js';
import { exactMeanRounded } from './reference/exact-mean.js';

const BIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));

let dir: string;
let pool: FusionPool;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mf-exact-'));
  pool = new FusionPool({ threads: 2, inlineBytes: 0 });
});
afterAll(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});

/** Bitwise equality of two tensors' data, naming the first differing element. */
function expectSame(got: Tensor, want: Tensor, what: string, sameDType = true): void {
  if (sameDType) expect(got.dtype, what).toBe(want.dtype);
  expect(got.data.length, what).toBe(want.data.length);
  for (let i = 0; i < want.data.length; i++) {
    const g = got.data[i] as number;
    const w = want.data[i] as number;
    if (!(Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w)))) {
      expect.fail(`${what}: element ${i} is ${g}, meanFusion exact gives ${w}`);
    }
  }
}

/** k tensors of shape [rows, cols] whose elements cancel, tie and stray into huge and tiny magnitudes. */
function hardInputs(k: number, rows: number, cols: number, f32: boolean, seed: number): Tensor[] {
  let s = seed >>> 0 || 1;
  const rand = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const n = rows * cols;
  const out: Tensor[] = [];
  for (let j = 0; j < k; j++) {
    const a = f32 ? new Float32Array(n) : new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const r = rand();
      const kind = i % 7;
      a[i] =
        kind === 0
          ? j === 0
            ? 1e17
            : j === k - 1
              ? -1e17
              : rand() // cancels
          : kind === 1
            ? Math.floor(rand() * 2 ** 24) * 2 ** -20 // few bits: ties
            : kind === 2
              ? (r - 0.5) * 1e300
              : kind === 3
                ? (r - 0.5) * 2 ** -1040
                : kind === 4 && r < 0.1
                  ? Number.NaN
                  : r * 2 ** Math.floor(rand() * 40 - 20);
    }
    out.push(tensor(a, [rows, cols]));
  }
  return out;
}

describe('exact: true on every path', () => {
  it('the pool: every thread count and chunk size gives meanFusion exact bitwise', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 17 }),
        fc.boolean(),
        fc.constantFrom('propagate' as const, 'omit' as const),
        fc.integer(),
        async (k, rows, chunkRows, f32, nan, seed) => {
          const inputs = hardInputs(k, rows, 33, f32, seed);
          const want = meanFusion(inputs, { exact: true, nan });
          const got = await pool.fuse(inputs, { exact: true, nan, chunkRows });
          expectSame(got, want, `pool k=${k} rows=${rows} chunkRows=${chunkRows}`);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('runningMean: every emission is meanFusion exact of the prefix (plain and weighted)', async () => {
    for (const f32 of [false, true]) {
      const inputs = hardInputs(7, 3, 50, f32, 7);
      const weights = [1, 3, 0.5, 2, -0.25, 7, 1];
      for (const nan of ['propagate', 'omit'] as const) {
        const plain = await lastValueFrom(from(inputs).pipe(runningMean({ exact: true, nan }), toArray()));
        const items = inputs.map((t, j) => ({ tensor: t, weight: weights[j] }));
        const weighted = await lastValueFrom(from(items).pipe(runningMean({ exact: true, nan }), toArray()));
        for (let p = 1; p <= inputs.length; p++) {
          const prefix = inputs.slice(0, p);
          expectSame(plain[p - 1], meanFusion(prefix, { exact: true, nan }), `plain prefix ${p}`);
          const w = weights.slice(0, p);
          expectSame(weighted[p - 1], meanFusion(prefix, { exact: true, nan, weights: w }), `weighted ${p}`);
        }
      }
    }
  });

  it('runningMean exact refuses a non-boolean exact (null too) and half-precision dtypes', () => {
    expect(() => runningMean({ exact: 'yes' as unknown as boolean })).toThrow(/`exact`/);
    expect(() => runningMean({ exact: null as unknown as boolean })).toThrow(/`exact`/);
    for (const dtype of ['float16', 'bfloat16'] as const) {
      expect(() => runningMean({ exact: true, dtype })).toThrow(/float32 or float64/);
      expect(() => runningMean({ dtype })).toThrow(/float32 or float64/);
    }
  });

  it('runningMean, as meanFusion, takes weights whose float64 sum is 0 but whose exact sum is not', async () => {
    const xs = [1, 2, 3].map((v) => tensor(Float64Array.of(v)));
    const weights = [1e16, 1, -1e16];
    const items = xs.map((t, j) => ({ tensor: t, weight: weights[j] }));
    for (const exact of [false, true]) {
      const last = await lastValueFrom(from(items).pipe(runningMean({ exact })));
      expectSame(last, meanFusion(xs, { weights, exact }), `exact=${exact}`);
    }
  });

  it('a NaN result has the same bits on every path (the quiet NaN 0x7ff8…)', async () => {
    const cols = [
      [Number.NEGATIVE_INFINITY, 0, Number.NaN, 1],
      [Number.POSITIVE_INFINITY, 0, 1, 1],
      [1, Number.POSITIVE_INFINITY * 0, 2, 1],
    ];
    const inputs = cols.map((c) => tensor(Float64Array.from(c)));
    // The output's own bytes (copying through numbers could canonicalize NaNs and hide a difference).
    const bits = (t: Tensor) =>
      Array.from(new BigUint64Array(t.data.buffer, t.data.byteOffset, t.data.length));
    const want = 0x7ff8000000000000n;
    const direct = meanFusion(inputs, { exact: true });
    const pooled = await pool.fuse(inputs, { exact: true, chunkRows: 1 });
    const streamed = await lastValueFrom(from(inputs).pipe(runningMean({ exact: true }), toArray()));
    for (const t of [direct, pooled, streamed[2]]) {
      expect(bits(t).slice(0, 3)).toEqual([want, want, want]);
      expect(t.data[3]).toBe(1);
    }
  });

  it('fuseMean, inline and on the pool', async () => {
    const groups = [hardInputs(3, 4, 20, false, 1), hardInputs(4, 4, 20, false, 2)];
    for (const options of [{ exact: true }, { exact: true, pool }]) {
      const got = await lastValueFrom(from(groups).pipe(fuseMean(options), toArray()));
      groups.forEach((g, i) => expectSame(got[i], meanFusion(g, { exact: true }), `group ${i}`));
    }
  });

  it('fuseFiles exact on ordinary data (chunks the mapped-file kernel certifies whole)', async () => {
    for (const f32 of [false, true]) {
      let s = 7;
      const next = () => {
        s = (s * 1103515245 + 12345) % 2 ** 31;
        return s / 2 ** 31;
      };
      const inputs = [0, 1, 2, 3, 4, 5, 6, 7].map(() => {
        const a = f32 ? new Float32Array(300 * 64) : new Float64Array(300 * 64);
        for (let i = 0; i < a.length; i++) a[i] = next() + next() * 2 ** -30;
        return tensor(a, [300, 64]);
      });
      const paths = inputs.map((_, j) => join(dir, `plain-${f32}-${j}.npy`));
      for (let j = 0; j < inputs.length; j++) await writeNpy(paths[j], inputs[j]);
      const out = join(dir, `plain-out-${f32}.npy`);
      await fuseFilesAsync(paths, out, { exact: true, threads: 2, chunkRows: 64 });
      expectSame((await readNpy(out)) as Tensor, meanFusion(inputs, { exact: true }), `mapped f32=${f32}`);
    }
  });

  it('fuseFiles and the CLI --exact on .npy files', async () => {
    for (const f32 of [false, true]) {
      const inputs = hardInputs(5, 37, 29, f32, 11);
      const paths = inputs.map((_, j) => join(dir, `in-${f32}-${j}.npy`));
      for (let j = 0; j < inputs.length; j++) await writeNpy(paths[j], inputs[j]);
      const want = meanFusion(inputs, { exact: true });
      const out = join(dir, `out-${f32}.npy`);
      await fuseFilesAsync(paths, out, { exact: true, pool, chunkRows: 4 });
      expectSame((await readNpy(out)) as Tensor, want, `fuseFiles f32=${f32}`);
      const cliOut = join(dir, `cli-${f32}.npy`);
      const code = await new Promise<number>((resolve) =>
        execFile(process.execPath, [BIN, ...paths, '-o', cliOut, '--exact', '--threads', '2'], (e) =>
          resolve(e === null ? 0 : 1),
        ),
      );
      expect(code).toBe(0);
      expectSame((await readNpy(cliOut)) as Tensor, want, `CLI --exact f32=${f32}`);
      // float64 cancels: the default mode's sequential sum loses the small terms (float32 defaults are compensated).
      if (!f32) expect((await readNpy(cliOut)).data[0]).not.toBe(meanFusion(inputs).data[0]);
    }
  });

  it('fuseCheckpoints: float32 and bfloat16 tensors, exactly rounded', async () => {
    const models = [1, 2, 3].map((seed) => {
      const [big] = hardInputs(1, 64, 40, true, seed);
      for (let i = 0; i < big.data.length; i++) if (Number.isNaN(big.data[i])) big.data[i] = 0;
      const small = tensor(Float32Array.from({ length: 30 }, (_, i) => (seed === 2 ? -1e30 : 1e30 / 2) + i));
      const half = tensor(
        toHalfBits(
          Array.from(big.data as Float32Array, (x) => x / 1e20),
          'bfloat16',
        ),
        [64, 40],
        'bfloat16',
      );
      return { 'layer.weight': big, 'layer.bias': small, 'emb.weight': half };
    });
    const paths = [];
    for (let j = 0; j < models.length; j++) {
      const p = join(dir, `m${j}.safetensors`);
      await writeSafetensors(p, models[j]);
      paths.push(p);
    }
    const out = join(dir, 'soup.safetensors');
    await fuseCheckpointsAsync(paths, out, { pool, exact: true, memoryLimit: 200_000 });
    const soup = await readSafetensors(out);
    for (const name of ['layer.weight', 'layer.bias', 'emb.weight'] as const) {
      const got = soup.get(name) as unknown as Tensor;
      const want = meanFusion(
        models.map((m) => m[name]),
        { exact: true },
      );
      expectSame(got, want, name, false); // safetensors names dtypes F32, BF16
    }
    // The bias cancels: 1e30/2 + i, −1e30 + i, 1e30/2 + i → exactly i (the default mode loses it).
    const bias = soup.get('layer.bias') as unknown as Tensor;
    expect(bias.data[5]).toBe(
      exactMeanRounded([1e30 / 2 + 5, -1e30 + 5, 1e30 / 2 + 5].map(Math.fround), null, false, 'float32'),
    );
  });
});
