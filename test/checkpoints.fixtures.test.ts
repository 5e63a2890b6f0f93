import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuseCheckpointsAsync, readSafetensors, readSafetensorsHeader } from '../src/index.js';

/** Files written by huggingface's safetensors + ml_dtypes (scripts/make-safetensors-fixtures.py). */
const FIX = fileURLToPath(new URL('./fixtures/safetensors/', import.meta.url));
const inputs = [0, 1, 2].map((i) => join(FIX, `ckpt${i}.safetensors`));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mf-ckfix-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkpoints written by the reference implementation', () => {
  it('reads their headers and data', async () => {
    const h = await readSafetensorsHeader(inputs[0]);
    expect(h.metadata).toEqual({ format: 'np', seed: '0' });
    expect(h.dataOffset % 8).toBe(0);
    expect(h.tensors.map((t) => t.dtype).sort()).toEqual(['BF16', 'BOOL', 'F16', 'F32', 'I64']);
    const step = await readSafetensors(inputs[0], 'step');
    expect(Array.from(step.data as BigInt64Array)).toEqual([42n]);
  });
  it.each(['mean', 'weighted'] as const)(
    '%s: every float tensor is the exact mean rounded once, as Python computed it',
    async (label) => {
      const manifest = JSON.parse(await readFile(join(FIX, 'manifest.json'), 'utf8'));
      const out = join(dir, `${label}.safetensors`);
      await fuseCheckpointsAsync(inputs, out, {
        threads: 1,
        weights: label === 'mean' ? undefined : manifest.weights,
      });
      const soup = await readSafetensors(out);
      for (const [name, expected] of Object.entries(manifest.tensors) as [
        string,
        Record<string, number[]>,
      ][]) {
        const d = soup.get(name)?.data as ArrayBufferView;
        const bits = name === 'w.f32' ? new Uint32Array(d.buffer, d.byteOffset, d.byteLength / 4) : d;
        expect(Array.from(bits as Uint16Array | Uint32Array), name).toEqual(expected[label]);
      }
      expect(Array.from(soup.get('mask')?.data as Uint8Array)).toEqual([1, 0, 1]);
    },
  );
});
