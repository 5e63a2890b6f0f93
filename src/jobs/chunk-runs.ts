/**
 * Tasks of several consecutive chunks for the file jobs' threads. Each chunk task costs a round trip
 * through the calling thread (the result posted back, the next task posted, both threads woken), which
 * measured ~1 ms on the 2-core development machine while both cores ran workers: 55–90 ms of a 270 ms
 * job of 129 chunks on 2 threads (8 × 256 MiB float64). A task that computes a run of chunks one after
 * another (mapping, fusing and writing one chunk at a time, so its memory stays one chunk's) pays that once
 * for the run.
 *
 * Runs shrink as the job proceeds (guided self-scheduling: each takes a share of what is left), so the
 * threads still end together: the last tasks are single chunks. A run is at most {@link MAX_RUN} chunks
 * and a sixteenth of the job, so progress events (one after each task) still come every few chunks.
 */
import type { RowRange } from '../pool/plan.js';

/**
 * Most chunks in one run: 8 chunks of a 16–18 MiB budget are ~25 ms of work on this machine, beside a
 * ~1 ms hand-off; longer runs save little more and report progress less often.
 */
export const MAX_RUN = 8;

/** One task: elements `[start, end)`, computed as the chunks that `splits` (interior bounds) separate. */
export interface ChunkRun extends RowRange {
  /** The bounds between its chunks, ascending, strictly inside `(start, end)`; empty for one chunk. */
  readonly splits: readonly number[];
}

/**
 * Groups consecutive `chunks` (ascending, contiguous) into runs for `threads` threads: each run takes
 * 1 / (2 × threads) of the chunks not yet grouped, at least one and at most {@link MAX_RUN} or 1/16 of
 * all chunks, so the last runs are single chunks.
 */
export function chunkRuns(chunks: readonly RowRange[], threads: number): ChunkRun[] {
  const runs: ChunkRun[] = [];
  const longest = Math.max(1, Math.min(MAX_RUN, Math.floor(chunks.length / 16)));
  for (let at = 0; at < chunks.length; ) {
    const take = Math.min(longest, Math.max(1, Math.floor((chunks.length - at) / (2 * threads))));
    const group = chunks.slice(at, at + take);
    runs.push({
      start: group[0].start,
      end: group[group.length - 1].end,
      splits: group.slice(1).map((c) => c.start),
    });
    at += take;
  }
  return runs;
}

/**
 * The chunks of one task, in order: `[start, splits[0])`, …, `[splits[n - 1], end)` (just `[start, end)`
 * without splits), as the worker computes them.
 *
 * @throws {RangeError} when `splits` is not strictly ascending inside `(start, end)` (a malformed task:
 *   nothing has been computed yet).
 */
export function chunksOf(task: {
  readonly start: number;
  readonly end: number;
  readonly splits?: readonly number[];
}): RowRange[] {
  const bounds = [task.start, ...(task.splits ?? []), task.end];
  const chunks: RowRange[] = [];
  for (let i = 1; i < bounds.length; i++) {
    if (!(bounds[i] > bounds[i - 1])) {
      throw new RangeError(
        `Expected the splits of task [${task.start}, ${task.end}) to ascend strictly inside it, got [${task.splits?.join(', ')}]`,
      );
    }
    chunks.push({ start: bounds[i - 1], end: bounds[i] });
  }
  return chunks;
}
