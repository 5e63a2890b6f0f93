/**
 * The protocol between the cluster coordinator (`fuseFilesCluster`) and the shard workers
 * (`startClusterWorker`, `mean-fusion worker`): queue and job names, the shard job's data (JSON, as BullMQ
 * stores it), its result, and the per-job cancel key. Both sides import only this file to agree.
 */
import type { FuseFilesTask } from '../protocol.js';

/** Version of {@link ShardData}; a worker refuses shards of another version (mixed deployments). */
export const PROTOCOL_VERSION = 1;

/** Default BullMQ queue of the shards (the parent jobs live in `<queue>-jobs`). */
export const DEFAULT_QUEUE = 'mean-fusion';

/** Name of a shard job (the child of a flow). */
export const SHARD_JOB = 'shard';

/** Name of a parent job (one per fusion, waiting for its shards; no worker ever processes it). */
export const PARENT_JOB = 'fusion';

/** The queue holding the parent jobs of shards queue `queue`. */
export const parentQueueOf = (queue: string): string => `${queue}-jobs`;

/** Job id of shard `index` of fusion `jobKey` (BullMQ ids may not contain `:`). */
export const shardJobId = (jobKey: string, index: number): string => `${jobKey}.${index}`;

/**
 * Redis key that, once set, tells every worker running a shard of `jobKey` to stop it (a cancelled or
 * failed fusion). Lives under BullMQ's own prefix so one `FLUSHDB`-free cleanup covers both.
 */
export const cancelKeyOf = (prefix: string, queue: string, jobKey: string): string =>
  `${prefix}:${queue}:mean-fusion-cancel:${jobKey}`;

/** The data of one shard job: fuse elements `[start, end)` of every input into `out` (absolute paths). */
export interface ShardData {
  /** {@link PROTOCOL_VERSION}. */
  readonly v: number;
  /** The fusion this shard belongs to (also the prefix of its job id). */
  readonly job: string;
  /** Index of the shard, from 0. */
  readonly shard: number;
  /** Shards of the fusion. */
  readonly shards: number;
  /** The k inputs in fusion order (absolute paths on shared storage). */
  readonly inputs: FuseFilesTask['inputs'];
  /** The output's temporary file (absolute path), created at full size by the coordinator. */
  readonly out: FuseFilesTask['out'];
  /** Shape of one tensor (= the output's). */
  readonly shape: readonly number[];
  /** First element of the shard (inclusive), row-major over one tensor. */
  readonly start: number;
  /** Last element (exclusive). */
  readonly end: number;
  /** The weights' float64 bits, little-endian, base64 (JSON would lose `-0`); `null`: plain mean. */
  readonly weights: string | null;
  /** Skip NaNs per element. */
  readonly nanOmit: boolean;
  /** The exact mode (`exact: true`); absent: the default mode. */
  readonly exact?: boolean;
}

/** What a shard job returns: the input bytes it read. */
export interface ShardResult {
  readonly bytesRead: number;
}

/** What a shard reports through `job.updateProgress`: elements of the shard written so far. */
export interface ShardProgress {
  readonly elementsDone: number;
}

/** Encodes weights bit-exactly for {@link ShardData.weights}. */
export function encodeWeights(weights: Float64Array | null): string | null {
  if (weights === null) return null;
  const bytes = new Uint8Array(weights.length * 8);
  const view = new DataView(bytes.buffer);
  weights.forEach((w, i) => view.setFloat64(i * 8, w, true));
  return Buffer.from(bytes).toString('base64');
}

/** Decodes {@link ShardData.weights}. */
export function decodeWeights(text: string | null): Float64Array | null {
  if (text === null) return null;
  const bytes = Buffer.from(text, 'base64');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float64Array.from({ length: bytes.length / 8 }, (_, i) => view.getFloat64(i * 8, true));
}
