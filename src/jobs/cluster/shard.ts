/**
 * One shard on a worker machine: its element range of the inputs fused into the output file at its
 * offsets by the same row-range engine as `fuseFiles` (`runFileChunks` on a local `FusionPool`), so the
 * CPU work runs on pool threads and never blocks the event loop that renews BullMQ's lock.
 */
import { halfDTypes } from '../../kernels/params.js';
import type { FusionPool } from '../../pool/FusionPool.js';
import { rowCount, rowSize } from '../../tensor/shape.js';
import { chunkRuns } from '../chunk-runs.js';
import { type FilesPlan, planRanges } from '../plan-files.js';
import { runFileChunks } from '../run-file-chunks.js';
import { decodeWeights, type ShardData, type ShardResult } from './protocol.js';

/**
 * Fuses elements `[data.start, data.end)` into `data.out` in chunks that fit `memoryLimit` with the pool's
 * threads; `onProgress(elementsDone)` after each task (a run of chunks). Idempotent: the same bytes at the same offsets.
 * Rejects with the chunk's `ChunkError` (e.g. `ENOENT` for a missing input, or for a temporary output
 * already removed by a cancelled coordinator), or `signal.reason` on abort.
 */
export async function runShard(
  pool: FusionPool,
  data: ShardData,
  memoryLimit: number,
  signal: AbortSignal | undefined,
  onProgress: (elementsDone: number) => void,
): Promise<ShardResult> {
  const plan: FilesPlan = {
    slices: data.inputs,
    shape: data.shape,
    dtype: data.out.dtype,
    params: {
      weights: decodeWeights(data.weights),
      nanOmit: data.nanOmit,
      ...(data.exact === true ? { exact: true } : {}),
      ...halfParams(
        data.inputs.map((x) => x.dtype),
        data.out.dtype,
      ),
    },
  };
  const ranges = planRanges(plan, pool.threads, memoryLimit, undefined, data);
  const job = {
    inputs: data.inputs,
    out: data.out,
    params: plan.params,
    rows: rowCount(data.shape),
    width: Math.max(rowSize(data.shape), 1),
  };
  const runs = chunkRuns(ranges, pool.threads);
  const bytesRead = await runFileChunks(pool, job, runs, pool.threads, signal, (done) => onProgress(done));
  return { bytesRead };
}

/** The kernel's `half` parameter for these dtypes, as a spreadable object (empty when none is half). */
function halfParams(inputs: readonly string[], out: string): { half?: ReturnType<typeof halfDTypes> } {
  const half = halfDTypes(inputs, out);
  return half === undefined ? {} : { half };
}
