/**
 * The fusion pool: a large fusion is split into row chunks (ranges along the first axis), an RxJS pipeline
 * ({@link runChunks$}) sends one task per chunk to Piscina worker threads, and every worker writes its rows
 * straight into one shared output tensor.
 */

import { Observable, Subscription } from 'rxjs';
import { describe, OptionError } from '../errors.js';
import { runPlan } from '../fusion/mean-fusion.js';
import { type FusionPlan, kernelParams, planFusion } from '../fusion/validate.js';
import type { MeanKernelParams } from '../kernels/params.js';
import { assertKnownKeys } from '../option-keys.js';
import { allocate, isShared, toShared } from '../tensor/alloc.js';
import { type AnyTypedArray, type FloatDataArray, itemSize } from '../tensor/dtype.js';
import { rowCount, rowSize, shapeSize } from '../tensor/shape.js';
import type { Tensor, TensorLike } from '../tensor/tensor.js';
import { type ClaimTasks, claimTasks } from './claim-lanes.js';
import { ChunkError, PoolClosedError } from './errors.js';
import { linkSignal } from './linked-signal.js';
import { planChunks, type RowRange } from './plan.js';
import {
  type FuseOptions,
  type FusionPoolOptions,
  type RunTaskOptions,
  resolvePoolOptions,
  TASK_KEYS,
  TASKS_PER_THREAD,
} from './pool-options.js';
import { PoolTasks } from './pool-tasks.js';
import {
  CLAIM_CANCELLED,
  CLAIM_NEXT,
  CLAIM_SLOTS,
  CLAIM_YIELD,
  type FuseChunkResult,
  type FuseChunkTask,
} from './protocol.js';
import { runChunks$ } from './run-chunks.js';

export {
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_INLINE_BYTES,
  type FuseOptions,
  type FusionPoolOptions,
  maxThreads,
  type RunTaskOptions,
} from './pool-options.js';

/**
 * A pool of worker threads computing mean fusions in row chunks, bitwise identical to `meanFusion`.
 *
 * - Inputs backed by a `SharedArrayBuffer` are shared with the threads, never copied. A job with an input on
 *   an ordinary `ArrayBuffer` runs inline, or with `plainInputs: 'copy'` copies it once into shared memory
 *   (the caller's buffers are never detached or written).
 * - The result is a new tensor backed by a `SharedArrayBuffer`, or `out`. A shared `out` is written in place
 *   by the threads (zero copy; after a failed or aborted job its contents are unspecified). A non-shared
 *   `out` is written once, at the end, only when the job succeeds.
 * - Jobs below {@link FusionPoolOptions.inlineBytes} run inline on the calling thread (as `meanFusion`; the
 *   promise still settles asynchronously).
 * - Jobs share the threads fairly: each keeps at most `threads` tasks in flight, in one FIFO queue. A job
 *   alone on the pool's own worker keeps one task a thread from start to end (the tasks claim its chunks
 *   from a shared counter, without a round trip through the calling thread); while other jobs or `runTask`
 *   calls wait, its tasks hand their thread over after each chunk and queue again behind them.
 *
 * Call {@link FusionPool.close} when done (idle threads do not keep the process alive, but close ends
 * them at once).
 *
 * @example
 * ```ts
 * const pool = new FusionPool({ threads: 2 });
 * const fused = await pool.fuse([a, b, c], { weights: [1, 2, 1] });
 * await pool.close();
 * ```
 */
export class FusionPool {
  readonly #tasks: PoolTasks;
  readonly #threads: number;
  readonly #chunkBytes: number;
  /** Chunk size of the own worker's claims (`chunkBytes` when given, else {@link CLAIM_BYTES}). */
  readonly #claimBytes: number;
  readonly #inlineBytes: number;
  readonly #filename: string;
  /** True for the pool's own worker, whose tasks claim chunks (a custom `filename` gets one task a chunk). */
  readonly #claims: boolean;
  readonly #copyPlain: boolean;
  #closing: Promise<void> | undefined;
  /** The claim counters of the jobs in flight on the own worker, and the runTask calls in flight. */
  readonly #claimJobs = new Set<Int32Array>();
  #otherTasks = 0;

  /**
   * @throws {OptionError} when `options` is not an object or has an unknown key, `threads` is not an
   *   integer from 1 to {@link maxThreads} (4 × `os.availableParallelism()`, at least 16), `chunkBytes`
   *   not an integer ≥ 1, `idleTimeout` not an integer from 0 to 2³¹−1, `inlineBytes` not an integer ≥ 0,
   *   `plainInputs` not `'inline'` or `'copy'`, or `filename` not a string.
   * @throws {Error} when the compiled fuse worker is missing (run `npm run build`).
   */
  constructor(options: FusionPoolOptions = {}) {
    const resolved = resolvePoolOptions(options);
    this.#threads = resolved.threads;
    this.#chunkBytes = resolved.chunkBytes;
    this.#claimBytes = resolved.claimBytes;
    this.#inlineBytes = resolved.inlineBytes;
    this.#copyPlain = resolved.copyPlain;
    this.#filename = resolved.filename;
    this.#claims = resolved.claims;
    this.#tasks = new PoolTasks(resolved);
  }

  /** Number of worker threads (the maximum: one starts with the pool, the others on demand). */
  get threads(): number {
    return this.#threads;
  }

  /**
   * Tasks sent to the threads and not yet settled (chunks of every job plus {@link FusionPool.runTask}
   * calls). 0 right after a job settles, whether it succeeded, failed or was aborted: Piscina drops
   * queued tasks of an aborted job and terminates the threads running its tasks.
   */
  get pendingTasks(): number {
    return this.#tasks.pending;
  }

  /** True once {@link FusionPool.close} has been called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Element-wise mean fusion of k tensors of one shape on the pool's threads, with the semantics and the
   * exact bits of `meanFusion` (same kernel, same float64 accumulation order per element).
   *
   * Validation runs on the calling thread before any task is sent. Inputs and output larger than
   * `inlineBytes` go through the threads in chunks of rows along the first axis (a 0-d tensor is one row).
   *
   * @param inputs - k ≥ 1 tensors (or nested number arrays) of identical shape, any supported dtype.
   * @param options - Options of `meanFusion` plus `chunkRows` and `signal`.
   * @returns A new `SharedArrayBuffer`-backed tensor (an inline job returns an ordinary one, as
   *   `meanFusion`), or `options.out`.
   * @throws {EmptyInputError | ShapeMismatchError | DTypeError | TensorError | OptionError} as `meanFusion`,
   *   before any task is sent.
   * @throws {OptionError} for an unknown option key, a `chunkRows` that is not an integer ≥ 1 or a `signal`
   *   that is not an AbortSignal.
   * @throws {unknown} `signal.reason` when `signal` aborts before or during the job.
   * @throws {ChunkError} when a chunk fails in a worker (it threw or its thread died); names the rows.
   * @throws {PoolClosedError} when the pool is closed before or while the job runs.
   */
  async fuse(inputs: readonly TensorLike[], options: FuseOptions = {}): Promise<Tensor> {
    if (this.closed) throw new PoolClosedError();
    const plan = planFusion(inputs, options, 'FusionPool.fuse', ['chunkRows', 'signal']);
    const { chunkRows, signal } = options ?? {};
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new OptionError(`Expected \`signal\` to be an AbortSignal, got ${describe(signal)}`);
    }
    const rows = rowCount(plan.shape);
    const elements = shapeSize(plan.shape);
    const bytesPerElement = plan.inputs.reduce((sum, t) => sum + itemSize(t.dtype), itemSize(plan.dtype));
    // The own worker's tasks claim small chunks one after another, so the threads balance finely.
    const chunkBytes = this.#claims ? this.#claimBytes : this.#chunkBytes;
    const chunks = planChunks(rows, rowSize(plan.shape) * bytesPerElement, {
      chunkRows,
      chunkBytes,
      threads: this.#threads,
    });
    signal?.throwIfAborted();
    const params: MeanKernelParams = kernelParams(plan);
    const small = elements * bytesPerElement < this.#inlineBytes || elements === 0;
    if (small || (!this.#copyPlain && !plan.inputs.every(isShared))) return runPlan(plan);
    return this.#fusePooled(plan, params, chunks, signal);
  }

  /**
   * {@link FusionPool.fuse} as a cold Observable: each subscription runs the job and emits the fused tensor
   * once; unsubscribing before it settles cancels the job (its running tasks are stopped).
   */
  fuse$(inputs: readonly TensorLike[], options: FuseOptions = {}): Observable<Tensor> {
    return new Observable<Tensor>((subscriber) => {
      const link = linkSignal(options?.signal);
      // A malformed `options` or `signal` is passed through unchanged so fuse() rejects it as usual.
      const jobOptions =
        typeof options === 'object' && options !== null && link.usable
          ? { ...options, signal: link.signal }
          : options;
      this.fuse(inputs, jobOptions).then(
        (fused) => {
          subscriber.next(fused);
          subscriber.complete();
        },
        (error: unknown) => subscriber.error(error),
      );
      return () => link.cancel();
    });
  }

  /**
   * Runs one task on the pool's threads with any compiled worker entry (Piscina's per-run `filename` and
   * `name`), e.g. an out-of-core job's own worker. Give an ES module entry a CommonJS wrapper that
   * `import()`s it (as `workers/fuse-entry.cts` does): on Node 20, aborting a task whose thread is still
   * loading an ES module through require(esm) can abort the whole process. The task object is structured-cloned: views on a
   * `SharedArrayBuffer` inside it are shared, ordinary typed arrays are copied.
   *
   * @typeParam T - What the worker function returns.
   * @throws {unknown} `signal.reason` when `signal` aborts (the thread of a running task is terminated).
   * @throws {PoolClosedError} when the pool is closed before or while the task runs.
   * @throws {Error} whatever the worker function threw (a structured clone), or `worker exited with code: N`.
   */
  runTask<T>(task: unknown, opts: RunTaskOptions = {}): Promise<T> {
    if (this.closed) return Promise.reject(new PoolClosedError());
    if (typeof opts !== 'object' || opts === null) {
      return Promise.reject(new OptionError(`Expected \`options\` to be an object, got ${describe(opts)}`));
    }
    try {
      assertKnownKeys(opts, TASK_KEYS, 'FusionPool.runTask');
    } catch (error) {
      return Promise.reject(error);
    }
    // Running fuse jobs hand their threads over after their current chunk.
    this.#otherTasks++;
    this.#updateYield();
    return this.#tasks.run<T>(task, opts.filename, opts.name, opts.signal).finally(() => {
      this.#otherTasks--;
      this.#updateYield();
    });
  }

  /**
   * Asks the tasks of the jobs claiming chunks to give their thread back after each chunk while other work
   * shares the pool (another job, a runTask call), so jobs interleave chunk by chunk as they queue; a job
   * alone keeps one task a thread from start to end.
   */
  #updateYield(): void {
    const shared = this.#claimJobs.size > 1 || this.#otherTasks > 0 ? 1 : 0;
    for (const control of this.#claimJobs) Atomics.store(control, CLAIM_YIELD, shared);
  }

  /**
   * Ends the threads. Jobs and tasks still running reject with a {@link PoolClosedError}; later calls of
   * `fuse` and `runTask` reject with it too. Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      const reason = new PoolClosedError('The FusionPool was closed while this job was running');
      this.#closing = this.#tasks.destroy(reason);
    }
    return this.#closing;
  }

  /** Sends the chunks of a validated job to the threads and resolves with the output once all are written. */
  #fusePooled(
    plan: FusionPlan,
    params: MeanKernelParams,
    chunks: readonly RowRange[],
    signal: AbortSignal | undefined,
  ): Promise<Tensor> {
    const rows = rowCount(plan.shape);
    const width = rowSize(plan.shape);
    // Ordinary buffers are copied once into shared memory: structured cloning would copy the whole buffer
    // for every chunk, and transferring would detach the caller's buffer.
    const copies = new Map<AnyTypedArray, AnyTypedArray>();
    const inputs: AnyTypedArray[] = plan.inputs.map((t) => {
      if (isShared(t)) return t.data;
      let copy = copies.get(t.data);
      if (copy === undefined) {
        copy = toShared(t).data;
        copies.set(t.data, copy);
      }
      return copy;
    });
    const callerOut = plan.options.out;
    const target =
      callerOut !== undefined && isShared(callerOut)
        ? callerOut
        : allocate(plan.dtype, plan.shape, { shared: true });
    const out = target.data as FloatDataArray;
    const filename = this.#filename;
    return new Promise<Tensor>((resolve, reject) => {
      const subscription = new Subscription();
      let settled = false;
      const settle = (error: unknown, failed: boolean) => {
        if (settled) return;
        settled = true;
        if (claims !== undefined) {
          Atomics.store(claims.control, CLAIM_CANCELLED, 1);
          this.#claimJobs.delete(claims.control);
          this.#updateYield();
        }
        subscription.unsubscribe();
        this.#tasks.active.delete(cancel);
        signal?.removeEventListener('abort', onAbort);
        if (failed) {
          // The threads terminated for this job may still be writing into `out` for a moment.
          void this.#tasks.stopped().then(() => reject(error));
          return;
        }
        if (claims !== undefined && claims.written() !== rows * width) {
          reject(
            new Error(`FusionPool: the chunk tasks wrote ${claims.written()} of ${rows * width} elements`),
          );
          return;
        }
        if (callerOut !== undefined && callerOut !== target) callerOut.data.set(out);
        resolve(callerOut ?? target);
      };
      const cancel = (reason: unknown) => settle(reason, true);
      const claims = this.#claims ? claimTasks(chunks, width, this.#threads * TASKS_PER_THREAD) : undefined;
      if (claims !== undefined) {
        this.#claimJobs.add(claims.control);
        this.#updateYield();
      }
      const onAbort = () => settle(signal?.reason, true);
      this.#tasks.active.add(cancel);
      signal?.addEventListener('abort', onAbort, { once: true });
      const run = (chunk: RowRange, taskSignal: AbortSignal): Promise<FuseChunkResult> => {
        const task: FuseChunkTask = {
          inputs,
          out,
          start: chunk.start * width,
          end: chunk.end * width,
          rowStart: chunk.start,
          rowEnd: chunk.end,
          params,
        };
        return this.#tasks
          .run<FuseChunkResult>(task, filename, 'default', taskSignal)
          .catch((error: unknown) => {
            throw new ChunkError(chunk.start, chunk.end, rows, error);
          });
      };
      // One lane a thread: it runs tasks that claim chunks until none is left (a task returns early only when
      // it yields the thread to other work; the lane's next task then queues behind that work).
      const claimed = async (slot: number, taskSignal: AbortSignal): Promise<FuseChunkResult> => {
        const plan = claims as ClaimTasks;
        const task: FuseChunkTask = {
          inputs,
          out,
          start: 0,
          end: rows * width,
          rowStart: 0,
          rowEnd: rows,
          params,
          claim: { control: plan.control, bounds: plan.bounds, slot },
        };
        let total = 0;
        while (Atomics.load(plan.control, CLAIM_NEXT) < chunks.length && !taskSignal.aborted) {
          try {
            const written = await this.#tasks.run<FuseChunkResult>(task, filename, 'default', taskSignal);
            plan.add(written);
            total += written;
          } catch (error) {
            const chunk = chunks[Atomics.load(plan.control, CLAIM_SLOTS + slot) - 1] ?? {
              start: 0,
              end: rows,
            };
            throw new ChunkError(chunk.start, chunk.end, rows, error);
          }
        }
        return total;
      };
      const concurrency = this.#threads * TASKS_PER_THREAD;
      const pipeline: Observable<unknown> =
        claims === undefined
          ? runChunks$(chunks, run, concurrency)
          : runChunks$(claims.slots, claimed, concurrency);
      subscription.add(
        pipeline.subscribe({
          error: (error: unknown) => settle(error, true),
          complete: () => settle(undefined, false),
        }),
      );
    });
  }
}
