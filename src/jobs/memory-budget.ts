/**
 * How `fuseFiles` fits a job into `memoryLimit`: the limit is on the whole process's resident memory (what
 * a container or a scheduler counts), so it covers Node.js itself, every worker thread and the chunk
 * buffers, not just the data in flight.
 *
 * Measured on the 2-core development machine (Node 20, Linux, peak RSS as VmHWM / `time -v`): the CLI
 * process fusing files on one worker thread peaks at 71–89 MiB (Node.js and V8 with this package loaded
 * ~45 MiB, the main thread's garbage between collections on jobs of thousands of small chunks up to ~30 MiB,
 * one worker ~10 MiB); each further worker thread adds 12–14 MiB (its V8 isolate and heap, its WebAssembly
 * kernel instance, its chunk buffer). The model below rounds those up. Since the CLI loads the cluster's
 * modules (BullMQ, ioredis) only for `--cluster` and `worker`, a local CLI job sits ~15 MiB lower (one thread,
 * 16–18 MiB chunks: 88–94 MiB peak); the model keeps the margin for programs that import the whole library.
 */
import { OptionError } from '../errors.js';

const MiB = 1024 * 1024;

/** Resident memory of the process before any worker thread: Node.js, V8, this package, garbage headroom. */
export const PROCESS_BASE_BYTES = 80 * MiB;

/** Resident memory of one worker thread, its chunk buffer aside. */
export const THREAD_BYTES = 16 * MiB;

/** The smallest chunk budget (input bytes read plus output bytes written) a thread is given. */
export const MIN_CHUNK_BYTES = 1 * MiB;

/** The lowest `memoryLimit` a job with its own threads accepts: the process with one thread (97 MiB). */
export const MIN_MEMORY_LIMIT = PROCESS_BASE_BYTES + THREAD_BYTES + MIN_CHUNK_BYTES;

/** Why fewer threads run than were asked for. */
export type ThreadLimit = 'chunks' | 'memoryLimit' | 'maxThreads';

/** The threads a job starts and the chunk budget of each. */
export interface ThreadBudget {
  /** Threads to start (≥ 1). */
  readonly threads: number;
  /** Why `threads` is below the number asked for, if it is. */
  readonly limitedBy: ThreadLimit | undefined;
  /**
   * Bytes (inputs read plus output written) one chunk may touch; a chunk on 2 MiB folios may take up to
   * `chunkCap` less 1 MiB (folio-ranges.ts). A task of several chunks computes them one after another.
   */
  readonly chunkBytes: number;
  /** The most bytes one chunk task may touch within `memoryLimit` (`chunkBytes` before the per-task cap). */
  readonly chunkCap: number;
}

/**
 * The most threads `memoryLimit` holds, each with at least {@link MIN_CHUNK_BYTES} of chunk buffer.
 *
 * @throws {OptionError} when `memoryLimit` is below {@link MIN_MEMORY_LIMIT}, naming the floor.
 */
export function threadsWithin(memoryLimit: number): number {
  if (memoryLimit < MIN_MEMORY_LIMIT) {
    throw new OptionError(
      `\`memoryLimit\` ${memoryLimit} is too small: below this process's floor of ${MIN_MEMORY_LIMIT} bytes (${MIN_MEMORY_LIMIT / MiB} MiB: Node.js itself, one worker thread and its chunk buffer)`,
    );
  }
  return Math.floor((memoryLimit - PROCESS_BASE_BYTES) / (THREAD_BYTES + MIN_CHUNK_BYTES));
}

/**
 * Chooses the threads of a job: no more than asked for, than the job has chunks of the largest budget
 * (`naturalChunks`), than `memoryLimit` holds, or than `maxThreads`; and the chunk budget each thread gets
 * from what the limit leaves after the process and the threads (at most `maxChunkBytes`).
 *
 * @param requested - Threads asked for (≥ 1).
 * @param naturalChunks - Chunks the job splits into at `maxChunkBytes` per chunk (≥ 1).
 * @throws {OptionError} when `memoryLimit` is below {@link MIN_MEMORY_LIMIT}.
 */
export function threadBudget(
  requested: number,
  naturalChunks: number,
  memoryLimit: number,
  maxThreads: number,
  maxChunkBytes: number,
): ThreadBudget {
  const fit = threadsWithin(memoryLimit);
  let threads = requested;
  let limitedBy: ThreadLimit | undefined;
  // The first limit that binds is the one reported: a job of one chunk needs one thread, whatever else.
  for (const [limit, why] of [
    [naturalChunks, 'chunks'],
    [fit, 'memoryLimit'],
    [maxThreads, 'maxThreads'],
  ] as const) {
    if (limit < threads) {
      threads = Math.max(1, limit);
      limitedBy = why;
    }
  }
  const left = memoryLimit - PROCESS_BASE_BYTES - threads * THREAD_BYTES;
  const chunkCap = Math.max(MIN_CHUNK_BYTES, Math.floor(left / threads));
  return { threads, limitedBy, chunkBytes: Math.min(maxChunkBytes, chunkCap), chunkCap };
}
