/**
 * The coordinator's BullMQ side: adds one flow (a parent job and one child per shard), follows its shards
 * through `QueueEvents` (with a poll of the parent as a safety net for missed events), and on failure or
 * abort sets the job's cancel key, removes its pending shards and waits briefly for running ones to stop.
 */
import { randomUUID } from 'node:crypto';
import type { FlowProducer, JobNode, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { closeWithin, openRedis, type RedisConnection, watchRedis } from './connection.js';
import { ShardError } from './errors.js';
import {
  cancelKeyOf,
  PARENT_JOB,
  parentQueueOf,
  SHARD_JOB,
  type ShardData,
  type ShardProgress,
  type ShardResult,
  shardJobId,
} from './protocol.js';
import { shardRows } from './shards.js';

/** BullMQ's retry delay: a fixed or exponential backoff from `delay` ms. */
export type ClusterBackoff = number | { readonly type: 'fixed' | 'exponential'; readonly delay: number };

/** Everything {@link runFlow} needs, validated by the coordinator. */
export interface FlowSpec {
  readonly connection: RedisConnection;
  /** The connection for messages (no credentials). */
  readonly label: string;
  readonly queue: string;
  readonly prefix: string;
  /** The shard jobs' data, without `job` (set here). */
  readonly shards: readonly Omit<ShardData, 'job'>[];
  readonly shape: readonly number[];
  readonly attempts: number;
  readonly backoff: ClusterBackoff;
  readonly connectionTimeout: number;
  readonly pollInterval: number;
  readonly cancelGrace: number;
  readonly signal: AbortSignal | undefined;
  /** Called with a shard's elements written so far (its whole range once it completed). */
  readonly onShard: (index: number, elementsDone: number) => void;
}

/** A pause that does not keep the process alive (the poll loop may still be asleep when the job ends). */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());

/** Runs the flow to its end; resolves with the input bytes read by the completed shards. */
export async function runFlow(spec: FlowSpec): Promise<number> {
  const jobKey = randomUUID();
  // BullMQ is loaded here, on the first fusion, not with the package (see connection.ts).
  const bull = await import('bullmq');
  const client = await openRedis(spec.connection, 'mean-fusion-coordinator');
  const options = { connection: client, prefix: spec.prefix };
  let queue: Queue;
  let parents: Queue;
  let flow: FlowProducer;
  try {
    queue = new bull.Queue(spec.queue, options);
    parents = new bull.Queue(parentQueueOf(spec.queue), options);
    flow = new bull.FlowProducer(options);
  } catch (error) {
    // BullMQ refusing the connection's options: nothing else runs yet but the client.
    client.disconnect();
    throw error;
  }
  // Errors reach the caller through the commands and the watchdog; unhandled 'error' events would throw.
  queue.on('error', () => {});
  parents.on('error', () => {});
  flow.on('error', () => {});
  const watch = watchRedis(client, spec.label, spec.connectionTimeout);
  let events: QueueEvents | undefined;
  let node: JobNode | undefined;
  let live = true;
  const completed = new Set<number>();
  const ids = spec.shards.map((_, i) => shardJobId(jobKey, i));
  const indexOf = (jobId: string) =>
    jobId.startsWith(`${jobKey}.`) ? Number(jobId.slice(jobKey.length + 1)) : undefined;
  let abortListener: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    if (spec.signal === undefined) return;
    abortListener = () => reject(spec.signal?.reason);
    if (spec.signal.aborted) abortListener();
    else spec.signal.addEventListener('abort', abortListener, { once: true });
  });
  aborted.catch(() => {});
  const guard = <T>(p: Promise<T>) => Promise.race([p, watch.lost, aborted]);
  const shardError = (index: number, reason: string) => {
    const r = shardRows(spec.shards[index], spec.shape);
    return new ShardError(index, r.rowStart, r.rowEnd, r.rows, reason);
  };
  try {
    await guard(watch.ready);
    // Read events from Redis's own clock (not ours) a little before now, so no shard event is missed.
    const [sec, usec] = (await guard(client.time())) as [string | number, string | number];
    const since = Number(sec) * 1000 + Math.floor(Number(usec) / 1000) - 1000;
    events = new bull.QueueEvents(spec.queue, { ...options, lastEventId: `${since}-0` });
    events.on('error', () => {});
    await guard(events.waitUntilReady());
    const poll = async (resolve: () => void, reject: (e: unknown) => void): Promise<void> => {
      // A safety net for events missed (a stream trimmed under load, a reconnection): ask the parent.
      while (live) {
        await sleep(spec.pollInterval);
        if (node === undefined || !live) continue;
        const state = await parents.getJobState(jobKey).catch(() => undefined);
        if (state === 'failed') return reject(await findFailure(queue, ids, shardError));
        if (state === 'unknown') {
          const why = 'was Redis restarted without persistence, or its keys removed?';
          return reject(new Error(`The fusion's job ${jobKey} vanished from Redis (${why})`));
        }
        if (state !== undefined && state !== 'waiting-children') return resolve();
      }
    };
    const settled = new Promise<void>((resolve, reject) => {
      const ev = events as QueueEvents;
      ev.on('progress', ({ jobId, data }) => {
        const i = indexOf(jobId);
        const done = (data as Partial<ShardProgress> | undefined)?.elementsDone;
        if (i !== undefined && !completed.has(i) && typeof done === 'number') spec.onShard(i, done);
      });
      ev.on('completed', ({ jobId }) => {
        const i = indexOf(jobId);
        if (i === undefined || completed.has(i)) return;
        completed.add(i);
        spec.onShard(i, spec.shards[i].end - spec.shards[i].start);
        if (completed.size === spec.shards.length) resolve();
      });
      // QueueEvents reports `failed` once a job has failed for good (a failed attempt that is retried is not).
      ev.on('failed', ({ jobId, failedReason }) => {
        const i = indexOf(jobId);
        if (i !== undefined) reject(shardError(i, failedReason));
      });
      void poll(resolve, reject);
    });
    // It may reject before it is awaited (a shard failing while the flow is still being added).
    settled.catch(() => {});
    node = await guard(
      flow.add({
        name: PARENT_JOB,
        queueName: parentQueueOf(spec.queue),
        data: { job: jobKey, shards: spec.shards.length },
        opts: { jobId: jobKey },
        children: spec.shards.map((s, i) => ({
          name: SHARD_JOB,
          queueName: spec.queue,
          data: { ...s, job: jobKey } satisfies ShardData,
          opts: {
            jobId: ids[i],
            attempts: spec.attempts,
            backoff: typeof spec.backoff === 'number' ? spec.backoff : { ...spec.backoff },
            failParentOnFailure: true,
            removeOnComplete: true,
          },
        })),
      }),
    );
    await guard(settled);
    live = false;
    const values = await guard(parents.getJob(jobKey).then((j) => j?.getChildrenValues()));
    const bytes = Object.values(values ?? {}).reduce(
      (s: number, v) => s + ((v as ShardResult | null)?.bytesRead ?? 0),
      0,
    );
    await guard(parents.remove(jobKey));
    return bytes;
  } catch (error) {
    live = false;
    if (!watch.isLost()) {
      await closeWithin(
        () => cancelShards(client, queue, parents, spec, jobKey, ids),
        spec.cancelGrace + 2000,
      );
    }
    throw error;
  } finally {
    live = false;
    if (abortListener !== undefined) spec.signal?.removeEventListener('abort', abortListener);
    watch.stop();
    for (const c of [events, flow, parents, queue])
      if (c !== undefined) await closeWithin(() => c.close(), 1000);
    client.disconnect();
  }
}

/** The shard that failed a failed parent (its `failedReason`), for the poll path. */
async function findFailure(
  queue: Queue,
  ids: readonly string[],
  shardError: (index: number, reason: string) => ShardError,
): Promise<Error> {
  for (const [i, id] of ids.entries()) {
    const { Job } = await import('bullmq');
    const job = await Job.fromId(queue, id).catch(() => undefined);
    if (job !== undefined && (await job.isFailed())) return shardError(i, job.failedReason);
  }
  return new Error('A shard of the fusion failed on a cluster worker');
}

/**
 * Tells running shards to stop (the cancel key, polled by the workers) and removes every shard job (a
 * running one, locked by its worker, once it has stopped, for at most `cancelGrace` ms) and the parent.
 */
async function cancelShards(
  client: Redis,
  queue: Queue,
  parents: Queue,
  spec: FlowSpec,
  jobKey: string,
  ids: readonly string[],
): Promise<void> {
  await client.set(cancelKeyOf(spec.prefix, spec.queue, jobKey), '1', 'PX', 24 * 3600 * 1000);
  const deadline = performance.now() + spec.cancelGrace;
  let left = [...ids];
  while (left.length > 0) {
    const next: string[] = [];
    for (const id of left) {
      if ((await queue.remove(id, { removeChildren: false })) === 1) continue;
      if ((await queue.getJobState(id)) !== 'unknown') next.push(id);
    }
    left = next;
    if (left.length === 0 || performance.now() > deadline) break;
    await sleep(50);
  }
  await parents.remove(jobKey);
}
