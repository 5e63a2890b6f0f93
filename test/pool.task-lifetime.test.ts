// pool.runTask keeps its task alive until it settles. Piscina drops a task object once it is posted, so a
// kernel-heap tensor referenced only by the task used to be garbage-collected while the worker still read
// it: its range went back to the heap, the next allocations reused it, and the worker computed its result
// from their values. Runs in a child process with --expose-gc; the worker waits at a gate (Atomics), not
// for a fixed time.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const GATED = fileURLToPath(new URL('./fixtures/workers/gated-fuse.js', import.meta.url));

describe('FusionPool.runTask: task lifetime', () => {
  it('keeps heap tensors referenced only by the task alive through garbage collection until it settles, then lets them go', () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const script = `
      import { allocate, FusionPool } from ${JSON.stringify(`${root}dist/src/index.js`)};
      import { heapAllocatedBytes } from ${JSON.stringify(`${root}dist/src/kernels/heap/memory.js`)};
      const filename = ${JSON.stringify(GATED)};
      const N = 1 << 18; // 2 MiB of float64 per tensor
      const collect = async () => {
        for (let i = 0; i < 5; i++) {
          globalThis.gc();
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      };
      const pool = new FusionPool({ threads: 1 });
      const gate = new Int32Array(new SharedArrayBuffer(8));
      const base = heapAllocatedBytes();
      let addresses;
      // The caller keeps only the promise: the tensors are referenced by the task alone.
      const result = (() => {
        const inputs = [7, 9].map((v) => {
          const t = allocate('float64', [N], { heap: true });
          t.data.fill(v);
          return t;
        });
        addresses = inputs.map((t) => t.data.byteOffset);
        return pool.runTask({ inputs, gate }, { filename });
      })();
      while (Atomics.load(gate, 1) === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      const during = heapAllocatedBytes() - base;
      await collect();
      const afterGc = heapAllocatedBytes() - base;
      // Other tensors, filled with other values: they must not take the task's memory.
      const others = [0, 1].map(() => {
        const t = allocate('float64', [N], { heap: true });
        t.data.fill(-1);
        return t;
      });
      const reused = others.some((t) => addresses.includes(t.data.byteOffset));
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
      const fused = await result;
      // Settled: the task is let go, and its tensors are collected.
      let released = false;
      for (let i = 0; i < 50 && !released; i++) {
        await collect();
        released = heapAllocatedBytes() - base === 2 * N * 8;
      }
      await pool.close();
      console.log(JSON.stringify({ during, afterGc, reused, fused, released, others: others.length }));
    `;
    const run = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.stderr).toBe('');
    const N = 1 << 18;
    expect(JSON.parse(run.stdout)).toEqual({
      during: 2 * N * 8,
      afterGc: 2 * N * 8,
      reused: false,
      fused: { min: 8, max: 8, length: N },
      released: true,
      others: 2,
    });
  });
});
