// The file jobs' chunk planning on the page cache's 2 MiB folios (src/jobs/folio-ranges.ts), the runs of
// chunks a task computes one after another (src/jobs/chunk-runs.ts), and a job large enough to take both
// paths end to end against meanFusion on the same data.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meanFusion } from '../src/fusion/mean-fusion.js';
import { readNpy, readNpyHeader } from '../src/io/npy/read.js';
import { writeNpy } from '../src/io/npy/write.js';
import { chunkRuns, MAX_RUN } from '../src/jobs/chunk-runs.js';
import { CHUNK_OVERHEAD_BYTES, FOLIO_BYTES, folioRanges } from '../src/jobs/folio-ranges.js';
import { fuseFilesAsync } from '../src/jobs/fuseFiles.js';
import { planFiles, planJob } from '../src/jobs/plan-files.js';
import type { FileSlice, FuseFilesTask } from '../src/jobs/protocol.js';
import { FileCache, fuseTask, withReference } from '../src/jobs/range.js';
import type { RowRange } from '../src/pool/plan.js';
import { type FloatDType, itemSize } from '../src/tensor/dtype.js';
import { tensor } from '../src/tensor/tensor.js';
import { fillSprinkled } from './reference/same-bits.js';

const MiB = 1024 * 1024;
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

describe('a job on 2 MiB folios', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'folio-job-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const dtype of ['float64', 'float32'] as FloatDType[]) {
    it(`${dtype}: 3 inputs of 6 MiB on 1 and 2 threads: folio chunks in runs, bitwise meanFusion`, async () => {
      const width = 1000; // rows of 8000 or 4000 bytes: no row bound falls on a folio boundary
      const rows = Math.ceil((6 * MiB) / (width * itemSize(dtype)));
      const inputs = [0, 1, 2].map((j) => {
        const t = tensor(new (dtype === 'float64' ? Float64Array : Float32Array)(rows * width), [
          rows,
          width,
        ]);
        fillSprinkled(t.data, 40 + j);
        return t;
      });
      const paths = inputs.map((_, j) => join(dir, `${dtype}-${j}.npy`));
      for (const [j, t] of inputs.entries()) await writeNpy(paths[j], t);
      const want = meanFusion(inputs);
      const bytes = (t: { data: ArrayBufferView }) =>
        Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      const plan = await planFiles(paths, {});
      const offset = plan.slices[0].offset;
      const item = itemSize(dtype);
      // Limits that leave 8 MiB a chunk: one folio per input.
      for (const [threads, memoryLimit] of [
        [1, 104 * MiB],
        [2, 128 * MiB],
      ]) {
        const { ranges } = planJob(plan, threads, undefined, memoryLimit, undefined);
        // The planner chose folio bounds (not row bounds) for these inputs.
        expect(ranges.length).toBeGreaterThan(2);
        for (const r of ranges.slice(1)) expect((offset + r.start * item) % FOLIO_BYTES).toBe(0);
        const out = join(dir, `${dtype}-out-${threads}.npy`);
        await fuseFilesAsync(paths, out, { threads, memoryLimit });
        const got = await readNpy(out);
        expect(got.dtype).toBe(dtype);
        expect(bytes(got).equals(bytes(want))).toBe(true);
      }
    });
  }

  it('a task of several chunks (splits) writes what meanFusion gives, in both kernels', async () => {
    const n = (5 * MiB) / 8 + 333;
    const inputs = [0, 1].map((j) => {
      const t = tensor(new Float64Array(n), [n]);
      fillSprinkled(t.data, 70 + j);
      return t;
    });
    const paths = inputs.map((_, j) => join(dir, `run-${j}.npy`));
    for (const [j, t] of inputs.entries()) await writeNpy(paths[j], t);
    const want = meanFusion(inputs);
    const plan = await planFiles(paths, {});
    const out = join(dir, 'run-out.npy');
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
    const got = await readNpy(out);
    const bytes = (t: { data: ArrayBufferView }) =>
      Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    expect(bytes(got).equals(bytes(want))).toBe(true);
  });
});
