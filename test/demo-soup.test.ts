import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactMeanRounded } from './reference/exact-mean.js';

const DEMO = fileURLToPath(new URL('../scripts/demo-soup.mjs', import.meta.url));
const MODELS = 3;
let dir: string;
let stdout: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'demo-soup-'));
  stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      [DEMO, '--out', dir, '--models', String(MODELS), '--epochs', '1'],
      (error, out, err) => (error ? reject(new Error(`demo:soup failed: ${err}`)) : resolve(out)),
    );
  });
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A safetensors file read with nothing but JSON.parse and DataView: name → { dtype, shape, values }. */
async function readByHand(
  path: string,
): Promise<Map<string, { dtype: string; shape: number[]; values: number[] }>> {
  const bytes = await readFile(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  const out = new Map();
  for (const [name, info] of Object.entries(header) as [
    string,
    { dtype: string; shape: number[]; data_offsets: number[] },
  ][]) {
    if (name === '__metadata__') continue;
    const [begin, end] = info.data_offsets;
    const at = 8 + n + begin;
    const values: number[] = [];
    if (info.dtype === 'F32') for (let i = at; i < 8 + n + end; i += 4) values.push(view.getFloat32(i, true));
    else if (info.dtype === 'BF16') {
      // bfloat16 = the high 16 bits of a float32.
      const f = new DataView(new ArrayBuffer(4));
      for (let i = at; i < 8 + n + end; i += 2) {
        f.setUint16(0, view.getUint16(i, true));
        f.setUint16(2, 0);
        values.push(f.getFloat32(0));
      }
    } else if (info.dtype === 'I32')
      for (let i = at; i < 8 + n + end; i += 4) values.push(view.getInt32(i, true));
    out.set(name, { dtype: info.dtype, shape: info.shape, values });
  }
  return out;
}

describe('npm run demo:soup (scripts/demo-soup.mjs)', () => {
  it('prints a table of accuracies for every model and both soups', async () => {
    expect(stdout).toMatch(/model 0 \(seed 100/);
    expect(stdout).toMatch(/uniform soup of 3 \(mean-fusion CLI\)\s+\d+\.\d\d %\s+\d+\.\d\d %/);
    const { rows } = JSON.parse(await readFile(join(dir, 'accuracy.json'), 'utf8'));
    expect(rows).toHaveLength(MODELS + 1);
    for (const r of rows) expect(r.f32).toBeGreaterThan(0.8); // ten classes: chance is 0.1
  });
  it.each([
    ['f32', 'F32'],
    ['bf16', 'BF16'],
  ])(
    'the %s soup is the exact mean of the checkpoints, rounded once (independent BigInt reference)',
    async (kind, dtype) => {
      const models = await Promise.all(
        Array.from({ length: MODELS }, (_, m) =>
          readByHand(join(dir, `model-${m}-${kind}`, 'model.safetensors')),
        ),
      );
      const soup = await readByHand(join(dir, `soup-${kind}.safetensors`));
      expect([...soup.keys()].sort()).toEqual(['linear.bias', 'linear.weight', 'step']);
      for (const name of ['linear.weight', 'linear.bias']) {
        const got = soup.get(name);
        expect(got?.dtype).toBe(dtype);
        expect(got?.shape).toEqual(models[0].get(name)?.shape);
        got?.values.forEach((v, i) => {
          const want = exactMeanRounded(
            models.map((m) => m.get(name)?.values[i] as number),
            null,
            false,
            kind === 'f32' ? 'float32' : 'bfloat16',
          );
          if (!Object.is(v, want)) throw new Error(`${name}[${i}]: got ${v}, want ${want}`);
        });
      }
      expect(soup.get('step')?.values).toEqual([1]);
    },
  );
});
