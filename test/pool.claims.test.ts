// The pool's own worker claims a job's chunks from a shared counter: one lane a thread, chunk by chunk,
// handing the thread over after a chunk while other work waits. These tests pin the worker's loop and the
// pool-level behaviour it gives (identical bits, concurrent jobs and runTask calls still served in turn).
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meanFusion } from '../src/fusion/mean-fusion.js';
import { FusionPool } from '../src/pool/FusionPool.js';
import {
  CLAIM_CANCELLED,
  CLAIM_NEXT,
  CLAIM_SLOTS,
  CLAIM_YIELD,
  type FuseChunkTask,
} from '../src/pool/protocol.js';
import { allocate } from '../src/tensor/alloc.js';
import type { Tensor } from '../src/tensor/tensor.js';
import fuseChunk from '../workers/fuse.js';

const SPIN = fileURLToPath(new URL('./fixtures/workers/spin.js', import.meta.url));

function shared(shape: number[], seed: number): Tensor {
  const t = allocate('float64', shape, { shared: true });
  for (let i = 0; i < t.data.length; i++) t.data[i] = Math.sin(i * 0.37 + seed) * 1e3 + seed;
  return t;
}

function sameBits(a: Tensor, b: Tensor): boolean {
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** A claim task over `chunks` equal chunks of a 3-input job of `n` elements, and its output. */
function claimTask(n: number, chunks: number) {
  const inputs = [0, 1, 2].map((s) => shared([n], s).data as Float64Array);
  const out = new Float64Array(new SharedArrayBuffer(8 * n)).fill(-1);
  const control = new Int32Array(new SharedArrayBuffer(4 * (CLAIM_SLOTS + 1)));
  const bounds = new Float64Array(new SharedArrayBuffer(8 * (chunks + 1)));
  for (let c = 0; c <= chunks; c++) bounds[c] = Math.round((c * n) / chunks);
  const task: FuseChunkTask = {
    inputs,
    out,
    start: 0,
    end: n,
    rowStart: 0,
    rowEnd: n,
    params: { weights: null, nanOmit: false },
    claim: { control, bounds, slot: 0 },
  };
  return { task, out, control, inputs };
}

describe('fuse worker: claiming chunks', () => {
  it('writes every chunk it claims, names the last one in its slot, and returns the count', () => {
    const { task, out, control, inputs } = claimTask(1000, 7);
    expect(fuseChunk(task)).toBe(1000);
    expect(Atomics.load(control, CLAIM_SLOTS)).toBe(7); // chunk 6, plus 1
    const want = meanFusion(inputs.map((d) => ({ data: d, shape: [1000], dtype: 'float64' as const })));
    expect(sameBits({ data: out, shape: [1000], dtype: 'float64' }, want)).toBe(true);
  });

  it('hands the thread over after one chunk when asked to yield, and claims nothing once cancelled', () => {
    const { task, out, control } = claimTask(1000, 10);
    Atomics.store(control, CLAIM_YIELD, 1);
    expect(fuseChunk(task)).toBe(100);
    expect(Atomics.load(control, CLAIM_NEXT)).toBe(1);
    expect(out[99]).not.toBe(-1);
    expect(out[100]).toBe(-1);
    Atomics.store(control, CLAIM_CANCELLED, 1);
    expect(fuseChunk(task)).toBe(0);
    expect(out[100]).toBe(-1);
  });
});

describe('FusionPool: jobs whose tasks claim chunks', () => {
  let pool: FusionPool;
  beforeAll(() => {
    pool = new FusionPool({ threads: 2, inlineBytes: 0 });
  });
  afterAll(() => pool.close());

  it('gives the bits of meanFusion for every chunk size, and leaves no task behind', async () => {
    const xs = [0, 1, 2, 3].map((s) => shared([301, 67], s));
    const want = meanFusion(xs);
    for (const chunkRows of [undefined, 1, 2, 7, 150, 301, 1000]) {
      const got = await pool.fuse(xs, { chunkRows });
      expect(sameBits(got, want), `chunkRows ${chunkRows}`).toBe(true);
    }
    expect(pool.pendingTasks).toBe(0);
  });

  it('a job started while a long one runs is served in turn, not after it', async () => {
    const long = [0, 1, 2, 3].map((s) => shared([4096, 512], s));
    const short = [4, 5].map((s) => shared([8, 8], s));
    const order: string[] = [];
    const a = pool.fuse(long, { chunkRows: 1 }).then((t) => {
      order.push('long');
      return t;
    });
    const b = pool.fuse(short).then((t) => {
      order.push('short');
      return t;
    });
    const [ta, tb] = await Promise.all([a, b]);
    expect(order).toEqual(['short', 'long']);
    expect(sameBits(ta, meanFusion(long))).toBe(true);
    expect(sameBits(tb, meanFusion(short))).toBe(true);
    expect(pool.pendingTasks).toBe(0);
  });

  it('a runTask call made while a job runs gets a thread before the job ends', async () => {
    const long = [0, 1, 2, 3].map((s) => shared([4096, 512], s));
    const order: string[] = [];
    const a = pool.fuse(long, { chunkRows: 1 }).then(() => order.push('job'));
    const b = pool.runTask({ n: 1 }, { filename: SPIN }).then(() => order.push('task'));
    await Promise.all([a, b]);
    expect(order).toEqual(['task', 'job']);
  });
});
