// FusionPool over kernel-heap tensors: the workers attach to the main thread's heap and read (and write) heap
// tensors in place, in many small chunks, with exactly meanFusion's bits, also after the heap grew under
// running workers; inside a worker, `allocate(…, { heap: true })` falls back to a plain SharedArrayBuffer.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meanFusion } from '../src/fusion/mean-fusion.js';
import { heapAllocatedBytes, threadHeap } from '../src/kernels/heap/memory.js';
import { CLAIMS_OFFSET, SCRATCH_REGIONS } from '../src/kernels/heap/scratch.js';
import { FusionPool } from '../src/pool/FusionPool.js';
import { planChunks } from '../src/pool/plan.js';
import { allocate, disposeTensor, isInHeap, isShared } from '../src/tensor/alloc.js';
import type { NumberDType as DType } from '../src/tensor/dtype.js';
import { type Tensor, tensor } from '../src/tensor/tensor.js';
import { expectSameBits, fillSprinkled, plainCopy } from './reference/same-bits.js';

const PROBE = fileURLToPath(new URL('./fixtures/workers/heap-probe.js', import.meta.url));

function heapTensor(dtype: DType, shape: number[], seed: number): Tensor {
  const t = allocate(dtype, shape, { heap: true });
  fillSprinkled(t.data, seed);
  return t;
}

// 300 rows of 257 elements: rows are not multiples of 4 elements, and with ~12 KB per row and 32 KiB chunks
// a job is ~100+ chunk tasks over both threads.
const SHAPE = [300, 257];
const CHUNK_BYTES = 32 * 1024;

/** What the probe worker reports of a tensor it allocated with `{ heap: true }`. */
interface AllocationReport {
  isInHeap: boolean;
  buffer: string;
  byteOffset: number;
  bufferBytes: number;
  length: number;
  zero: boolean;
}

interface ProbeReport {
  small: AllocationReport;
  large: AllocationReport;
  received: boolean;
  receivedFirst: number;
  shared: boolean;
}

describe('FusionPool over heap tensors', () => {
  let pool: FusionPool;
  beforeAll(() => {
    pool = new FusionPool({ threads: 2, chunkBytes: CHUNK_BYTES, inlineBytes: 0 });
  });
  afterAll(() => pool.close());

  it('splits a job of the test shape into many chunks', () => {
    const rowBytes = SHAPE[1] * 4 * 8; // three float64 inputs and a float64 output
    expect(planChunks(SHAPE[0], rowBytes, { chunkBytes: CHUNK_BYTES, threads: 2 }).length).toBeGreaterThan(
      50,
    );
  });

  const mixes: Array<[string, DType[]]> = [
    ['float64', ['float64', 'float64', 'float64']],
    ['float32', ['float32', 'float32', 'float32', 'float32', 'float32']],
    [
      'float64 and float32 (more than a group of 8)',
      [
        'float64',
        'float32',
        'float64',
        'float32',
        'float64',
        'float64',
        'float64',
        'float64',
        'float64',
        'float32',
      ],
    ],
  ];
  for (const [name, dtypes] of mixes) {
    it(`is bitwise meanFusion with no out, a heap out, a heap view out and an ordinary out: ${name}`, async () => {
      const inputs = dtypes.map((d, j) => heapTensor(d, SHAPE, 17 * j + 3));
      const copies = inputs.map(plainCopy);
      try {
        // No out: a new SharedArrayBuffer tensor (results are never placed in the heap).
        const r = await pool.fuse(inputs);
        expect(isShared(r)).toBe(true);
        expect(isInHeap(r)).toBe(false);
        expectSameBits(r, meanFusion(copies), 'no out');
        for (const dtype of ['float64', 'float32'] as const) {
          const want = meanFusion(copies, { dtype });
          expectSameBits(await pool.fuse(inputs, { dtype }), want, `no out, ${dtype}`);
          // A heap out: written in place by the workers (float64 as the accumulator itself).
          const out = allocate(dtype, SHAPE, { heap: true });
          out.data.fill(7);
          expect(await pool.fuse(inputs, { out })).toBe(out);
          expect(isInHeap(out)).toBe(true);
          expectSameBits(out, want, `heap out ${dtype}`);
          // A heap view at an odd element offset.
          const parent = allocate(dtype, [SHAPE[0] * SHAPE[1] + 5], { heap: true });
          const view = tensor(parent.data.subarray(5), SHAPE);
          expect(await pool.fuse(inputs, { out: view })).toBe(view);
          expectSameBits(view, want, `heap view out ${dtype}`);
          // An ordinary out: written once, at the end.
          const ordinary = allocate(dtype, SHAPE);
          expect(await pool.fuse(inputs, { out: ordinary })).toBe(ordinary);
          expectSameBits(ordinary, want, `ordinary out ${dtype}`);
          disposeTensor(out);
          disposeTensor(parent);
        }
        // The inputs were only read.
        inputs.forEach((t, j) => expectSameBits(t, copies[j], `input ${j}`));
      } finally {
        for (const t of inputs) disposeTensor(t);
      }
    });
  }

  it('reads heap inputs at odd offsets and mixed with ordinary shared inputs', async () => {
    const n = SHAPE[0] * SHAPE[1];
    const parent = heapTensor('float64', [2 * n + 3], 91);
    const a = tensor(parent.data.subarray(1, 1 + n), SHAPE);
    const b = tensor(parent.data.subarray(n + 3), SHAPE);
    const c = heapTensor('float32', SHAPE, 92);
    const d = allocate('float32', SHAPE, { shared: true });
    fillSprinkled(d.data, 93);
    try {
      const inputs = [a, c, b, d];
      const copies = inputs.map(plainCopy);
      for (const dtype of ['float64', 'float32'] as const) {
        const out = allocate(dtype, SHAPE, { heap: true });
        await pool.fuse(inputs, { out });
        expectSameBits(out, meanFusion(copies, { dtype }), `odd offsets ${dtype}`);
        disposeTensor(out);
      }
    } finally {
      disposeTensor(parent);
      disposeTensor(c);
    }
  });

  it('works on heap memory added after the workers started (the heap grew under them)', async () => {
    // Makes sure both threads are up and have run the kernel before the heap grows.
    const warm = [heapTensor('float64', SHAPE, 1), heapTensor('float64', SHAPE, 2)];
    await pool.fuse(warm);
    const size = threadHeap().memory.buffer.byteLength;
    const n = SHAPE[0] * SHAPE[1];
    // The inputs and the output lie at the far end of a tensor larger than the whole heap was.
    const big = allocate('float64', [Math.ceil(size / 8) + 4 * n + 1], { heap: true });
    try {
      expect(threadHeap().memory.buffer.byteLength).toBeGreaterThan(size);
      const tail = big.data.length - 4 * n - 1;
      expect(big.data.byteOffset + tail * 8).toBeGreaterThanOrEqual(size);
      const inputs = [0, 1, 2].map((j) => {
        const t = tensor(big.data.subarray(tail + j * n, tail + (j + 1) * n), SHAPE);
        fillSprinkled(t.data, 50 + j);
        return t;
      });
      const copies = inputs.map(plainCopy);
      const out = tensor(big.data.subarray(tail + 3 * n + 1), SHAPE);
      expect(await pool.fuse([...inputs, warm[0]], { out })).toBe(out);
      expectSameBits(out, meanFusion([...copies, plainCopy(warm[0])]), 'grown heap, float64 out');
      const out32 = allocate('float32', SHAPE, { heap: true });
      await pool.fuse(inputs, { out: out32 });
      expectSameBits(out32, meanFusion(copies, { dtype: 'float32' }), 'grown heap, float32 out');
      disposeTensor(out32);
    } finally {
      disposeTensor(big);
      for (const t of warm) disposeTensor(t);
    }
  });

  it('inside a pool worker, allocate(…, { heap: true }) gives a plain SharedArrayBuffer tensor; heap tensors sent in are recognised', async () => {
    const received = heapTensor('float64', [1000], 77);
    const shared = allocate('float64', [10000], { shared: true });
    try {
      const before = heapAllocatedBytes();
      // Two at once, so both threads are likely to answer.
      const reports = await Promise.all(
        [0, 1].map(() =>
          pool.runTask<ProbeReport>({ received: received.data, shared: shared.data }, { filename: PROBE }),
        ),
      );
      for (const report of reports) {
        expect(report.small).toEqual({
          isInHeap: false,
          buffer: 'SharedArrayBuffer',
          byteOffset: 0,
          bufferBytes: 800,
          length: 100,
          zero: true,
        });
        expect(report.large).toEqual({
          isInHeap: false,
          buffer: 'SharedArrayBuffer',
          byteOffset: 0,
          bufferBytes: 16384 * 8,
          length: 16384,
          zero: true,
        });
        // The worker attached to this thread's heap: the tensor sent in is in the heap there too.
        expect(report.received).toBe(true);
        expect(Object.is(report.receivedFirst, received.data[0])).toBe(true);
        expect(report.shared).toBe(false);
      }
      // Nothing was allocated from this thread's heap by the workers.
      expect(heapAllocatedBytes()).toBe(before);
    } finally {
      disposeTensor(received);
    }
  });
});

describe('FusionPool: scratch regions of aborted tasks', () => {
  /** Indices of the heap's scratch regions currently claimed (by any thread). */
  function claimedRegions(): number[] {
    const header = threadHeap().header;
    const claimed: number[] = [];
    for (let r = 0; r < SCRATCH_REGIONS; r++) {
      if (Atomics.load(header, CLAIMS_OFFSET / 4 + r) !== 0) claimed.push(r);
    }
    return claimed;
  }
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  it('a job aborted while a worker runs the SIMD kernel gives that scratch region back', async () => {
    // One thread and one chunk of 8 × 8 MiB float64 inputs: the kernel call runs for milliseconds. The
    // thread runs the WebAssembly kernel, whose scratch regions this watches (worker threads copy the
    // environment when they start; the native kernel claims no scratch).
    const saved = process.env.MEAN_FUSION_KERNEL;
    process.env.MEAN_FUSION_KERNEL = 'wasm';
    const pool = new FusionPool({ threads: 1, inlineBytes: 0 });
    const xs = Array.from({ length: 8 }, (_, j) => heapTensor('float64', [4, 2 ** 18], 200 + j));
    try {
      let leaked: number[] | undefined;
      // The abort must land while the kernel runs; if the kernel finished first, try again.
      for (let attempt = 0; attempt < 5 && leaked === undefined; attempt++) {
        const before = claimedRegions();
        const reason = new Error('abort while in the kernel');
        const ac = new AbortController();
        const job = pool.fuse(xs, { chunkRows: 4, signal: ac.signal }).then(
          () => 'done',
          (error: unknown) => error,
        );
        const started = performance.now();
        while (claimedRegions().length === before.length && performance.now() - started < 10_000)
          await turn();
        const during = claimedRegions().filter((r) => !before.includes(r));
        ac.abort(reason);
        if ((await job) !== reason || during.length === 0) continue;
        // The thread was terminated inside the kernel call: its region must become free again.
        const deadline = performance.now() + 2000;
        let still = during;
        while (still.length > 0 && performance.now() < deadline) {
          await turn();
          const now = claimedRegions();
          still = during.filter((r) => now.includes(r));
        }
        leaked = still;
      }
      expect(leaked, 'the abort never landed inside a kernel call').toBeDefined();
      expect(
        leaked,
        `scratch regions ${leaked} stay claimed after the aborted task's thread was terminated`,
      ).toEqual([]);
    } finally {
      await pool.close();
      for (const t of xs) disposeTensor(t);
      if (saved === undefined) delete process.env.MEAN_FUSION_KERNEL;
      else process.env.MEAN_FUSION_KERNEL = saved;
    }
  });
});
