/** The options of a {@link FusionPool} and of its calls, their defaults and their validation. */
import { availableParallelism } from 'node:os';
import { describe, OptionError } from '../errors.js';
import type { MeanFusionOptions } from '../fusion/options.js';
import { nativeKernel } from '../kernels/native.js';
import { assertKnownKeys } from '../option-keys.js';
import { CLAIM_BYTES, DEFAULT_CHUNK_BYTES, NATIVE_CHUNK_BYTES } from './plan.js';
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
export const TASKS_PER_THREAD = 1;

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
export const TASK_KEYS = ['filename', 'name', 'signal'];

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

/** A pool's options, checked, with their defaults filled in. */
export interface ResolvedPoolOptions {
  readonly threads: number;
  /** Chunk budget of a custom `filename` worker's tasks (one task a chunk). */
  readonly chunkBytes: number;
  /** Chunk size of the own worker's claims (`chunkBytes` when given, else {@link CLAIM_BYTES}). */
  readonly claimBytes: number;
  readonly idleTimeout: number;
  readonly inlineBytes: number;
  readonly copyPlain: boolean;
  readonly filename: string;
  /** True for the pool's own worker, whose tasks claim chunks (a custom `filename` gets one task a chunk). */
  readonly claims: boolean;
}

/**
 * Checks the options of `new FusionPool(options)` and fills in the defaults.
 *
 * @throws {OptionError} as the {@link FusionPool} constructor documents.
 * @throws {Error} when the compiled fuse worker is missing (run `npm run build`).
 */
export function resolvePoolOptions(options: FusionPoolOptions): ResolvedPoolOptions {
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
  // threads first: the checks run in the order the options are documented (as before the split).
  const checkedThreads = integerOption(threads, 'threads', 1);
  const chunkBytes = integerOption(
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
  const inlineBytes = integerOption(options.inlineBytes ?? DEFAULT_INLINE_BYTES, 'inlineBytes', 0);
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
  return {
    threads: checkedThreads,
    chunkBytes,
    claimBytes: options.chunkBytes ?? CLAIM_BYTES,
    idleTimeout,
    inlineBytes,
    copyPlain: options.plainInputs === 'copy',
    filename: options.filename ?? workerPath('fuse-entry.cjs'),
    claims: options.filename === undefined,
  };
}
