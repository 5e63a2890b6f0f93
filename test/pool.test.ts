import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptionError } from '../src/errors.js';
import { MeanFusion } from '../src/fusion/MeanFusion.js';
import { meanFusion } from '../src/fusion/mean-fusion.js';
import { ChunkError, PoolClosedError } from '../src/pool/errors.js';
import { FusionPool } from '../src/pool/FusionPool.js';
import { allocate, isShared } from '../src/tensor/alloc.js';
import type { NumberDType as DType } from '../src/tensor/dtype.js';
import type { Tensor } from '../src/tensor/tensor.js';
// @ts-expect-error: plain-JS fixture worker without type declarations
import { EXIT_SENTINEL, THROW_SENTINEL } from './fixtures/workers/faulty-fuse.js';
import { lcg } from './reference/random.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const FAULTY = fileURLToPath(new URL('./fixtures/workers/faulty-fuse.js', import.meta.url));
const SPIN = fileURLToPath(new URL('./fixtures/workers/spin.js', import.meta.url));

/** Deterministic pseudo-random tensor (LCG), optionally backed by a SharedArrayBuffer. */
function filled(dtype: DType, shape: number[], seed: number, shared = true): Tensor {
  const t = allocate(dtype, shape, { shared });
  const next = lcg(seed);
  for (let i = 0; i < t.data.length; i++) {
    const s = next();
    t.data[i] = dtype.startsWith('float') ? (s / 2 ** 32) * 200 - 100 : s % 100;
  }
  return t;
}

function inputs(k: number, dtype: DType, shape: number[], shared = true): Tensor[] {
  return Array.from({ length: k }, (_, j) => filled(dtype, shape, 17 * j + 3, shared));
}

function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function expectSameBits(actual: Tensor, expected: Tensor): void {
  expect(actual.shape).toEqual(expected.shape);
  expect(actual.dtype).toBe(expected.dtype);
  expect(Buffer.compare(bytesOf(actual), bytesOf(expected))).toBe(0);
}

/** What a rejected promise or a throwing call produced. */
async function errorOf(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

/**
 * True once the spinning fixture stops beating: Atomics.wait times out only when no thread changes the
 * counter for `ms` milliseconds.
 */
function stopsBeating(beat: Int32Array, tries = 40, ms = 100): boolean {
  for (let i = 0; i < tries; i++) {
    if (Atomics.wait(beat, 0, Atomics.load(beat, 0), ms) === 'timed-out') return true;
  }
  return false;
}

/** Resolves once the spinning fixture has started (its counter moved off 0), yielding to the event loop. */
async function waitForBeat(beat: Int32Array): Promise<void> {
  for (let i = 0; i < 500 && Atomics.load(beat, 0) === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(Atomics.load(beat, 0)).toBeGreaterThan(0);
}

describe('FusionPool: results', () => {
  let pool: FusionPool;
  beforeAll(() => {
    pool = new FusionPool({ threads: 2, inlineBytes: 0 });
  });
  afterAll(() => pool.close());

  it('has the configured threads and validates its options', () => {
    expect(pool.threads).toBe(2);
    expect(() => new FusionPool({ threads: 0 })).toThrow(
      'Expected `threads` to be an integer from 1 and up, got `0` (number)',
    );
    expect(() => new FusionPool({ chunkBytes: -1 })).toThrow(OptionError);
    expect(() => new FusionPool({ idleTimeout: Number.POSITIVE_INFINITY })).toThrow(/`idleTimeout`/);
    expect(() => new FusionPool({ inlineBytes: 0.5 })).toThrow(/`inlineBytes`/);
    expect(() => new FusionPool({ plainInputs: 'share' as never })).toThrow(/`plainInputs`/);
    expect(() => new FusionPool({ filename: 3 as never })).toThrow(/`filename`/);
    expect(() => new FusionPool(null as never)).toThrow(/`options`/);
    // With several bad options, the first documented one is named.
    expect(() => new FusionPool({ threads: 0, chunkBytes: 0, idleTimeout: -1 })).toThrow(/`threads`/);
  });

  const cases: Array<[string, DType[], number[], { chunkRows?: number }]> = [
    ['float64 2-D, default chunks', ['float64', 'float64', 'float64'], [37, 11], {}],
    ['float64 2-D, one row per chunk', ['float64', 'float64'], [9, 5], { chunkRows: 1 }],
    [
      'float32 3-D, 3 rows per chunk',
      ['float32', 'float32', 'float32', 'float32'],
      [10, 3, 4],
      { chunkRows: 3 },
    ],
    ['mixed dtypes 1-D (float64 out)', ['int8', 'uint16', 'float32', 'int32'], [1000], { chunkRows: 64 }],
    ['0-d tensors', ['float64', 'float64', 'float64'], [], {}],
    ['k = 1', ['uint8'], [4, 4], { chunkRows: 2 }],
    ['rows wider than a SIMD block', ['float64', 'float64'], [3, 5000], { chunkRows: 1 }],
  ];
  for (const [name, dtypes, shape, opts] of cases) {
    it(`is bitwise meanFusion: ${name}`, async () => {
      const xs = dtypes.map((d, j) => filled(d, shape, 31 * j + 1));
      const got = await pool.fuse(xs, opts);
      expectSameBits(got, meanFusion(xs));
      expect(isShared(got)).toBe(true);
      expectSameBits(
        await pool.fuse(xs, { ...opts, weights: xs.map((_, j) => j + 0.5) }),
        meanFusion(xs, { weights: xs.map((_, j) => j + 0.5) }),
      );
    });
  }

  it('handles NaN, ±inf, huge values and nan: omit like meanFusion', async () => {
    const xs = inputs(3, 'float64', [20, 7]);
    xs[0].data[3] = Number.NaN;
    xs[1].data[3] = Number.NaN;
    xs[2].data[3] = Number.NaN;
    xs[0].data[10] = Number.NaN;
    xs[1].data[50] = Number.POSITIVE_INFINITY;
    xs[2].data[50] = Number.NEGATIVE_INFINITY;
    xs[0].data[70] = 1e308;
    xs[1].data[70] = 1e308;
    for (const nan of ['propagate', 'omit'] as const) {
      expectSameBits(await pool.fuse(xs, { nan, chunkRows: 3 }), meanFusion(xs, { nan }));
    }
    expectSameBits(
      await pool.fuse(xs, { dtype: 'float32', chunkRows: 4 }),
      meanFusion(xs, { dtype: 'float32' }),
    );
  });

  it('fuses empty tensors (zero rows or zero-width rows)', async () => {
    for (const shape of [
      [0, 3],
      [3, 0],
    ]) {
      const xs = inputs(2, 'float64', shape);
      expectSameBits(await pool.fuse(xs), meanFusion(xs));
    }
  });

  it('writes a shared `out` in place and returns it', async () => {
    const xs = inputs(3, 'float32', [16, 8]);
    const out = allocate('float32', [16, 8], { shared: true });
    const got = await pool.fuse(xs, { out, chunkRows: 5 });
    expect(got.data).toBe(out.data);
    expectSameBits(got, meanFusion(xs));
  });

  it('fills a non-shared `out` once at the end', async () => {
    const xs = inputs(2, 'float64', [16, 8]);
    const out = allocate('float64', [16, 8]);
    const got = await pool.fuse(xs, { out, chunkRows: 3 });
    expect(got.data).toBe(out.data);
    expect(isShared(out)).toBe(false);
    expectSameBits(got, meanFusion(xs));
  });

  it('runs inputs on ordinary ArrayBuffers inline by default, and never touches the caller buffers', async () => {
    const xs = inputs(3, 'float64', [40, 10], false);
    const before = xs.map((t) => Buffer.from(bytesOf(t)));
    const got = await pool.fuse(xs, { chunkRows: 3 });
    expect(isShared(got)).toBe(false);
    expect(pool.pendingTasks).toBe(0);
    expectSameBits(got, meanFusion(xs));
    xs.forEach((t, j) => {
      expect(t.data.byteLength).toBe(400 * 8);
      expect(Buffer.compare(bytesOf(t), before[j])).toBe(0);
    });
  });

  it("copies inputs on ordinary ArrayBuffers into shared memory with plainInputs: 'copy'", async () => {
    const copying = new FusionPool({ threads: 2, inlineBytes: 0, plainInputs: 'copy' });
    try {
      const xs = inputs(3, 'int16', [40, 10], false);
      xs.push(xs[0]); // the same buffer twice
      const before = xs.map((t) => Buffer.from(bytesOf(t)));
      const got = await copying.fuse(xs, { chunkRows: 3 });
      expect(isShared(got)).toBe(true);
      expectSameBits(got, meanFusion(xs));
      xs.forEach((t, j) => {
        expect(isShared(t)).toBe(false);
        expect(t.data.byteLength).toBe(400 * 2);
        expect(Buffer.compare(bytesOf(t), before[j])).toBe(0);
      });
    } finally {
      await copying.close();
    }
  });

  it('runs small jobs inline with the default threshold', async () => {
    const small = new FusionPool({ threads: 2 });
    try {
      const xs = inputs(3, 'float64', [64, 64]);
      const got = await small.fuse(xs);
      expect(isShared(got)).toBe(false); // allocated as meanFusion does, not on the threads
      expectSameBits(got, meanFusion(xs));
    } finally {
      await small.close();
    }
  });

  it('completes many concurrent jobs correctly', async () => {
    const jobs = Array.from({ length: 12 }, (_, i) => {
      const xs = inputs(2 + (i % 4), i % 2 ? 'float32' : 'float64', [10 + i * 7, 3 + (i % 5)]);
      const weights = i % 3 === 0 ? xs.map((_, j) => j + 1) : undefined;
      return { xs, weights, chunkRows: 1 + (i % 6) };
    });
    const results = await Promise.all(
      jobs.map((j) => pool.fuse(j.xs, { weights: j.weights, chunkRows: j.chunkRows })),
    );
    results.forEach((r, i) => expectSameBits(r, meanFusion(jobs[i].xs, { weights: jobs[i].weights })));
    expect(pool.pendingTasks).toBe(0);
  });

  it('fuse$ emits the fused tensor once, and re-runs per subscription (cold)', async () => {
    const xs = inputs(3, 'float64', [12, 4]);
    const obs = pool.fuse$(xs, { chunkRows: 2 });
    const seen: Tensor[] = [];
    await new Promise<void>((resolve, reject) => {
      obs.subscribe({ next: (t) => seen.push(t), error: reject, complete: resolve });
    });
    await new Promise<void>((resolve, reject) => {
      obs.subscribe({ next: (t) => seen.push(t), error: reject, complete: resolve });
    });
    expect(seen).toHaveLength(2);
    expect(seen[0].data).not.toBe(seen[1].data);
    for (const t of seen) expectSameBits(t, meanFusion(xs));
  });

  it('MeanFusion.forwardAsync gives the bits of forward', async () => {
    const xs = inputs(3, 'float64', [30, 6]);
    const plain = new MeanFusion({ weights: [1, 2, 3] });
    expectSameBits(await plain.forwardAsync(xs, { pool }), plain.forward(xs));
    const hooked = new MeanFusion({ nan: 'omit', preprocess: [(x) => x], postprocess: [(y) => y] });
    expectSameBits(await hooked.forwardAsync(xs, { pool }), hooked.forward(xs));
    await expect(plain.forwardAsync([], { pool })).rejects.toMatchObject({ name: 'EmptyInputError' });
    await expect(plain.forwardAsync(xs, {} as never)).rejects.toThrow(/`options.pool`/);
  });
});

describe('FusionPool: validation before any task', () => {
  // Every chunk task of this pool throws (the inputs hold the sentinel), so a task would show as ChunkError.
  let pool: FusionPool;
  beforeAll(() => {
    pool = new FusionPool({ threads: 2, inlineBytes: 0, filename: FAULTY });
  });
  afterAll(() => pool.close());

  const poisoned = (shape: number[]): Tensor => {
    const t = filled('float64', shape, 5);
    t.data.fill(THROW_SENTINEL);
    return t;
  };

  const bad: Array<[string, unknown, unknown]> = [
    ['empty inputs', [], undefined],
    ['not an array', 'x', undefined],
    ['shape mismatch', [poisoned([4, 3]), poisoned([3, 4])], undefined],
    ['length mismatch', [poisoned([4, 3]), { data: new Float64Array(5), shape: [4, 3] }], undefined],
    ['DataView data', [poisoned([2]), { data: new DataView(new ArrayBuffer(16)), shape: [2] }], undefined],
    [
      'int64 data under a float64 dtype',
      [poisoned([2]), { data: new BigInt64Array(2), shape: [2], dtype: 'float64' }],
      undefined,
    ],
    ['weights count', [poisoned([4, 3]), poisoned([4, 3])], { weights: [1] }],
    ['zero weight sum', [poisoned([4, 3]), poisoned([4, 3])], { weights: [1, -1] }],
    ['nan policy', [poisoned([4, 3])], { nan: 'skip' }],
    ['out shape', [poisoned([4, 3])], { out: allocate('float64', [3, 4], { shared: true }) }],
    ['options type', [poisoned([4, 3])], 5],
  ];
  for (const [name, xs, options] of bad) {
    it(`rejects ${name} with meanFusion's error`, async () => {
      const expected = (await errorOf(() => meanFusion(xs as never, options as never))) as Error;
      const got = (await errorOf(() => pool.fuse(xs as never, options as never))) as Error;
      expect(got).toBeInstanceOf(expected.constructor);
      expect(got.name).toBe(expected.name);
      expect(got.message).toBe(expected.message);
      expect(pool.pendingTasks).toBe(0);
    });
  }

  it('rejects a bad chunkRows or signal with OptionError', async () => {
    const xs = [poisoned([4, 3])];
    await expect(pool.fuse(xs, { chunkRows: 0 })).rejects.toThrow(
      'Expected `chunkRows` to be an integer from 1 and up, got `0` (number)',
    );
    await expect(pool.fuse(xs, { signal: {} as AbortSignal })).rejects.toThrow(/`signal`/);
    expect(pool.pendingTasks).toBe(0);
  });
});

describe('FusionPool: cancellation', () => {
  let pool: FusionPool;
  beforeAll(() => {
    pool = new FusionPool({ threads: 2, inlineBytes: 0 });
  });
  afterAll(() => pool.close());

  const big = () => inputs(4, 'float64', [512, 256]);
  // A job still running after a turn of the event loop (tasks claim rows without a round trip each, so a
  // job of big()'s size may already be done by then).
  const large = () => inputs(4, 'float64', [8192, 256]);

  it('rejects with signal.reason when aborted before the job', async () => {
    const reason = new Error('stop before');
    const ac = new AbortController();
    ac.abort(reason);
    await expect(pool.fuse(big(), { signal: ac.signal })).rejects.toBe(reason);
    expect(pool.pendingTasks).toBe(0);
  });

  it('rejects with signal.reason when aborted during the job, leaves no task, keeps serving', async () => {
    const xs = big();
    const reason = new Error('stop during');
    const ac = new AbortController();
    const job = pool.fuse(large(), { signal: ac.signal, chunkRows: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(pool.pendingTasks).toBeGreaterThan(0);
    ac.abort(reason);
    await expect(job).rejects.toBe(reason);
    expect(pool.pendingTasks).toBe(0);
    expectSameBits(await pool.fuse(xs, { chunkRows: 7 }), meanFusion(xs));
  });

  it('aborting one job leaves the other jobs on the pool intact', async () => {
    const xs = big();
    const ac = new AbortController();
    const aborted = pool.fuse(large(), { signal: ac.signal, chunkRows: 1 });
    const others = [0, 1, 2].map((i) => pool.fuse(xs, { chunkRows: 2 + i }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(pool.pendingTasks).toBeGreaterThan(0);
    ac.abort(new Error('only this one'));
    await expect(aborted).rejects.toThrow('only this one');
    for (const r of await Promise.all(others)) expectSameBits(r, meanFusion(xs));
    expect(pool.pendingTasks).toBe(0);
  });

  it('ignores an abort after the job settled', async () => {
    const xs = big();
    const ac = new AbortController();
    const got = await pool.fuse(xs, { signal: ac.signal });
    ac.abort(new Error('too late'));
    expectSameBits(got, meanFusion(xs));
    expect(pool.pendingTasks).toBe(0);
  });

  it('a DOMException reason is passed through as is', async () => {
    const ac = new AbortController();
    const job = pool.fuse(big(), { signal: ac.signal, chunkRows: 1 });
    ac.abort();
    const error = await errorOf(() => job);
    expect(error).toBe(ac.signal.reason);
    expect((error as Error).name).toBe('AbortError');
  });

  it('unsubscribing from fuse$ cancels the job', async () => {
    const sub = pool.fuse$(large(), { chunkRows: 1 }).subscribe();
    await new Promise((resolve) => setImmediate(resolve));
    expect(pool.pendingTasks).toBeGreaterThan(0);
    sub.unsubscribe();
    expect(pool.pendingTasks).toBe(0);
  });

  it('fuse$ errors with the reason of its own signal', async () => {
    const reason = new Error('outer');
    const ac = new AbortController();
    const error = new Promise((resolve) => {
      pool.fuse$(large(), { chunkRows: 1, signal: ac.signal }).subscribe({ error: resolve });
    });
    await new Promise((resolve) => setImmediate(resolve));
    ac.abort(reason);
    expect(await error).toBe(reason);
  });

  it('runTask: aborting a running task rejects with the reason and stops its thread', async () => {
    const beat = new Int32Array(new SharedArrayBuffer(4));
    const reason = new Error('stop spinning');
    const ac = new AbortController();
    const task = pool.runTask({ beat }, { filename: SPIN, name: 'spin', signal: ac.signal });
    await waitForBeat(beat);
    ac.abort(reason);
    await expect(task).rejects.toBe(reason);
    expect(stopsBeating(beat)).toBe(true);
    await expect(pool.runTask({ n: 1 }, { filename: SPIN })).resolves.toEqual({ n: 1 });
  });
});

describe('FusionPool: worker failures', () => {
  let pool: FusionPool;
  beforeAll(() => {
    pool = new FusionPool({ threads: 2, inlineBytes: 0, filename: FAULTY });
  });
  afterAll(() => pool.close());

  for (const [what, sentinel, detail] of [
    ['throws', THROW_SENTINEL, /fixture: sentinel at element/],
    ['dies', EXIT_SENTINEL, /exited with code: 3/],
  ] as const) {
    it(`a chunk whose worker ${what} rejects the job naming its rows, within a second; other jobs are unaffected`, async () => {
      const xs = inputs(3, 'float64', [40, 5]);
      xs[0].data[5 * 13 + 2] = sentinel; // row 13: chunk [12, 15) with chunkRows 3
      const healthy = Array.from({ length: 4 }, (_, i) => inputs(2, 'float32', [30 + i, 4]));
      const out = allocate('float64', [40, 5]);
      out.data.fill(42);
      const started = performance.now();
      const failing = pool.fuse(xs, { chunkRows: 3, out });
      const others = healthy.map((h) => pool.fuse(h, { chunkRows: 2 }));
      const error = (await errorOf(() => failing)) as ChunkError;
      expect(performance.now() - started).toBeLessThan(1000);
      expect(error).toBeInstanceOf(ChunkError);
      expect(error.name).toBe('ChunkError');
      expect(error.code).toBe('ERR_CHUNK_FAILED');
      expect(error.message).toMatch(/rows \[12, 15\) of 40/);
      expect(error.message).toMatch(detail);
      expect([error.rowStart, error.rowEnd]).toEqual([12, 15]);
      expect(out.data.every((v) => v === 42)).toBe(true); // a non-shared out is written only on success
      const results = await Promise.all(others);
      results.forEach((r, i) => expectSameBits(r, meanFusion(healthy[i])));
      expect(pool.pendingTasks).toBe(0);
      expectSameBits(await pool.fuse(healthy[0], { chunkRows: 1 }), meanFusion(healthy[0]));
    });
  }
});

describe('FusionPool: close', () => {
  it('rejects running jobs and tasks with PoolClosedError, and every later call', async () => {
    // One thread, held by the spinning task: the job's chunks are deterministically still in flight.
    const pool = new FusionPool({ threads: 1, inlineBytes: 0 });
    const xs = inputs(4, 'float64', [512, 256]);
    const beat = new Int32Array(new SharedArrayBuffer(4));
    const spinning = pool.runTask({ beat }, { filename: SPIN, name: 'spin' });
    const job = pool.fuse(xs, { chunkRows: 1 });
    await waitForBeat(beat);
    expect(pool.pendingTasks).toBe(2);
    const errors = [job, spinning].map((p) => errorOf(() => p));
    const closing = pool.close();
    expect(pool.closed).toBe(true);
    for (const pending of errors) {
      const error = (await pending) as PoolClosedError;
      expect(error).toBeInstanceOf(PoolClosedError);
      expect(error.code).toBe('ERR_POOL_CLOSED');
      expect(error.message).toMatch(/closed while this job was running/);
    }
    await closing;
    expect(stopsBeating(beat)).toBe(true);
    expect(pool.close()).toBe(closing);
    await expect(pool.fuse(xs)).rejects.toBeInstanceOf(PoolClosedError);
    await expect(pool.runTask({}, { filename: SPIN })).rejects.toBeInstanceOf(PoolClosedError);
  });

  it('a process that used a pool and closed it exits by itself', () => {
    const script = `
      import { FusionPool, allocate, meanFusion } from ${JSON.stringify(`${root}dist/src/index.js`)};
      const pool = new FusionPool({ threads: 2, inlineBytes: 0, idleTimeout: 60000 });
      const xs = [1, 2, 3].map((v) => { const t = allocate('float64', [64, 32], { shared: true }); t.data.fill(v); return t; });
      const got = await pool.fuse(xs, { chunkRows: 4 });
      await pool.close();
      console.log(got.data.every((v) => v === 2) && got.data.length === meanFusion(xs).data.length ? 'ok' : 'wrong');
    `;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      timeout: 20_000,
      encoding: 'utf8',
    });
    expect(run.error).toBeUndefined();
    expect(run.signal).toBeNull();
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('ok');
    expect(run.status).toBe(0);
  });
});
