/**
 * Failures on a real redis-server with real worker processes: a worker SIGKILLed mid-shard (BullMQ's
 * stalled-job recovery reruns the shard elsewhere: same bits), a worker that throws on one shard (retried;
 * with attempts exhausted the job fails naming the shard's rows, no output left, an old output kept).
 * Workers use a 1 s lock and a 300 ms stalled check so a dead worker is noticed quickly.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuseFilesClusterAsync } from '../src/jobs/cluster/coordinator.js';
import { fuseFilesAsync } from '../src/jobs/fuseFiles.js';
import {
  type Faults,
  type RedisServer,
  startRedis,
  startWorker,
  until,
  type WorkerProcess,
  writeInputs,
} from './cluster/helpers.js';

let dir: string;
let redis: RedisServer;
const started: WorkerProcess[] = [];
const FAST = ['--lock-duration', '1000', '--stalled-interval', '300'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cluster-faults-'));
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(started.map((w) => w.stop('SIGKILL')));
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function worker(queue: string, faults?: Faults): Promise<WorkerProcess> {
  const w = await startWorker(redis.url, { args: ['--queue', queue, ...FAST], faults });
  started.push(w);
  return w;
}

const files = async (prefix: string) =>
  (await readdir(dir)).filter((f) => f.startsWith(prefix) || f.startsWith(`.${prefix}`));

describe('fuseFilesCluster: failures', () => {
  it('a worker SIGKILLed mid-shard: the shard is rerun by another worker, the output has the same bits', async () => {
    const inputs = await writeInputs(dir, 'kill', 3, [40, 50], ['float64'], 41);
    const local = join(dir, 'kill-local.npy');
    await fuseFilesAsync(inputs, local, { threads: 1 });
    // The doomed worker scribbles over the start of shard 0's rows, then hangs.
    const doomed = await worker('kill', { hangOnShard: 0 });
    const out = join(dir, 'kill-out.npy');
    let progressed = 0;
    const job = fuseFilesClusterAsync(
      inputs,
      out,
      { connection: redis.url, queue: 'kill', shards: 4 },
      (p) => {
        progressed = p.shardsDone;
      },
    );
    job.catch(() => {});
    // Shard 0 is active on the doomed worker (it takes shards in order, one at a time).
    const { Queue } = await import('bullmq');
    const queue = new Queue('kill', { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      await until(async () => (await queue.getActiveCount()) === 1, 10_000, 'shard 0 to be active');
      // …and has half-written it: its first rows are scribbled over in the temporary output.
      const scribbled = Buffer.alloc(64, 0xa5);
      await until(
        async () => {
          const temp = (await files('kill-out')).find((f) => f.endsWith('.tmp'));
          return temp !== undefined && (await readFile(join(dir, temp))).includes(scribbled);
        },
        10_000,
        'the scribble',
      );
      expect(await doomed.stop('SIGKILL')).toBe('SIGKILL');
      await worker('kill');
      const summary = await job;
      expect(summary.shards).toBe(4);
      expect(progressed).toBe(4);
      expect(Buffer.compare(await readFile(out), await readFile(local))).toBe(0);
      expect((await files('kill')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    } finally {
      await queue.close();
    }
  });

  it('a worker that throws on one shard: BullMQ retries it and the job completes with the same bits', async () => {
    const inputs = await writeInputs(dir, 'retry', 2, [30, 20], ['float32', 'int8'], 42);
    const local = join(dir, 'retry-local.npy');
    await fuseFilesAsync(inputs, local, { threads: 1 });
    await worker('retry', { throwOnShard: 2, throwAttempts: 2 });
    const out = join(dir, 'retry-out.npy');
    await fuseFilesClusterAsync(inputs, out, {
      connection: redis.url,
      queue: 'retry',
      shards: 5,
      attempts: 3,
      backoff: { type: 'exponential', delay: 20 },
    });
    expect(Buffer.compare(await readFile(out), await readFile(local))).toBe(0);
  });

  it('attempts exhausted: ShardError naming the shard and its rows; no output left, the old output untouched', async () => {
    const inputs = await writeInputs(dir, 'fail', 2, [30, 20], ['float64'], 43);
    await worker('fail', { throwOnShard: 1 });
    const out = join(dir, 'fail-out.npy');
    await writeFile(out, 'old');
    const error = await fuseFilesClusterAsync(inputs, out, {
      connection: redis.url,
      queue: 'fail',
      shards: 3,
      attempts: 2,
      backoff: 10,
      overwrite: true,
    }).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string; shard: number; rowStart: number; rowEnd: number },
    );
    expect(error).toMatchObject({
      name: 'ShardError',
      code: 'ERR_SHARD_FAILED',
      shard: 1,
      rowStart: 10,
      rowEnd: 20,
    });
    expect(error?.message).toBe(
      'Shard 1 (rows [10, 20) of 30) failed on a cluster worker: test fault on shard 1, attempt 2',
    );
    expect(await readFile(out, 'utf8')).toBe('old');
    expect((await files('fail-out')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
