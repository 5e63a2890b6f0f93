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
}

/** What the `fuse` worker returns for a chunk: the number of elements it wrote. */
export type FuseChunkResult = number;
