/** Errors of the worker pool (stable `name` and `code`, like every error of this package). */
import { MeanFusionError } from '../errors.js';

/**
 * A chunk task failed in a worker thread (the worker threw, or its thread died). The message names the
 * chunk's rows; `cause` is the error as it arrived from the thread (a structured clone: custom classes
 * arrive as plain `Error`).
 */
export class ChunkError extends MeanFusionError {
  /** First row of the failed chunk (inclusive). */
  readonly rowStart: number;
  /** Last row of the failed chunk (exclusive). */
  readonly rowEnd: number;

  constructor(rowStart: number, rowEnd: number, rows: number, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `Fusion of rows [${rowStart}, ${rowEnd}) of ${rows} failed in a worker thread: ${reason}`,
      'ERR_CHUNK_FAILED',
      { cause },
    );
    this.name = 'ChunkError';
    this.rowStart = rowStart;
    this.rowEnd = rowEnd;
  }
}

/** The pool was closed before or while a job ran; the job did not complete. */
export class PoolClosedError extends MeanFusionError {
  constructor(message = 'The FusionPool is closed: create a new pool to run more jobs') {
    super(message, 'ERR_POOL_CLOSED');
    this.name = 'PoolClosedError';
  }
}
