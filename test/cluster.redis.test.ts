/**
 * Redis failures and cancellation on a real redis-server: Redis stopped mid-job (a clear error within the
 * timeout, no output left), Redis unreachable from the start, and `signal` aborting a running job (pending
 * shards removed, the running one stopped on its worker, temporary output removed, the worker goes on).
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuseFilesClusterAsync } from '../src/jobs/cluster/coordinator.js';
import { fuseFilesAsync } from '../src/jobs/fuseFiles.js';
import {
  freePort,
  type RedisServer,
  startRedis,
  startWorker,
  until,
  type WorkerProcess,
  writeInputs,
} from './cluster/helpers.js';

let dir: string;
const servers: RedisServer[] = [];
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cluster-redis-'));
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await Promise.all(servers.map((s) => s.stop()));
  await rm(dir, { recursive: true, force: true });
});

const temps = async () => (await readdir(dir)).filter((f) => f.endsWith('.tmp'));

async function setup(name: string, hang = true) {
  const redis = await startRedis();
  servers.push(redis);
  const worker = await startWorker(redis.url, { faults: hang ? { hangOnShard: 0 } : undefined });
  workers.push(worker);
  const queue = new Queue('mean-fusion', { connection: { host: '127.0.0.1', port: redis.port } });
  const inputs = await writeInputs(dir, name, 2, [24, 16], ['float64'], name.length);
  return { redis, worker, queue, inputs, out: join(dir, `${name}-out.npy`) };
}

describe('fuseFilesCluster: Redis failures', () => {
  it('Redis stopped mid-job: RedisUnavailableError within the timeout, no output left', async () => {
    const { redis, queue, inputs, out } = await setup('down');
    const job = fuseFilesClusterAsync(inputs, out, {
      connection: redis.url,
      shards: 3,
      connectionTimeout: 1500,
    });
    job.catch(() => {});
    await until(async () => (await queue.getActiveCount()) === 1, 10_000, 'shard 0 to be active');
    await queue.close();
    const t0 = performance.now();
    await redis.stop();
    const error = await job.then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    const seconds = (performance.now() - t0) / 1000;
    expect(error).toMatchObject({ name: 'RedisUnavailableError', code: 'ERR_REDIS_UNAVAILABLE' });
    expect(error?.message).toMatch(
      new RegExp(`^Lost the connection to Redis at redis://127\\.0\\.0\\.1:${redis.port} for 1500 ms`),
    );
    expect(seconds).toBeLessThan(8);
    expect(await temps()).toEqual([]);
    expect((await readdir(dir)).filter((f) => f.startsWith('down-out'))).toEqual([]);
  });

  it('Redis unreachable from the start: RedisUnavailableError, no output left', async () => {
    const inputs = await writeInputs(dir, 'never', 2, [4, 4], ['float64'], 3);
    const url = `redis://127.0.0.1:${await freePort()}`;
    await expect(
      fuseFilesClusterAsync(inputs, join(dir, 'never-out.npy'), { connection: url, connectionTimeout: 500 }),
    ).rejects.toThrow(
      new RegExp(`^Cannot connect to Redis at ${url.replace(/\./g, '\\.')} for 500 ms: .*ECONNREFUSED`),
    );
    expect(await temps()).toEqual([]);
  });
});

describe('startClusterWorker: Redis unreachable', () => {
  it('closed at once, or after trying to connect, the worker lets its process exit within seconds', async () => {
    // Found in review: a worker closed before it connected kept its process alive for 30 s.
    const { execFile } = await import('node:child_process');
    const index = new URL('../dist/src/index.js', import.meta.url).href;
    const url = `redis://127.0.0.1:${await freePort()}`;
    for (const wait of [0, 300]) {
      const script = `
        const { startClusterWorker } = await import(${JSON.stringify(index)});
        const w = startClusterWorker({ connection: ${JSON.stringify(url)}, threads: 1 });
        await new Promise((r) => setTimeout(r, ${wait}));
        await w.close();
        await w.close({ force: true });`;
      const started = performance.now();
      const code = await new Promise<number | null>((resolve) => {
        const child = execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 });
        child.on('exit', (c) => resolve(c));
      });
      expect(code).toBe(0);
      expect(performance.now() - started).toBeLessThan(10_000);
    }
  });
});

describe('mean-fusion worker stopped soon after it starts', () => {
  it('SIGTERM within a second of the start: the process exits within seconds (not stalledInterval)', async () => {
    // Found by a break-it trial: BullMQ re-armed its 30 s stalled-check timer after close() when the close
    // landed during the first check, so the worker's process lived 30 s longer (0.25–0.35 s after start here).
    const { spawn } = await import('node:child_process');
    const bin = new URL('../dist/src/cli/main.js', import.meta.url).pathname;
    const redis = await startRedis();
    servers.push(redis);
    for (const delay of [150, 250, 300, 350, 450, 700]) {
      const child = spawn(process.execPath, [bin, 'worker', '--cluster', redis.url, '-t', '1'], {
        stdio: 'ignore',
      });
      await new Promise((r) => setTimeout(r, delay));
      const stopped = performance.now();
      child.kill('SIGTERM');
      const exited = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 10_000);
        child.on('exit', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!exited) child.kill('SIGKILL');
      expect(exited, `stopped ${delay} ms after the start`).toBe(true);
      expect(performance.now() - stopped).toBeLessThan(10_000);
    }
  }, 90_000);
});

describe('fuseFilesCluster: cancellation', () => {
  it('signal: pending shards removed, the running one stopped, temporary output removed; the worker goes on', async () => {
    const { redis, worker, queue, inputs, out } = await setup('abort');
    const controller = new AbortController();
    const job = fuseFilesClusterAsync(inputs, out, {
      connection: redis.url,
      shards: 4,
      signal: controller.signal,
    });
    job.catch(() => {});
    await until(async () => (await queue.getActiveCount()) === 1, 10_000, 'shard 0 to be active');
    const reason = new Error('stop it');
    controller.abort(reason);
    await expect(job).rejects.toBe(reason);
    expect(await temps()).toEqual([]);
    expect((await readdir(dir)).filter((f) => f.startsWith('abort-out'))).toEqual([]);
    const counts = await queue.getJobCounts('active', 'waiting', 'delayed', 'failed', 'completed');
    expect(counts).toMatchObject({ active: 0, waiting: 0, delayed: 0, failed: 0, completed: 0 });
    expect(worker.log()).toMatch(/shard 0 of fusion \S+ failed: The fusion was cancelled by its coordinator/);
    // The queue is usable at once: a healthy worker runs the same job to the same bits.
    const healthy = await startWorker(redis.url);
    workers.push(healthy);
    await worker.stop('SIGKILL');
    const local = join(dir, 'abort-local.npy');
    await fuseFilesAsync(inputs, local, { threads: 1 });
    await fuseFilesClusterAsync(inputs, out, { connection: redis.url, shards: 4 });
    expect(Buffer.compare(await readFile(out), await readFile(local))).toBe(0);
    await queue.close();
  });
});
