/**
 * The row-range engine of the file jobs: fuses element ranges of the input files straight into the output
 * file at their offsets, on a `FusionPool`'s threads (the `fuse-files` worker entry), through the RxJS chunk
 * pipeline. Used by `fuseFiles` for a whole job and by each cluster worker for one shard.
 */
import type { Subscription } from 'rxjs';
import type { MeanKernelParams } from '../kernels/params.js';
import { ChunkError } from '../pool/errors.js';
import type { FusionPool } from '../pool/FusionPool.js';
import type { RowRange } from '../pool/plan.js';
import { runChunks$ } from '../pool/run-chunks.js';
import { workerPath } from '../pool/worker-path.js';
import type { ChunkRun } from './chunk-runs.js';
import type { FileSlice, FuseFilesResult, FuseFilesTask } from './protocol.js';

/**
 * The worker entry of file-job tasks (dist/workers/fuse-files-entry.cjs). A pool made for file jobs names it
 * as its `filename`, so its threads load this entry while they start (Piscina preloads a pool's `filename`)
 * instead of the in-memory kernel's, whose module graph and WebAssembly instance a file job never uses.
 */
export const fileTaskEntry = (): string => workerPath('fuse-files-entry.cjs');

/** What the chunks of one job share: the inputs, the output file, the kernel parameters and the shape. */
export interface FileChunksJob {
  /** The k inputs, in fusion order. */
  readonly inputs: readonly FileSlice[];
  /** The output file (an existing file at full size), its data offset and dtype. */
  readonly out: FuseFilesTask['out'];
  /** Validated kernel parameters. */
  readonly params: MeanKernelParams;
  /** Rows of one tensor (for {@link ChunkError} messages). */
  readonly rows: number;
  /** Elements per row (≥ 1). */
  readonly width: number;
}

/**
 * Runs every range on `pool` (at most `concurrency` at a time; a {@link ChunkRun} is one task of several
 * chunks) and resolves with the input bytes read once all are written. `onChunk(elementsDone, bytesRead)`
 * is called after each task. Rejects with a {@link ChunkError} naming the rows of the first failed task
 * (the others are stopped), or with
 * `signal.reason` once `signal` aborts (running chunks' threads are terminated by the pool).
 */
export function runFileChunks(
  pool: FusionPool,
  job: FileChunksJob,
  ranges: readonly (RowRange | ChunkRun)[],
  concurrency: number,
  signal: AbortSignal | undefined,
  onChunk: (elementsDone: number, bytesRead: number) => void,
): Promise<number> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ranges.length === 0) return Promise.resolve(0);
  const filename = fileTaskEntry();
  const run = (range: RowRange | ChunkRun, taskSignal: AbortSignal) => {
    const task: FuseFilesTask = {
      inputs: job.inputs,
      out: job.out,
      start: range.start,
      end: range.end,
      ...('splits' in range && range.splits.length > 0 ? { splits: range.splits } : {}),
      params: job.params,
    };
    return pool.runTask<FuseFilesResult>(task, { filename, signal: taskSignal }).catch((error: unknown) => {
      if (taskSignal.aborted) throw error;
      throw new ChunkError(
        Math.floor(range.start / job.width),
        Math.ceil(range.end / job.width),
        job.rows,
        error,
      );
    });
  };
  return new Promise<number>((resolve, reject) => {
    let done = 0;
    let read = 0;
    let subscription: Subscription | undefined;
    const onAbort = () => {
      subscription?.unsubscribe();
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    subscription = runChunks$(ranges, run, concurrency).subscribe({
      next: ({ chunk, result }) => {
        done += chunk.end - chunk.start;
        read += result;
        onChunk(done, read);
      },
      error: (error: unknown) => {
        signal?.removeEventListener('abort', onAbort);
        reject(error);
      },
      complete: () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(read);
      },
    });
  });
}
