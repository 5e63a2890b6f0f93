/** Chunk planning: splits a fusion along its first axis into row ranges sized for worker tasks. */
import { describe, OptionError } from '../errors.js';
import { assertKnownKeys } from '../option-keys.js';

/** A half-open range of rows `[start, end)` along the first axis. */
export interface RowRange {
  readonly start: number;
  readonly end: number;
}

/** Options of {@link planChunks}. */
export interface PlanChunksOptions {
  /**
   * Rows per chunk, forcing the split (the last chunk may be shorter). Overrides `chunkBytes`.
   * @default undefined (derived from `chunkBytes` and `threads`)
   */
  chunkRows?: number;
  /**
   * Byte budget of one task: rows per chunk = ⌊chunkBytes / rowBytes⌋, at least 1.
   * @default DEFAULT_CHUNK_BYTES (16 MiB)
   */
  chunkBytes?: number;
  /** Threads that will run the chunks: the chunk count is rounded up to a multiple of it. */
  threads: number;
}

/**
 * Default byte budget of a task (input bytes read plus output bytes written): 16 MiB, a few ms of kernel
 * time. Measured on the 2-core machine (k = 8 float64, shared inputs, 2 threads, medians of 7 interleaved
 * runs; budgets 8 / 16 / 32 / 64 / 128 MiB): 8192×2048 took 127.6 / 105.1 / 101.1 / 93.9 / 92.8 ms, 2048²
 * 32.7 / 28.8 / 25.3 / 24.5 / 25.8 ms, against 140.8 and 34.5 ms on one thread: each task costs a hand-off of
 * roughly 0.2 ms. 16 MiB takes most of that gain while staying a "few MB" task that leaves 2 threads dozens
 * of chunks on large jobs; pass `chunkBytes` (e.g. 64 MiB) for the last ~10 % on very large ones.
 */
export const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * A pool's default task budget for a custom `filename` worker (one task a chunk) when the native kernel
 * runs: 64 MiB, the same few milliseconds of kernel time as 16 MiB on the WebAssembly kernel (the native
 * kernel reads its inputs in place, about 3–4× faster). The pool's own worker claims {@link CLAIM_BYTES}
 * chunks instead (no hand-off a chunk).
 * Measured on the 2-core machine (8192×2048 float64, k = 8, shared inputs, 2 threads, 7 interleaved runs):
 * 16 / 64 / 256 MiB took 41.7 / 36.0 / 34.6 ms against 46.5 ms on one thread: each task still costs a
 * hand-off of about 0.2 ms, a quarter of a 16 MiB native task.
 */
export const NATIVE_CHUNK_BYTES = 64 * 1024 * 1024;

/**
 * Default chunk of the pool's own worker, whose tasks claim chunks one by one from a shared counter (one
 * task a thread per job, no round trip through the calling thread between chunks): 4 MiB, a fraction of a
 * millisecond of kernel time, so the threads finish within that of each other, while a claim costs one
 * atomic add and one kernel call: the single-thread kernel over 8192×2048 float64, k = 8, in 1 / 32 / 289 /
 * 1153 / 4610 calls took 48.3 / 49.3 / 43.6 / 46.2 / 51.0 ms (fastest of 13, on the loaded 2-core machine).
 */
export const CLAIM_BYTES = 4 * 1024 * 1024;

function positiveInteger(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new OptionError(`Expected \`${name}\` to be an integer from 1 and up, got ${describe(value)}`);
  }
  return value;
}

/**
 * Splits `rows` rows into contiguous chunks `[start, end)` covering `[0, rows)` in order.
 *
 * With `chunkRows`, every chunk has `chunkRows` rows except possibly the last. Otherwise the chunk count is
 * `⌈rows / ⌊chunkBytes / rowBytes⌋⌉` rounded up to a multiple of `threads` (so the threads get equal shares)
 * and at most `rows`; the rows are then spread evenly (chunk sizes differ by at most one row). A chunk never
 * has fewer than 1 row; `rows = 0` gives no chunk. A 0-d tensor is one row of one element (see `rowCount`,
 * `rowSize` in src/tensor/shape.ts).
 *
 * @param rows - Rows along the first axis (non-negative integer).
 * @param rowBytes - Bytes one row costs a task (inputs read plus output written), ≥ 0.
 * @throws {OptionError} when `rows` is not a non-negative integer, `rowBytes` is negative or not finite,
 *   or `chunkRows`, `chunkBytes` or `threads` is not an integer ≥ 1.
 */
export function planChunks(
  rows: number,
  rowBytes: number,
  opts: { chunkRows?: number; chunkBytes?: number; threads: number },
): RowRange[] {
  if (typeof rows !== 'number' || !Number.isSafeInteger(rows) || rows < 0) {
    throw new OptionError(`Expected \`rows\` to be a non-negative integer, got ${describe(rows)}`);
  }
  if (typeof rowBytes !== 'number' || !Number.isFinite(rowBytes) || rowBytes < 0) {
    throw new OptionError(`Expected \`rowBytes\` to be a non-negative number, got ${describe(rowBytes)}`);
  }
  if (typeof opts !== 'object' || opts === null) {
    throw new OptionError(`Expected the options of planChunks to be an object, got ${describe(opts)}`);
  }
  assertKnownKeys(opts, ['chunkRows', 'chunkBytes', 'threads'], 'planChunks');
  const threads = positiveInteger(opts.threads, 'threads');
  const chunks: RowRange[] = [];
  if (opts.chunkRows !== undefined) {
    const size = positiveInteger(opts.chunkRows, 'chunkRows');
    for (let start = 0; start < rows; start += size)
      chunks.push({ start, end: Math.min(rows, start + size) });
    return chunks;
  }
  const budget = positiveInteger(opts.chunkBytes ?? DEFAULT_CHUNK_BYTES, 'chunkBytes');
  if (rows === 0) return chunks;
  const perChunk = Math.max(1, Math.floor(budget / Math.max(rowBytes, 1)));
  let count = Math.ceil(rows / perChunk);
  count = Math.min(rows, Math.ceil(count / threads) * threads);
  // Spread evenly without products that could pass 2^53: the first `extra` chunks get one more row.
  const base = Math.floor(rows / count);
  const extra = rows - base * count;
  for (let i = 0, start = 0; i < count; i++) {
    const end = start + base + (i < extra ? 1 : 0);
    chunks.push({ start, end });
    start = end;
  }
  return chunks;
}
