/**
 * The built bin with `--cluster` and `mean-fusion worker` against a real redis-server: a fusion with
 * `--json`, Ctrl-C (SIGINT) on the coordinator (exit 130, no output, no shard left in Redis, the worker
 * stops its shard and goes on), SIGTERM on a worker (exit 0), and the command-line errors.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuseFilesAsync } from '../src/jobs/fuseFiles.js';
import {
  BIN,
  type RedisServer,
  startRedis,
  startWorker,
  until,
  type WorkerProcess,
  writeInputs,
} from './cluster/helpers.js';

let dir: string;
let redis: RedisServer;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cluster-cli-'));
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: dir }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? -1), stdout, stderr });
    });
  });
}

describe('mean-fusion --cluster (built bin)', () => {
  it('fuses on a worker, bitwise as fuseFiles; --json has the shard count', async () => {
    const w = await startWorker(redis.url, { args: ['--queue', 'cli'] });
    workers.push(w);
    const inputs = await writeInputs(dir, 'ok', 3, [20, 10], ['float64', 'int32'], 5);
    const r = await cli(
      ...inputs,
      '-o',
      'ok.npy',
      '--cluster',
      redis.url,
      '--queue',
      'cli',
      '--shards',
      '4',
      '--json',
    );
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toMatchObject({
      output: 'ok.npy',
      shape: [20, 10],
      dtype: 'float64',
      k: 3,
      shards: 4,
    });
    await fuseFilesAsync(inputs, join(dir, 'ok-local.npy'), { threads: 1 });
    expect(
      Buffer.compare(await readFile(join(dir, 'ok.npy')), await readFile(join(dir, 'ok-local.npy'))),
    ).toBe(0);
    expect(await w.stop('SIGTERM')).toBe(0);
    expect(w.log()).toMatch(/stopping after the running shards/);
  });

  it('Ctrl-C on the coordinator: exit 130, no output, no shard left; the worker stops the shard and goes on', async () => {
    const w = await startWorker(redis.url, { args: ['--queue', 'sigint'], faults: { hangOnShard: 0 } });
    workers.push(w);
    const queue = new Queue('sigint', { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const inputs = await writeInputs(dir, 'int', 2, [30, 10], ['float64'], 6);
      const proc = spawn(
        process.execPath,
        [BIN, ...inputs, '-o', 'int.npy', '--cluster', redis.url, '--queue', 'sigint', '--shards', '3'],
        { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      proc.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
      });
      const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
      await until(async () => (await queue.getActiveCount()) === 1, 10_000, 'shard 0 to be active');
      proc.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(stderr).toBe('mean-fusion: interrupted; no output written\n');
      expect((await readdir(dir)).filter((f) => f.startsWith('int.npy') || f.startsWith('.int.npy'))).toEqual(
        [],
      );
      const counts = await queue.getJobCounts('active', 'waiting', 'delayed', 'failed', 'completed');
      expect(counts).toMatchObject({ active: 0, waiting: 0, delayed: 0, failed: 0, completed: 0 });
      await until(
        () => /failed: The fusion was cancelled by its coordinator/.test(w.log()),
        5000,
        'the worker log',
      );
      expect(w.proc.exitCode).toBe(null);
    } finally {
      await queue.close();
    }
  });

  it('command-line errors: worker options with --cluster, cluster options without it, a bad URL', async () => {
    const inputs = await writeInputs(dir, 'usage', 2, [2, 2], ['float64'], 7);
    const a = await cli(...inputs, '-o', 'u.npy', '--cluster', redis.url, '--threads', '2');
    expect(a).toMatchObject({
      code: 2,
      stderr:
        'mean-fusion: --threads does not apply with --cluster: the workers set their own threads and memory (mean-fusion worker --threads N --memory-limit SIZE)\n',
    });
    const b = await cli(...inputs, '-o', 'u.npy', '--shards', '2');
    expect(b).toMatchObject({ code: 2, stderr: 'mean-fusion: --shards needs --cluster\n' });
    const c = await cli(...inputs, '-o', 'u.npy', '--cluster', 'localhost:6379');
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/Expected a Redis URL such as redis:\/\/127\.0\.0\.1:6379/);
    // A URL that does not parse (port above 65535): a usage error, for the worker too, not a stack trace.
    for (const args of [[...inputs, '-o', 'u.npy'], ['worker']]) {
      const p = await cli(...args, '--cluster', 'redis://127.0.0.1:99999');
      expect(p.code, p.stderr).toBe(2);
      expect(p.stderr).toMatch(/Expected a Redis URL such as redis:\/\/127\.0\.0\.1:6379/);
    }
    const d = await cli('worker');
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/^mean-fusion worker: required option '--cluster <url>' not specified/);
    const e = await cli('worker', '--help');
    expect(e.code).toBe(0);
    expect(e.stdout).toMatch(/--concurrency <n>/);
    expect((await readdir(dir)).filter((f) => f.startsWith('u.npy') || f.endsWith('.tmp'))).toEqual([]);
  });
});
