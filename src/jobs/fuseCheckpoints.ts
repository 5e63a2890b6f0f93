/**
 * `fuseCheckpoints`: the out-of-core average of k model checkpoints in safetensors format (single files,
 * sharded models), on the pool's worker threads, in bounded memory, into a safetensors output (sharded on
 * request) that appears atomically once every file is written.
 *
 * The calling thread reads only headers, matches the tensors, plans tasks of byte ranges
 * (`checkpoint-plan.ts`) and runs them with the format-neutral runner (`run-plan.ts`); workers read their
 * ranges straight from the inputs, fuse (or check and copy) them and write straight into the outputs.
 */

import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { Observable } from 'rxjs';
import { CheckpointMismatchError, describe, EmptyInputError, OptionError } from '../errors.js';
import { type MeanFusionOptions, resolveOptions } from '../fusion/options.js';
import { SAFETENSORS_DTYPES } from '../io/safetensors/dtypes.js';
import {
  type Checkpoint,
  openCheckpoint,
  planShards,
  shardName,
  writeSafetensorsIndex,
} from '../io/safetensors/sharded.js';
import { createSafetensorsFile, type SafetensorsFileWriter } from '../io/safetensors/write.js';
import { FusionPool } from '../pool/FusionPool.js';
import { matchCheckpoints, type OutputSlot, planCheckpointTasks } from './checkpoint-plan.js';
import { DEFAULT_MEMORY_LIMIT, MAX_CHUNK_BYTES } from './fuseFiles.js';
import { jobObservable } from './job-observable.js';
import { planTaskEntry, runPlan } from './run-plan.js';
import { preallocate } from './write-behind.js';

/** Options of {@link fuseCheckpoints}: those of `meanFusion` (without `out`) plus the job's own. */
export interface FuseCheckpointsOptions extends Omit<MeanFusionOptions, 'out'> {
  /** Only tensors whose names match one of these glob patterns (`*`, `?`) are in the output. */
  include?: readonly string[];
  /** Tensors whose names match one of these glob patterns are left out of the output. */
  exclude?: readonly string[];
  /**
   * Largest data bytes per output shard; a larger output is written as `model-0000i-of-0000N.safetensors`
   * plus `model.safetensors.index.json` (`output` must then be a directory).
   * @default Infinity (one file)
   */
  maxShardSize?: number;
  /** @default os.availableParallelism() (ignored with `pool`) */
  threads?: number;
  /**
   * Bytes of memory the job may use; the range buffers in flight stay under half of it.
   * @default DEFAULT_MEMORY_LIMIT (512 MiB)
   */
  memoryLimit?: number;
  /** Aborting stops the job; temporary files are removed and existing outputs untouched. */
  signal?: AbortSignal;
  /** Replace existing output files. @default false */
  overwrite?: boolean;
  /** Run on this pool (left open) instead of one created, and closed, for the job. */
  pool?: FusionPool;
}

/** A progress event, after each task. */
export interface FuseCheckpointsProgress {
  readonly tensorsDone: number;
  readonly tensors: number;
  readonly bytesRead: number;
  readonly bytesTotal: number;
  readonly elapsed: number;
}

/** What {@link fuseCheckpointsAsync} resolves to. */
export interface FuseCheckpointsSummary {
  /** The files written (shards, then the index when sharded). */
  readonly files: readonly string[];
  readonly tensors: number;
  /** Tensors averaged (floating point) and copied (integer, bool). */
  readonly averaged: number;
  readonly copied: number;
  readonly k: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly seconds: number;
}

/**
 * Tasks in flight per thread: two, so a worker finds its next task queued when it finishes one instead of
 * idling while the result travels back and a new task is sent (a third of a single-thread job's time was
 * that wait). Queued tasks are descriptors; a worker's buffers are per thread, so memory stays bounded.
 */
const TASKS_PER_THREAD = 2;

function integer(value: unknown, name: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new OptionError(`Expected \`${name}\` to be an integer from ${min} and up, got ${describe(value)}`);
  }
  return value;
}

function patterns(value: unknown, name: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((p) => typeof p !== 'string')) {
    throw new OptionError(`Expected \`${name}\` to be an array of name patterns, got ${describe(value)}`);
  }
  return value;
}

async function runJob(
  inputs: readonly string[],
  output: string,
  options: FuseCheckpointsOptions,
  onProgress: (p: FuseCheckpointsProgress) => void,
  signal: AbortSignal | undefined,
): Promise<FuseCheckpointsSummary> {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  if (typeof options !== 'object' || options === null) {
    throw new OptionError(`Expected \`options\` to be an object, got ${describe(options)}`);
  }
  if (!Array.isArray(inputs) || inputs.some((p) => typeof p !== 'string' || p === '')) {
    throw new OptionError(`Expected \`inputs\` to be an array of checkpoint paths, got ${describe(inputs)}`);
  }
  if (inputs.length === 0) throw new EmptyInputError('Expected `inputs` to name at least one checkpoint');
  if (typeof output !== 'string' || output === '') {
    throw new OptionError(`Expected \`output\` to be a path, got ${describe(output)}`);
  }
  if ('out' in options && options.out !== undefined) {
    throw new OptionError('`out` is not an option of fuseCheckpoints: the output is the `output` path');
  }
  const pool = options.pool;
  if (pool !== undefined && !(pool instanceof FusionPool)) {
    throw new OptionError(`Expected \`pool\` to be a FusionPool, got ${describe(pool)}`);
  }
  const threads = pool?.threads ?? integer(options.threads ?? availableParallelism(), 'threads', 1);
  const memoryLimit = integer(options.memoryLimit ?? DEFAULT_MEMORY_LIMIT, 'memoryLimit', 1);
  const maxShard =
    options.maxShardSize === undefined
      ? Number.POSITIVE_INFINITY
      : integer(options.maxShardSize, 'maxShardSize', 1);
  const include = patterns(options.include, 'include');
  const exclude = patterns(options.exclude, 'exclude');
  const resolved = resolveOptions(options, inputs.length);
  signal?.throwIfAborted();
  const checkpoints: Checkpoint[] = [];
  for (const input of inputs) checkpoints.push(await openCheckpoint(input));
  const tensors = matchCheckpoints(checkpoints, { include, exclude, dtype: resolved.dtype });
  const sizeOf = (t: (typeof tensors)[number]) =>
    t.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPES[t.dtype].size;
  const shards = planShards(tensors.map(sizeOf), maxShard);
  const single = output.endsWith('.safetensors');
  if (single && shards.length > 1) {
    throw new OptionError(
      `\`output\` ${output} is one file but \`maxShardSize\` needs ${shards.length} shards: name a directory`,
    );
  }
  const files = single
    ? [output]
    : shards.length === 1
      ? [join(output, 'model.safetensors')]
      : shards.map((_, i) => join(output, shardName(i, shards.length)));
  const inputFiles = new Set(
    checkpoints.flatMap((c) => [...c.tensors.values()].map((s) => resolvePath(s.header.file))),
  );
  if (options.overwrite !== true && files.some((f) => inputFiles.has(resolvePath(f)))) {
    throw new OptionError(
      `\`output\` ${output} would replace an input; pass \`overwrite: true\` to replace it`,
    );
  }
  const perTask = Math.min(MAX_CHUNK_BYTES, Math.floor(memoryLimit / 2 / threads));
  const widest = Math.max(
    0,
    ...tensors.map((t) => t.sources.reduce((s, x) => s + SAFETENSORS_DTYPES[x.entry.dtype].size, 8)),
  );
  if (perTask < widest) {
    throw new OptionError(
      `\`memoryLimit\` ${memoryLimit} is too small: ${threads} thread(s) need at least ${2 * threads * widest} bytes`,
    );
  }
  // The worker entry is resolved (it throws when the compiled file is missing) before anything is written.
  const entry = pool === undefined && tensors.length > 0 ? planTaskEntry() : undefined;
  if (!single) await mkdir(output, { recursive: true });
  const metadata = checkpoints[0].metadata;
  const writers: SafetensorsFileWriter[] = [];
  const ownPool = entry !== undefined ? new FusionPool({ threads, filename: entry }) : undefined;
  try {
    const slots = new Map<string, OutputSlot>();
    for (const [i, group] of shards.entries()) {
      const specs = group.map((j) => ({
        name: tensors[j].name,
        dtype: tensors[j].dtype,
        shape: tensors[j].shape,
      }));
      const writer = await createSafetensorsFile(files[i], specs, { metadata, overwrite: options.overwrite });
      writers.push(writer);
      // The data's blocks reserved up front, so the workers' writes need no allocation (best effort).
      preallocate(writer.tempPath, writer.dataOffset, writer.dataBytes);
      for (const e of writer.entries)
        slots.set(e.name, { path: writer.tempPath, offset: writer.dataOffset + e.begin });
    }
    const params = {
      weights: resolved.weights,
      nanOmit: resolved.nanOmit,
      ...(resolved.exact ? { exact: true } : {}),
    };
    const tasks = planCheckpointTasks(tensors, slots, params, perTask);
    const remaining = new Map<string, number>();
    for (const t of tasks) for (const l of t.labels) remaining.set(l, (remaining.get(l) ?? 0) + 1);
    let tensorsDone = tensors.length - remaining.size;
    let bytesRead = 0;
    const bytesTotal = tensors.reduce(
      (s, t) => s + t.sources.reduce((a, x) => a + x.entry.end - x.entry.begin, 0),
      0,
    );
    await runPlan(
      ownPool ?? (pool as FusionPool),
      tasks,
      TASKS_PER_THREAD * threads,
      signal,
      (planned, results) => {
        results.forEach((r, i) => {
          const name = planned.labels[i];
          bytesRead += r.bytesRead;
          if (r.differs !== undefined) {
            const t = tensors.find((x) => x.name === name);
            throw new CheckpointMismatchError(
              name,
              `integer/bool tensors must be identical to be copied, but ${checkpoints[r.differs.input].source} differs from ${checkpoints[0].source} at byte ${r.differs.byte} (${t?.dtype})`,
            );
          }
          const left = (remaining.get(name) as number) - 1;
          remaining.set(name, left);
          if (left === 0) tensorsDone++;
        });
        onProgress({ tensorsDone, tensors: tensors.length, bytesRead, bytesTotal, elapsed: elapsed() });
      },
    );
    signal?.throwIfAborted();
    // Every shard is written: only now do they move into place, then the index.
    for (const w of writers) await w.commit();
    let bytesWritten = writers.reduce((s, w) => s + w.dataOffset + w.dataBytes, 0);
    const written = [...files];
    if (!single && shards.length > 1) {
      const weightMap = new Map<string, string>();
      for (const [i, group] of shards.entries()) {
        for (const j of group) weightMap.set(tensors[j].name, shardName(i, shards.length));
      }
      const totalSize = tensors.reduce((s, t) => s + sizeOf(t), 0);
      const index = await writeSafetensorsIndex(output, weightMap, totalSize, options.overwrite === true);
      written.push(index.path);
      bytesWritten += index.bytes;
    }
    const averaged = tensors.filter((t) => t.averaged).length;
    return {
      files: written,
      tensors: tensors.length,
      averaged,
      copied: tensors.length - averaged,
      k: inputs.length,
      bytesRead,
      bytesWritten,
      seconds: elapsed(),
    };
  } catch (error) {
    for (const w of writers) await w.discard();
    throw error;
  } finally {
    await ownPool?.close();
  }
}

/**
 * Averages k checkpoints tensor by tensor into a safetensors output, with the semantics and the exact bits
 * of `meanFusion` on each floating tensor (float16/bfloat16 correctly rounded from the exact mean), integer
 * and bool tensors checked identical and copied, `__metadata__` carried over from the first input.
 *
 * `inputs`: safetensors files, `model.safetensors.index.json` files, or directories holding either.
 * `output`: a `.safetensors` file, or a directory (created if needed) that receives `model.safetensors`
 * or, beyond `maxShardSize`, shards plus an index. Output dtype per tensor: as `meanFusion` (the inputs'
 * dtype when they share float32, float16 or bfloat16), or `dtype`.
 *
 * The Observable is cold: each subscription runs the job, emits progress after each task, completes once
 * every file is in place; unsubscribing aborts it.
 *
 * @throws {SafetensorsFormatError} for a malformed input (names the file and the tensor).
 * @throws {CheckpointMismatchError} for a tensor missing or extra in an input, or integer/bool tensors that
 *   differ (names the tensor and the files).
 * @throws {ShapeMismatchError} for a tensor whose shapes differ (names the tensor, files, shapes).
 * @throws {OptionError} for bad options (as `meanFusion` and `fuseFiles`), a one-file `output` that would
 *   need shards, or an output that would replace an input without `overwrite`.
 * @throws {OutputExistsError} when an output file exists and `overwrite` is not true.
 * @throws {TaskError} when a worker fails (e.g. a file truncated meanwhile), naming the tensors.
 * @throws {unknown} `signal.reason` on abort.
 *
 * ## References
 * - huggingface/safetensors (the format); model soups (Wortsman et al., 2022): uniform weight averaging.
 */
export function fuseCheckpoints(
  inputs: readonly string[],
  output: string,
  options: FuseCheckpointsOptions = {},
): Observable<FuseCheckpointsProgress> {
  return jobObservable<FuseCheckpointsProgress>('fuseCheckpoints', options?.signal, (onProgress, signal) =>
    runJob(inputs, output, options, onProgress, signal),
  );
}

/** {@link fuseCheckpoints} as a Promise of the summary; `onProgress` is called after each task. */
export async function fuseCheckpointsAsync(
  inputs: readonly string[],
  output: string,
  options: FuseCheckpointsOptions = {},
  onProgress?: (progress: FuseCheckpointsProgress) => void,
): Promise<FuseCheckpointsSummary> {
  return runJob(inputs, output, options, onProgress ?? (() => {}), options?.signal);
}
