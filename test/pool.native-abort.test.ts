// Aborts while pool threads run the native kernel. Worker.terminate() stops a thread only when it returns
// to JavaScript, so a thread inside a native kernel call finishes that call first; the job must still
// reject only once the thread has exited, so nothing is written into `out` after the rejection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeKernel } from '../src/kernels/native.js';
import { FusionPool } from '../src/pool/FusionPool.js';
import { allocate } from '../src/tensor/alloc.js';
import type { Tensor } from '../src/tensor/tensor.js';

const SENTINEL = -12345.5;
const SHAPE = [64, 2 ** 17]; // 8 inputs × 64 MiB: a 32-row chunk takes tens of milliseconds natively
const CHUNK_ROWS = 32;
const TRIALS = 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.runIf(nativeKernel() !== null)('FusionPool on the native kernel: aborts mid-kernel', () => {
  let pool: FusionPool;
  let xs: Tensor[];
  beforeAll(async () => {
    pool = new FusionPool({ threads: 2, inlineBytes: 0 });
    xs = Array.from({ length: 8 }, (_, j) => {
      const t = allocate('float64', SHAPE, { shared: true });
      t.data.fill(j + 1);
      return t;
    });
    await pool.fuse(xs, { chunkRows: CHUNK_ROWS }); // both threads up and warm
  });
  afterAll(async () => {
    await pool.close();
  });

  it('a shared `out` does not change once the aborted job has rejected', async () => {
    const out = allocate('float64', SHAPE, { shared: true });
    const half = out.data.length / 2;
    const late: string[] = [];
    let aborted = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      out.data.fill(SENTINEL);
      const reason = new Error(`abort ${trial}`);
      const ac = new AbortController();
      let atRejection: Float64Array | undefined;
      const job = pool.fuse(xs, { out, chunkRows: CHUNK_ROWS, signal: ac.signal }).then(
        () => 'done',
        (error: unknown) => {
          atRejection = out.data.slice() as Float64Array;
          return error;
        },
      );
      // Abort once both threads have begun writing their chunks (the native calls are running).
      const started = performance.now();
      while (!(out.data[0] !== SENTINEL && out.data[half] !== SENTINEL) && performance.now() - started < 5000)
        await new Promise((resolve) => setImmediate(resolve));
      ac.abort(reason);
      const outcome = await job;
      if (outcome === 'done') continue;
      expect(outcome).toBe(reason);
      aborted++;
      if (atRejection === undefined) throw new Error('unreachable');
      await sleep(50);
      let changed = 0;
      for (let i = 0; i < atRejection.length; i++) if (!Object.is(out.data[i], atRejection[i])) changed++;
      if (changed > 0) late.push(`trial ${trial}: ${changed} elements changed after the rejection`);
    }
    expect(late, 'a terminated thread wrote into `out` after the job had rejected').toEqual([]);
    expect(aborted, 'the jobs finished before their aborts').toBeGreaterThanOrEqual(TRIALS / 2);
    // The pool still works, and gives the mean.
    const ok = await pool.fuse(xs, { chunkRows: CHUNK_ROWS });
    expect(ok.data[0]).toBe(4.5);
    expect(ok.data[ok.data.length - 1]).toBe(4.5);
  });
});
