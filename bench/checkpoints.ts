/**
 * Checkpoint-averaging benchmark (`npm run bench:checkpoints`): k safetensors checkpoints of SIZE MiB each
 * (a float32 set, then a bfloat16 set; each a mix of large matrices and many small tensors plus an int64
 * counter), averaged by `fuseCheckpoints` with 1 and N threads and, in the same session, by what a Python
 * user would write on the same files: huggingface's `safetensors` (`safe_open(…, framework="numpy")`,
 * tensor by tensor, float32 accumulation, bfloat16 through `ml_dtypes`, `save_file`) and the np.memmap
 * idiom at the header's offsets (chunked float32 accumulation into a memory-mapped output). Each contender
 * runs in its own child process, so peak RSS is its own. Prints seconds, GB/s of input, the ratio to the
 * faster Python contender and peak RSS (medians of --runs runs), then deletes the files.
 *
 * Python: --python PATH, else the benchmarks' Python (`MEAN_FUSION_PYTHON`, else bench/.venv), else
 * .venv/bin/python, else python3; it needs `safetensors ml_dtypes numpy` (`python3 -m venv bench/.venv &&
 * bench/.venv/bin/pip install safetensors ml_dtypes numpy`). Without them the Python rows are skipped and
 * the rest runs. The contenders' order rotates from run to run, so none is always first after the files
 * are generated (or always follows another's freshly freed page cache).
 *
 * Usage: node dist/bench/checkpoints.js [--size-mb 1024] [--k 4] [--runs 1] [--threads N]
 *          [--memory-limit-mb 512] [--dir DIR] [--python PATH]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSafetensorsFile } from '../src/io/safetensors/write.js';
import { fuseCheckpointsAsync } from '../src/jobs/fuseCheckpoints.js';
import { toHalfBits } from '../src/tensor/half.js';
import { benchArgs, benchPython, median, printTable, runBenchChild } from './util.js';

interface Measure {
  seconds: number;
  maxRss: number;
}

const PYTHON = `
import json, resource, sys, time
import numpy as np, ml_dtypes
from safetensors import safe_open
from safetensors.numpy import save_file
cfg = json.loads(sys.argv[1])
t0 = time.perf_counter()
inputs, k = cfg['inputs'], len(cfg['inputs'])
if cfg['mode'] == 'safetensors':
    hs = [safe_open(p, framework='numpy') for p in inputs]
    out = {}
    for name in hs[0].keys():
        t = hs[0].get_tensor(name)
        if not np.issubdtype(t.dtype, np.floating) and t.dtype != ml_dtypes.bfloat16:
            out[name] = t
            continue
        acc = t.astype(np.float32)
        for h in hs[1:]:
            acc += h.get_tensor(name).astype(np.float32)
        acc /= k
        out[name] = acc.astype(t.dtype)
    save_file(out, cfg['output'], metadata=hs[0].metadata())
else:
    def header(p):
        with open(p, 'rb') as f:
            n = int.from_bytes(f.read(8), 'little')
            return n, json.loads(f.read(n))
    n0, h0 = header(inputs[0])
    maps = [np.memmap(p, dtype=np.uint8, mode='r') for p in inputs]
    offs = [8 + header(p)[0] for p in inputs]
    hs = [header(p)[1] for p in inputs]
    DT = {'F32': np.float32, 'BF16': ml_dtypes.bfloat16, 'F16': np.float16, 'I64': np.int64}
    with open(cfg['output'], 'wb') as f:
        f.write(open(inputs[0], 'rb').read(8 + n0))
        f.truncate(8 + n0 + max(v['data_offsets'][1] for key, v in h0.items() if key != '__metadata__'))
    out = np.memmap(cfg['output'], dtype=np.uint8, mode='r+')
    chunk = 1 << 22
    for name, info in h0.items():
        if name == '__metadata__':
            continue
        dt = np.dtype(DT[info['dtype']])
        b, e = info['data_offsets']
        views = [m[o + h[name]['data_offsets'][0]: o + h[name]['data_offsets'][1]].view(dt) for m, o, h in zip(maps, offs, hs)]
        dst = out[8 + n0 + b: 8 + n0 + e].view(dt)
        if info['dtype'] == 'I64':
            dst[:] = views[0]
            continue
        for s in range(0, dst.size, chunk):
            acc = views[0][s:s + chunk].astype(np.float32)
            for v in views[1:]:
                acc += v[s:s + chunk].astype(np.float32)
            acc /= k
            dst[s:s + chunk] = acc.astype(dt)
    out.flush()
    del out
print(json.dumps({'seconds': time.perf_counter() - t0,
                  'maxRss': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
`;

interface ChildConfig {
  inputs: string[];
  output: string;
  threads: number;
  memoryLimit: number;
}

/** Child mode: one fuseCheckpoints job; prints its time and the process's peak RSS (threads included). */
async function child(cfg: ChildConfig): Promise<void> {
  const t0 = performance.now();
  await fuseCheckpointsAsync(cfg.inputs, cfg.output, {
    threads: cfg.threads,
    memoryLimit: cfg.memoryLimit,
    overwrite: true,
  });
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ seconds, maxRss: process.resourceUsage().maxRSS * 1024 }));
}

const runChild = (cfg: ChildConfig): Measure => runBenchChild<Measure>(import.meta.url, cfg);

function runPy(python: string, cfg: object): Measure {
  const r = spawnSync(python, ['-c', PYTHON, JSON.stringify(cfg)], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Measure;
}

/** The Python interpreter with safetensors, ml_dtypes and numpy, or undefined. */
function findPython(given: string | undefined): string | undefined {
  const candidates = given !== undefined ? [given] : [benchPython(), '.venv/bin/python', 'python3'];
  for (const p of candidates) {
    if (p.includes('/') && !existsSync(p)) continue;
    const r = spawnSync(p, ['-c', 'import safetensors, ml_dtypes, numpy'], { stdio: 'ignore' });
    if (r.status === 0) return p;
  }
  return undefined;
}

/** The tensors of one checkpoint of about `bytes`: large 2048-wide matrices, then many small tensors. */
function layout(bytes: number, item: number): { name: string; shape: number[] }[] {
  const big = 2048 * 2048 * item;
  const specs: { name: string; shape: number[] }[] = [];
  const bigCount = Math.max(1, Math.floor((bytes * 0.9) / big));
  for (let i = 0; i < bigCount; i++) specs.push({ name: `layers.${i}.mlp.weight`, shape: [2048, 2048] });
  for (let i = 0; i < 256; i++)
    specs.push({
      name: `layers.${i}.norm.weight`,
      shape: [Math.max(1, Math.floor((bytes * 0.1) / 256 / item))],
    });
  return specs;
}

/** Writes one checkpoint of random values (in chunks, little memory). */
async function generate(path: string, dtype: 'F32' | 'BF16', bytes: number, seed: number): Promise<void> {
  const item = dtype === 'F32' ? 4 : 2;
  const specs = [
    ...layout(bytes, item).map((s) => ({ ...s, dtype })),
    { name: 'step', dtype: 'I64' as const, shape: [1] },
  ];
  const writer = await createSafetensorsFile(path, specs, { metadata: { format: 'pt' }, overwrite: true });
  const fh = await open(writer.tempPath, 'r+');
  let s = seed;
  try {
    for (const e of writer.entries) {
      if (e.dtype === 'I64') continue; // zeros
      for (let at = e.begin; at < e.end; at += 1 << 22) {
        const n = Math.min(1 << 22, e.end - at) / item;
        const values = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          values[i] = s / 2 ** 32 - 0.5;
        }
        const data = dtype === 'F32' ? values : toHalfBits(values, 'bfloat16');
        await fh.write(new Uint8Array(data.buffer, 0, n * item), 0, n * item, writer.dataOffset + at);
      }
    }
  } finally {
    await fh.close();
  }
  await writer.commit();
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

async function main(): Promise<void> {
  const values = benchArgs(
    {
      child: { type: 'string' },
      'size-mb': { type: 'string', default: '1024' },
      k: { type: 'string', default: '4' },
      runs: { type: 'string', default: '1' },
      threads: { type: 'string', default: String(availableParallelism()) },
      'memory-limit-mb': { type: 'string', default: '512' },
      dir: { type: 'string' },
      python: { type: 'string' },
    },
    'Usage: npm run bench:checkpoints -- [--size-mb 1024] [--k 4] [--runs 1] [--threads N] [--memory-limit-mb 512] [--dir DIR] [--python PATH]',
  );
  if (values.child !== undefined) return child(JSON.parse(values.child) as ChildConfig);
  const size = Number(values['size-mb']) * 2 ** 20;
  const k = Number(values.k);
  const runs = Number(values.runs);
  const threads = Number(values.threads);
  const memoryLimit = Number(values['memory-limit-mb']) * 2 ** 20;
  const python = findPython(values.python);
  const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'mean-fusion-ckpt-'));
  console.log(
    `checkpoints: k = ${k} of ${mb(size)}; ${runs} run(s) each, medians; threads 1 and ${threads}; memory limit ${mb(memoryLimit)}; ` +
      `${availableParallelism()} cores; Node ${process.version}; files in ${dir}`,
  );
  if (python === undefined) {
    console.log(
      'Python with safetensors, ml_dtypes and numpy not found: the Python rows are skipped (see --python).',
    );
  }
  const table: string[][] = [];
  try {
    for (const dtype of ['F32', 'BF16'] as const) {
      const inputs = Array.from({ length: k }, (_, j) => join(dir, `${dtype}-${j}.safetensors`));
      for (const [j, p] of inputs.entries()) await generate(p, dtype, size, j + 1);
      const output = join(dir, `${dtype}-soup.safetensors`);
      const results: Record<string, Measure[]> = { one: [], many: [], st: [], mmap: [] };
      const contenders: [keyof typeof results, () => Measure][] = [
        ['one', () => runChild({ inputs, output, threads: 1, memoryLimit })],
        ['many', () => runChild({ inputs, output, threads, memoryLimit })],
      ];
      if (python !== undefined) {
        contenders.push(
          ['st', () => runPy(python, { inputs, output, mode: 'safetensors' })],
          ['mmap', () => runPy(python, { inputs, output, mode: 'mmap' })],
        );
      }
      for (let r = 0; r < runs; r++) {
        // Interleaved, in an order that rotates, so a noisy neighbour on the shared machine (or the page
        // cache's state after the previous contender) hits every contender alike.
        for (let i = 0; i < contenders.length; i++) {
          const [name, run] = contenders[(i + r) % contenders.length];
          results[name].push(run());
          await rm(output, { force: true });
        }
      }
      const secs = (m: Measure[]) => median(m.map((x) => x.seconds));
      const best = python === undefined ? Number.NaN : Math.min(secs(results.st), secs(results.mmap));
      const row = (name: string, m: Measure[]) => [
        dtype,
        name,
        secs(m).toFixed(2),
        `${((k * size) / secs(m) / 1e9).toFixed(2)} GB/s`,
        python === undefined ? 'n/a' : `${(best / secs(m)).toFixed(2)}×`,
        mb(Math.max(...m.map((x) => x.maxRss))),
      ];
      table.push(
        row('fuseCheckpoints, 1 thread', results.one),
        row(`fuseCheckpoints, ${threads} threads`, results.many),
      );
      if (python !== undefined) {
        table.push(
          row('Python safetensors safe_open + save_file', results.st),
          row('Python np.memmap at header offsets', results.mmap),
        );
      }
      for (const p of inputs) await rm(p, { force: true });
    }
    console.log('');
    printTable(['dtype', 'contender', 'seconds', 'input GB/s', 'speed vs faster Python', 'peak RSS'], table);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
