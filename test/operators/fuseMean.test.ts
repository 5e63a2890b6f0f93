import { fileURLToPath } from 'node:url';
import { firstValueFrom, from, Subject, toArray } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FusionPool,
  fuseMean,
  meanFusion,
  OptionError,
  ShapeMismatchError,
  type Tensor,
  tensor,
} from '../../src/index.js';
import { firstBitDifference, run } from './helpers.js';

const f64 = (values: number[], shape?: number[]): Tensor => tensor(new Float64Array(values), shape);

/** `Atomics.waitAsync` (Node 20 has it; the ES2022 lib does not declare it). */
interface AtomicsWaitAsync {
  waitAsync(
    array: Int32Array,
    index: number,
    value: number,
    timeout: number,
  ): { async: false; value: string } | { async: true; value: Promise<string> };
}

/** A float64 tensor on a SharedArrayBuffer whose first 16 bytes are the hold-fuse fixture's control block. */
function held(n: number, released: boolean): { t: Tensor; control: Int32Array } {
  const sab = new SharedArrayBuffer(16 + 8 * n);
  const control = new Int32Array(sab, 0, 3);
  if (released) control[1] = 1;
  const data = new Float64Array(sab, 16, n).fill(1);
  return { t: tensor(data, [n]), control };
}

describe('fuseMean without a pool', () => {
  it('fuses each group like meanFusion, in order, with the options', async () => {
    const groups = [
      [f64([1, 2]), f64([3, 4])],
      [f64([1, Number.NaN]), f64([3, 4]), f64([5, 6])],
    ];
    const out = await run(groups, fuseMean({ nan: 'omit', dtype: 'float32' }));
    expect(out.map((t) => Array.from(t.data))).toEqual([
      [2, 3],
      [3, 5],
    ]);
    expect(out[0].dtype).toBe('float32');
  });

  it('errors the stream on a bad group and rejects bad options when called', async () => {
    await expect(run([[f64([1]), f64([1, 2])]], fuseMean())).rejects.toBeInstanceOf(ShapeMismatchError);
    await expect(run([[f64([1])], [f64([2])], [f64([1]), f64([1, 2])]], fuseMean())).rejects.toThrow(
      /^stream group 2: inputs\[1\] has shape \(2,\)/,
    );
    expect(() => fuseMean({ concurrency: 0 })).toThrow(
      'Expected `concurrency` to be an integer from 1 and up, got `0` (number)',
    );
    expect(() => fuseMean({ pool: {} as FusionPool })).toThrow(OptionError);
    expect(() => fuseMean({ out: f64([1]) } as never)).toThrow(OptionError);
  });
});

describe('fuseMean on a FusionPool', () => {
  const pools: FusionPool[] = [];
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });

  it('names the stream group of a bad group', async () => {
    const pool = new FusionPool({ threads: 1 });
    pools.push(pool);
    const groups = [[f64([1, 2])], [f64([1]), f64([1, 2])]];
    await expect(firstValueFrom(from(groups).pipe(fuseMean({ pool }), toArray()))).rejects.toThrow(
      /^stream group 1: inputs\[1\] has shape/,
    );
  });

  it('gives meanFusion bits in input order with several groups in flight', async () => {
    const pool = new FusionPool({ threads: 2, inlineBytes: 0 });
    pools.push(pool);
    // Large groups first, small ones after: later groups finish first and must wait for their turn.
    const sizes = [60_000, 50_000, 10, 20, 40_000, 7, 3];
    const groups = sizes.map((n, g) =>
      Array.from({ length: 3 }, (_, j) =>
        f64(Array.from({ length: n }, (_, i) => Math.sin(i * (g + 1) + j) * 1e3)),
      ),
    );
    const out = await firstValueFrom(
      from(groups).pipe(fuseMean({ pool, concurrency: 3, weights: [1, 2, 3] }), toArray()),
    );
    expect(out.map((t) => t.shape[0])).toEqual(sizes);
    out.forEach((t, g) =>
      expect(firstBitDifference(t, meanFusion(groups[g], { weights: [1, 2, 3] }))).toBe(-1),
    );
  });

  it('unsubscribing mid-stream stops the running pool task', async () => {
    const filename = fileURLToPath(new URL('./fixtures/hold-fuse.js', import.meta.url));
    const pool = new FusionPool({ threads: 1, inlineBytes: 0, filename });
    pools.push(pool);
    const first = held(8, false);
    const source = new Subject<Tensor[]>();
    const emitted: Tensor[] = [];
    const sub = source.pipe(fuseMean({ pool })).subscribe((t) => emitted.push(t));
    source.next([first.t]);
    source.next([held(8, true).t]);
    // Wait (without sleeping) until the worker has started the first task.
    const wait = (Atomics as unknown as AtomicsWaitAsync).waitAsync(first.control, 0, 0, 10_000);
    if (wait.async) await wait.value;
    expect(Atomics.load(first.control, 0)).toBe(1);
    sub.unsubscribe();
    Atomics.store(first.control, 1, 1);
    Atomics.notify(first.control, 1);
    // One thread: a later job runs only after the first task's thread is free. Had the first task survived
    // the unsubscribe, the release would have let it finish before this job.
    const probe = held(8, true);
    await pool.fuse([probe.t]);
    expect(Atomics.load(probe.control, 2)).toBe(1);
    expect(Atomics.load(first.control, 2)).toBe(0);
    expect(emitted).toEqual([]);
  });
});
