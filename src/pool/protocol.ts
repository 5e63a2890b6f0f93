/**
 * The task protocol between the calling thread and the `fuse` worker (types only, so the worker entry can
 * import it without loading anything else).
 */
import type { MeanKernelParams } from '../kernels/params.js';
import type { AnyTypedArray, FloatDataArray } from '../tensor/dtype.js';

/**
 * One row chunk of a fusion, as sent to a worker thread.
 *
 * Every typed array must be a view on a `SharedArrayBuffer`: structured cloning then shares the memory
 * instead of copying it, and the worker writes its rows straight into `out`.
 */
export interface FuseChunkTask {
  /** The k flat, row-major inputs (whole tensors, not slices: the worker indexes them by element). */
  readonly inputs: readonly AnyTypedArray[];
  /** The flat output (float32, float64, or float16/bfloat16 bits); the worker writes `[start, end)` only. */
  readonly out: FloatDataArray;
  /** First element index (inclusive), `rowStart × rowSize`. */
  readonly start: number;
  /** Last element index (exclusive), `rowEnd × rowSize`. */
  readonly end: number;
  /** First row along axis 0 (inclusive), for error messages. */
  readonly rowStart: number;
  /** Last row along axis 0 (exclusive), for error messages. */
  readonly rowEnd: number;
  /** Validated kernel parameters (weights, NaN policy). */
  readonly params: MeanKernelParams;
  /**
   * Present on the pool's own worker only (never sent to a custom `filename`): instead of `[start, end)`,
   * the task claims chunks of the job one by one from `claim.control` until none is left, the job is
   * cancelled, or (after at least one chunk) another job waits for the threads. So the threads balance their
   * load chunk by chunk without a round trip through the calling thread for every chunk.
   */
  readonly claim?: FuseClaim;
}

/** Index in {@link FuseClaim.control} of the next chunk to claim (`Atomics.add`). */
export const CLAIM_NEXT = 0;
/** Index in {@link FuseClaim.control} of the cancel flag: nonzero once the job has failed or was aborted. */
export const CLAIM_CANCELLED = 1;
/** Index in {@link FuseClaim.control} of the yield flag: nonzero while other work waits for the threads. */
export const CLAIM_YIELD = 2;
/** Index in {@link FuseClaim.control} of task 0's current chunk plus 1 (task t: `CLAIM_SLOTS + t`). */
export const CLAIM_SLOTS = 3;

/** The chunks of one job, shared by all its tasks, which claim them in order. */
export interface FuseClaim {
  /** Shared counters: {@link CLAIM_NEXT}, {@link CLAIM_CANCELLED}, {@link CLAIM_YIELD}, one slot a task. */
  readonly control: Int32Array;
  /** Chunk c covers elements `[bounds[c], bounds[c + 1])` (a shared Float64Array: any safe integer). */
  readonly bounds: Float64Array;
  /** This task's slot: it stores the chunk it is writing, plus 1, at `control[CLAIM_SLOTS + slot]`. */
  readonly slot: number;
}

/** What the `fuse` worker returns for a task: the number of elements it wrote. */
export type FuseChunkResult = number;
