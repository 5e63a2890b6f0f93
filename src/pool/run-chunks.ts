/**
 * The generic chunk pipeline: chunk descriptors flow through `mergeMap` into cancellable async tasks.
 * Used by the fusion pool and reusable by any job that splits work into independent chunks (e.g. an
 * out-of-core file job with its own worker entry).
 */
import { from, mergeMap, Observable } from 'rxjs';
import { describe, OptionError } from '../errors.js';

/** One finished chunk: its descriptor and what its task resolved to. */
export interface ChunkResult<C, R> {
  readonly chunk: C;
  readonly result: R;
}

/**
 * Runs `run(chunk, signal)` for every chunk, at most `concurrency` at a time, and emits each result as it
 * settles (completion order, not chunk order); completes once every chunk has succeeded.
 *
 * Cancellation: each task is an inner Observable owning an `AbortController` whose `signal` is handed to
 * `run`; the inner teardown aborts it. So unsubscribing, or the first chunk that fails (its error is
 * forwarded unchanged to `error`), aborts every task still running and starts no new one. The teardown also
 * runs after a task settles, so `run` must treat an abort after settling as harmless (Piscina's `run` does).
 *
 * Only the descriptors pass through the stream (`mergeMap` buffers pending outer values without bound), so
 * keep them small: ranges, not payloads. The Observable is cold: nothing runs before `subscribe`, and each
 * subscription runs the chunks again.
 *
 * @typeParam C - Chunk descriptor, e.g. `{ start, end }`.
 * @typeParam R - Result of one task.
 * @param chunks - The descriptors, in the order the tasks are started.
 * @param run - Starts the task of one chunk; must honour `signal` (reject and stop work once it aborts).
 * @param concurrency - Maximum tasks in flight: an integer ≥ 1 (or `Infinity`).
 * @throws {OptionError} (synchronously) when `concurrency` is not an integer ≥ 1 or `Infinity`, or `run`
 *   is not a function.
 */
export function runChunks$<C, R>(
  chunks: readonly C[],
  run: (chunk: C, signal: AbortSignal) => Promise<R>,
  concurrency: number,
): Observable<ChunkResult<C, R>> {
  if (
    typeof concurrency !== 'number' ||
    !(concurrency === Number.POSITIVE_INFINITY || (Number.isSafeInteger(concurrency) && concurrency >= 1))
  ) {
    throw new OptionError(
      `Expected \`concurrency\` to be an integer from 1 and up or \`Infinity\`, got ${describe(concurrency)}`,
    );
  }
  if (typeof run !== 'function')
    throw new OptionError(`Expected \`run\` to be a function, got ${describe(run)}`);
  return from(chunks).pipe(
    mergeMap(
      (chunk) =>
        new Observable<ChunkResult<C, R>>((subscriber) => {
          const controller = new AbortController();
          let task: Promise<R>;
          try {
            task = run(chunk, controller.signal);
          } catch (error) {
            subscriber.error(error);
            return undefined;
          }
          task.then(
            (result) => {
              subscriber.next({ chunk, result });
              subscriber.complete();
            },
            (error: unknown) => subscriber.error(error),
          );
          return () => controller.abort();
        }),
      concurrency,
    ),
  );
}
