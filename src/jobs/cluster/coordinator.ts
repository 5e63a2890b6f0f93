/**
 * `fuseFilesCluster`: the mean fusion of `.npy` files split into shards (row ranges) that worker processes
 * on other machines (`mean-fusion worker`) take from a BullMQ queue on Redis. The coordinator validates
 * the headers, creates the output's temporary file at full size, adds one flow (a parent job and one child
 * per shard), reports the shards' progress and renames the output into place once every shard completed.
 */

import { resolve as resolvePath } from 'node:path';
import { Observable } from 'rxjs';
import { describe, OptionError } from '../../errors.js';
import type { MeanFusionOptions } from '../../fusion/options.js';
import { createNpyFile } from '../../io/npy/write.js';
import { itemSize } from '../../tensor/dtype.js';
import { rowCount, rowSize, shapeSize } from '../../tensor/shape.js';
import type { FuseFilesProgress, FuseFilesSummary } from '../fuseFiles.js';
import { checkJobArgs } from '../job-args.js';
import { jobObservable } from '../job-observable.js';
import { integer, planFiles } from '../plan-files.js';
import { checkConnection, type RedisConnection, redisLabel } from './connection.js';
import { type ClusterBackoff, runFlow } from './flow.js';
import { DEFAULT_QUEUE, encodeWeights, PROTOCOL_VERSION } from './protocol.js';
import { defaultShards, MAX_SHARDS, planShards } from './shards.js';

/** Options of {@link fuseFilesCluster}: those of `meanFusion` (without `out`) plus the job's own. */
export interface FuseFilesClusterOptions extends Omit<MeanFusionOptions, 'out'> {
  /** Redis, shared by the coordinator and the workers: a `redis://host:port` URL or ioredis options. */
  connection: RedisConnection;
  /**
   * BullMQ queue of the shards (the workers' `queue`); the parent jobs live in `<queue>-jobs`. No `:`.
   * @default 'mean-fusion'
   */
  queue?: string;
  /**
   * BullMQ key prefix (the workers' `prefix`).
   * @default 'bull'
   */
  prefix?: string;
  /**
   * Shards (jobs) the output is split into, on row boundaries when there are enough rows; at most
   * {@link MAX_SHARDS} (10,000).
   * @default ⌈(input + output bytes) / 256 MiB⌉ (DEFAULT_SHARD_BYTES)
   */
  shards?: number;
  /**
   * Attempts per shard (BullMQ `attempts`): a shard whose worker throws is retried this many times in all.
   * @default 3
   */
  attempts?: number;
  /**
   * Delay before a retry (BullMQ `backoff`): ms (fixed), or `{ type: 'fixed' | 'exponential', delay }`.
   * @default { type: 'exponential', delay: 1000 }
   */
  backoff?: ClusterBackoff;
  /** Read one stacked `.npy` (as `fuseFiles`). @default false */
  stacked?: boolean;
  /** Replace an existing `output`. @default false */
  overwrite?: boolean;
  /** Aborting cancels the fusion: pending shards removed, running ones told to stop, temporary file removed. */
  signal?: AbortSignal;
  /**
   * Milliseconds Redis may stay unreachable (at the start or during the job) before the job fails.
   * @default 30000
   */
  connectionTimeout?: number;
  /** Milliseconds between checks of the parent job, a safety net for missed events. @default 1000 */
  pollInterval?: number;
  /** Milliseconds a cancellation waits for running shards to stop before it gives up on removing them. @default 5000 */
  cancelGrace?: number;
}

/** A progress event of {@link fuseFilesCluster}: after a shard reported progress or completed. */
export interface FuseFilesClusterProgress extends Omit<FuseFilesProgress, 'threads'> {
  /** Shards completed. */
  readonly shardsDone: number;
  /** Shards of the job. */
  readonly shards: number;
}

/** What {@link fuseFilesClusterAsync} resolves to once the output is in place. */
export interface FuseFilesClusterSummary
  extends Omit<FuseFilesSummary, 'threads' | 'threadsRequested' | 'threadsLimitedBy'> {
  /** Shards the job ran as. */
  readonly shards: number;
}

function optionalInteger(value: unknown, name: string, min: number, fallback: number): number {
  return value === undefined ? fallback : integer(value, name, min);
}

function checkBackoff(value: unknown): ClusterBackoff {
  if (value === undefined) return { type: 'exponential', delay: 1000 };
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const b = value as { type?: unknown; delay?: unknown } | null;
  if (
    typeof b === 'object' &&
    b !== null &&
    (b.type === 'fixed' || b.type === 'exponential') &&
    typeof b.delay === 'number' &&
    Number.isSafeInteger(b.delay) &&
    b.delay >= 0
  ) {
    return { type: b.type, delay: b.delay };
  }
  throw new OptionError(
    `Expected \`backoff\` to be milliseconds or { type: 'fixed' | 'exponential', delay }, got ${describe(value)}`,
  );
}

function checkName(value: unknown, name: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '' || value.includes(':')) {
    throw new OptionError(`Expected \`${name}\` to be a non-empty name without ':', got ${describe(value)}`);
  }
  return value;
}

async function runJob(
  inputs: string[] | string,
  output: string,
  options: FuseFilesClusterOptions,
  onProgress: (p: FuseFilesClusterProgress) => void,
  signal: AbortSignal | undefined,
): Promise<FuseFilesClusterSummary> {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  checkJobArgs('fuseFilesCluster', output, options, signal);
  const connection = checkConnection(options.connection);
  const queue = checkName(options.queue, 'queue', DEFAULT_QUEUE);
  const prefix = checkName(options.prefix, 'prefix', 'bull');
  const attempts = optionalInteger(options.attempts, 'attempts', 1, 3);
  const backoff = checkBackoff(options.backoff);
  const connectionTimeout = optionalInteger(options.connectionTimeout, 'connectionTimeout', 1, 30_000);
  const pollInterval = optionalInteger(options.pollInterval, 'pollInterval', 1, 1000);
  const cancelGrace = optionalInteger(options.cancelGrace, 'cancelGrace', 0, 5000);
  const shardsOption = options.shards === undefined ? undefined : integer(options.shards, 'shards', 1);
  if (shardsOption !== undefined && shardsOption > MAX_SHARDS) {
    throw new OptionError(
      `Expected \`shards\` to be at most ${MAX_SHARDS} (each shard is a BullMQ job held in Redis and in this process), got ${shardsOption}`,
    );
  }
  signal?.throwIfAborted();
  const plan = await planFiles(inputs, options);
  const target = resolvePath(output);
  if (plan.slices.some((s) => resolvePath(s.path) === target) && options.overwrite !== true) {
    throw new OptionError(
      `\`output\` ${output} is one of the inputs; pass \`overwrite: true\` to replace it`,
    );
  }
  const elements = shapeSize(plan.shape);
  const inputBytesPerElement = plan.slices.reduce((s, x) => s + itemSize(x.dtype), 0);
  const bytesTotal = elements * inputBytesPerElement;
  const ranges = planShards(
    plan.shape,
    shardsOption ?? defaultShards(bytesTotal + elements * itemSize(plan.dtype)),
  );
  signal?.throwIfAborted();
  // Absolute paths: the workers resolve nothing against the coordinator's working directory.
  const writer = await createNpyFile(target, plan.dtype, plan.shape, { overwrite: options.overwrite });
  const width = Math.max(rowSize(plan.shape), 1);
  const rows = rowCount(plan.shape);
  const done = new Float64Array(ranges.length);
  let elementsDone = 0;
  let shardsDone = 0;
  try {
    const inputsAbs = plan.slices.map((s) => ({ ...s, path: resolvePath(s.path) }));
    const out = { path: writer.tempPath, offset: writer.dataOffset, dtype: plan.dtype };
    const weights = encodeWeights(plan.params.weights);
    const bytesRead =
      ranges.length === 0
        ? 0
        : await runFlow({
            connection,
            label: redisLabel(connection),
            queue,
            prefix,
            shape: plan.shape,
            shards: ranges.map((r, shard) => ({
              v: PROTOCOL_VERSION,
              shard,
              shards: ranges.length,
              inputs: inputsAbs,
              out,
              shape: plan.shape,
              start: r.start,
              end: r.end,
              weights,
              nanOmit: plan.params.nanOmit,
              ...(plan.params.exact === true ? { exact: true } : {}),
            })),
            attempts,
            backoff,
            connectionTimeout,
            pollInterval,
            cancelGrace,
            signal,
            onShard: (i, n) => {
              const size = ranges[i].end - ranges[i].start;
              // Monotone: a retried shard starts again from 0, but rewrites the same bytes.
              if (n <= done[i]) return;
              if (n >= size) shardsDone++;
              elementsDone += n - done[i];
              done[i] = n;
              onProgress({
                rowsDone: Math.floor(elementsDone / width),
                rows,
                bytesRead: elementsDone * inputBytesPerElement,
                bytesTotal,
                elapsed: elapsed(),
                shardsDone,
                shards: ranges.length,
              });
            },
          });
    signal?.throwIfAborted();
    await writer.commit();
    return {
      output,
      shape: plan.shape,
      dtype: plan.dtype,
      k: plan.slices.length,
      bytesRead,
      bytesWritten: writer.dataOffset + writer.dataBytes,
      seconds: elapsed(),
      shards: ranges.length,
    };
  } catch (error) {
    await writer.discard();
    throw error;
  }
}

/**
 * Element-wise mean fusion of k arrays stored in `.npy` files into the `.npy` file `output`, run as shards
 * by `mean-fusion worker` processes (or {@link startClusterWorker}) that share a BullMQ queue on Redis.
 * Inputs, output dtype, semantics and bits are those of `fuseFiles` (for any shard and worker count); the
 * paths must mean the same files on every worker (shared storage such as NFS; absolute paths are sent).
 *
 * The output is written into a temporary file beside `output` that the coordinator creates at full size;
 * it is flushed and renamed into place only once every shard completed. On a failure or abort the
 * temporary file is removed and an existing `output` is untouched; an abort also removes the pending
 * shards and tells running ones to stop. Shards are idempotent (a retried or stalled-and-rerun shard
 * rewrites the same bytes), so BullMQ's at-least-once delivery is safe.
 *
 * The Observable is cold: each subscription runs the job, emits a {@link FuseFilesClusterProgress} when a
 * shard reports progress or completes, and completes once `output` is in place; unsubscribing aborts.
 *
 * Errors (delivered through the Observable): those of `fuseFiles` for the inputs and options, plus
 * @throws {OptionError} for a bad `connection`, `queue`, `prefix`, `shards`, `attempts`, `backoff`,
 *   `connectionTimeout`, `pollInterval` or `cancelGrace`.
 * @throws {ShardError} when a shard failed for good (attempts exhausted, or stalled too often): names the
 *   shard, its rows and the worker's error.
 * @throws {RedisUnavailableError} when Redis cannot be reached, or is lost, for `connectionTimeout` ms.
 * @throws {unknown} `signal.reason` when `signal` aborts.
 *
 * ## References
 * - BullMQ flows (`FlowProducer`), retries, stalled jobs: https://docs.bullmq.io
 */
export function fuseFilesCluster(
  inputs: string[] | string,
  output: string,
  options: FuseFilesClusterOptions,
): Observable<FuseFilesClusterProgress> {
  return jobObservable<FuseFilesClusterProgress>('fuseFilesCluster', options?.signal, (onProgress, signal) =>
    runJob(inputs, output, options, onProgress, signal),
  );
}

/**
 * {@link fuseFilesCluster} as a Promise: resolves with a summary once `output` is in place, rejects (after
 * the temporary file is removed) with the errors listed there.
 *
 * @param onProgress - Called when a shard reports progress or completes.
 */
export async function fuseFilesClusterAsync(
  inputs: string[] | string,
  output: string,
  options: FuseFilesClusterOptions,
  onProgress?: (progress: FuseFilesClusterProgress) => void,
): Promise<FuseFilesClusterSummary> {
  return runJob(inputs, output, options, onProgress ?? (() => {}), options?.signal);
}
