/**
 * fuseCheckpoints on float16/bfloat16 checkpoints through the native half kernel on mapped files
 * (src/jobs/plan-range.ts), and through its fallbacks: ranges the C kernel hands back (infinities, NaN,
 * inexact float64 sums at a midpoint) and, under MEAN_FUSION_KERNEL=wasm, positioned reads with the
 * JavaScript reference. Every output tensor must be bitwise `meanFusion` of the same tensors.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FusionPool,
  fuseCheckpointsAsync,
  meanFusion,
  readSafetensors,
  type SafetensorsTensor,
  safetensorsToTensor,
  type Tensor,
  tensor,
  toHalfBits,
  writeSafetensors,
} from '../src/index.js';
import { lcg } from './reference/random.js';

let dir: string;
let pool: FusionPool;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mf-ckpt-half-'));
  pool = new FusionPool({ threads: 2 });
});
afterAll(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});

function rand(seed: number) {
  const next = lcg(seed);
  return () => next() / 2 ** 32 - 0.5;
}

type Half = 'float16' | 'bfloat16';

/** One checkpoint: model-like half tensors (ties), one with specials, one with an inexact-sum midpoint. */
function model(seed: number, j: number): Record<string, Tensor> {
  const r = rand(seed);
  const half = (n: number, d: Half, scale = 1) =>
    tensor(
      toHalfBits(
        Array.from({ length: n }, () => r() * scale),
        d,
      ),
      [n],
      d,
    );
  const specials = [0, -0, Infinity, -Infinity, Number.NaN, 65504, -65504, 2 ** -24, 1, 3];
  // Element 0: 1.5, 1.5·2^-8, 2^-100 (a float64 sum that loses the tie-breaking term); then ordinary ones.
  const inexact = [[1.5, 1.5 * 2 ** -8, 2 ** -100][j % 3], 0.25 * (j + 1), -0.5];
  return {
    'big.bf16': half(70000, 'bfloat16'),
    'big.f16': half(50000, 'float16', 4),
    'small.bf16': half(7, 'bfloat16', 100),
    'specials.f16': tensor(
      toHalfBits(
        specials.map((x, i) => ((i + j) % 3 === 0 ? x : r())),
        'float16',
      ),
      [10],
      'float16',
    ),
    'specials.bf16': tensor(
      toHalfBits(
        specials.map((x, i) => ((i * j) % 4 === 1 ? x : r())),
        'bfloat16',
      ),
      [10],
      'bfloat16',
    ),
    'inexact.bf16': tensor(toHalfBits(inexact, 'bfloat16'), [3], 'bfloat16'),
  };
}

describe('fuseCheckpoints on half-precision checkpoints (native half kernel and its fallbacks)', () => {
  for (const k of [3, 4]) {
    it(`k = ${k}: every tensor is bitwise meanFusion of the inputs' tensors, float32 output too`, async () => {
      const models = Array.from({ length: k }, (_, j) => model(100 + j, j));
      const paths: string[] = [];
      for (const [j, m] of models.entries()) {
        const p = join(dir, `k${k}-${j}.safetensors`);
        await writeSafetensors(p, m);
        paths.push(p);
      }
      for (const dtype of [undefined, 'float32'] as const) {
        const out = join(dir, `k${k}-soup-${dtype ?? 'same'}.safetensors`);
        await fuseCheckpointsAsync(paths, out, { pool, dtype, memoryLimit: 1 << 20 });
        const got = await readSafetensors(out);
        for (const name of Object.keys(models[0])) {
          const want = meanFusion(
            models.map((m) => m[name]),
            dtype === undefined ? {} : { dtype },
          );
          const g = safetensorsToTensor(got.get(name) as SafetensorsTensor);
          expect(g.dtype, name).toBe(want.dtype);
          expect(Array.from(g.data as ArrayLike<number>), name).toEqual(
            Array.from(want.data as ArrayLike<number>),
          );
        }
      }
    });
  }
});
