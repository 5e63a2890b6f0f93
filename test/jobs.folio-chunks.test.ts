// The file jobs' chunk planning on the page cache's 2 MiB folios (src/jobs/folio-ranges.ts), the runs of
// chunks a task computes one after another (src/jobs/chunk-runs.ts), jobs large enough to take both end to
// end against meanFusion on the same data (finite data, so the native kernel's mapped path computes them;
// data with NaN and infinities, which the reference kernels finish), and the mappings of native/files.c
// released after every chunk.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meanFusion } from '../src/fusion/mean-fusion.js';
import { kernelInfo } from '../src/index.js';
import { readNpy, readNpyHeader } from '../src/io/npy/read.js';
import { writeNpy } from '../src/io/npy/write.js';
import { chunkRuns, chunksOf, MAX_RUN } from '../src/jobs/chunk-runs.js';
import { CHUNK_OVERHEAD_BYTES, FOLIO_BYTES, folioRanges } from '../src/jobs/folio-ranges.js';
import { fuseFilesAsync } from '../src/jobs/fuseFiles.js';
import { planFiles, planJob } from '../src/jobs/plan-files.js';
import type { FileSlice, FuseFilesTask } from '../src/jobs/protocol.js';
import { FileCache, fuseTask, withReference } from '../src/jobs/range.js';
import { FusionPool } from '../src/pool/FusionPool.js';
import type { RowRange } from '../src/pool/plan.js';
import { type FloatArray, type FloatDType, itemSize } from '../src/tensor/dtype.js';
import { tensor } from '../src/tensor/tensor.js';
import { lcg } from './reference/random.js';
import { fillSprinkled } from './reference/same-bits.js';

const MiB = 1024 * 1024;

/** Finite values in [-1, 1) from `seed`: every chunk's mean is finite, so the mapped path computes it. */
function fillFinite(x: FloatArray, seed: number): void {
  const next = lcg(seed);
  for (let i = 0; i < x.length; i++) x[i] = next() / 2 ** 31 - 1;
}

const bytesOf = (t: { data: ArrayBufferView }) =>
  Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
const slice = (offset: number, dtype: FileSlice['dtype'] = 'float64'): FileSlice => ({
  path: 'x.npy',
  offset,
  dtype,
  swap: false,
});

/** The ranges are contiguous, ascending and cover [start, end) exactly. */
function expectCover(ranges: readonly RowRange[], start: number, end: number): void {
  expect(ranges.length).toBeGreaterThan(0);
  expect(ranges[0].start).toBe(start);
  expect(ranges[ranges.length - 1].end).toBe(end);
  for (let i = 0; i < ranges.length; i++) {
    expect(ranges[i].end).toBeGreaterThan(ranges[i].start);
    if (i > 0) expect(ranges[i].start).toBe(ranges[i - 1].end);
  }
}

describe('folioRanges', () => {
  it('puts every interior bound on a 2 MiB boundary of every input and keeps within the budget', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<FileSlice['dtype']>('float64', 'float32', 'int16', 'uint8'),
        fc.integer({ min: 0, max: 4 * 1024 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 3 * MiB }),
        fc.integer({ min: 2, max: 12 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 4 }),
        (dtype, headerUnits, k, startUnits, folios, budgetMiB, threads) => {
          const item = itemSize(dtype);
          const header = headerUnits * 64; // .npy data offsets are multiples of 64
          const tensorBytes = folios * FOLIO_BYTES + 4096;
          const elements = tensorBytes / item;
          const start = Math.min(startUnits, elements - 1);
          // k separate files with the same header: one folio phase.
          const slices = Array.from({ length: k }, () => slice(header, dtype));
          const perElement = (k + 1) * item;
          const perTask = budgetMiB * MiB;
          const ranges = folioRanges(slices, perElement, start, elements, perTask, 256 * MiB, threads);
          const perFolio = FOLIO_BYTES / item;
          const span = Math.max(1, Math.floor(perTask / (perFolio * perElement))) * perFolio;
          // Declined when the job has too few folios, or would make fewer than two chunks a thread.
          if (elements - start < 2 * perFolio) {
            expect(ranges).toBeNull();
            return;
          }
          if (ranges === null) {
            expect(Math.ceil((elements - start) / span)).toBeLessThan(2 * threads);
            return;
          }
          const got = ranges;
          expect(got.length).toBeGreaterThanOrEqual(2 * threads);
          expectCover(got, start, elements);
          for (const r of got) {
            expect(r.end - r.start).toBeLessThanOrEqual(span);
            if (r.start !== start) expect((header + r.start * item) % FOLIO_BYTES).toBe(0);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('declines what it cannot align, and one folio per input over the cap', () => {
    const big = (64 * MiB) / 8;
    const cap = 256 * MiB;
    expect(folioRanges([slice(128), slice(128, 'float32')], 12, 0, big, 16 * MiB, cap, 1)).toBeNull();
    expect(folioRanges([slice(128), slice(192)], 24, 0, big, 16 * MiB, cap, 1)).toBeNull();
    expect(folioRanges([slice(132)], 16, 0, big, 16 * MiB, cap, 1)).toBeNull();
    expect(folioRanges([slice(128)], 16, 0, (3 * MiB) / 8, 16 * MiB, cap, 1)).toBeNull();
    // 64 MiB of one float64 input in 16 MiB chunks (8 MiB of input each, the first one folio): 9 chunks,
    // enough for 4 threads, too few for 5.
    expect(folioRanges([slice(128)], 16, 0, big, 16 * MiB, cap, 4)).toHaveLength(9);
    expect(folioRanges([slice(128)], 16, 0, big, 16 * MiB, cap, 5)).toBeNull();
    // One folio per input of 8 inputs and a float64 output is 18 MiB: over a 16 MiB budget, within the cap
    // less the scratch buffer's overhead (CHUNK_OVERHEAD_BYTES).
    const eight = Array.from({ length: 8 }, () => slice(128));
    const fits = folioRanges(eight, 72, 0, big, 16 * MiB, 18 * MiB + CHUNK_OVERHEAD_BYTES, 1) as RowRange[];
    expectCover(fits, 0, big);
    expect(fits[1].end - fits[1].start).toBe(FOLIO_BYTES / 8);
    expect(folioRanges(eight, 72, 0, big, 16 * MiB, 18 * MiB + CHUNK_OVERHEAD_BYTES - 1, 1)).toBeNull();
    // Separate files on one phase: the second range starts at byte 2 MiB of each file.
    expect(fits[0]).toEqual({ start: 0, end: (FOLIO_BYTES - 128) / 8 });
  });
});

describe('chunksOf', () => {
  it('splits a task at its bounds and refuses bounds that do not ascend strictly inside it', () => {
    expect(chunksOf({ start: 3, end: 9 })).toEqual([{ start: 3, end: 9 }]);
    expect(chunksOf({ start: 3, end: 9, splits: [4, 7] })).toEqual([
      { start: 3, end: 4 },
      { start: 4, end: 7 },
      { start: 7, end: 9 },
    ]);
    for (const splits of [[3], [9], [5, 5], [7, 4], [10]]) {
      expect(() => chunksOf({ start: 3, end: 9, splits })).toThrow(RangeError);
    }
  });
});

describe('chunkRuns', () => {
  it('groups consecutive chunks into shrinking runs whose splits are the chunk bounds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 8 }), (n, threads) => {
        const chunks = Array.from({ length: n }, (_, i) => ({ start: i * 10, end: i * 10 + 10 }));
        const runs = chunkRuns(chunks, threads);
        expectCover(runs, 0, n * 10);
        const bounds = runs.flatMap((r) => [r.start, ...r.splits]);
        expect(bounds).toEqual(chunks.map((c) => c.start));
        for (let i = 1; i < runs.length; i++) {
          expect(runs[i].splits.length).toBeLessThanOrEqual(runs[i - 1].splits.length);
        }
        expect(runs[runs.length - 1].splits).toEqual([]);
        for (const r of runs) {
          expect(r.splits.length).toBeLessThan(MAX_RUN);
          expect(r.splits.length + 1).toBeLessThanOrEqual(Math.max(1, n / 16));
        }
        if (n >= 32 && n >= 4 * threads) expect(runs.length).toBeLessThan(n);
      }),
    );
  });
});

describe('jobs on 2 MiB folios', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'folio-job-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function writeInputs(dtype: FloatDType, n: number, k: number, fill: typeof fillFinite, name: string) {
    const width = 1000; // rows of 8000 or 4000 bytes: no row bound falls on a folio boundary
    const rows = Math.ceil(n / width);
    const inputs = Array.from({ length: k }, (_, j) => {
      const t = tensor(new (dtype === 'float64' ? Float64Array : Float32Array)(rows * width), [rows, width]);
      fill(t.data, 40 + j);
      return t;
    });
    const paths = inputs.map((_, j) => join(dir, `${name}-${j}.npy`));
    for (const [j, t] of inputs.entries()) await writeNpy(paths[j], t);
    return { inputs, paths };
  }

  for (const [dtype, fill, kind] of [
    ['float64', fillFinite, 'finite'],
    ['float32', fillFinite, 'finite'],
    ['float64', fillSprinkled, 'NaN, ±inf, huge'],
  ] as const) {
    it(`${dtype}, ${kind} data: 3 inputs of 6 MiB on 1 and 2 threads, folio bounds, bitwise meanFusion`, async () => {
      const item = itemSize(dtype);
      const name = `${dtype}-${kind.length}`;
      const { inputs, paths } = await writeInputs(dtype, (6 * MiB) / item, 3, fill, name);
      const want = meanFusion(inputs);
      const plan = await planFiles(paths, {});
      const offset = plan.slices[0].offset;
      // Limits that leave 8 MiB a chunk: one folio per input.
      for (const [threads, memoryLimit] of [
        [1, 104 * MiB],
        [2, 128 * MiB],
      ]) {
        const { ranges } = planJob(plan, threads, undefined, memoryLimit, undefined);
        // The planner chose folio bounds (not row bounds) for these inputs.
        expect(ranges.length).toBeGreaterThan(2);
        for (const r of ranges.slice(1)) expect((offset + r.start * item) % FOLIO_BYTES).toBe(0);
        const out = join(dir, `${name}-out-${threads}.npy`);
        await fuseFilesAsync(paths, out, { threads, memoryLimit });
        const got = await readNpy(out);
        expect(got.dtype).toBe(dtype);
        expect(bytesOf(got).equals(bytesOf(want))).toBe(true);
      }
    });
  }

  it('a job of 33 folio chunks runs them in tasks of several (splits), bitwise meanFusion', async () => {
    // One float32 input of 64 MiB and a 100 MiB limit: 4 MiB a chunk, one folio of input and one of output.
    const { inputs, paths } = await writeInputs('float32', (64 * MiB) / 4, 1, fillFinite, 'runs');
    const plan = await planFiles(paths, {});
    const { ranges } = planJob(plan, 1, undefined, 100 * MiB, undefined);
    expect(ranges.length).toBeGreaterThanOrEqual(32);
    expect(chunkRuns(ranges, 1)[0].splits.length).toBeGreaterThan(0);
    const out = join(dir, 'runs-out.npy');
    await fuseFilesAsync(paths, out, { threads: 1, memoryLimit: 100 * MiB });
    expect(bytesOf(await readNpy(out)).equals(bytesOf(meanFusion(inputs)))).toBe(true);
  });

  for (const [fill, kind] of [
    [fillFinite, 'finite'],
    [fillSprinkled, 'NaN, ±inf, huge'],
  ] as const)
    it(`a task of several chunks (splits), ${kind} data, writes what meanFusion gives`, async () => {
      const n = (5 * MiB) / 8 + 333;
      const inputs = [0, 1].map((j) => {
        const t = tensor(new Float64Array(n), [n]);
        fill(t.data, 70 + j);
        return t;
      });
      const paths = inputs.map((_, j) => join(dir, `run-${kind.length}-${j}.npy`));
      for (const [j, t] of inputs.entries()) await writeNpy(paths[j], t);
      const want = meanFusion(inputs);
      const plan = await planFiles(paths, {});
      const out = join(dir, `run-${kind.length}-out.npy`);
      await writeNpy(out, tensor(new Float64Array(n), [n]));
      const outHeader = await readNpyHeader(out);
      const files = new FileCache();
      try {
        // Chunk bounds of every kind: on a folio, off it, one element apart.
        const splits = [1, 262128, 262129, 600001, n - 1];
        const task: FuseFilesTask = {
          inputs: plan.slices,
          out: { path: out, offset: outHeader.dataOffset, dtype: 'float64' },
          start: 0,
          end: n,
          splits,
          params: plan.params,
        };
        expect(await withReference(() => fuseTask(task, files))).toBe(n * 16);
      } finally {
        files.close();
      }
      expect(bytesOf(await readNpy(out)).equals(bytesOf(want))).toBe(true);
    });

  it.runIf(existsSync('/proc/self/maps') && kernelInfo().kernel === 'native')(
    'chunk mappings are released: the process keeps no more mappings',
    async () => {
      // Row chunks of 2.4 MB per input (over 2 MiB, not a whole number of pages): the congruent mapping's path.
      const { paths } = await writeInputs('float64', (6 * MiB) / 8, 2, fillFinite, 'maps');
      const pool = new FusionPool({ threads: 2 });
      const maps = () => readFileSync('/proc/self/maps', 'utf8').split('\n').length;
      try {
        const job = (i: number) =>
          fuseFilesAsync(paths, join(dir, `maps-out-${i}.npy`), { pool, chunkRows: 300, overwrite: true });
        await job(0);
        const mapsBefore = maps();
        for (let i = 1; i <= 24; i++) await job(i % 2);
        // 24 jobs × 2 chunks of 2.4 MB × 2 inputs = 96 congruent mappings made and released (each job's
        // third chunk is 1.5 MB: a plain mapping). Leaking the address space reserved around each left
        // ~30 more mappings after 12 jobs (VmSize is no measure here: the C library reserves 64 MiB arenas
        // for threads on demand).
        expect(maps() - mapsBefore).toBeLessThan(24);
      } finally {
        await pool.close();
      }
    },
  );
});
