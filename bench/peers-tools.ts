/**
 * The JavaScript-side contenders of the peers benchmark, each written the way a user would write it, behind
 * one small interface: fuse k same-shape float arrays, return the mean as a typed array of the input dtype.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import {
  allocate,
  DEFAULT_CHUNK_BYTES,
  DEFAULT_INLINE_BYTES,
  disposeTensor,
  FusionPool,
  meanFusion,
  type Tensor,
  tensor,
} from '../src/index.js';
import type { FloatData } from './peers-exact.js';

/** Every contender, JavaScript and Python (numpy, Dask), in table order. */
export const TOOL_IDS = [
  'ours',
  'heap',
  'pool',
  'js-loop',
  'tf-cpu',
  'tf-wasm',
  'np-stack',
  'np-add',
  'dask',
] as const;

/** A contender's id. */
export type ToolId = (typeof TOOL_IDS)[number];

/** Short label and the exact code each contender runs, for the results page and the chart. */
export const TOOL_INFO: Readonly<Record<ToolId, { label: string; code: string }>> = {
  ours: { label: 'ours, 1 thread', code: '`meanFusion(tensors)`' },
  heap: {
    label: 'ours, heap tensors',
    code: "`meanFusion(tensors)` on 1 thread with the inputs in kernel-heap tensors (`allocate(…, { heap: true })`, filled before timing, as numpy's arrays are), into a new ordinary array",
  },
  pool: {
    label: 'ours, pool',
    code: `\`await new FusionPool({ threads }).fuse(tensors)\`, threads = all cores, other options at their defaults (jobs under ${DEFAULT_INLINE_BYTES / 2 ** 20} MiB run inline on the calling thread)`,
  },
  'js-loop': {
    label: 'plain JS loop',
    code: '`for i: s = 0; for j: s += xs[j][i]; out[i] = s / k` into a new typed array of the input dtype',
  },
  'tf-cpu': {
    label: 'TF.js cpu',
    code: '`tf.mean(tf.stack(xs.map(x => tf.tensor(x, shape))), 0).dataSync()` on the pure-JS `cpu` backend',
  },
  'tf-wasm': { label: 'TF.js wasm', code: 'the same on the `wasm` backend' },
  'np-stack': { label: 'numpy stack', code: '`np.mean(np.stack(xs), 0)`' },
  'np-add': {
    label: 'numpy in-place',
    code: '`out = xs[0].copy(); for a in xs[1:]: np.add(out, a, out=out)`; then `np.divide(out, k, out=out)`',
  },
  dask: {
    label: 'Dask',
    code: `\`da.stack([da.from_array(m, chunks=(rows, -1)) for m in maps]).mean(axis=0).compute()\` with \`dask.config.set(scheduler='threads', num_workers=threads)\`, threads = all cores, \`maps\` the inputs' files memory-mapped (\`np.memmap(f, mode='r')\`, once per job), row chunks as the pool plans them (${DEFAULT_CHUNK_BYTES / 2 ** 20} MiB of inputs + output per chunk, a multiple of threads chunks; \`planChunks\`)`,
  },
};

/** Float dtypes of the benchmark's jobs. */
export type JobDType = 'float32' | 'float64';

/** A JavaScript contender. */
export interface JsTool {
  readonly id: ToolId;
  /**
   * `null` when the tool can run a job; else why not: `'n/a'` when the tool has no such dtype, `'skipped'`
   * when the job is beyond its limits.
   */
  unsupported(dtype: JobDType, k: number, n: number): { status: 'n/a' | 'skipped'; reason: string } | null;
  /** Fuses `inputs` (k arrays of `n = product(shape)` elements) into a new array of the input dtype. */
  run(inputs: readonly FloatData[], shape: readonly number[]): FloatData | Promise<FloatData>;
}

function tensors(inputs: readonly FloatData[], shape: readonly number[]): Tensor[] {
  return inputs.map((x) => tensor(x, shape));
}

/** Our single-threaded `meanFusion`. */
export const oursTool: JsTool = {
  id: 'ours',
  unsupported: () => null,
  run: (inputs, shape) => meanFusion(tensors(inputs, shape)).data as FloatData,
};

/** Jobs whose inputs exceed this stay out of the kernel heap (wasm32 caps it at 4 GiB, headers included). */
const HEAP_JOB_LIMIT = 3 * 2 ** 30;

/**
 * Our kernel on inputs that live in the kernel heap. The heap copies of the current job's inputs are made
 * on its first (warm-up) run and disposed when the next job arrives.
 */
function makeHeapTool(): JsTool {
  let cached: { inputs: readonly FloatData[]; tensors: Tensor[] } | undefined;
  return {
    id: 'heap',
    unsupported: (dtype, k, n) =>
      k * n * (dtype === 'float32' ? 4 : 8) > HEAP_JOB_LIMIT
        ? { status: 'skipped', reason: 'inputs beyond what the 4 GiB kernel heap holds' }
        : null,
    run(inputs, shape) {
      if (cached?.inputs !== inputs) {
        for (const t of cached?.tensors ?? []) disposeTensor(t);
        const tensors = inputs.map((x) => {
          const t = allocate(x instanceof Float32Array ? 'float32' : 'float64', shape, { heap: true });
          t.data.set(x);
          return t;
        });
        cached = { inputs, tensors };
      }
      return meanFusion(cached.tensors).data as FloatData;
    },
  };
}

/** Our kernel on kernel-heap tensors (see {@link makeHeapTool}). */
export const heapTool: JsTool = makeHeapTool();

/** The plain loop a user would write without a library (float64 accumulator, one division). */
export const jsLoopTool: JsTool = {
  id: 'js-loop',
  unsupported: () => null,
  run(inputs) {
    const k = inputs.length;
    const n = inputs[0].length;
    const out = inputs[0] instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += inputs[j][i];
      out[i] = s / k;
    }
    return out;
  },
};

/**
 * Our pool on all cores with its default options (jobs under `DEFAULT_INLINE_BYTES` run inline, as the pool
 * decides). Call `close()` on the returned handle when done.
 */
export function openPoolTool(): { tool: JsTool; close: () => Promise<void> } {
  const pool = new FusionPool({ threads: availableParallelism() });
  const tool: JsTool = {
    id: 'pool',
    unsupported: () => null,
    run: async (inputs, shape) => (await pool.fuse(tensors(inputs, shape))).data as FloatData,
  };
  return { tool, close: () => pool.close() };
}

/** Largest WASM heap TF.js's wasm32 build can grow to (its memory maximum is 65536 pages). */
const WASM_HEAP_LIMIT = 4 * 2 ** 30;

/** Which WASM binary TF.js picked, for the machine description. */
export interface TfInfo {
  readonly version: string;
  readonly wasmSimd: boolean;
  readonly wasmThreads: boolean;
  readonly wasmDir: string;
}

/**
 * Prepares TF.js: the `wasm` backend loads its `.wasm` binaries from the package's own dist folder in
 * node_modules (a file path, so no network), and both backends are initialised once.
 */
export async function openTf(): Promise<{ cpu: JsTool; wasm: JsTool; info: TfInfo }> {
  const require = createRequire(import.meta.url);
  const wasmDir = `${join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`;
  setWasmPaths(wasmDir);
  // TF.js greets Node users once on the console (suggesting tfjs-node); keep the benchmark's output clean.
  const log = console.log;
  const warn = console.warn;
  console.log = () => {};
  console.warn = () => {};
  try {
    for (const backend of ['wasm', 'cpu']) {
      if (!(await tf.setBackend(backend))) throw new Error(`TF.js backend ${backend} failed to initialise`);
      await tf.ready();
    }
    tf.tensor([0]).dispose(); // the cpu backend greets on its first write
  } finally {
    console.log = log;
    console.warn = warn;
  }
  const info: TfInfo = {
    version: tf.version.tfjs,
    wasmSimd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')),
    wasmThreads: Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')),
    wasmDir,
  };
  const make = (id: 'tf-cpu' | 'tf-wasm', backend: string): JsTool => ({
    id,
    unsupported(dtype, k, n) {
      if (dtype !== 'float32') return { status: 'n/a', reason: 'TF.js has no float64 (float32 only)' };
      const heap = (2 * k + 1) * n * 4;
      if (backend === 'wasm' && heap > 0.85 * WASM_HEAP_LIMIT) {
        return {
          status: 'skipped',
          reason: `needs ≥ ${(heap / 2 ** 30).toFixed(1)} GiB of WASM heap (inputs + stacked copy); wasm32 caps it at 4 GiB`,
        };
      }
      return null;
    },
    async run(inputs, shape) {
      if (tf.getBackend() !== backend) await tf.setBackend(backend);
      const mean = tf.tidy(() =>
        tf.mean(tf.stack(inputs.map((x) => tf.tensor(x as Float32Array, shape as number[], 'float32'))), 0),
      );
      try {
        return mean.dataSync() as Float32Array;
      } finally {
        mean.dispose();
      }
    },
  });
  return { cpu: make('tf-cpu', 'cpu'), wasm: make('tf-wasm', 'wasm'), info };
}
