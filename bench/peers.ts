/**
 * Side-by-side benchmark against the tools a user would pick instead of mean-fusion (issue 6).
 *
 *   npm run bench:peers            # full job set → bench/RESULTS.md, bench/peers.svg (< 10 min, 2 cores)
 *   npm run bench:peers -- --quick # small sizes → bench/out/ (for development; not published)
 *
 * Jobs: k = 3, 8, 32 arrays of 512², 2048², 4096², float32 and float64, uniform data, plus k = 32 of 2048²
 * with a large common offset. Contenders: ours on one thread and on the pool, a plain JS loop, TensorFlow.js
 * on its cpu and wasm backends (float32 only), numpy's stack-then-mean and in-place idioms (when the
 * benchmarks' Python has numpy; see `benchPython`) and Dask's `dask.array` stack-then-mean on its threaded
 * scheduler (when that Python has Dask). Every contender fuses the same bits; see bench/RESULTS.md for the
 * method.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planChunks } from '../src/index.js';
import { type DataKind, generate, readRaw, writeRaw } from './peers-data.js';
import { type FloatData, maxUlpError, sampleIndices } from './peers-exact.js';
import { type DaskSpec, NumpyServer, type PyToolId } from './peers-numpy.js';
import {
  type Cell,
  type JobResult,
  type RunInfo,
  renderMarkdown,
  renderSvg,
  type TimingConfig,
} from './peers-report.js';
import {
  heapTool,
  type JobDType,
  type JsTool,
  jsLoopTool,
  openPoolTool,
  openTf,
  oursTool,
  TOOL_INFO,
  type ToolId,
} from './peers-tools.js';
import { benchArgs, benchPython, DASK_HINT } from './util.js';

/** How the run is sized and timed. */
interface Config extends TimingConfig {
  readonly sizes: readonly number[];
  readonly ks: readonly number[];
  readonly offsetJob: { readonly size: number; readonly k: number };
}

const FULL: Config = {
  sizes: [512, 2048, 4096],
  ks: [3, 8, 32],
  offsetJob: { size: 2048, k: 32 },
  budget: 3,
  minReps: 2,
  maxReps: 5,
  slowSeconds: 4,
  skipSeconds: 10,
  maxSamples: 2 ** 18,
};

const QUICK: Config = {
  sizes: [128, 256, 512],
  ks: [3, 8, 32],
  offsetJob: { size: 256, k: 32 },
  budget: 0.3,
  minReps: 2,
  maxReps: 5,
  slowSeconds: 0.5,
  skipSeconds: 2,
  maxSamples: 2 ** 14,
};

const root = fileURLToPath(new URL('../../', import.meta.url));

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Times `run` per the config: warm-up then budgeted repetitions, or one cold run for a slow tool whose
 * estimate exceeds `slowSeconds`. Returns the timings and the last output.
 */
async function timeRuns(
  run: () => FloatData | Promise<FloatData>,
  estimate: number | undefined,
  cfg: Config,
): Promise<{ times: number[]; out: FloatData; noWarmup: boolean }> {
  const once = async (): Promise<{ t: number; out: FloatData }> => {
    const t0 = performance.now();
    const out = await run();
    return { t: (performance.now() - t0) / 1000, out };
  };
  if (estimate !== undefined && estimate > cfg.slowSeconds) {
    const { t, out } = await once();
    return { times: [t], out, noWarmup: true };
  }
  let { t: warm, out } = await once();
  const reps = Math.max(cfg.minReps, Math.min(cfg.maxReps, Math.floor(cfg.budget / Math.max(warm, 1e-9))));
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const next = await once();
    times.push(next.t);
    out = next.out;
    warm = next.t;
  }
  return { times, out, noWarmup: false };
}

function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].slice(0, 200);
}

async function main(): Promise<void> {
  const values = benchArgs(
    { quick: { type: 'boolean', default: false }, 'no-numpy': { type: 'boolean', default: false } },
    'Usage: npm run bench:peers -- [--quick] [--no-numpy]',
  );
  const quick = values.quick === true;
  const cfg = quick ? QUICK : FULL;
  const started = performance.now();
  const loadBefore = loadavg();
  const outDir = quick ? join(root, 'bench', 'out') : join(root, 'bench');
  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'mean-fusion-peers-'));
  const cleanup = (): void => rmSync(work, { recursive: true, force: true });
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });

  const absent: Partial<Record<ToolId, string>> = {};
  const tf = await openTf();
  const pool = openPoolTool();
  let numpy: NumpyServer | undefined;
  let numpyVersion = 'numpy: not run';
  const threads = availableParallelism();
  let withDask = false;
  if (values['no-numpy'] === true) {
    absent['np-stack'] = absent['np-add'] = absent.dask = 'numpy and Dask disabled with --no-numpy';
  } else {
    const started = await NumpyServer.start(join(root, 'bench', 'peers.py'));
    if ('reason' in started) {
      absent['np-stack'] = absent['np-add'] = started.reason;
      absent.dask = `Dask absent (${started.reason}); to include it: ${DASK_HINT}`;
      console.log(absent.dask);
      numpyVersion = `numpy, Dask: not run (${started.reason})`;
    } else {
      numpy = started.server;
      const { python, numpy: np, dask, dask_error } = started.info;
      numpyVersion = `Python ${python}, numpy ${np}`;
      if (dask === null) {
        absent.dask = `Dask absent (${benchPython()} cannot import dask.array: ${dask_error}); to include it: ${DASK_HINT}`;
        console.log(absent.dask);
        numpyVersion += '; Dask: not run (absent)';
      } else {
        withDask = true;
        numpyVersion += `, Dask ${dask} (threaded scheduler, ${threads} threads)`;
      }
    }
  }
  const pyTools: readonly PyToolId[] = withDask ? ['np-stack', 'np-add', 'dask'] : ['np-stack', 'np-add'];
  const jsTools: JsTool[] = [oursTool, heapTool, pool.tool, jsLoopTool, tf.cpu, tf.wasm];
  const lastGbps: Partial<Record<ToolId, number>> = {};
  const jobs: JobResult[] = [];

  const groups: { dtype: JobDType; size: number; data: DataKind; ks: readonly number[] }[] = [];
  for (const dtype of ['float32', 'float64'] as const) {
    for (const size of cfg.sizes) groups.push({ dtype, size, data: 'uniform', ks: cfg.ks });
    groups.push({ dtype, size: cfg.offsetJob.size, data: 'offset', ks: [cfg.offsetJob.k] });
  }

  try {
    for (const [g, group] of groups.entries()) {
      const n = group.size * group.size;
      const shape: [number, number] = [group.size, group.size];
      const kMax = Math.max(...group.ks);
      const bytesPer = group.dtype === 'float32' ? 4 : 8;
      let arrays: FloatData[] = [];
      for (let j = 0; j < kMax; j++) arrays.push(generate(group.dtype, n, group.data, 1 + g * 1000 + j));
      const files: string[] = [];
      if (numpy !== undefined) {
        for (const [j, a] of arrays.entries()) {
          const path = join(work, `x${j}.raw`);
          writeRaw(path, a);
          files.push(path);
        }
      }
      const indices = sampleIndices(n, cfg.maxSamples);
      for (const k of group.ks) {
        const inputs = arrays.slice(0, k);
        const bytes = (k + 1) * n * bytesPer;
        const cells: Partial<Record<ToolId, Cell>> = {};
        const job: JobResult = {
          dtype: group.dtype,
          k,
          shape,
          data: group.data,
          bytes,
          checked: indices.length,
          cells,
        };
        const record = (id: ToolId, times: number[], out: FloatData, noWarmup: boolean): void => {
          const med = median(times);
          const gbps = bytes / med / 1e9;
          lastGbps[id] = gbps;
          const ulps = maxUlpError(inputs, out, indices, group.dtype);
          cells[id] = {
            status: 'ok',
            times,
            median: med,
            gbps,
            ulps,
            noWarmup,
            note: noWarmup
              ? `one run without warm-up (estimated over ${cfg.slowSeconds} s per run)`
              : undefined,
          };
        };
        if (numpy !== undefined) {
          // Dask's row chunks: the pool's plan for this job (inputs + output per row, all cores).
          const dask: DaskSpec | undefined = withDask
            ? {
                shape,
                chunkRows: planChunks(group.size, (k + 1) * group.size * bytesPer, { threads }).map(
                  (c) => c.end - c.start,
                ),
                threads,
              }
            : undefined;
          try {
            const results = await numpy.run({
              dtype: group.dtype,
              n,
              files: files.slice(0, k),
              outDir: work,
              budget: cfg.budget,
              minReps: cfg.minReps,
              maxReps: cfg.maxReps,
              dask,
            });
            for (const id of pyTools) {
              const result = results[id];
              if (result === undefined) {
                cells[id] = {
                  status: 'failed',
                  note: `${TOOL_INFO[id].label}: no result from bench/peers.py`,
                };
                continue;
              }
              const out = readRaw(result.out, group.dtype);
              rmSync(result.out, { force: true });
              record(id, result.times, out, false);
            }
          } catch (error) {
            for (const id of pyTools) {
              cells[id] = { status: 'failed', note: `Python side: ${describeError(error)}` };
            }
          }
        }
        for (const tool of jsTools) {
          const why = tool.unsupported(group.dtype, k, n);
          if (why !== null) {
            cells[tool.id] = { status: why.status, note: `${TOOL_INFO[tool.id].label}: ${why.reason}` };
            continue;
          }
          const prev = lastGbps[tool.id];
          const estimate = prev === undefined ? undefined : bytes / 1e9 / prev;
          if (estimate !== undefined && estimate > cfg.skipSeconds) {
            cells[tool.id] = {
              status: 'skipped',
              note: `${TOOL_INFO[tool.id].label}: skipped where a run was estimated over ${cfg.skipSeconds} s (from its throughput on the previous job)`,
            };
            continue;
          }
          try {
            const { times, out, noWarmup } = await timeRuns(() => tool.run(inputs, shape), estimate, cfg);
            record(tool.id, times, out, noWarmup);
          } catch (error) {
            cells[tool.id] = {
              status: 'failed',
              note: `${TOOL_INFO[tool.id].label}: ${describeError(error)}`,
            };
          }
        }
        jobs.push(job);
        const line = Object.entries(cells)
          .map(([id, c]) =>
            c.status === 'ok'
              ? `${id} ${c.gbps?.toFixed(2)} GB/s ${c.ulps?.toFixed(2)} ulp`
              : `${id} ${c.status}`,
          )
          .join(' | ');
        const elapsed = ((performance.now() - started) / 1000).toFixed(0);
        console.log(`[${elapsed} s] ${group.dtype} k=${k} ${group.size}² ${group.data}: ${line}`);
      }
      for (const f of files) rmSync(f, { force: true });
      arrays = [];
    }
  } finally {
    await pool.close();
    await numpy?.close();
    cleanup();
  }

  const info: RunInfo = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    quick,
    cpu: cpus()[0]?.model ?? 'unknown CPU',
    cores: availableParallelism(),
    memoryGiB: totalmem() / 2 ** 30,
    os: `${platform()} ${release()}`,
    node: process.version,
    tf: `${tf.info.version} (wasm backend: SIMD ${tf.info.wasmSimd ? 'on' : 'off'}, threads ${tf.info.wasmThreads ? 'on' : 'off'}, binaries loaded from node_modules)`,
    numpy: numpyVersion,
    loadBefore,
    loadAfter: loadavg(),
    seconds: (performance.now() - started) / 1000,
    budget: cfg.budget,
    minReps: cfg.minReps,
    maxReps: cfg.maxReps,
    slowSeconds: cfg.slowSeconds,
    skipSeconds: cfg.skipSeconds,
    maxSamples: cfg.maxSamples,
    absent,
  };
  const svgName = quick ? 'peers.quick.svg' : 'peers.svg';
  const mdName = quick ? 'RESULTS.quick.md' : 'RESULTS.md';
  writeFileSync(
    join(outDir, svgName),
    renderSvg(jobs, `mean of k arrays: throughput per tool (${info.date})`),
  );
  writeFileSync(join(outDir, mdName), renderMarkdown(jobs, info, svgName));
  console.log(`Wrote ${join(outDir, mdName)} and ${svgName} in ${info.seconds.toFixed(0)} s`);
}

await main();
