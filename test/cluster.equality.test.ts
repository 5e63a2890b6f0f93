/**
 * fuseFilesCluster against a real redis-server and real `mean-fusion worker` processes: the output is
 * bitwise the output of local fuseFiles for 1, 2 and 3 workers and several shard counts; two jobs on one
 * queue at once; missing inputs.
 */
import { mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuseFilesCluster, fuseFilesClusterAsync } from '../src/jobs/cluster/coordinator.js';
import { fuseFilesAsync } from '../src/jobs/fuseFiles.js';
import {
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
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cluster-eq-'));
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Runs until `count` workers are up (starting more as needed). */
async function withWorkers(count: number): Promise<void> {
  while (workers.length < count) workers.push(await startWorker(redis.url));
  // Fewer wanted than running: stop the extra ones (gracefully: they are idle between jobs).
  while (workers.length > count) await workers.pop()?.stop();
}

const leftovers = async () => (await readdir(dir)).filter((f) => f.endsWith('.tmp'));

async function expectSameAsLocal(
  inputs: string[],
  options: Parameters<typeof fuseFilesAsync>[2],
  shards: number,
): Promise<void> {
  const local = join(dir, `local-${n}.npy`);
  const remote = join(dir, `remote-${n++}.npy`);
  await fuseFilesAsync(inputs, local, { ...options, threads: 1 });
  const summary = await fuseFilesClusterAsync(inputs, remote, { ...options, connection: redis.url, shards });
  expect(summary.output).toBe(remote);
  expect(Buffer.compare(await readFile(remote), await readFile(local))).toBe(0);
}

describe('fuseFilesCluster: bitwise identical to fuseFiles', () => {
  it.each([1, 2, 3])(
    '%i worker process(es), shard counts 1, 3, 8 and 40 (more shards than rows)',
    async (count) => {
      await withWorkers(count);
      const inputs = await writeInputs(
        dir,
        `w${count}`,
        4,
        [37, 129],
        ['float64', 'float32', 'int16', 'uint8'],
        count,
      );
      for (const shards of [1, 3, 8, 40]) await expectSameAsLocal(inputs, {}, shards);
      expect(await leftovers()).toEqual([]);
    },
  );

  it('weights, nan omit, float32 output, stacked input and a 0-d tensor', async () => {
    await withWorkers(2);
    const f32 = await writeInputs(dir, 'f32', 3, [25, 17], ['float32'], 7);
    await expectSameAsLocal(f32, { weights: [1, -0, 3.5], nan: 'omit' }, 4);
    await expectSameAsLocal(f32, { dtype: 'float64' }, 5);
    const [stack] = await writeInputs(dir, 'stack', 1, [6, 11, 3], ['int32'], 9);
    await expectSameAsLocal([stack], { stacked: true }, 4);
    const scalars = await writeInputs(dir, 'scalar', 2, [], ['float64'], 11);
    await expectSameAsLocal(scalars, {}, 3);
  });

  it('emits progress to the last row and shard; the Observable completes once the output is in place', async () => {
    await withWorkers(2);
    const inputs = await writeInputs(dir, 'progress', 2, [50, 40], ['float64'], 13);
    const out = join(dir, 'progress-out.npy');
    const events = await lastValueFrom(
      fuseFilesCluster(inputs, out, { connection: redis.url, shards: 5 }).pipe(toArray()),
    );
    const last = events[events.length - 1];
    expect(last).toMatchObject({
      rowsDone: 50,
      rows: 50,
      shardsDone: 5,
      shards: 5,
      bytesTotal: 2 * 50 * 40 * 8,
    });
    expect(events.map((e) => e.rowsDone)).toEqual([...events.map((e) => e.rowsDone)].sort((a, b) => a - b));
    expect((await readFile(out)).length).toBeGreaterThan(50 * 40 * 8);
  });

  it('two jobs at once on one queue never mix', async () => {
    await withWorkers(2);
    const a = await writeInputs(dir, 'mixA', 3, [30, 64], ['float64'], 21);
    const b = await writeInputs(dir, 'mixB', 2, [30, 64], ['float32'], 22);
    const [oa, ob, la, lb] = ['mix-a', 'mix-b', 'mix-la', 'mix-lb'].map((x) => join(dir, `${x}.npy`));
    await Promise.all([
      fuseFilesClusterAsync(a, oa, { connection: redis.url, shards: 6 }),
      fuseFilesClusterAsync(b, ob, { connection: redis.url, shards: 6 }),
    ]);
    await fuseFilesAsync(a, la, { threads: 1 });
    await fuseFilesAsync(b, lb, { threads: 1 });
    expect(Buffer.compare(await readFile(oa), await readFile(la))).toBe(0);
    expect(Buffer.compare(await readFile(ob), await readFile(lb))).toBe(0);
  });
});

describe('fuseFilesCluster: missing inputs', () => {
  it('a missing input fails before any shard runs (ENOENT naming the file); no output, the old one kept', async () => {
    const inputs = await writeInputs(dir, 'miss', 2, [8, 8], ['float64'], 31);
    const out = join(dir, 'miss-out.npy');
    await writeFile(out, 'old');
    const gone = join(dir, 'nope.npy');
    await expect(
      fuseFilesClusterAsync([inputs[0], gone], out, { connection: redis.url, overwrite: true }),
    ).rejects.toThrow(/nope\.npy/);
    expect(await readFile(out, 'utf8')).toBe('old');
    expect(await leftovers()).toEqual([]);
  });

  it('an input that vanishes after planning fails its shard for good: ShardError naming the rows and ENOENT', async () => {
    const inputs = await writeInputs(dir, 'vanish', 2, [12, 8], ['float64'], 32);
    const out = join(dir, 'vanish-out.npy');
    // A queue of its own, with no worker yet: the shards wait until the file is gone.
    const job = fuseFilesClusterAsync(inputs, out, {
      connection: redis.url,
      queue: 'vanish',
      shards: 3,
      attempts: 2,
      backoff: 10,
    });
    job.catch(() => {});
    await until(async () => (await leftovers()).length > 0, 10_000, 'the temporary output');
    await unlink(inputs[1]);
    const worker = await startWorker(redis.url, { args: ['--queue', 'vanish'] });
    try {
      const error = await job.then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(error?.code).toBe('ERR_SHARD_FAILED');
      expect(error?.message).toMatch(
        /^Shard \d \(rows \[\d+, \d+\) of 12\) failed on a cluster worker: .*ENOENT.*vanish-1\.npy/,
      );
      expect((await readdir(dir)).filter((f) => f.startsWith('vanish-out') || f.endsWith('.tmp'))).toEqual(
        [],
      );
    } finally {
      await worker.stop();
    }
  });
});
