/**
 * Real components for the cluster tests: a `redis-server` on a free loopback port (no persistence) and
 * `mean-fusion worker` processes of the built bin. No mocks. Without `redis-server` the tests FAIL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeNpy } from '../../src/io/npy/write.js';
import { DTYPE_CTORS, type DType, itemSize } from '../../src/tensor/dtype.js';

/** The built bin (npm test builds first). */
export const BIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

export { freePort, type RedisServer, startRedis } from '../../bench/redis.js';

/** A running `mean-fusion worker` process. */
export interface WorkerProcess {
  readonly proc: ChildProcess;
  /** Its stderr so far. */
  log(): string;
  /** Sends `signal` and waits for the exit; resolves with the exit code (or the signal). */
  stop(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals>;
}

/** Test-only faults of a worker (see src/jobs/cluster/faults.ts). */
export interface Faults {
  throwOnShard?: number;
  throwAttempts?: number;
  hangOnShard?: number;
}

/** Starts `mean-fusion worker --cluster url …` and waits for its "taking shards" line. */
export async function startWorker(
  url: string,
  options: { threads?: number; args?: string[]; faults?: Faults } = {},
): Promise<WorkerProcess> {
  const args = [
    BIN,
    'worker',
    '--cluster',
    url,
    '--threads',
    String(options.threads ?? 1),
    ...(options.args ?? []),
  ];
  const env = { ...process.env };
  if (options.faults !== undefined) env.MEAN_FUSION_TEST_FAULTS = JSON.stringify(options.faults);
  const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr?.on('data', (c: Buffer) => {
    log += c.toString();
  });
  const exited = new Promise<number | NodeJS.Signals>((resolve) =>
    proc.once('exit', (code, signal) => resolve(code ?? (signal as NodeJS.Signals))),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (log.includes('taking shards')) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
    exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`worker exited (${code}) before it was ready:\n${log}`));
    });
  });
  return {
    proc,
    log: () => log,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Writes k deterministic pseudo-random .npy inputs of `shape` (dtypes cycled from `dtypes`); returns their paths. */
export async function writeInputs(
  dir: string,
  name: string,
  k: number,
  shape: number[],
  dtypes: DType[] = ['float64'],
  seed = 1,
): Promise<string[]> {
  const n = shape.reduce((a, b) => a * b, 1);
  const paths: string[] = [];
  let s = seed >>> 0 || 1;
  for (let j = 0; j < k; j++) {
    const dtype = dtypes[j % dtypes.length];
    const data = new DTYPE_CTORS[dtype](n);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const u = s / 2 ** 32;
      data[i] = dtype.startsWith('float')
        ? (u - 0.5) * 10 ** ((s % 7) - 2)
        : Math.floor(u * 2 ** (8 * itemSize(dtype) - 1));
    }
    const path = `${dir}/${name}-${j}.npy`;
    await writeNpy(path, { data, shape, dtype });
    paths.push(path);
  }
  return paths;
}

/** Polls `check` every 20 ms until it returns true; rejects after `ms`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
