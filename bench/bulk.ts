/**
 * Bulk out-of-core benchmark (`npm run bench:bulk`): k .npy inputs of SIZE MiB each (float64, then a
 * float32 variant) in a temporary folder, fused by `fuseFiles` with 1 and N threads (its own chunk plan; the
 * N-thread job also on a pool whose threads were started before the clock) and by numpy on the same files
 * (memory-mapped inputs, row chunks of fuseFiles' per-task budget, in-place adds into a float64
 * accumulator, written into a memory-mapped .npy output) and by Dask when the benchmarks' Python has it
 * (`dask.array` mean over the memory-mapped inputs in the same row chunks, on its threaded scheduler with N
 * threads, stored into a memory-mapped .npy output), each run in its own child process so peak RSS is the
 * job's own. Prints GB/s
 * of input, ratios to numpy and Dask, and peak RSS side by side (medians of --runs runs, in one session),
 * then deletes the files.
 *
 * Usage: node dist/bench/bulk.js [--size-mb 256] [--k 8] [--runs 3] [--threads N] [--dir DIR]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fuseFilesAsync } from '../src/jobs/fuseFiles.js';
import { FusionPool } from '../src/pool/FusionPool.js';
import { DTYPE_CTORS, type FloatDType } from '../src/tensor/dtype.js';
import {
  benchArgs,
  generateNpy,
  hasNumpy,
  median,
  printTable,
  probeDask,
  runBenchChild,
  runPython,
} from './util.js';

const COLS = 4096;
/** Per-task chunk budget, as fuseFiles' default (MAX_CHUNK_BYTES). */
const CHUNK_BYTES = 16 * 2 ** 20;

interface ChildConfig {
  inputs: string[];
  output: string;
  threads: number;
  dtype: FloatDType;
  /** Start the pool's threads before the clock (a warm-up job on two tiny files in `warm`), and pass it. */
  warm?: readonly string[];
}
interface Measure {
  seconds: number;
  maxRss: number;
}

const NUMPY = `
import json, resource, sys, time
import numpy as np
cfg = json.loads(sys.argv[1])
t0 = time.perf_counter()
xs = [np.load(p, mmap_mode='r') for p in cfg['inputs']]
k, rows, c = len(xs), xs[0].shape[0], cfg['chunkRows']
out = np.lib.format.open_memmap(cfg['output'], mode='w+', dtype=cfg['dtype'], shape=xs[0].shape)
acc = np.empty((c,) + xs[0].shape[1:], dtype=np.float64)
for s in range(0, rows, c):
    e = min(rows, s + c)
    a = acc[: e - s]
    a[...] = xs[0][s:e]
    for x in xs[1:]:
        np.add(a, x[s:e], out=a)
    np.divide(a, k, out=a)
    out[s:e] = a
out.flush()
del out
print(json.dumps({'seconds': time.perf_counter() - t0,
                  'maxRss': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
`;

/**
 * What a Dask user writes: each input memory-mapped and wrapped in row chunks, stacked, `mean(axis=0)`,
 * stored into a preallocated memory-mapped .npy on the threaded scheduler. `lock=False`: the chunks write
 * disjoint rows of one np.memmap, which needs no lock (the default lock would serialise the stores).
 */
const DASK = `
import json, resource, sys, time
import numpy as np
import dask
import dask.array as da
cfg = json.loads(sys.argv[1])
dask.config.set(scheduler='threads', num_workers=cfg['threads'])
t0 = time.perf_counter()
c = cfg['chunkRows']
xs = [da.from_array(np.load(p, mmap_mode='r'), chunks=(c, -1)) for p in cfg['inputs']]
m = da.stack(xs).mean(axis=0)
out = np.lib.format.open_memmap(cfg['output'], mode='w+', dtype=m.dtype, shape=m.shape)
da.store(m, out, lock=False)
out.flush()
del out
print(json.dumps({'seconds': time.perf_counter() - t0,
                  'maxRss': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
`;

/**
 * Child mode: one fuseFiles job with its default plan (its own chunks, see README "Out-of-core jobs");
 * prints its time and the process's peak RSS (threads included). With `warm`, a pool is started and its
 * threads are woken by a tiny job first, and the timed job runs on it: what a program that runs many jobs
 * pays, as numpy's figure leaves out its interpreter and import.
 */
async function child(cfg: ChildConfig): Promise<void> {
  const pool = cfg.warm === undefined ? undefined : new FusionPool({ threads: cfg.threads });
  if (pool !== undefined && cfg.warm !== undefined) {
    const [a, b] = cfg.warm;
    await fuseFilesAsync([a, b], `${a}.out.npy`, { pool, chunkRows: 1, overwrite: true });
    await rm(`${a}.out.npy`, { force: true });
  }
  const t0 = performance.now();
  await fuseFilesAsync(cfg.inputs, cfg.output, {
    ...(pool === undefined ? { threads: cfg.threads } : { pool }),
    overwrite: true,
  });
  const seconds = (performance.now() - t0) / 1000;
  await pool?.close();
  console.log(JSON.stringify({ seconds, maxRss: process.resourceUsage().maxRSS * 1024 }));
}

const runChild = (cfg: ChildConfig): Measure => runBenchChild<Measure>(import.meta.url, cfg);

const generate = (path: string, dtype: FloatDType, rows: number) => generateNpy(path, dtype, rows, COLS);

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

async function main(): Promise<void> {
  const values = benchArgs(
    {
      child: { type: 'string' },
      'size-mb': { type: 'string', default: '256' },
      k: { type: 'string', default: '8' },
      runs: { type: 'string', default: '3' },
      threads: { type: 'string', default: String(availableParallelism()) },
      dir: { type: 'string' },
    },
    'Usage: npm run bench:bulk -- [--size-mb 256] [--k 8] [--runs 3] [--threads N] [--dir DIR]',
  );
  if (values.child !== undefined) return child(JSON.parse(values.child) as ChildConfig);
  const sizeMiB = Number(values['size-mb']);
  const k = Number(values.k);
  const runs = Number(values.runs);
  const threads = Number(values.threads);
  const numpy = hasNumpy();
  const dask = probeDask();
  const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'mean-fusion-bulk-'));
  console.log(
    `bulk: k = ${k} inputs of ${sizeMiB} MiB, (rows, ${COLS}); ${runs} runs each, medians; threads 1 and ${threads}; ` +
      `${availableParallelism()} cores; Node ${process.version}; files in ${dir}`,
  );
  if ('absent' in dask) console.log(dask.absent);
  const withDask = 'version' in dask;
  const rowsOut: string[][] = [];
  try {
    for (const dtype of ['float64', 'float32'] as const) {
      const item = DTYPE_CTORS[dtype].BYTES_PER_ELEMENT;
      const rows = Math.max(1, Math.floor((sizeMiB * 2 ** 20) / (COLS * item)));
      const inputs = Array.from({ length: k }, (_, j) => join(dir, `${dtype}-${j}.npy`));
      for (const p of inputs) await generate(p, dtype, rows);
      const inputBytes = k * rows * COLS * item;
      const warm = [0, 1].map((j) => join(dir, `warm-${j}.npy`));
      for (const p of warm) await generateNpy(p, dtype, 4, 4);
      // numpy's and Dask's row chunks: fuseFiles' per-task budget over (k inputs + output); fuseFiles plans
      // its own (2 MiB-aligned chunks in runs, src/jobs/folio-ranges.ts).
      const chunkRows = Math.max(1, Math.floor(CHUNK_BYTES / (COLS * (k * item + item))));
      const output = join(dir, `${dtype}-out.npy`);
      const results: Record<string, Measure[]> = { one: [], many: [], warm: [], numpy: [], dask: [] };
      for (let r = 0; r < runs; r++) {
        // Interleaved, so a noisy neighbour on the shared machine hits every contender alike.
        results.one.push(runChild({ inputs, output, threads: 1, dtype }));
        await rm(output, { force: true });
        results.many.push(runChild({ inputs, output, threads, dtype }));
        await rm(output, { force: true });
        results.warm.push(runChild({ inputs, output, threads, dtype, warm }));
        await rm(output, { force: true });
        if (numpy) {
          results.numpy.push(
            runPython(NUMPY, [JSON.stringify({ inputs, output, chunkRows, dtype })]) as Measure,
          );
          await rm(output, { force: true });
        }
        if (withDask) {
          results.dask.push(
            runPython(DASK, [JSON.stringify({ inputs, output, chunkRows, threads })]) as Measure,
          );
          await rm(output, { force: true });
        }
      }
      const gbps = (m: Measure[]) => inputBytes / median(m.map((x) => x.seconds)) / 1e9;
      const peak = (m: Measure[]) => Math.max(...m.map((x) => x.maxRss));
      const ratio = (m: Measure[], base: Measure[]) =>
        base.length > 0 ? `${(gbps(m) / gbps(base)).toFixed(2)}×` : 'n/a';
      const row = (name: string, m: Measure[]) => [
        dtype,
        name,
        `${gbps(m).toFixed(2)} GB/s`,
        ratio(m, results.numpy),
        ratio(m, results.dask),
        mb(peak(m)),
        m.map((x) => x.seconds.toFixed(2)).join(' '),
      ];
      rowsOut.push(
        row('fuseFiles, 1 thread', results.one),
        row(`fuseFiles, ${threads} threads`, results.many),
        row(`fuseFiles, ${threads} threads, pool started first`, results.warm),
      );
      if (numpy) rowsOut.push(row('numpy (mmap, chunked in-place adds)', results.numpy));
      if (withDask) rowsOut.push(row(`Dask ${dask.version} (mmap, ${threads} threads)`, results.dask));
      for (const p of inputs) await rm(p, { force: true });
      console.log(`${dtype}: ${mb(inputBytes)} of input per run, chunks of ${chunkRows} rows`);
      if (withDask) {
        console.log(
          `  Dask: da.stack([da.from_array(np.load(f, mmap_mode='r'), chunks=(${chunkRows}, -1)) for f in inputs])` +
            `.mean(axis=0), da.store(…, lock=False) into np.lib.format.open_memmap(out), ` +
            `dask.config.set(scheduler='threads', num_workers=${threads}); row chunks as ours`,
        );
      }
    }
    console.log('');
    printTable(
      ['dtype', 'contender', 'throughput (input)', 'vs numpy', 'vs dask', 'peak RSS', 'seconds per run'],
      rowsOut,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
