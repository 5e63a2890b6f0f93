/**
 * The shared state of a job whose tasks claim its chunks one after another from a counter (see
 * {@link FuseClaim} in protocol.ts): no round trip through the calling thread per chunk.
 */
import type { RowRange } from './plan.js';
import { CLAIM_SLOTS } from './protocol.js';

/** The tasks of one job that claim its chunks (see {@link FuseClaim}). */
export interface ClaimTasks {
  readonly control: Int32Array;
  readonly bounds: Float64Array;
  /** One descriptor a lane: a lane runs the tasks of one thread, one after another. */
  readonly slots: readonly number[];
  add(written: number): void;
  written(): number;
}

/**
 * The claim state of a job of `chunks` (rows of `width` elements): the chunks' element bounds and the
 * counters, with a slot for each lane (at most `lanes`, at most one a chunk).
 */
export function claimTasks(chunks: readonly RowRange[], width: number, lanes: number): ClaimTasks {
  const elements = (chunks.at(-1)?.end ?? 0) * width;
  const count = Math.min(chunks.length, lanes);
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
