import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meanFusion } from '../src/fusion/mean-fusion.js';
import { encodeNpyHeader } from '../src/io/npy/header.js';
import { swapBytes } from '../src/io/npy/range.js';
import { readNpy } from '../src/io/npy/read.js';
import { writeNpy } from '../src/io/npy/write.js';
import { fuseFiles, fuseFilesAsync } from '../src/jobs/fuseFiles.js';
import { FusionPool } from '../src/pool/FusionPool.js';
import { DTYPE_CTORS, DTYPES, type DType, itemSize } from '../src/tensor/dtype.js';
import { encodeFloat16 } from '../src/tensor/half.js';
import type { AnyTensor, Tensor } from '../src/tensor/tensor.js';

let dir: string;
let pool: FusionPool;
let counter = 0;
const fresh = (name = 'f') => join(dir, `${name}-${counter++}.npy`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobs-test-'));
  pool = new FusionPool({ threads: 2 });
});
afterAll(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});

/** Writes `t` as a big-endian .npy (numpy's `>` byte order), independently of the library's writer. */
async function writeBigEndian(path: string, t: Tensor): Promise<void> {
  const header = encodeNpyHeader(t.dtype, t.shape);
  const text = new TextDecoder('latin1').decode(header).replace("'<", "'>");
  const data = new Uint8Array(t.data.slice().buffer);
  swapBytes(data, itemSize(t.dtype));
  const bytes = new Uint8Array(header.length + data.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  bytes.set(data, header.length);
  await writeFile(path, bytes);
}

function same(a: AnyTensor, b: AnyTensor): boolean {
  if (a.dtype !== b.dtype || a.shape.join() !== b.shape.join() || a.data.length !== b.data.length)
    return false;
  return a.data.every((x, i) => Object.is(x, b.data[i]));
}

const noTemp = async () => (await readdir(dir)).filter((f) => f.endsWith('.tmp'));

function randomTensor(dtype: DType, shape: number[], seed: number, nans: boolean): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new DTYPE_CTORS[dtype](n) as Tensor['data'];
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    if (dtype === 'int64' || dtype === 'uint64') {
      // Full-range 64-bit values (two LCG steps), written through the BigInt view.
      const hi = BigInt(s);
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const v = (hi << 32n) | BigInt(s);
      (data as unknown as BigInt64Array)[i] = dtype === 'int64' ? BigInt.asIntN(64, v) : v;
    } else if (dtype === 'float16')
      data[i] = encodeFloat16(nans && u < 0.1 ? Number.NaN : (u - 0.5) * 10 ** ((s % 9) - 4));
    else if (dtype.startsWith('float'))
      data[i] = nans && u < 0.1 ? Number.NaN : (u - 0.5) * 10 ** ((s % 9) - 2);
    else
      data[i] =
        Math.floor(u * 2 ** (8 * itemSize(dtype))) -
        (dtype.startsWith('int') ? 2 ** (8 * itemSize(dtype) - 1) : 0);
  }
  return { data, shape, dtype };
}

describe('fuseFiles: bitwise identical to meanFusion', () => {
  it('property: any dtypes, byte orders, shapes, options, threads and chunk sizes', async () => {
    const shapeArb = fc.oneof(
      fc.constant([] as number[]),
      fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 3 }),
      fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 300 })).map(([a, b]) => [a, b]),
    );
    const caseArb = fc.record({
      shape: shapeArb,
      inputs: fc.array(
        // Every dtype a .npy file can hold (numpy has no bfloat16).
        fc.record({
          dtype: fc.constantFrom(...DTYPES.filter((d) => d !== 'bfloat16')),
          bigEndian: fc.boolean(),
          seed: fc.nat(),
        }),
        {
          minLength: 1,
          maxLength: 4,
        },
      ),
      weighted: fc.boolean(),
      nan: fc.constantFrom('propagate' as const, 'omit' as const),
      dtype: fc.constantFrom(undefined, 'float32' as const, 'float64' as const),
      chunkRows: fc.option(fc.integer({ min: 1, max: 9 }), { nil: undefined }),
      stacked: fc.boolean(),
      ownPool: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const tensors = c.inputs.map((x, j) =>
          randomTensor(c.stacked ? c.inputs[0].dtype : x.dtype, c.shape, x.seed + j, c.nan === 'omit'),
        );
        const weights = c.weighted ? tensors.map((_, j) => (j % 3) + 0.5) : undefined;
        const options = { weights, nan: c.nan, dtype: c.dtype };
        let paths: string[];
        if (c.stacked) {
          const n = tensors[0].data.length;
          const stack = new DTYPE_CTORS[tensors[0].dtype](n * tensors.length) as Tensor['data'];
          tensors.forEach((t, j) => stack.set(t.data as never, j * n));
          const path = fresh('stack');
          const st = { data: stack, shape: [tensors.length, ...c.shape], dtype: tensors[0].dtype };
          await (c.inputs[0].bigEndian ? writeBigEndian(path, st) : writeNpy(path, st));
          paths = [path];
        } else {
          paths = [];
          for (const [j, t] of tensors.entries()) {
            const path = fresh('in');
            await (c.inputs[j].bigEndian ? writeBigEndian(path, t) : writeNpy(path, t));
            paths.push(path);
          }
        }
        const out = fresh('out');
        const events = await lastValueFrom(
          fuseFiles(paths, out, {
            ...options,
            stacked: c.stacked,
            chunkRows: c.chunkRows,
            ...(c.ownPool ? { threads: 3 } : { pool }),
          }).pipe(toArray()),
        );
        const expected = meanFusion(tensors, options);
        const got = await readNpy(out);
        expect(same(got, expected)).toBe(true);
        const bytes = tensors.reduce((s, t) => s + t.data.byteLength, 0);
        if (expected.data.length > 0) {
          const last = events[events.length - 1];
          expect(last.bytesRead).toBe(bytes);
          expect(last.bytesTotal).toBe(bytes);
          expect(last.rowsDone).toBe(last.rows);
        } else expect(events).toEqual([]);
      }),
      { numRuns: 40 },
    );
    expect(await noTemp()).toEqual([]);
  });

  it('many inputs: 70 distinct files (opened per read) and a stack of 3000 small images', async () => {
    const tensors = Array.from({ length: 70 }, (_, j) =>
      randomTensor(j % 2 ? 'int16' : 'float32', [33, 65], j, false),
    );
    const paths: string[] = [];
    for (const t of tensors) {
      const p = fresh('many');
      await writeNpy(p, t);
      paths.push(p);
    }
    const out = fresh('out');
    await fuseFilesAsync(paths, out, { pool, chunkRows: 5 });
    expect(same(await readNpy(out), meanFusion(tensors))).toBe(true);
    const images = Array.from({ length: 3000 }, (_, j) => randomTensor('uint8', [7, 9], j + 1, false));
    const stack = new Uint8Array(3000 * 63);
    images.forEach((t, j) => stack.set(t.data as Uint8Array, j * 63));
    const st = fresh('stack');
    await writeNpy(st, { data: stack, shape: [3000, 7, 9], dtype: 'uint8' });
    const out2 = fresh('out');
    await fuseFilesAsync(st, out2, { pool, stacked: true, weights: images.map((_, j) => (j % 5) + 1) });
    expect(
      same(await readNpy(out2), meanFusion(images, { weights: images.map((_, j) => (j % 5) + 1) })),
    ).toBe(true);
  });

  it('splits rows larger than the chunk budget into element ranges', async () => {
    const a = randomTensor('float64', [2, 50_000], 1, false);
    const b = randomTensor('float32', [2, 50_000], 2, false);
    const [pa, pb, out] = [fresh(), fresh(), fresh()];
    await writeNpy(pa, a);
    await writeNpy(pb, b);
    const events: number[] = [];
    // 2 threads × one element of (8 + 4 + 8) bytes fits; a row of 1 MB does not fit 200 kB / 2 / 2.
    await fuseFilesAsync([pa, pb], out, { pool, memoryLimit: 200_000 }, (p) => events.push(p.bytesRead));
    expect(same(await readNpy(out), meanFusion([a, b]))).toBe(true);
    expect(events.length).toBeGreaterThan(10);
  });
});

describe('fuseFiles: errors leave no output behind', () => {
  it('validates like meanFusion, naming the files', async () => {
    const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')];
    await writeNpy(a, randomTensor('float64', [2, 3], 1, false));
    await writeNpy(b, randomTensor('int16', [2, 3], 1, false));
    await writeNpy(c, randomTensor('float64', [3, 2], 1, false));
    const out = fresh('out');
    await expect(fuseFilesAsync([a, c], out)).rejects.toMatchObject({
      name: 'ShapeMismatchError',
      message: expect.stringContaining(
        `${c} (inputs[1]) has shape (3, 2) but ${a} (inputs[0]) has shape (2, 3)`,
      ),
    });
    await expect(fuseFilesAsync([], out)).rejects.toMatchObject({ name: 'EmptyInputError' });
    await expect(fuseFilesAsync([a, b], out, { weights: [1] })).rejects.toMatchObject({
      name: 'OptionError',
    });
    await expect(fuseFilesAsync([a, b], out, { threads: 0 })).rejects.toThrow(/`threads`/);
    await expect(fuseFilesAsync([a, b], out, { memoryLimit: 10 })).rejects.toThrow(
      /`memoryLimit` 10 is too small/,
    );
    await expect(fuseFilesAsync([a, b], out, { chunkRows: 2, memoryLimit: 100 })).rejects.toThrow(
      /`chunkRows` 2/,
    );
    await expect(fuseFilesAsync([a, b], out, { stacked: true })).rejects.toThrow(/one stacked/);
    await expect(fuseFilesAsync([a, a], a)).rejects.toThrow(/is one of the inputs/);
    const bad = fresh('bad');
    await writeFile(bad, 'not numpy');
    await expect(fuseFilesAsync([a, bad], out)).rejects.toMatchObject({
      name: 'NpyFormatError',
      message: expect.stringContaining(bad),
    });
    await expect(fuseFilesAsync([a, join(dir, 'missing.npy')], out)).rejects.toThrow(
      /missing\.npy: no such file or directory \(ENOENT\)/,
    );
    const empty = fresh('empty');
    await writeNpy(empty, randomTensor('float64', [0, 3], 1, false));
    await expect(fuseFilesAsync(empty, out, { stacked: true })).rejects.toMatchObject({
      name: 'EmptyInputError',
    });
    await expect(readFile(out)).rejects.toThrow(/ENOENT/);
    expect(await noTemp()).toEqual([]);
  });

  it('never replaces an existing output unless overwrite is true', async () => {
    const a = fresh('a');
    await writeNpy(a, randomTensor('float64', [4], 1, false));
    const out = fresh('out');
    await writeFile(out, 'precious');
    await expect(fuseFilesAsync([a], out)).rejects.toMatchObject({ name: 'OutputExistsError' });
    expect(await readFile(out, 'utf8')).toBe('precious');
    await fuseFilesAsync([a], out, { overwrite: true, pool });
    expect(Array.from((await readNpy(out)).data as Float64Array)).toEqual(
      Array.from((await readNpy(a)).data as Float64Array),
    );
  });

  it('abort mid-job: temporary file removed, existing target untouched', async () => {
    const t = randomTensor('float64', [400, 64], 3, false);
    const [a, b] = [fresh('a'), fresh('b')];
    await writeNpy(a, t);
    await writeNpy(b, t);
    const out = fresh('out');
    await writeFile(out, 'precious');
    const controller = new AbortController();
    const reason = new Error('stop');
    const seen: number[] = [];
    const job = fuseFilesAsync(
      [a, b],
      out,
      { pool, chunkRows: 2, overwrite: true, signal: controller.signal },
      (p) => {
        seen.push(p.rowsDone);
        controller.abort(reason);
      },
    );
    await expect(job).rejects.toBe(reason);
    expect(seen.length).toBeGreaterThan(0);
    expect(await readFile(out, 'utf8')).toBe('precious');
    expect(await noTemp()).toEqual([]);
  });

  it('unsubscribing aborts the job and removes the temporary file', async () => {
    const t = randomTensor('float32', [400, 64], 4, false);
    const a = fresh('a');
    await writeNpy(a, t);
    const out = fresh('out');
    await new Promise<void>((resolve, reject) => {
      const sub = fuseFiles([a, a], out, { pool, chunkRows: 1 }).subscribe({
        next: () => {
          sub.unsubscribe();
          resolve();
        },
        error: reject,
      });
    });
    // Removal is asynchronous after unsubscribe (no completion to await): poll, bounded at 10 s.
    for (let i = 0; i < 1000 && (await noTemp()).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await noTemp()).toEqual([]);
    expect((await readdir(dir)).includes(out.split('/').pop() as string)).toBe(false);
  });

  it('a chunk failing in a worker (file truncated mid-job) fails the job with ChunkError naming the file', async () => {
    const t = randomTensor('float64', [300, 32], 5, false);
    const [a, b] = [fresh('a'), fresh('b')];
    await writeNpy(a, t);
    await writeNpy(b, t);
    const out = fresh('out');
    let cut = false;
    const job = fuseFilesAsync([a, b], out, { pool, chunkRows: 1 }, () => {
      if (!cut) {
        cut = true;
        void truncate(b, 200);
      }
    });
    const error = await job.catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ChunkError', message: expect.stringContaining(b) });
    expect(await noTemp()).toEqual([]);
    await expect(readFile(out)).rejects.toThrow(/ENOENT/);
  });
});
