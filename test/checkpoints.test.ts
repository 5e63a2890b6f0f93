import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckpointMismatchError,
  FusionPool,
  fuseCheckpointsAsync,
  meanFusion,
  OutputExistsError,
  openCheckpoint,
  readSafetensors,
  readSafetensorsHeader,
  type SafetensorsTensor,
  ShapeMismatchError,
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
  dir = await mkdtemp(join(tmpdir(), 'mf-ckpt-'));
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

/** A small model: float32, bfloat16 and float16 weights of several sizes, plus integer and bool buffers. */
function model(seed: number): Record<string, Tensor | SafetensorsTensor> {
  const r = rand(seed);
  const f32 = (shape: number[]) =>
    tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, r), shape);
  const half = (shape: number[], d: 'float16' | 'bfloat16') =>
    tensor(
      toHalfBits(
        Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r() * 8),
        d,
      ),
      shape,
      d,
    );
  const out: Record<string, Tensor | SafetensorsTensor> = {
    'embed.weight': f32([300, 64]),
    'layer.0.weight': half([128, 65], 'bfloat16'),
    'layer.0.bias': half([65], 'bfloat16'),
    'layer.1.weight': half([33, 17], 'float16'),
    'norm.scale': f32([]),
    'empty.weight': f32([0, 5]),
    step: { dtype: 'I64', shape: [1], data: new BigInt64Array([1000n]) },
    mask: { dtype: 'BOOL', shape: [7], data: new Uint8Array([1, 0, 1, 1, 0, 0, 1]) },
    position_ids: tensor(
      Int32Array.from({ length: 50 }, (_, i) => i),
      [1, 50],
    ),
  };
  for (let i = 0; i < 40; i++) out[`tiny.${i}`] = f32([3]);
  return out;
}

async function writeModel(name: string, seed: number): Promise<string> {
  const path = join(dir, `${name}.safetensors`);
  await writeSafetensors(path, model(seed), { metadata: { format: 'pt', seed: String(seed) } });
  return path;
}

describe('fuseCheckpoints', () => {
  it('averages float tensors bitwise as meanFusion, copies integer/bool ones, carries metadata', async () => {
    const inputs = [await writeModel('a', 1), await writeModel('b', 2), await writeModel('c', 3)];
    const out = join(dir, 'soup.safetensors');
    const events: number[] = [];
    const summary = await fuseCheckpointsAsync(
      inputs,
      out,
      { pool, memoryLimit: 200_000, weights: [1, 2, 1] },
      (p) => events.push(p.tensorsDone),
    );
    expect(summary).toMatchObject({ tensors: 49, averaged: 46, copied: 3, k: 3, files: [out] });
    expect(events.length).toBeGreaterThan(3); // the 300×64 float32 tensor is split under this limit
    const header = await readSafetensorsHeader(out);
    expect(header.metadata).toEqual({ format: 'pt', seed: '1' });
    const soup = await readSafetensors(out);
    const models = inputs.map(() => 0).map((_, j) => model(j + 1));
    for (const [name, t] of soup) {
      const xs = models.map((m) => m[name]);
      if (name === 'step' || name === 'mask' || name === 'position_ids') {
        expect(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)).toEqual(
          new Uint8Array(xs[0].data.buffer, xs[0].data.byteOffset, xs[0].data.byteLength),
        );
        continue;
      }
      const want = meanFusion(xs as Tensor[], { weights: [1, 2, 1] });
      expect(safetensorsToTensor(t).dtype).toBe(want.dtype);
      expect(t.shape).toEqual(want.shape);
      expect(t.data).toEqual(want.data);
    }
  });
  it('reads sharded inputs (index or directory), writes sharded outputs with --max-shard-size, dtype asked', async () => {
    const a = await writeModel('sa', 4);
    // Input b: the same model split by hand into two shards plus an index.
    const bdir = join(dir, 'b-sharded');
    await mkdir(bdir);
    const m = model(5);
    const names = Object.keys(m);
    const half1 = Object.fromEntries(names.slice(0, 20).map((n) => [n, m[n]]));
    const half2 = Object.fromEntries(names.slice(20).map((n) => [n, m[n]]));
    await writeSafetensors(join(bdir, 'model-00001-of-00002.safetensors'), half1);
    await writeSafetensors(join(bdir, 'model-00002-of-00002.safetensors'), half2);
    const weightMap = Object.fromEntries(
      names.map((n, i) => [n, `model-0000${i < 20 ? 1 : 2}-of-00002.safetensors`]),
    );
    await writeFile(
      join(bdir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    expect((await openCheckpoint(bdir)).tensors.size).toBe(names.length);
    const soupDir = join(dir, 'soup-sharded');
    const summary = await fuseCheckpointsAsync([a, bdir], soupDir, {
      pool,
      maxShardSize: 40_000,
      dtype: 'float32',
      exclude: ['tiny.*'],
    });
    expect(summary.tensors).toBe(names.length - 40);
    const files = (await readdir(soupDir)).sort();
    expect(files.at(-1)).toBe('model.safetensors.index.json');
    expect(files.length).toBeGreaterThan(2);
    expect(files[0]).toMatch(/^model-00001-of-000\d\d\.safetensors$/);
    const soup = await openCheckpoint(soupDir);
    expect([...soup.tensors.keys()].some((n) => n.startsWith('tiny'))).toBe(false);
    const w = await readSafetensors(
      soup.tensors.get('layer.0.weight')?.header.file as string,
      'layer.0.weight',
    );
    expect(w.dtype).toBe('F32');
    const want = meanFusion([model(4)['layer.0.weight'], m['layer.0.weight']] as Tensor[], {
      dtype: 'float32',
    });
    expect(w.data).toEqual(want.data);
  });
  it('names the tensor and the files on mismatches, and leaves nothing behind', async () => {
    const a = await writeModel('ma', 6);
    const mb = model(7);
    const write = async (name: string, m: Record<string, Tensor | SafetensorsTensor>) => {
      const p = join(dir, `${name}.safetensors`);
      await writeSafetensors(p, m);
      return p;
    };
    const { 'layer.1.weight': _, ...missing } = mb;
    const out = join(dir, 'bad-soup');
    await expect(fuseCheckpointsAsync([a, await write('missing', missing)], out, { pool })).rejects.toThrow(
      /tensor "layer\.1\.weight": in .*ma\.safetensors but missing from .*missing\.safetensors/,
    );
    await expect(
      fuseCheckpointsAsync([a, await write('extra', { ...mb, extra: tensor(new Float32Array(1)) })], out, {
        pool,
      }),
    ).rejects.toThrow(CheckpointMismatchError);
    await expect(
      fuseCheckpointsAsync(
        [a, await write('shape', { ...mb, 'norm.scale': tensor(new Float32Array(2)) })],
        out,
        { pool },
      ),
    ).rejects.toThrow(ShapeMismatchError);
    const step = { dtype: 'I64' as const, shape: [1], data: new BigInt64Array([1001n]) };
    await expect(
      fuseCheckpointsAsync([a, await write('step', { ...mb, step })], out, { pool }),
    ).rejects.toThrow(
      /tensor "step": integer\/bool tensors must be identical.*step\.safetensors differs from .*ma\.safetensors at byte 0/,
    );
    expect(await readdir(out)).toEqual([]);
    const ok = join(dir, 'ok.safetensors');
    await fuseCheckpointsAsync([a], ok, { pool });
    await expect(fuseCheckpointsAsync([a], ok, { pool })).rejects.toThrow(OutputExistsError);
    await expect(fuseCheckpointsAsync([a], a, { pool })).rejects.toThrow(/would replace an input/);
  });
});
