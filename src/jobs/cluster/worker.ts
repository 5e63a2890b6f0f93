/**
 * The cluster worker: a BullMQ `Worker` on the shards queue that runs each shard on a local `FusionPool`
 * (see shard.ts) and stops a running shard once its fusion's cancel key appears in Redis.
 */
import { availableParallelism } from 'node:os';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { describe, OptionError } from '../../errors.js';
import { FusionPool } from '../../pool/FusionPool.js';
import { DEFAULT_MEMORY_LIMIT } from '../fuseFiles.js';
import { integer } from '../plan-files.js';
import { fileTaskEntry } from '../run-file-chunks.js';
import { checkConnection, closeWithin, openRedis, type RedisConnection } from './connection.js';
import { injectFaults, type ShardFaults } from './faults.js';
import {
  cancelKeyOf,
  DEFAULT_QUEUE,
  PROTOCOL_VERSION,
  type ShardData,
  type ShardResult,
} from './protocol.js';
import { runShard } from './shard.js';

/** Options of {@link startClusterWorker}. */
export interface ClusterWorkerOptions {
  /** Redis (the coordinators'): a `redis://host:port` URL or ioredis options. */
  connection: RedisConnection;
  /** The coordinators' `queue`. @default 'mean-fusion' */
  queue?: string;
  /** The coordinators' `prefix`. @default 'bull' */
  prefix?: string;
  /** Threads of the local pool (ignored with `pool`). @default os.availableParallelism() */
  threads?: number;
  /** Shards run at once (they share the pool's threads). @default 1 */
  concurrency?: number;
  /**
   * Memory budget of the chunk buffers of all running shards together (each gets `memoryLimit / concurrency`),
   * as `fuseFiles`' `memoryLimit`. @default 512 MiB
   */
  memoryLimit?: number;
  /** BullMQ `lockDuration` (ms): a worker silent for this long is presumed dead and its shard rerun. @default 30000 */
  lockDuration?: number;
  /** BullMQ `stalledInterval` (ms) between checks for shards of dead workers. @default 30000 */
  stalledInterval?: number;
  /** BullMQ `maxStalledCount`: stalls after which a shard fails instead of rerunning. @default 1 */
  maxStalledCount?: number;
  /** Milliseconds between checks of the running shards' cancel keys. @default 250 */
  cancelPollInterval?: number;
  /** Run shards on this pool (left open) instead of one created, and closed, by the worker. */
  pool?: FusionPool;
  /** Called with one line per event (shard done, shard failed, Redis error); nothing by default. */
  onLog?: (line: string) => void;
  /** TEST ONLY: injected faults (see faults.ts). */
  faults?: ShardFaults;
}

/** A running worker; see {@link startClusterWorker}. */
export interface ClusterWorker {
  /**
   * Resolves once the worker is connected and taking shards (or once it is closed, if that came first);
   * rejects when it cannot be set up (an error of ioredis or BullMQ on the connection's options). Redis
   * being unreachable is not an error here: the worker keeps trying, and `ready` waits.
   */
  readonly ready: Promise<void>;
  /** Threads of its pool. */
  readonly threads: number;
  /** Shards it runs at once. */
  readonly concurrency: number;
  /**
   * Stops taking shards and waits for the running ones to finish (or, with `force`, leaves them to
   * BullMQ's stalled-job recovery on other workers), then releases the pool and the connections.
   */
  close(options?: { force?: boolean }): Promise<void>;
}

const CANCELLED = 'The fusion was cancelled by its coordinator';

type Bull = typeof import('bullmq');

/**
 * BullMQ 5's stalled-job checker can arm its next `stalledInterval` timer (30 s by default) after `close()`
 * has stopped it, when the close lands while a check is in flight (a worker stopped within a second of
 * starting): that timer then holds the process open. Its stopper is called again a few times after the
 * close, from timers that do not hold the process open themselves (found by a break-it trial: SIGTERM
 * 0.2 s after `mean-fusion worker` started exited 30 s later).
 */
function stopStalledTimer(worker: object): void {
  const stop = () => (worker as { stalledCheckStopper?: () => void }).stalledCheckStopper?.();
  stop();
  for (const ms of [20, 100, 500, 2000]) setTimeout(stop, ms).unref();
}

/**
 * Idle threads of a worker's own pool live this long (ms): a worker between shards keeps its warm threads
 * (a new thread loads the kernel again, tens of ms), but gives them back after a minute without work.
 */
export const WORKER_IDLE_TIMEOUT = 60_000;

/**
 * Starts a worker that takes shard jobs of {@link fuseFilesCluster} from Redis and runs them on a local
 * `FusionPool`, reading and writing the paths in the jobs (shared storage). Long-running: it reconnects
 * to Redis by itself after an outage. Shards are retried by BullMQ per the coordinator's `attempts`.
 *
 * @throws {OptionError} (synchronously) for a bad `connection` (not a redis:// URL that parses or an
 *   options object, or one with `keyPrefix`), `queue`, `prefix`, a count or duration that is not a positive
 *   integer, or a `pool` that is not a FusionPool. Errors of setting the worker up after that (BullMQ and
 *   ioredis load on first use) reject {@link ClusterWorker.ready}.
 */
export function startClusterWorker(options: ClusterWorkerOptions): ClusterWorker {
  if (typeof options !== 'object' || options === null) {
    throw new OptionError(`Expected \`options\` to be an object, got ${describe(options)}`);
  }
  const connection = checkConnection(options.connection);
  const queue = options.queue ?? DEFAULT_QUEUE;
  const prefix = options.prefix ?? 'bull';
  for (const [name, value] of [
    ['queue', queue],
    ['prefix', prefix],
  ] as const) {
    if (typeof value !== 'string' || value === '' || value.includes(':')) {
      throw new OptionError(
        `Expected \`${name}\` to be a non-empty name without ':', got ${describe(value)}`,
      );
    }
  }
  const opt = (name: keyof ClusterWorkerOptions, fallback: number, min = 1) =>
    options[name] === undefined ? fallback : integer(options[name], name, min);
  if (options.pool !== undefined && !(options.pool instanceof FusionPool)) {
    throw new OptionError(`Expected \`pool\` to be a FusionPool, got ${describe(options.pool)}`);
  }
  const threads = options.pool?.threads ?? opt('threads', availableParallelism());
  const concurrency = opt('concurrency', 1);
  const memoryLimit = opt('memoryLimit', DEFAULT_MEMORY_LIMIT);
  const lockDuration = opt('lockDuration', 30_000);
  const stalledInterval = opt('stalledInterval', 30_000);
  const maxStalledCount = opt('maxStalledCount', 1, 0);
  const cancelPollInterval = opt('cancelPollInterval', 250);
  const log = options.onLog ?? (() => {});
  const pool =
    options.pool ?? new FusionPool({ threads, idleTimeout: WORKER_IDLE_TIMEOUT, filename: fileTaskEntry() });
  let closing: Promise<void> | undefined;
  // BullMQ and ioredis load here, on the first worker, not with the package (see connection.ts); the worker
  // connects once they have, and `ready` and `close` wait for that. Null: closed before it connected.
  const started = (async () => {
    const { UnrecoverableError, Worker } = await import('bullmq');
    if (closing !== undefined) return null;
    const client = await openRedis(connection, 'mean-fusion-worker');
    try {
      return connect(client, UnrecoverableError, Worker);
    } catch (error) {
      client.disconnect();
      throw error;
    }
  })();
  started.catch(() => {});

  /** The BullMQ worker on `client`, its listeners and the cancel poll. */
  function connect(client: Redis, UnrecoverableError: Bull['UnrecoverableError'], Worker: Bull['Worker']) {
    /** Running shard job id → its fusion's cancel key. */
    const active = new Map<string, string>();

    const processor = async (job: Job<ShardData, ShardResult>, _token?: string, signal?: AbortSignal) => {
      const data = job.data;
      if (data?.v !== PROTOCOL_VERSION) {
        throw new UnrecoverableError(
          `Shard protocol version ${describe(data?.v)} is not ${PROTOCOL_VERSION}: run one mean-fusion version on every machine`,
        );
      }
      const cancelKey = cancelKeyOf(prefix, queue, data.job);
      if ((await client.exists(cancelKey)) === 1) throw new UnrecoverableError(CANCELLED);
      active.set(job.id as string, cancelKey);
      try {
        await injectFaults(options.faults, data, job.attemptsMade, signal);
        return await runShard(pool, data, Math.floor(memoryLimit / concurrency), signal, (elementsDone) => {
          job.updateProgress({ elementsDone }).catch(() => {});
        });
      } catch (error) {
        if (signal?.aborted) throw new UnrecoverableError(CANCELLED);
        throw error;
      } finally {
        active.delete(job.id as string);
      }
    };

    const worker = new Worker<ShardData, ShardResult>(queue, processor, {
      connection: client,
      prefix,
      concurrency,
      lockDuration,
      stalledInterval,
      maxStalledCount,
    });
    let lastError = '';
    worker.on('error', (error) => {
      // Redis outages repeat the same error every reconnection attempt: log each distinct one once.
      if (error.message !== lastError) log(`error: ${error.message}`);
      lastError = error.message;
    });
    worker.on('ready', () => {
      lastError = '';
    });
    worker.on('failed', (job, error) => {
      if (job !== undefined)
        log(`shard ${job.data.shard} of fusion ${job.data.job} failed: ${error.message}`);
    });
    worker.on('completed', (job) => {
      const seconds = ((job.finishedOn ?? Date.now()) - (job.processedOn ?? Date.now())) / 1000;
      log(`shard ${job.data.shard} of fusion ${job.data.job} done in ${seconds.toFixed(3)} s`);
    });
    let polling = false;
    const timer = setInterval(() => {
      if (active.size === 0 || polling) return;
      polling = true;
      const ids = [...active.keys()];
      client
        .mget(ids.map((id) => active.get(id) as string))
        .then((values) => values.forEach((v, i) => v !== null && worker.cancelJob(ids[i], CANCELLED)))
        .catch(() => {})
        .finally(() => {
          polling = false;
        });
    }, cancelPollInterval);
    return { client, worker, timer };
  }
  const ready = started.then((running) => running?.worker.waitUntilReady()).then(() => undefined);
  ready.catch(() => {});
  return {
    ready,
    threads,
    concurrency,
    close({ force = false } = {}) {
      closing ??= (async () => {
        const running = await started.catch(() => null);
        if (running !== null) {
          clearInterval(running.timer);
          await closeWithin(() => running.worker.close(force), force ? 2000 : 2 ** 31 - 1);
          stopStalledTimer(running.worker);
        }
        if (options.pool === undefined) await pool.close();
        running?.client.disconnect();
      })();
      return closing;
    },
  };
}
