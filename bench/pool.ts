/**
 * Pool benchmark (`npm run bench:pool`): for 2048×2048 and 8192×2048 float64, k = 8, side by side in one run:
 *
 * - the single-thread kernel (`meanFusion` into a preallocated output),
 * - the pool with 1..N threads (shared inputs and a preallocated shared output: zero copy), as time and as
 *   speed-up over the single-thread kernel,
 * each twice: with SharedArrayBuffer tensors (staged block by block into the kernel's memory) and with
 * kernel-heap tensors (`allocate(…, { heap: true })`: read and written in place);
 * - the ratio to numpy's in-place idiom (`out[...] = a0; np.add(out, a, out=out)` for each further input,
 *   then one `np.divide`) on the same data, in a python3 child process (column skipped without numpy).
 *
 * Then the small job (k = 3, 64×64: the pool runs it inline) against `meanFusion`, the sweep behind the
 * inline threshold (DEFAULT_INLINE_BYTES), and the cost of copying ordinary-buffer inputs (plainInputs).
 * Every figure is the median of several runs; the configurations of a table are interleaved run by run so
 * load from other processes hits them alike. Targets (2 cores): 2 threads ≥ 1.7× single-thread on
 * 8192×2048; small job ≤ 1.5× `meanFusion`.
 *
 * Options: --runs N (default 7), --threads N (default os.availableParallelism()), --sizes 2048x2048,8192x2048.
 */
import { availableParallelism } from 'node:os';
import { meanFusion } from '../src/fusion/mean-fusion.js';
import { FusionPool } from '../src/pool/FusionPool.js';
import { allocate } from '../src/tensor/alloc.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { benchArgs, consume, hasNumpy, median, numpyInPlace, printTable, sinkValue } from './util.js';

const args = benchArgs(
  {
    runs: { type: 'string', default: '7' },
    threads: { type: 'string', default: String(availableParallelism()) },
    sizes: { type: 'string', default: '2048x2048,8192x2048' },
  },
  'Usage: npm run bench:pool -- [--runs 7] [--threads N] [--sizes 2048x2048,8192x2048]',
);
const runs = Number(args.runs);
const maxThreads = Number(args.threads);
const sizes = args.sizes.split(',').map((s) => s.split('x').map(Number) as [number, number]);
const K = 8;

/** k float64 tensors of `shape` with deterministic contents, shared or ordinary, or in the kernel heap. */
function makeInputs(k: number, shape: number[], shared: boolean, heap = false): Tensor[] {
  return Array.from({ length: k }, (_, j) => {
    const t = allocate('float64', shape, { shared, heap });
    const d = t.data;
    for (let i = 0; i < d.length; i++) d[i] = Math.sin(i * 0.001 + j) * 100 + j;
    return t;
  });
}

/**
 * Times every configuration `runs` times, interleaved (one run of each per round, after `warmup` rounds),
 * and returns the median seconds per configuration. A configuration may repeat its job `batch` times per
 * sample (for jobs too short to time one by one).
 */
async function interleaved(
  configs: ReadonlyArray<() => unknown>,
  rounds = runs,
  warmup = 2,
  batch = 1,
): Promise<number[]> {
  const times: number[][] = configs.map(() => []);
  for (let r = 0; r < warmup + rounds; r++) {
    for (const [i, f] of configs.entries()) {
      const t0 = process.hrtime.bigint();
      for (let b = 0; b < batch; b++) consume(await f());
      const s = Number(process.hrtime.bigint() - t0) / 1e9 / batch;
      if (r >= warmup) times[i].push(s);
    }
  }
  return times.map(median);
}

function numpySeconds(inputs: readonly Tensor[]): { seconds: number; version: string } {
  return numpyInPlace(
    inputs.map((x) => x.data as Float64Array),
    runs,
  );
}

const fmt = (s: number) => `${(s * 1e3).toFixed(2)} ms`;
const threadCounts = Array.from({ length: maxThreads }, (_, i) => i + 1);
const pools = new Map(threadCounts.map((t) => [t, new FusionPool({ threads: t, inlineBytes: 0 })]));
const withNumpy = hasNumpy();
let numpyVersion = '';

try {
  console.log(
    `mean-fusion pool benchmark: float64, k = ${K}, median of ${runs} interleaved runs; node ${process.version}` +
      (withNumpy ? '' : ' (numpy absent: column skipped)'),
  );
  const rows: string[][] = [];
  for (const [[r, c], heap] of sizes.flatMap((s) => [false, true].map((h) => [s, h] as const))) {
    const shape = [r, c];
    const inputs = makeInputs(K, shape, true, heap);
    // Heap rows: inputs and outputs in the kernel heap (read and written in place by every thread).
    const outPlain = allocate('float64', shape, { heap });
    const outShared = allocate('float64', shape, { shared: true, heap });
    const configs: Array<() => unknown> = [() => meanFusion(inputs, { out: outPlain })];
    for (const t of threadCounts) {
      configs.push(() => (pools.get(t) as FusionPool).fuse(inputs, { out: outShared }));
    }
    const times = await interleaved(configs);
    const single = times[0];
    const row = [`${r}×${c}`, heap ? 'heap' : 'shared', fmt(single)];
    for (const i of threadCounts.keys()) {
      row.push(`${fmt(times[i + 1])} (${(single / times[i + 1]).toFixed(2)}×)`);
    }
    if (withNumpy) {
      const np = numpySeconds(inputs);
      numpyVersion = np.version;
      row.push(
        fmt(np.seconds),
        (np.seconds / single).toFixed(2),
        (np.seconds / times[maxThreads]).toFixed(2),
      );
    }
    rows.push(row);
  }
  if (withNumpy) console.log(`numpy ${numpyVersion}`);
  printTable(
    [
      'shape',
      'tensors',
      'single-thread kernel',
      ...threadCounts.map((t) => `pool ${t} thread${t > 1 ? 's' : ''} (speed-up)`),
      ...(withNumpy ? ['numpy in-place', 'numpy/single', `numpy/pool ${maxThreads}`] : []),
    ],
    rows,
  );
  console.log('(numpy/x > 1: x is faster than numpy)');

  // The small job: with the default inline threshold the pool runs it on the calling thread.
  const small = makeInputs(3, [64, 64], true);
  const defaults = new FusionPool({ threads: maxThreads });
  const forced = pools.get(maxThreads) as FusionPool;
  const [mf, pooled, threaded] = await interleaved(
    [() => meanFusion(small), () => defaults.fuse(small), () => forced.fuse(small)],
    runs,
    2,
    200,
  );
  await defaults.close();
  console.log('\nsmall job: k = 3, 64×64 float64 (target: pool ≤ 1.5× meanFusion)');
  printTable(
    ['meanFusion', 'pool (default: inline)', 'pool/meanFusion', `pool forced onto ${maxThreads} threads`],
    [[fmt(mf), fmt(pooled), (pooled / mf).toFixed(2), `${fmt(threaded)} (${(threaded / mf).toFixed(1)}×)`]],
  );

  // The inline threshold: where does the pool (fresh shared output) start to beat meanFusion (fresh output)?
  console.log(`\ninline threshold sweep: k = ${K} float64, fresh outputs, pool on ${maxThreads} threads`);
  const sweep: string[][] = [];
  for (const n of [128, 256, 512, 1024]) {
    const xs = makeInputs(K, [n, n], true);
    const [a, b] = await interleaved(
      [() => meanFusion(xs), () => forced.fuse(xs)],
      runs,
      2,
      n <= 256 ? 20 : 1,
    );
    const mib = ((K + 1) * n * n * 8) / 2 ** 20;
    sweep.push([`${n}×${n}`, `${mib.toFixed(1)} MiB`, fmt(a), fmt(b), (b / a).toFixed(2)]);
  }
  printTable(['shape', 'bytes touched', 'meanFusion', 'pool', 'pool/meanFusion'], sweep);

  // Inputs on ordinary ArrayBuffers: inline (default) against copying them into shared memory first.
  const [pr, pc] = sizes[0];
  const plain = makeInputs(K, [pr, pc], false);
  const copying = new FusionPool({ threads: maxThreads, inlineBytes: 0, plainInputs: 'copy' });
  const [inl, cp, w1, w2] = await interleaved(
    [
      () => meanFusion(plain),
      () => copying.fuse(plain),
      () => meanFusion(plain, { weights: plain.map((_, j) => j + 1) }),
      () => copying.fuse(plain, { weights: plain.map((_, j) => j + 1) }),
    ],
    Math.max(3, runs >> 1),
  );
  await copying.close();
  console.log(
    `\nordinary-buffer inputs, ${pr}×${pc}, k = ${K}: inline vs copy into shared memory + ${maxThreads} threads`,
  );
  printTable(
    ['kernel', 'inline (meanFusion)', "plainInputs: 'copy'", 'copy/inline'],
    [
      ['plain mean', fmt(inl), fmt(cp), (cp / inl).toFixed(2)],
      ['weighted', fmt(w1), fmt(w2), (w2 / w1).toFixed(2)],
    ],
  );
  console.log(`(sink ${sinkValue().toFixed(3)})`);
} finally {
  for (const p of pools.values()) await p.close();
}
