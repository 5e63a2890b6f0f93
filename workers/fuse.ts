/**
 * Worker entry of the fusion pool: computes row chunks of a mean fusion in place, in shared memory.
 *
 * Imports only the kernel and the protocol (never the package barrel), so a thread loads a few small
 * modules and one WebAssembly instance.
 */
import { meanRange } from '../src/kernels/mean-range.js';
import {
  CLAIM_CANCELLED,
  CLAIM_NEXT,
  CLAIM_SLOTS,
  CLAIM_YIELD,
  type FuseChunkResult,
  type FuseChunkTask,
} from '../src/pool/protocol.js';

/**
 * Writes elements `[task.start, task.end)` of `task.out` with the same kernel as `meanFusion`, so the bits are
 * identical however the job is split. With `task.claim`, writes the job's chunks it claims instead, one by
 * one, until none is left or the job is cancelled, or after one chunk at least when other work waits.
 *
 * @returns The number of elements written.
 */
export default function fuseChunk(task: FuseChunkTask): FuseChunkResult {
  const claim = task.claim;
  if (claim === undefined) {
    meanRange(task.inputs, task.out, task.start, task.end, task.params);
    return task.end - task.start;
  }
  const { control, bounds, slot } = claim;
  const chunks = bounds.length - 1;
  let written = 0;
  for (let n = 0; Atomics.load(control, CLAIM_CANCELLED) === 0; n++) {
    // Yielding returns the thread to the pool's queue (the job's next task queues behind the waiting work).
    if (n > 0 && Atomics.load(control, CLAIM_YIELD) !== 0) break;
    const c = Atomics.add(control, CLAIM_NEXT, 1);
    if (c >= chunks) break;
    // Which chunk this task is in, so that a failure names its rows.
    Atomics.store(control, CLAIM_SLOTS + slot, c + 1);
    meanRange(task.inputs, task.out, bounds[c], bounds[c + 1], task.params);
    written += bounds[c + 1] - bounds[c];
  }
  return written;
}
