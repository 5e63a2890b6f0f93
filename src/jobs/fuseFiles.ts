/**
 * `fuseFiles`: the out-of-core mean fusion of k arrays stored in NumPy `.npy` files, on the pool's worker
 * threads, in bounded memory, into an output `.npy` that appears atomically.
 *
 * The calling thread reads only the headers, validates, plans chunks of rows and tracks them through the
 * RxJS chunk pipeline (`runChunks$`); each worker reads its chunk of every input straight from the files
 * (positioned reads), computes it with the same kernel as `meanFusion` and writes it straight into the
 * output file at its offset. Each input byte is read once.
 */

import { availableParallelism } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { Observable } from 'rxjs';
import { describe, OptionError } from '../errors.js';
import type { MeanFusionOptions } from '../fusion/options.js';
import { createNpyFile } from '../io/npy/write.js';
import { assertKnownKeys } from '../option-keys.js';
import { FusionPool } from '../pool/FusionPool.js';
import { type FloatDType, itemSize } from '../tensor/dtype.js';
import { rowCount, rowSize, shapeSize } from '../tensor/shape.js';
import { chunkRuns } from './chunk-runs.js';
import { checkJobArgs } from './job-args.js';
import { jobObservable } from './job-observable.js';
import type { ThreadLimit } from './memory-budget.js';
import { integer, planFiles, planJob } from './plan-files.js';
import { fileTaskEntry, runFileChunks } from './run-file-chunks.js';

/** Default `memoryLimit`: 512 MiB. */
export const DEFAULT_MEMORY_LIMIT = 512 * 1024 * 1024;

export { MAX_CHUNK_BYTES } from './plan-files.js';

const FUSE_FILES_KEYS = [
  ...['weights', 'nan', 'dtype', 'exact', 'stacked', 'threads', 'chunkRows', 'memoryLimit'],
  ...['signal', 'overwrite', 'pool', 'out'],
];

/** Options of {@link fuseFiles}: those of `meanFusion` (without `out`) plus the job's own. */
export interface FuseFilesOptions extends Omit<MeanFusionOptions, 'out'> {
  /**
   * Read one `.npy` whose first axis enumerates the k tensors (e.g. a `(k, 28, 28)` stack of frames)
   * instead of one tensor per file. `inputs` must then name exactly one file.
   * @default false
   */
  stacked?: boolean;
  /**
   * Worker threads and chunks in flight (ignored when `pool` is given: the pool's thread count is used).
   * Fewer are started when the job has fewer chunks, when `memoryLimit` cannot hold them, or above
   * `maxThreads()`; the summary's `threads` and `threadsLimitedBy` say so.
   * @default os.availableParallelism()
   */
  threads?: number;
  /** Rows (along the first axis of one tensor) per chunk, forcing the split; must fit `memoryLimit`. */
  chunkRows?: number;
  /**
   * Peak resident memory (RSS) of the whole process, in bytes: Node.js itself, the worker threads and the
   * chunk buffers all count (memory-budget.ts has the model). Threads and chunks are sized to fit; a limit
   * below `MIN_MEMORY_LIMIT` (97 MiB: Node.js and one thread) is refused. Measured to hold from 128 MiB up
   * for the CLI. With `pool` (threads the caller owns) only the chunks in flight are sized, to half of it.
   * What the rest of the caller's program holds is not known to the job: leave room for it.
   * @default DEFAULT_MEMORY_LIMIT (512 MiB)
   */
  memoryLimit?: number;
  /** Aborting stops the job: running chunks are stopped, the temporary file removed, the target untouched. */
  signal?: AbortSignal;
  /**
   * Replace an existing file at `output`.
   * @default false
   */
  overwrite?: boolean;
  /** Run on this pool (left open) instead of a pool created, and closed, for the job. */
  pool?: FusionPool;
}

/**
 * A progress event of {@link fuseFiles}, emitted after each task is written: one chunk with `chunkRows`,
 * else a run of consecutive chunks (src/jobs/chunk-runs.ts; the last tasks of a job are single chunks).
 */
export interface FuseFilesProgress {
  /**
   * Elements written so far, in rows (along the first axis of one tensor): `floor(elements / row size)`.
   * Chunks need not end on rows and finish in any order, so this counts rows' worth of elements, and equals
   * `rows` once the job is done.
   */
  readonly rowsDone: number;
  /** Rows of the output (1 for a 0-d output). */
  readonly rows: number;
  /** Input bytes read so far. */
  readonly bytesRead: number;
  /** Input bytes the job reads in all. */
  readonly bytesTotal: number;
  /** Seconds since the job started. */
  readonly elapsed: number;
  /** Worker threads the job runs on. */
  readonly threads: number;
}

/** What {@link fuseFilesAsync} resolves to once the output is in place. */
export interface FuseFilesSummary {
  /** The output file (as given). */
  readonly output: string;
  /** Shape of the output (= the shape of one input tensor). */
  readonly shape: readonly number[];
  /** dtype of the output. */
  readonly dtype: FloatDType;
  /** Number of tensors fused. */
  readonly k: number;
  /** Input bytes read. */
  readonly bytesRead: number;
  /** Bytes of the output file (header and data). */
  readonly bytesWritten: number;
  /** Seconds the job took. */
  readonly seconds: number;
  /** Worker threads the job ran on. */
  readonly threads: number;
  /** Threads asked for (`threads`, its default, or the pool's). */
  readonly threadsRequested: number;
  /**
   * Why `threads` is below `threadsRequested`: the job had fewer chunks, `memoryLimit` could not hold more,
   * or `maxThreads()` caps them; `undefined` when all ran.
   */
  readonly threadsLimitedBy: ThreadLimit | undefined;
}

/** Runs a whole job; reports progress through `onProgress`; removes the temporary file on any failure. */
async function runJob(
  inputs: string[] | string,
  output: string,
  options: FuseFilesOptions,
  onProgress: (p: FuseFilesProgress) => void,
  signal: AbortSignal | undefined,
): Promise<FuseFilesSummary> {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  checkJobArgs('fuseFiles', output, options, signal);
  assertKnownKeys(options, FUSE_FILES_KEYS, 'fuseFiles');
  const pool = options.pool;
  if (pool !== undefined && !(pool instanceof FusionPool)) {
    throw new OptionError(`Expected \`pool\` to be a FusionPool, got ${describe(pool)}`);
  }
  const requested = pool?.threads ?? integer(options.threads ?? availableParallelism(), 'threads', 1);
  const memoryLimit = integer(options.memoryLimit ?? DEFAULT_MEMORY_LIMIT, 'memoryLimit', 1);
  const chunkRows = options.chunkRows === undefined ? undefined : integer(options.chunkRows, 'chunkRows', 1);
  signal?.throwIfAborted();
  const plan = await planFiles(inputs, options);
  const target = resolvePath(output);
  if (plan.slices.some((s) => resolvePath(s.path) === target) && options.overwrite !== true) {
    // Reported before the generic "exists" message, which would not say why.
    throw new OptionError(
      `\`output\` ${output} is one of the inputs; pass \`overwrite: true\` to replace it`,
    );
  }
  const { threads, limitedBy, ranges } = planJob(plan, requested, pool?.threads, memoryLimit, chunkRows);
  signal?.throwIfAborted();
  // The worker entry is resolved (it throws when the compiled file is missing) before anything is written.
  const entry = pool === undefined && ranges.length > 0 ? fileTaskEntry() : undefined;
  const writer = await createNpyFile(output, plan.dtype, plan.shape, { overwrite: options.overwrite });
  const ownPool = entry !== undefined ? new FusionPool({ threads, filename: entry }) : undefined;
  const inputBytesPerElement = plan.slices.reduce((s, x) => s + itemSize(x.dtype), 0);
  const width = Math.max(rowSize(plan.shape), 1);
  const rows = rowCount(plan.shape);
  const bytesTotal = shapeSize(plan.shape) * inputBytesPerElement;
  try {
    const job = {
      inputs: plan.slices,
      out: { path: writer.tempPath, offset: writer.dataOffset, dtype: plan.dtype },
      params: plan.params,
      rows,
      width,
    };
    const bytesRead = await runFileChunks(
      ownPool ?? (pool as FusionPool),
      job,
      chunkRows === undefined ? chunkRuns(ranges, threads) : ranges,
      threads,
      signal,
      (done, read) =>
        onProgress({
          rowsDone: Math.floor(done / width),
          rows,
          bytesRead: read,
          bytesTotal,
          elapsed: elapsed(),
          threads,
        }),
    );
    signal?.throwIfAborted();
    await writer.commit();
    return {
      output,
      shape: plan.shape,
      dtype: plan.dtype,
      k: plan.slices.length,
      bytesRead,
      bytesWritten: writer.dataOffset + writer.dataBytes,
      seconds: elapsed(),
      threads,
      threadsRequested: requested,
      threadsLimitedBy: limitedBy,
    };
  } catch (error) {
    await writer.discard();
    throw error;
  } finally {
    await ownPool?.close();
  }
}

/**
 * Element-wise mean fusion of k arrays stored in `.npy` files, written to the `.npy` file `output`, with
 * the semantics and the exact bits of `meanFusion` on the same data, for any thread count and chunk size.
 *
 * Inputs are any supported dtype in either byte order (`b1` reads as uint8), any rank (0-d and zero-length
 * dimensions included), C order. The output is C order in the machine's byte order: float32 when every
 * input is float32, else float64 (or `dtype`). It is written to a temporary file beside `output`, flushed
 * and renamed into place: on any error or abort the temporary file is removed and an existing `output` is
 * left untouched.
 *
 * The returned Observable is cold: each subscription runs the job, emits a {@link FuseFilesProgress} after
 * every task (a chunk or a run of chunks) and completes once `output` is in place; unsubscribing aborts the job.
 *
 * Errors (delivered through the Observable):
 * @throws {EmptyInputError} when `inputs` is empty, or a stacked file's first axis is 0.
 * @throws {ShapeMismatchError} when two input files have different shapes (names both files).
 * @throws {NpyFormatError} when an input is not a valid `.npy` (names the file and the problem).
 * @throws {OptionError} for bad `weights`/`nan`/`dtype` (as `meanFusion`), an unknown option, a `threads`,
 *   `chunkRows` or `memoryLimit` that is not a positive integer, a `memoryLimit` below the process's floor
 *   (`MIN_MEMORY_LIMIT`, own threads) or too small for one element per thread or for `chunkRows`,
 *   `stacked` with more than one file, a bad `signal` or `pool`, or `output` naming an input.
 * @throws {OutputExistsError} when `output` exists and `overwrite` is not true.
 * @throws {ChunkError} when a chunk fails in a worker (names the rows and, in its message, the file).
 * @throws {unknown} `signal.reason` when `signal` aborts.
 * @throws {FileError} when an input cannot be opened (names the file and the problem; `code` is Node's:
 *   `ENOENT`, `EACCES`, …).
 * @throws {Error} Node's file system errors while writing (`ENOSPC`, …) naming the file.
 *
 * ## References
 * - NumPy Enhancement Proposal 1 (the `.npy` format); tinyBIG `mean_fusion` (the semantics).
 */
export function fuseFiles(
  inputs: string[] | string,
  output: string,
  options: FuseFilesOptions = {},
): Observable<FuseFilesProgress> {
  return jobObservable<FuseFilesProgress>('fuseFiles', options?.signal, (onProgress, signal) =>
    runJob(inputs, output, options, onProgress, signal),
  );
}

/**
 * {@link fuseFiles} as a Promise: resolves with a summary once `output` is in place, rejects (after the
 * temporary file is removed) with the errors listed there.
 *
 * @param onProgress - Called after every task (a chunk, or a run of chunks; see {@link FuseFilesProgress}).
 */
export async function fuseFilesAsync(
  inputs: string[] | string,
  output: string,
  options: FuseFilesOptions = {},
  onProgress?: (progress: FuseFilesProgress) => void,
): Promise<FuseFilesSummary> {
  return runJob(inputs, output, options, onProgress ?? (() => {}), options?.signal);
}
