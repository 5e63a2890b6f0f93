import { lastValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { OptionError } from '../src/errors.js';
import { runChunks$ } from '../src/pool/run-chunks.js';

/** A task whose settlement the test controls, recording its signal. */
interface Deferred {
  chunk: number;
  signal: AbortSignal;
  resolve: (value: number) => void;
  reject: (error: unknown) => void;
}

function controlled(): { started: Deferred[]; run: (chunk: number, signal: AbortSignal) => Promise<number> } {
  const started: Deferred[] = [];
  const run = (chunk: number, signal: AbortSignal) =>
    new Promise<number>((resolve, reject) => {
      started.push({ chunk, signal, resolve, reject });
    });
  return { started, run };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('runChunks$', () => {
  it('is cold: no task starts before subscribe', async () => {
    const { started, run } = controlled();
    const obs = runChunks$([1, 2, 3], run, 2);
    await tick();
    expect(started).toHaveLength(0);
    const sub = obs.subscribe();
    expect(started.map((d) => d.chunk)).toEqual([1, 2]);
    sub.unsubscribe();
  });

  it('keeps at most `concurrency` tasks in flight and emits every result', async () => {
    const { started, run } = controlled();
    const results: Array<{ chunk: number; result: number }> = [];
    let completed = false;
    runChunks$([0, 1, 2, 3, 4], run, 2).subscribe({
      next: (r) => results.push(r),
      complete: () => {
        completed = true;
      },
    });
    expect(started).toHaveLength(2);
    started[1].resolve(10);
    await tick();
    expect(started).toHaveLength(3);
    expect(started[2].chunk).toBe(2);
    for (const d of started.slice()) if (d.chunk !== 1) d.resolve(d.chunk * 10);
    await tick();
    for (const d of started.slice(3)) d.resolve(d.chunk * 10);
    await tick();
    expect(completed).toBe(true);
    expect(results.map((r) => r.chunk).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(results.every((r) => r.result === r.chunk * 10)).toBe(true);
    // Teardown after settlement aborts the finished tasks' signals, which must be harmless.
    expect(started.every((d) => d.signal.aborted)).toBe(true);
  });

  it('an error in one chunk aborts the running ones, starts no more, and is forwarded unchanged', async () => {
    const { started, run } = controlled();
    const boom = new RangeError('boom');
    const done = lastValueFrom(runChunks$([0, 1, 2, 3], run, 2));
    expect(started).toHaveLength(2);
    started[0].reject(boom);
    await expect(done).rejects.toBe(boom);
    expect(started[1].signal.aborted).toBe(true);
    await tick();
    expect(started).toHaveLength(2);
  });

  it('unsubscribing aborts every running task', () => {
    const { started, run } = controlled();
    const sub = runChunks$([0, 1, 2], run, 3).subscribe();
    expect(started.every((d) => !d.signal.aborted)).toBe(true);
    sub.unsubscribe();
    expect(started).toHaveLength(3);
    expect(started.every((d) => d.signal.aborted)).toBe(true);
  });

  it('stops the remaining chunks when a downstream operator completes early', async () => {
    const { started, run } = controlled();
    const first = lastValueFrom(runChunks$([0, 1, 2, 3], run, 2).pipe(take(1), toArray()));
    started[1].resolve(1);
    expect(await first).toEqual([{ chunk: 1, result: 1 }]);
    expect(started[0].signal.aborted).toBe(true);
    expect(started).toHaveLength(2);
  });

  it('forwards a synchronous throw of run as an error', async () => {
    const boom = new Error('sync');
    const run = (): Promise<number> => {
      throw boom;
    };
    await expect(lastValueFrom(runChunks$([0], run, 1))).rejects.toBe(boom);
  });

  it('completes at once for no chunks', async () => {
    const { run } = controlled();
    await expect(lastValueFrom(runChunks$([], run, 1).pipe(toArray()))).resolves.toEqual([]);
  });

  it('rejects a bad concurrency or run with OptionError', () => {
    const { run } = controlled();
    expect(() => runChunks$([1], run, 0)).toThrow(
      'Expected `concurrency` to be an integer from 1 and up or `Infinity`, got `0` (number)',
    );
    expect(() => runChunks$([1], run, 1.5)).toThrow(OptionError);
    expect(() => runChunks$([1], run, Number.NaN)).toThrow(OptionError);
    expect(() => runChunks$([1], 'run' as never, 1)).toThrow(/`run`/);
    expect(() => runChunks$([1], run, Number.POSITIVE_INFINITY)).not.toThrow();
  });
});
