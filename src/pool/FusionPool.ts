/**
 * The fusion pool: a large fusion is split into row chunks (ranges along the first axis), an RxJS pipeline
 * ({@link runChunks$}) sends one task per chunk to Piscina worker threads, and every worker writes its rows
 * straight into one shared output tensor.
 */

import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { Observable, Subscription } from 'rxjs';
import { describe, OptionError } from '../errors.js';
import { runPlan } from '../fusion/mean-fusion.js';
import type { MeanFusionOptions } from '../fusion/options.js';
import { type FusionPlan, kernelParams, planFusion } from '../fusion/validate.js';
import { HEAP_WORKER_DATA_KEY, threadHeap } from '../kernels/heap/memory.js';
import { releaseClaimsOf } from '../kernels/heap/scratch.js';
import { nativeKernel } from '../kernels/native.js';
import type { MeanKernelParams } from '../kernels/params.js';
import { assertKnownKeys } from '../option-keys.js';
import { allocate, isShared, toShared } from '../tensor/alloc.js';
import { type AnyTypedArray, type FloatDataArray, itemSize, type TypedArray } from '../tensor/dtype.js';
import { rowCount, rowSize, shapeSize } from '../tensor/shape.js';
import type { Tensor, TensorLike } from '../tensor/tensor.js';
import { ChunkError, PoolClosedError } from './errors.js';
import { linkSignal } from './linked-signal.js';
import { CLAIM_BYTES, DEFAULT_CHUNK_BYTES, NATIVE_CHUNK_BYTES, planChunks, type RowRange } from './plan.js';
import {
  CLAIM_CANCELLED,
  CLAIM_NEXT,
  CLAIM_SLOTS,
  CLAIM_YIELD,
  type FuseChunkResult,
  type FuseChunkTask,
} from './protocol.js';
import { runChunks$ } from './run-chunks.js';
import { ThreadExits } from './thread-exits.js';
import { workerPath } from './worker-path.js';

/**
 * Jobs that touch fewer bytes than this (inputs read plus output written) run inline on the calling thread.
 *
 * Measured with bench/pool.ts (section "inline threshold") on the 2-core development machine: a pooled job
 * pays a fixed ~0.5 ms (waking idle threads, messages, promises) plus a `SharedArrayBuffer` output, whose
 * allocation and first touch cost more than an ordinary buffer's; the kernel streams ~5–8 GB/s on one
 * thread. Two threads did not beat `meanFusion` below roughly 16 MiB (k = 8, 512×512 float64 is 18.9 MB).
 * A k = 3, 64×64 job (~130 KB) thus costs `meanFusion` plus validation only.
 */
export const DEFAULT_INLINE_BYTES = 16 * 1024 * 1024;

/**
 * Tasks per thread (Piscina's `concurrentTasksPerWorker`). One: a second task queued on a thread would die
 * with it when another job's task on that thread is aborted (the thread is terminated) or kills it, so jobs
 * would fail each other. The round trip between tasks is paid instead, kept small by the chunk size.
 */
const TASKS_PER_THREAD = 1;

/** Idle worker threads end after this many milliseconds (they are started again on demand). */
export const DEFAULT_IDLE_TIMEOUT = 10_000;

/**
 * The most worker threads a pool accepts: 4 × `os.availableParallelism()`, at least 16. Each thread costs
 * ~10 MB of resident memory (its V8 isolate, heap and kernel instance; measured on Node 20), and more threads
 * than cores only add memory and hand-offs: 200 threads took a 128 kB job to 2 GB and 5 s.
 */
export function maxThreads(): number {
  return Math.max(16, 4 * availableParallelism());
}

const POOL_KEYS = ['threads', 'chunkBytes', 'idleTimeout', 'inlineBytes', 'plainInputs', 'filename'];
const TASK_KEYS = ['filename', 'name', 'signal'];

/** Options of {@link FusionPool}. */
export interface FusionPoolOptions {
  /**
   * Worker threads (and chunks in flight per job), from 1 to {@link maxThreads}.
   * @default os.availableParallelism()
   */
  threads?: number;
  /**
   * Byte budget of one chunk (input bytes read plus output bytes written); see {@link planChunks}. The
   * pool's own worker runs one task a thread per job, which claims the chunks one after another from a
   * shared counter; a custom `filename` worker gets one task a chunk.
   * @default CLAIM_BYTES (4 MiB) for the pool's own worker: the threads end within a fraction of a
   *   millisecond of each other, and a claim costs no round trip. For a custom `filename`,
   *   NATIVE_CHUNK_BYTES (64 MiB) when the native kernel runs, else DEFAULT_CHUNK_BYTES (16 MiB): a few
   *   milliseconds of kernel time a task either way
   */
  chunkBytes?: number;
  /**
   * Milliseconds an idle thread (beyond the first, which lives until {@link FusionPool.close}) lives before
   * it ends; threads start on demand. Idle threads never keep the process alive.
   * @default DEFAULT_IDLE_TIMEOUT (10 000 ms)
   */
  idleTimeout?: number;
  /**
   * Jobs touching fewer bytes than this run inline on the calling thread (0: every job with at least one
   * element goes through the threads).
   * @default DEFAULT_INLINE_BYTES (16 MiB)
   */
  inlineBytes?: number;
  /**
   * What to do with a large job whose inputs are not all backed by a `SharedArrayBuffer`:
   * `'inline'` runs it on the calling thread; `'copy'` copies those inputs once into shared memory and runs
   * the job on the threads (keeps the calling thread free, but costs more in total). Measured with
   * bench/pool.ts: copying k inputs into new shared buffers costs more than the whole single-thread fusion
   * (2048×2048 float64, k = 8: copy ~2.5× `meanFusion`), and copy + 2 threads was slower than inline even for
   * the scalar weighted kernel. So inline is the default; pass shared inputs (see `allocate`/`toShared`) to
   * use the threads without a copy.
   * @default 'inline'
   */
  plainInputs?: 'inline' | 'copy';
  /**
   * Absolute path of the compiled worker entry that runs fuse chunks: its default export receives a
   * {@link FuseChunkTask} and writes elements `[start, end)` of `out`. For tests (failure injection) and
   * custom kernels that honour the same protocol.
   * @default workerPath('fuse-entry.cjs') (dist/workers/fuse-entry.cjs, which imports dist/workers/fuse.js)
   */
  filename?: string;
}

/** The tasks of one job that claim its chunks (see {@link FuseClaim}). */
interface ClaimTasks {
  readonly control: Int32Array;
  readonly bounds: Float64Array;
  /** One descriptor a lane: a lane runs the tasks of one thread, one after another. */
  readonly slots: readonly number[];
  add(written: number): void;
  written(): number;
}

/** Options of {@link FusionPool.fuse}: those of `meanFusion` plus chunking and cancellation. */
export interface FuseOptions extends MeanFusionOptions {
  /**
   * Rows (along the first axis) per chunk, forcing the split; by default derived from the pool's
   * `chunkBytes` and thread count.
   */
  chunkRows?: number;
  /** Aborting rejects the job with `signal.reason` and stops its running tasks. */
  signal?: AbortSignal;
}

/** Options of {@link FusionPool.runTask}. */
export interface RunTaskOptions {
  /** Absolute path of a compiled worker entry (see {@link workerPath}); defaults to the pool's fuse worker. */
  filename?: string;
  /** Exported function of that file to call. @default 'default' */
  name?: string;
  /** Aborting rejects with `signal.reason`; a running task's thread is terminated and replaced. */
  signal?: AbortSignal;
}

function integerOption(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `from ${min} and up` : `from ${min} to ${max}`;
    throw new OptionError(`Expected \`${name}\` to be an integer ${range}, got ${describe(value)}`);
  }
  return value;
}

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
  readonly #piscina: Piscina;
  readonly #threads: number;
  readonly #chunkBytes: number;
  /** Chunk size of the own worker's claims (`chunkBytes` when given, else {@link CLAIM_BYTES}). */
  readonly #claimBytes: number;
  readonly #inlineBytes: number;
  readonly #filename: string;
  /** True for the pool's own worker, whose tasks claim chunks (a custom `filename` gets one task a chunk). */
  readonly #claims: boolean;
  readonly #copyPlain: boolean;
  readonly #exits: ThreadExits;
  /**
   * Tasks until they settle: Piscina drops a task once posted, and a kernel-heap tensor in it would be
   * freed (its memory reused) if the caller dropped it while a thread still reads it.
   */
  readonly #held = new Set<{ readonly task: unknown }>();
  /** Cancel functions of the jobs and tasks in flight, called by close(). */
  readonly #active = new Set<(reason: unknown) => void>();
  #closing: Promise<void> | undefined;
  #pendingTasks = 0;
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
    if (typeof options !== 'object' || options === null) {
      throw new OptionError(`Expected \`options\` to be an object, got ${describe(options)}`);
    }
    assertKnownKeys(options, POOL_KEYS, 'FusionPool');
    const max = maxThreads();
    const threads = options.threads ?? availableParallelism();
    if (typeof threads === 'number' && Number.isSafeInteger(threads) && threads > max) {
      throw new OptionError(
        `Expected \`threads\` to be an integer from 1 to ${max} (4 × os.availableParallelism(), at least 16: each thread costs ~10 MB), got ${describe(threads)}`,
      );
    }
    this.#threads = integerOption(threads, 'threads', 1);
    this.#claimBytes = options.chunkBytes ?? CLAIM_BYTES;
    this.#chunkBytes = integerOption(
      options.chunkBytes ?? (nativeKernel() !== null ? NATIVE_CHUNK_BYTES : DEFAULT_CHUNK_BYTES),
      'chunkBytes',
      1,
    );
    const idleTimeout = integerOption(
      options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT,
      'idleTimeout',
      0,
      2 ** 31 - 1,
    );
    this.#inlineBytes = integerOption(options.inlineBytes ?? DEFAULT_INLINE_BYTES, 'inlineBytes', 0);
    if (options.filename !== undefined && typeof options.filename !== 'string') {
      throw new OptionError(`Expected \`filename\` to be a path string, got ${describe(options.filename)}`);
    }
    if (
      options.plainInputs !== undefined &&
      options.plainInputs !== 'inline' &&
      options.plainInputs !== 'copy'
    ) {
      throw new OptionError(
        `Expected \`plainInputs\` to be 'inline' or 'copy', got ${describe(options.plainInputs)}`,
      );
    }
    this.#copyPlain = options.plainInputs === 'copy';
    this.#filename = options.filename ?? workerPath('fuse-entry.cjs');
    this.#claims = options.filename === undefined;
    this.#piscina = new Piscina({
      filename: this.#filename,
      // One thread always lives (started here, unref'd while idle so it never holds the process open): when
      // a thread dies or is terminated by an abort, Piscina replaces threads only up to minThreads, and with
      // 0 the tasks other jobs have queued would wait forever. Threads above it start on demand and end
      // after idleTimeout.
      minThreads: 1,
      maxThreads: this.#threads,
      concurrentTasksPerWorker: TASKS_PER_THREAD,
      idleTimeout,
      // Chunk tasks are synchronous CPU work: a thread blocks in Atomics.wait between tasks and picks up the
      // next one without an event-loop turn.
      atomics: 'sync',
      // The workers attach to this thread's kernel heap, so heap tensors are read and written in place there.
      workerData: { [HEAP_WORKER_DATA_KEY]: threadHeap().memory },
      // Every failure reaches the task it belongs to; an error with no task attached (a thread dying while
      // idle) has no job to fail, and an 'error' event without a listener would crash the process.
    }).on('error', () => {});
    // A thread terminated inside a kernel call (an aborted task, close()) never released its scratch region
    // of the shared heap: give its claims back once it has exited.
    this.#exits = new ThreadExits(this.#piscina, (id) => releaseClaimsOf(threadHeap().header, id));
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
    return this.#pendingTasks;
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
    return this.#run<T>(task, opts.filename, opts.name, opts.signal).finally(() => {
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
      for (const cancel of [...this.#active]) cancel(reason);
      this.#closing = this.#piscina.destroy();
    }
    return this.#closing;
  }

  /** Runs one Piscina task, cancellable by `signal` and by close(); rejects with the abort reason itself. */
  #run<T>(
    task: unknown,
    filename: string | undefined,
    name: string | undefined,
    signal?: AbortSignal,
  ): Promise<T> {
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      return Promise.reject(
        new OptionError(`Expected \`signal\` to be an AbortSignal, got ${describe(signal)}`),
      );
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    const controller = new AbortController();
    const cancel = (reason: unknown) => controller.abort(reason);
    const onAbort = () => controller.abort(signal?.reason);
    let live = true;
    // Runs once, at settlement or at abort, whichever is first: Piscina's own abort listener (added by run()
    // before ours) has then already dropped the queued task or terminated its thread.
    const release = () => {
      if (!live) return;
      live = false;
      this.#pendingTasks--;
      this.#active.delete(cancel);
      signal?.removeEventListener('abort', onAbort);
      controller.signal.removeEventListener('abort', release);
    };
    this.#active.add(cancel);
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#pendingTasks++;
    const held = { task };
    this.#held.add(held);
    const running = this.#piscina.run(task, {
      filename: filename ?? this.#filename,
      name: name ?? 'default',
      signal: controller.signal,
    });
    controller.signal.addEventListener('abort', release, { once: true });
    return running
      .catch(async (error: unknown) => {
        if (!controller.signal.aborted) throw error;
        // Settle only once the terminated thread has stopped writing into the task's shared memory.
        await this.#exits.stopped();
        // Piscina rejects an aborted task with an AbortError whose cause is the reason; p-map's convention
        // is the reason itself.
        throw controller.signal.reason;
      })
      .finally(() => {
        release();
        this.#held.delete(held);
      }) as Promise<T>;
  }

  /**
   * The shared state of a job whose tasks claim its chunks: the chunks' element bounds and the counters, with
   * a slot for each lane (one a thread, at most one a chunk).
   */
  #claimTasks(chunks: readonly RowRange[], width: number): ClaimTasks {
    const elements = (chunks.at(-1)?.end ?? 0) * width;
    const count = Math.min(chunks.length, this.#threads * TASKS_PER_THREAD);
    const bounds = new Float64Array(new SharedArrayBuffer(8 * (chunks.length + 1)));
    for (const [c, chunk] of chunks.entries()) bounds[c] = chunk.start * width;
    bounds[chunks.length] = elements;
    let written = 0;
    return {
      control: new Int32Array(new SharedArrayBuffer(4 * (CLAIM_SLOTS + count))),
      bounds,
      slots: Array.from({ length: count }, (_, slot) => slot),
      add: (n) => {
        written += n;
      },
      written: () => written,
    };
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
        this.#active.delete(cancel);
        signal?.removeEventListener('abort', onAbort);
        if (failed) {
          // The threads terminated for this job may still be writing into `out` for a moment.
          void this.#exits.stopped().then(() => reject(error));
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
      const claims = this.#claims ? this.#claimTasks(chunks, width) : undefined;
      if (claims !== undefined) {
        this.#claimJobs.add(claims.control);
        this.#updateYield();
      }
      const onAbort = () => settle(signal?.reason, true);
      this.#active.add(cancel);
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
        return this.#run<FuseChunkResult>(task, filename, 'default', taskSignal).catch((error: unknown) => {
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
            const written = await this.#run<FuseChunkResult>(task, filename, 'default', taskSignal);
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
