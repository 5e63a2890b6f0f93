/** Small shared helpers of the benchmarks: timing medians, numpy child processes, table printing. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { createNpyFile } from '../src/io/npy/write.js';
import { DTYPE_CTORS, type FloatDType } from '../src/tensor/dtype.js';

/** Median of a list of numbers. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs `fn` `warmup` times, then `runs` times, and returns the median wall time in seconds. */
export function timeMedian(fn: () => unknown, runs = 7, warmup = 2): number {
  for (let i = 0; i < warmup; i++) consume(fn());
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    consume(fn());
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return median(times);
}

let sink = 0;
/** Reads a result so the work cannot be optimised away. */
export function consume(value: unknown): void {
  if (value && typeof value === 'object' && 'data' in value) {
    const d = (value as { data: ArrayLike<number> }).data;
    if (d.length > 0) sink += d[d.length - 1];
  } else if (ArrayBuffer.isView(value)) {
    const d = value as unknown as ArrayLike<number>;
    if (d.length > 0) sink += d[0];
  }
}
/** The accumulated sink (print it so it is observable). */
export function sinkValue(): number {
  return sink;
}

/** The virtual environment the README's benchmark sections set up for Dask (bench/.venv). */
const VENV_PYTHON = fileURLToPath(new URL('../../bench/.venv/bin/python', import.meta.url));

/**
 * The Python interpreter of every benchmark (numpy and Dask alike, so both report one numpy): the
 * `MEAN_FUSION_PYTHON` environment variable when set, else bench/.venv/bin/python when that virtual
 * environment exists, else `python3`.
 */
export function benchPython(): string {
  const chosen = process.env.MEAN_FUSION_PYTHON;
  if (chosen !== undefined && chosen !== '') return chosen;
  return existsSync(VENV_PYTHON) ? VENV_PYTHON : 'python3';
}

/** How to get Dask into the benchmarks, for the line that says it is absent. */
export const DASK_HINT =
  'python3 -m venv bench/.venv && bench/.venv/bin/pip install "dask[array]" (or set MEAN_FUSION_PYTHON)';

/** True when the benchmarks' Python (see {@link benchPython}) can import numpy. */
export function hasNumpy(): boolean {
  const r = spawnSync(benchPython(), ['-c', 'import numpy'], { stdio: 'ignore' });
  return r.status === 0;
}

/**
 * Dask's version when the benchmarks' Python (see {@link benchPython}) can import `dask.array`; otherwise
 * the one line that says Dask is absent and how to install it.
 */
export function probeDask(): { version: string } | { absent: string } {
  const python = benchPython();
  const r = spawnSync(python, ['-c', 'import dask, dask.array; print(dask.__version__)'], {
    encoding: 'utf8',
  });
  if (r.status === 0) return { version: r.stdout.trim() };
  const why = r.error ? `${python} not found` : `${python} cannot import dask.array`;
  return { absent: `Dask absent (${why}); to include it: ${DASK_HINT}` };
}

/**
 * Runs a Python script with numpy (on {@link benchPython}) and returns its stdout parsed as JSON.
 * OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are unset for the child only (they slow current numpy builds; see the
 * machine notes).
 */
export function runPython(script: string, args: readonly string[]): unknown {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const python = benchPython();
  const r = spawnSync(python, ['-c', script, ...args], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${python} failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Prints rows as an aligned Markdown table. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

/** numpy's best single-thread idiom for a mean of k arrays: in-place adds into one output, then one divide. */
const NUMPY_IN_PLACE = `
import sys, json, time, numpy as np
path, dt, k, n, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
xs = [np.fromfile(f"{path}/x{j}.bin", dtype=dt) for j in range(k)]
out = np.empty(n, dtype=dt)
def run():
    out[...] = xs[0]
    for a in xs[1:]:
        np.add(out, a, out=out)
    np.divide(out, k, out=out)
for _ in range(2): run()
ts = []
for _ in range(runs):
    t = time.perf_counter(); run(); ts.append(time.perf_counter() - t)
ts.sort()
print(json.dumps({"seconds": ts[len(ts)//2], "version": np.__version__}))
`;

/**
 * Median seconds of numpy's in-place idiom (`out[...] = x0; np.add(out, x, out=out)` per further input, then
 * `np.divide`) on exactly these arrays, which are written to a temporary folder for a Python child.
 */
export function numpyInPlace(
  inputs: readonly (Float64Array | Float32Array)[],
  runs: number,
): { seconds: number; version: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mf-bench-'));
  try {
    inputs.forEach((x, j) => {
      writeFileSync(join(dir, `x${j}.bin`), new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
    });
    const dtype = inputs[0] instanceof Float32Array ? 'float32' : 'float64';
    return runPython(NUMPY_IN_PLACE, [
      dir,
      dtype,
      String(inputs.length),
      String(inputs[0].length),
      String(runs),
    ]) as {
      seconds: number;
      version: string;
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Options of a benchmark script: name → string or boolean option, as `node:util` `parseArgs` takes them. */
type BenchOptions = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses a benchmark script's command-line options. `--help` prints `usage` and exits 0; an unknown or
 * malformed option prints the problem and `usage` and exits 2 (instead of a parseArgs stack trace).
 */
export function benchArgs<O extends BenchOptions>(
  options: O,
  usage: string,
): ReturnType<typeof parseArgs<{ options: O }>>['values'] {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    process.exit(2);
  }
  if (values.help === true) {
    console.log(usage);
    process.exit(0);
  }
  delete values.help;
  return values as ReturnType<typeof parseArgs<{ options: O }>>['values'];
}

/** Writes one (rows, cols) .npy of uniform random values in [-1, 1) chunk by chunk (little memory). */
export async function generateNpy(
  path: string,
  dtype: FloatDType,
  rows: number,
  cols: number,
): Promise<void> {
  const writer = await createNpyFile(path, dtype, [rows, cols], { overwrite: true });
  const fh = await open(writer.tempPath, 'r+');
  try {
    const Ctor = DTYPE_CTORS[dtype];
    const rowsPerChunk = 256;
    const buf = new Ctor(rowsPerChunk * cols);
    for (let r = 0; r < rows; r += rowsPerChunk) {
      const n = Math.min(rowsPerChunk, rows - r) * cols;
      for (let i = 0; i < n; i++) buf[i] = Math.random() * 2 - 1;
      const bytes = new Uint8Array(buf.buffer, 0, n * Ctor.BYTES_PER_ELEMENT);
      await fh.write(bytes, 0, bytes.length, writer.dataOffset + r * cols * Ctor.BYTES_PER_ELEMENT);
    }
  } finally {
    await fh.close();
  }
  await writer.commit();
}

/**
 * Runs the benchmark script `scriptUrl` (its `import.meta.url`) again as a child process in `--child`
 * mode with `cfg`, and returns the JSON it prints (the child's time and peak RSS, measured on its own).
 */
export function runBenchChild<T>(scriptUrl: string, cfg: unknown): T {
  const self = fileURLToPath(scriptUrl);
  const r = spawnSync(process.execPath, [self, '--child', JSON.stringify(cfg)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
