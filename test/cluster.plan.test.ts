/** Shard planning, the weights' wire encoding and the cluster job's argument errors (no Redis needed). */
import { describe, expect, it } from 'vitest';
import { fuseFilesClusterAsync } from '../src/jobs/cluster/coordinator.js';
import { decodeWeights, encodeWeights } from '../src/jobs/cluster/protocol.js';
import { defaultShards, planShards, shardRows } from '../src/jobs/cluster/shards.js';
import { startClusterWorker } from '../src/jobs/cluster/worker.js';
import { startRedis } from './cluster/helpers.js';

describe('planShards', () => {
  it('splits rows evenly on row boundaries, covering the tensor in order', () => {
    expect(planShards([10, 3], 3)).toEqual([
      { start: 0, end: 12 },
      { start: 12, end: 21 },
      { start: 21, end: 30 },
    ]);
    expect(planShards([10, 3], 1)).toEqual([{ start: 0, end: 30 }]);
  });
  it('splits elements when there are fewer rows than shards; never more shards than elements', () => {
    expect(planShards([2, 5], 4)).toEqual([
      { start: 0, end: 3 },
      { start: 3, end: 6 },
      { start: 6, end: 8 },
      { start: 8, end: 10 },
    ]);
    expect(planShards([], 5)).toEqual([{ start: 0, end: 1 }]);
    expect(planShards([3, 0], 2)).toEqual([]);
    expect(planShards([0], 2)).toEqual([]);
  });
  it('names the rows a shard touches, and sizes shards at 256 MiB by default', () => {
    expect(shardRows({ start: 3, end: 8 }, [2, 5])).toEqual({ rowStart: 0, rowEnd: 2, rows: 2 });
    expect(defaultShards(0)).toBe(1);
    expect(defaultShards(256 * 2 ** 20)).toBe(1);
    expect(defaultShards(2 ** 60)).toBe(10_000); // MAX_SHARDS
    expect(defaultShards(256 * 2 ** 20 + 1)).toBe(2);
  });
});

describe('weights on the wire', () => {
  it('round-trip bit for bit, -0 and subnormals included', () => {
    const w = new Float64Array([1, -0, 5e-324, -1.5e300, 0.1]);
    const back = decodeWeights(encodeWeights(w));
    expect(back).not.toBeNull();
    expect(Array.from(back as Float64Array).map((x, i) => Object.is(x, w[i]))).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(decodeWeights(encodeWeights(null))).toBeNull();
  });
});

describe('argument errors', () => {
  const bad = (options: object) => fuseFilesClusterAsync(['a.npy'], 'o.npy', options as never);
  it('fuseFilesCluster rejects bad options before touching files or Redis', async () => {
    await expect(bad({})).rejects.toThrow(
      'Expected `connection` to be a redis:// URL or ioredis options, got `undefined` (undefined)',
    );
    await expect(bad({ connection: 'http://x' })).rejects.toThrow(/`connection`/);
    await expect(bad({ connection: 'redis://h', queue: 'a:b' })).rejects.toThrow(
      "Expected `queue` to be a non-empty name without ':', got `'a:b'` (string)",
    );
    await expect(bad({ connection: 'redis://h', shards: 0 })).rejects.toThrow(
      'Expected `shards` to be an integer from 1 and up, got `0` (number)',
    );
    await expect(bad({ connection: 'redis://h', attempts: 1.5 })).rejects.toThrow(/`attempts`/);
    await expect(bad({ connection: 'redis://h', backoff: { type: 'linear', delay: 1 } })).rejects.toThrow(
      /`backoff`/,
    );
    await expect(bad({ connection: 'redis://h', out: {} })).rejects.toThrow(/`out` is not an option/);
    // A million shards ran the coordinator out of heap (break-it trial): at most MAX_SHARDS.
    await expect(bad({ connection: 'redis://h', shards: 10_001 })).rejects.toThrow(
      'Expected `shards` to be at most 10000 (each shard is a BullMQ job held in Redis and in this process), got 10001',
    );
    // What ioredis and BullMQ would refuse once loaded, refused up front and named.
    await expect(bad({ connection: 'redis://127.0.0.1:99999' })).rejects.toThrow(
      "Expected `connection` to be a valid redis:// URL, got `'redis://127.0.0.1:99999'` (string)",
    );
    await expect(bad({ connection: { host: '127.0.0.1', keyPrefix: 'p:' } })).rejects.toThrow(
      'Expected `connection` without `keyPrefix` (BullMQ does not support it): set `prefix` instead',
    );
  });
  it('startClusterWorker throws synchronously on bad options', () => {
    expect(() => startClusterWorker({} as never)).toThrow(/`connection`/);
    expect(() => startClusterWorker({ connection: 'redis://h', concurrency: 0 })).toThrow(
      'Expected `concurrency` to be an integer from 1 and up, got `0` (number)',
    );
    expect(() => startClusterWorker({ connection: 'redis://h', pool: {} as never })).toThrow(/`pool`/);
    expect(() => startClusterWorker({ connection: 'redis://127.0.0.1:99999' })).toThrow(
      /valid redis:\/\/ URL/,
    );
    expect(() => startClusterWorker({ connection: { port: 6379, keyPrefix: 'p:' } })).toThrow(/`keyPrefix`/);
    // Found by a break-it trial: these crashed the process later (ERR_SOCKET_BAD_PORT) or waited forever.
    for (const port of ['abc', 70_000, 1.5]) {
      expect(() => startClusterWorker({ connection: { port: port as number } })).toThrow(
        /`connection\.port`/,
      );
    }
  });
});

describe('the test setup', () => {
  it('fails (never skips) with a clear message when redis-server is missing', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(startRedis()).rejects.toThrow(
        /^redis-server is not installed: .*apt-get install -y redis-server/,
      );
    } finally {
      process.env.PATH = path;
    }
  });
});
