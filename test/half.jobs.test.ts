import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { from, lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allocate,
  DTypeError,
  FusionPool,
  fuseFilesAsync,
  fuseMean,
  meanFusion,
  readNpy,
  readNpyHeader,
  runningMean,
  type Tensor,
  tensor,
  writeNpy,
} from '../src/index.js';

/** Random half bit patterns (finite, no NaN), deterministic. */
function halfTensor(dtype: 'float16' | 'bfloat16', shape: number[], seed: number, shared = false): Tensor {
  const t = allocate(dtype, shape, { shared });
  const d = t.data as Uint16Array;
  let s = seed;
  for (let i = 0; i < d.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    // Exponent bits kept below the all-ones pattern: finite values only.
    d[i] = (s >>> 8) & (dtype === 'float16' ? 0xfbff : 0xff7f);
  }
  return t;
}

let pool: FusionPool;
let dir: string;
beforeAll(async () => {
  pool = new FusionPool({ threads: 2, inlineBytes: 0 });
  dir = await mkdtemp(join(tmpdir(), 'mf-half-'));
});
afterAll(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});

describe.each(['float16', 'bfloat16'] as const)('%s on the pool, in files and in operators', (dtype) => {
  const xs = [1, 2, 3].map((j) => halfTensor(dtype, [64, 33], j, true));
  it('pool.fuse gives the bits of meanFusion, whatever the chunks', async () => {
    for (const options of [{}, { weights: [1, 2, 5] }, { dtype: 'float32' as const }]) {
      const want = meanFusion(xs, options);
      const got = await pool.fuse(xs, { ...options, chunkRows: 7 });
      expect(got.dtype).toBe(want.dtype);
      expect(got.data).toEqual(want.data);
    }
  });
  it('fuseMean emits the bits of meanFusion', async () => {
    const out = await lastValueFrom(from([xs, xs.slice(0, 2)]).pipe(fuseMean({ pool }), toArray()));
    expect(out[0].data).toEqual(meanFusion(xs).data);
    expect(out[1].data).toEqual(meanFusion(xs.slice(0, 2)).data);
  });
  it('runningMean refuses half streams with a clear error for now', async () => {
    await expect(lastValueFrom(from(xs).pipe(runningMean()))).rejects.toThrow(DTypeError);
  });
  it('fuseFiles reads and writes .npy (float16 as <f2; bfloat16 refused)', async () => {
    const paths = xs.map((_, j) => join(dir, `${dtype}-${j}.npy`));
    if (dtype === 'bfloat16') {
      await expect(writeNpy(paths[0], xs[0])).rejects.toThrow(/numpy has no bfloat16/);
      return;
    }
    for (const [j, p] of paths.entries()) await writeNpy(p, xs[j]);
    expect((await readNpyHeader(paths[0])).dtype).toBe('float16');
    const out = join(dir, 'mean16.npy');
    const summary = await fuseFilesAsync(paths, out, { pool, chunkRows: 5, nan: 'omit' });
    expect(summary.dtype).toBe('float16');
    const back = await readNpy(out);
    expect(back.dtype).toBe('float16');
    expect(back.data).toEqual(meanFusion(xs, { nan: 'omit' }).data);
    const out32 = join(dir, 'mean32.npy');
    await fuseFilesAsync(paths, out32, { pool, dtype: 'float32', weights: [3, 1, 1] });
    expect((await readNpy(out32)).data).toEqual(
      meanFusion(xs, { dtype: 'float32', weights: [3, 1, 1] }).data,
    );
    await expect(fuseFilesAsync(paths, join(dir, 'bf.npy'), { pool, dtype: 'bfloat16' })).rejects.toThrow(
      /numpy has no bfloat16/,
    );
    const mixed = [tensor(new Float32Array(64 * 33).fill(0.1), [64, 33]), xs[0]];
    expect(meanFusion(mixed).dtype).toBe('float64');
  });
});
