/**
 * Cluster benchmark (`npm run bench:cluster`): k .npy inputs of SIZE MiB each (float64), fused by local
 * `fuseFiles` and by `fuseFilesCluster` with 1, 2 and 4 `mean-fusion worker` processes on a throwaway
 * loopback redis-server, interleaved in one run (medians of --runs). Reports the cluster path's overhead
 * over local `fuseFiles` and the time per shard hand-off: a job of many one-row shards on the first worker
 * set (1 worker by default), minus the same job run locally, divided by the shard count. Each worker set
 * has its own queue and is warmed by one untimed job, as the local pool is. The files are deleted afterwards.
 *
 * Usage: node dist/bench/cluster.js [--size-mb 256] [--k 8] [--runs 3] [--workers 1,2,4] [--threads N]
 *   [--shards N] [--handoff-shards 200] [--dir DIR]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fuseFilesClusterAsync } from '../src/jobs/cluster/coordinator.js';
import { WORKER_IDLE_TIMEOUT } from '../src/jobs/cluster/worker.js';
import { fuseFilesAsync } from '../src/jobs/fuseFiles.js';
import { FusionPool } from '../src/pool/FusionPool.js';
import { startRedis } from './redis.js';
import { benchArgs, generateNpy, median, printTable } from './util.js';

const COLS = 4096;
const BIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Starts `count` worker processes and waits until each takes shards. */
async function startWorkers(
  url: string,
  count: number,
  threads: number,
  queue: string,
): Promise<ChildProcess[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const proc = spawn(
        process.execPath,
        [BIN, 'worker', '--cluster', url, '--queue', queue, '--threads', String(threads)],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let log = '';
      await new Promise<void>((resolve, reject) => {
        proc.stderr?.on('data', (c: Buffer) => {
          log += c.toString();
          if (log.includes('taking shards')) resolve();
        });
        proc.once('exit', (code) => reject(new Error(`worker exited (${code}): ${log}`)));
      });
      return proc;
    }),
  );
}

async function stopWorkers(procs: ChildProcess[]): Promise<void> {
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          p.once('exit', () => resolve());
          p.kill('SIGTERM');
        }),
    ),
  );
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const values = benchArgs(
    {
      'size-mb': { type: 'string', default: '256' },
      k: { type: 'string', default: '8' },
      runs: { type: 'string', default: '3' },
      workers: { type: 'string', default: '1,2,4' },
      threads: { type: 'string', default: String(availableParallelism()) },
      shards: { type: 'string' },
      'handoff-shards': { type: 'string', default: '200' },
      dir: { type: 'string' },
    },
    'Usage: npm run bench:cluster -- [--size-mb 256] [--k 8] [--runs 3] [--workers 1,2,4] [--threads N] [--shards N] [--handoff-shards 200] [--dir DIR]',
  );
  const sizeMiB = Number(values['size-mb']);
  const k = Number(values.k);
  const runs = Number(values.runs);
  const counts = String(values.workers).split(',').map(Number);
  const threads = Number(values.threads);
  const shards = values.shards === undefined ? undefined : Number(values.shards);
  const handoffShards = Number(values['handoff-shards']);
  const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'mean-fusion-cluster-'));
  const redis = await startRedis();
  // The local job gets a warm pool, as each worker process has: only the cluster path's cost differs.
  const pool = new FusionPool({ threads, idleTimeout: WORKER_IDLE_TIMEOUT });
  try {
    const rows = Math.max(1, Math.floor((sizeMiB * 2 ** 20) / (COLS * 8)));
    const inputs = Array.from({ length: k }, (_, j) => join(dir, `in-${j}.npy`));
    for (const p of inputs) await generateNpy(p, 'float64', rows, COLS);
    const tiny = [join(dir, 'tiny-0.npy'), join(dir, 'tiny-1.npy')];
    for (const p of tiny) await generateNpy(p, 'float64', handoffShards, 16);
    const inputBytes = k * rows * COLS * 8;
    const out = join(dir, 'out.npy');
    const cluster = { connection: redis.url, overwrite: true, shards };
    let shardCount = 0;
    const results: Record<string, number[]> = { local: [], handoffLocal: [], handoff: [] };
    for (const w of counts) results[`w${w}`] = [];
    console.log(
      `cluster: k = ${k} float64 inputs of ${sizeMiB} MiB, (${rows}, ${COLS}); ${runs} runs, medians; ` +
        `workers ${counts.join(', ')} × ${threads} threads vs local fuseFiles with ${threads} threads; ` +
        `${availableParallelism()} cores; Node ${process.version}; Redis on loopback; files in ${dir}`,
    );
    // Every worker set on a queue of its own, started once and warmed by one untimed job, as the local
    // pool is: the timed runs then interleave (a noisy neighbour on the shared machine hits all alike).
    const sets = new Map<number, ChildProcess[]>();
    const queueOf = (w: number) => `bench-w${w}`;
    try {
      for (const w of counts) sets.set(w, await startWorkers(redis.url, w, threads, queueOf(w)));
      await fuseFilesAsync(inputs, out, { pool, overwrite: true });
      for (const w of counts) await fuseFilesClusterAsync(inputs, out, { ...cluster, queue: queueOf(w) });
      for (let r = 0; r < runs; r++) {
        results.local.push(await time(() => fuseFilesAsync(inputs, out, { pool, overwrite: true })));
        for (const w of counts) {
          const opts = { ...cluster, queue: queueOf(w) };
          results[`w${w}`].push(
            await time(async () => {
              shardCount = (await fuseFilesClusterAsync(inputs, out, opts)).shards;
            }),
          );
        }
        const tinyOut = join(dir, 'tiny-out.npy');
        const opts = { ...cluster, queue: queueOf(counts[0]), shards: handoffShards };
        results.handoff.push(await time(() => fuseFilesClusterAsync(tiny, tinyOut, opts)));
        results.handoffLocal.push(await time(() => fuseFilesAsync(tiny, tinyOut, { pool, overwrite: true })));
      }
    } finally {
      for (const procs of sets.values()) await stopWorkers(procs);
    }
    const local = median(results.local);
    const localBest = Math.min(...results.local);
    const pct = (x: number, base: number) => `${(((x - base) / base) * 100).toFixed(1)} %`;
    const rowOf = (name: string, m: number[]) => [
      name,
      `${median(m).toFixed(3)} s`,
      `${(inputBytes / median(m) / 1e9).toFixed(2)} GB/s`,
      name.startsWith('local') ? '—' : pct(median(m), local),
      name.startsWith('local') ? '—' : pct(Math.min(...m), localBest),
      m.map((x) => x.toFixed(2)).join(' '),
    ];
    printTable(
      [
        'contender',
        'median',
        'throughput (input)',
        'overhead vs local (medians)',
        '(best runs)',
        'seconds per run',
      ],
      [
        rowOf(`local fuseFiles, ${threads} threads`, results.local),
        ...counts.map((w) =>
          rowOf(
            `cluster, ${w} worker${w === 1 ? '' : 's'} × ${threads} threads, ${shardCount} shards`,
            results[`w${w}`],
          ),
        ),
      ],
    );
    const perShard = (median(results.handoff) - median(results.handoffLocal)) / handoffShards;
    console.log(
      `\nshard hand-off: ${(perShard * 1000).toFixed(2)} ms per shard (${handoffShards} one-row shards on ${counts[0]} worker(s): ` +
        `${median(results.handoff).toFixed(3)} s, the same job locally ${median(results.handoffLocal).toFixed(3)} s)`,
    );
  } finally {
    await pool.close();
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
