/**
 * Kernel benchmark: single-thread `meanFusion` on 2048×2048 float64 and float32 for k = 2, 8, 32.
 *
 * Prints, measured side by side in this one run (medians of several runs):
 * - our throughput in GB/s, counting bytes read (k inputs) plus bytes written (one output), for ordinary
 *   typed arrays with the kernel `meanFusion` runs (`ours`: the native kernel when it loaded, reading them
 *   in place), with the WebAssembly fallback kernel on the same arrays (`wasm`: each block is staged into
 *   its memory), and with the WebAssembly kernel on kernel-heap tensors (`wasm heap`: read in place);
 * - the ratio to an in-process bandwidth roof: `TypedArray.prototype.set` copying the same inputs (its GB/s
 *   counts the bytes it reads plus writes);
 * - the ratio to numpy's best idiom on the same data (`out[...] = a0; np.add(out, a, out=out)` for each further
 *   input, then one `np.divide`), when python3 with numpy is present;
 * - the exact mode (`exact: true`) against the default mode on random arrays, timed alternately, and its
 *   worst case (every element on the exact accumulator) at two sizes (bench/kernel-exact.ts).
 *
 * Usage: `npm run bench:kernel [-- --size 2048 --runs 7]`
 */
import { allocate, kernelInfo, meanFusion, type Tensor, tensor } from '../src/index.js';
import { meanRangeSimd } from '../src/kernels/simd.js';
import { exactRows, worstCaseRows } from './kernel-exact.js';
import { benchArgs, hasNumpy, numpyInPlace, printTable, sinkValue, timeMedian } from './util.js';

const args = benchArgs(
  { size: { type: 'string', default: '2048' }, runs: { type: 'string', default: '7' } },
  'Usage: npm run bench:kernel -- [--size 2048] [--runs 7]',
);
const size = Number(args.size);
const runs = Number(args.runs);
const N = size * size;

const withNumpy = hasNumpy();
const rows: string[][] = [];
let numpyVersion = '';
for (const dtype of ['float64', 'float32'] as const) {
  for (const k of [2, 8, 32]) {
    const Ctor = dtype === 'float64' ? Float64Array : Float32Array;
    const inputs: Tensor[] = Array.from({ length: k }, (_, j) => {
      const a = new Ctor(N);
      for (let i = 0; i < N; i++) a[i] = Math.sin(i * 0.001 + j) * 100 + j;
      return tensor(a, [size, size]);
    });
    const out = tensor(new Ctor(N), [size, size]);
    const heapInputs = inputs.map((x) => {
      const h = allocate(dtype, [size, size], { heap: true });
      h.data.set(x.data);
      return h;
    });
    const heapOut = allocate(dtype, [size, size], { heap: true });
    const bytes = (k + 1) * N * Ctor.BYTES_PER_ELEMENT;
    const plain = { weights: null, nanOmit: false };
    const ours = timeMedian(() => meanFusion(inputs, { out }), runs);
    const wasm = timeMedian(() => {
      meanRangeSimd(
        inputs.map((x) => x.data),
        out.data as Float64Array | Float32Array,
        0,
        N,
        plain,
      );
      return out;
    }, runs);
    const heap = timeMedian(() => {
      meanRangeSimd(
        heapInputs.map((x) => x.data),
        heapOut.data as Float64Array | Float32Array,
        0,
        N,
        plain,
      );
      return heapOut;
    }, runs);
    const copyTarget = new Ctor(N);
    const roof = timeMedian(() => {
      for (const x of inputs) copyTarget.set(x.data);
      return copyTarget;
    }, runs);
    const roofBytes = 2 * k * N * Ctor.BYTES_PER_ELEMENT;
    const oursGBs = bytes / ours / 1e9;
    const wasmGBs = bytes / wasm / 1e9;
    const heapGBs = bytes / heap / 1e9;
    const roofGBs = roofBytes / roof / 1e9;
    const row = [
      dtype,
      String(k),
      oursGBs.toFixed(2),
      wasmGBs.toFixed(2),
      heapGBs.toFixed(2),
      roofGBs.toFixed(2),
      (oursGBs / roofGBs).toFixed(2),
    ];
    if (withNumpy) {
      const r = numpyInPlace(
        inputs.map((x) => x.data as Float64Array | Float32Array),
        runs,
      );
      numpyVersion = r.version;
      const npGBs = bytes / r.seconds / 1e9;
      row.push(
        npGBs.toFixed(2),
        (oursGBs / npGBs).toFixed(2),
        (wasmGBs / npGBs).toFixed(2),
        (heapGBs / npGBs).toFixed(2),
      );
    }
    rows.push(row);
  }
}

console.log(`mean-fusion kernel benchmark: ${size}×${size}, single thread, median of ${runs} runs`);
const info = kernelInfo();
console.log(
  `node ${process.version}, kernel: ${info.kernel}${info.reason ? ` (${info.reason})` : ''}${withNumpy ? `, numpy ${numpyVersion}` : ' (numpy absent: column skipped)'}`,
);
printTable(
  [
    'dtype',
    'k',
    'ours GB/s',
    'wasm GB/s',
    'wasm heap GB/s',
    'set() roof GB/s',
    'ours/roof',
    ...(withNumpy ? ['numpy in-place GB/s', 'ours/numpy', 'wasm/numpy', 'wasm heap/numpy'] : []),
  ],
  rows,
);
console.log('');
console.log(
  `exact: true vs the default mode, random uniform [0, 1) data, ${size}×${size}, timed alternately`,
);
printTable(['dtype', 'k', 'default GB/s', 'exact GB/s', 'exact/default time'], exactRows(size, runs));
console.log('exact: true, worst case (every element on the exact accumulator), k = 8, float64');
printTable(['elements', 'µs per element'], worstCaseRows(3));
console.log(`(sink ${sinkValue().toFixed(3)})`);
