/**
 * Worker entry of the fusion pool: computes one row chunk of a mean fusion in place, in shared memory.
 *
 * Imports only the kernel and the protocol types (never the package barrel), so a thread loads a few small
 * modules and one WebAssembly instance.
 */
import { meanRange } from '../src/kernels/mean-range.js';
import type { FuseChunkResult, FuseChunkTask } from '../src/pool/protocol.js';

/**
 * Writes elements `[task.start, task.end)` of `task.out` with the same kernel as `meanFusion`, so the bits are
 * identical however the job is split.
 *
 * @returns The number of elements written.
 */
export default function fuseChunk(task: FuseChunkTask): FuseChunkResult {
  meanRange(task.inputs, task.out, task.start, task.end, task.params);
  return task.end - task.start;
}
