/**
 * Bulk out-of-core benchmark (`npm run bench:bulk`): k .npy inputs of SIZE MiB each (float64, then a
 * float32 variant) in a temporary folder, fused by `fuseFiles` with 1 and N threads and by numpy on the same
 * files (memory-mapped inputs, the same row chunks, in-place adds into a float64 accumulator, written into a
 * memory-mapped .npy output), each run in its own child process so peak RSS is the job's own. Prints GB/s
 * of input and peak RSS side by side (medians of --runs runs, in one session), then deletes the files.
 *
 * Usage: node dist/bench/bulk.js [--size-mb 256] [--k 8] [--runs 3] [--threads N] [--dir DIR]
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fuseFilesAsync } from '../src/jobs/fuseFiles.js';
import { DTYPE_CTORS, type FloatDType } from '../src/tensor/dtype.js';
import { benchArgs, generateNpy, hasNumpy, median, printTable, runPython } from './util.js';

const COLS = 4096;
/** Per-task chunk budget, as fuseFiles' default (MAX_CHUNK_BYTES). */
const CHUNK_BYTES = 16 * 2 ** 20;

interface ChildConfig {
  inputs: string[];
  output: string;
  threads: number;
  chunkRows: number;
  dtype: FloatDType;
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

/** Child mode: one fuseFiles job; prints its time and the process's peak RSS (threads included). */
async function child(cfg: ChildConfig): Promise<void> {
  const t0 = performance.now();
  await fuseFilesAsync(cfg.inputs, cfg.output, {
    threads: cfg.threads,
    chunkRows: cfg.chunkRows,
    overwrite: true,
  });
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ seconds, maxRss: process.resourceUsage().maxRSS * 1024 }));
}

function runChild(cfg: ChildConfig): Measure {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [self, '--child', JSON.stringify(cfg)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Measure;
}

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
  const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'mean-fusion-bulk-'));
  console.log(
    `bulk: k = ${k} inputs of ${sizeMiB} MiB, (rows, ${COLS}); ${runs} runs each, medians; threads 1 and ${threads}; ` +
      `${availableParallelism()} cores; Node ${process.version}; files in ${dir}`,
  );
  const rowsOut: string[][] = [];
  try {
    for (const dtype of ['float64', 'float32'] as const) {
      const item = DTYPE_CTORS[dtype].BYTES_PER_ELEMENT;
      const rows = Math.max(1, Math.floor((sizeMiB * 2 ** 20) / (COLS * item)));
      const inputs = Array.from({ length: k }, (_, j) => join(dir, `${dtype}-${j}.npy`));
      for (const p of inputs) await generate(p, dtype, rows);
      const inputBytes = k * rows * COLS * item;
      // The same row chunks for every contender: the per-task budget of fuseFiles over (k inputs + output).
      const chunkRows = Math.max(1, Math.floor(CHUNK_BYTES / (COLS * (k * item + item))));
      const output = join(dir, `${dtype}-out.npy`);
      const results: Record<string, Measure[]> = { one: [], many: [], numpy: [] };
      for (let r = 0; r < runs; r++) {
        // Interleaved, so a noisy neighbour on the shared machine hits every contender alike.
        results.one.push(runChild({ inputs, output, threads: 1, chunkRows, dtype }));
        await rm(output, { force: true });
        results.many.push(runChild({ inputs, output, threads, chunkRows, dtype }));
        await rm(output, { force: true });
        if (numpy) {
          results.numpy.push(
            runPython(NUMPY, [JSON.stringify({ inputs, output, chunkRows, dtype })]) as Measure,
          );
          await rm(output, { force: true });
        }
      }
      const gbps = (m: Measure[]) => inputBytes / median(m.map((x) => x.seconds)) / 1e9;
      const peak = (m: Measure[]) => Math.max(...m.map((x) => x.maxRss));
      const base = numpy ? gbps(results.numpy) : Number.NaN;
      const row = (name: string, m: Measure[]) => [
        dtype,
        name,
        `${gbps(m).toFixed(2)} GB/s`,
        numpy ? `${(gbps(m) / base).toFixed(2)}×` : 'n/a',
        mb(peak(m)),
        m.map((x) => x.seconds.toFixed(2)).join(' '),
      ];
      rowsOut.push(
        row('fuseFiles, 1 thread', results.one),
        row(`fuseFiles, ${threads} threads`, results.many),
      );
      if (numpy) rowsOut.push(row('numpy (mmap, chunked in-place adds)', results.numpy));
      for (const p of inputs) await rm(p, { force: true });
      console.log(`${dtype}: ${mb(inputBytes)} of input per run, chunks of ${chunkRows} rows`);
    }
    console.log('');
    printTable(
      ['dtype', 'contender', 'throughput (input)', 'vs numpy', 'peak RSS', 'seconds per run'],
      rowsOut,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
