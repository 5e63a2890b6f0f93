import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  meanFusion,
  openCheckpoint,
  readSafetensors,
  type Tensor,
  tensor,
  toHalfBits,
  writeSafetensors,
} from '../src/index.js';

/** The built bin (npm test builds first). */
const BIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-ckpt-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: dir }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? -1), stdout, stderr });
    });
  });
}

function model(seed: number): Record<string, Tensor> {
  const values = (n: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i) * 3);
  return {
    w1: tensor(toHalfBits(values(64 * 40), 'bfloat16'), [64, 40], 'bfloat16'),
    b1: tensor(toHalfBits(values(40), 'bfloat16'), [40], 'bfloat16'),
    w2: tensor(Float32Array.from(values(40 * 10)), [40, 10]),
    'tiny.x': tensor(Float32Array.from(values(2)), [2]),
    count: tensor(new Int32Array([7]), [1]),
  };
}

describe('mean-fusion CLI on checkpoints (built bin)', () => {
  it('averages checkpoint directories with weights, --dtype, --exclude and --max-shard-size', async () => {
    for (const [name, seed] of [
      ['ckpt-a', 1],
      ['ckpt-b', 2],
    ] as const) {
      await mkdir(join(dir, name));
      await writeSafetensors(join(dir, name, 'model.safetensors'), model(seed), {
        metadata: { format: 'pt' },
      });
    }
    const r = await cli(
      'ckpt-a/',
      'ckpt-b/',
      '-o',
      'soup/',
      '-w',
      '1,3',
      '--dtype',
      'bfloat16',
      '--exclude',
      'tiny.*',
      '--max-shard-size',
      '4KB',
      '--json',
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ tensors: 4, averaged: 3, copied: 1, k: 2 });
    expect(summary.files.length).toBeGreaterThan(2); // shards plus the index
    const soup = await openCheckpoint(join(dir, 'soup'));
    expect([...soup.tensors.keys()].sort()).toEqual(['b1', 'count', 'w1', 'w2']);
    for (const name of ['w1', 'b1', 'w2']) {
      const file = soup.tensors.get(name)?.header.file as string;
      const got = await readSafetensors(file, name);
      expect(got.dtype).toBe('BF16');
      const want = meanFusion([model(1)[name], model(2)[name]], { weights: [1, 3], dtype: 'bfloat16' });
      expect(got.data).toEqual(want.data);
    }
    const plain = await cli('ckpt-a/model.safetensors', 'ckpt-b/', '-o', 'soup.safetensors');
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(
      /soup\.safetensors: mean of 2 checkpoints, 4 tensors averaged and 1 copied into 1 file/,
    );
  });
  it('fails with one line naming the tensor, and leaves nothing behind', async () => {
    await mkdir(join(dir, 'ckpt-c'));
    await writeSafetensors(join(dir, 'ckpt-c', 'model.safetensors'), {
      ...model(3),
      count: tensor(new Int32Array([8]), [1]),
    });
    const r = await cli('ckpt-a', 'ckpt-c', '-o', 'bad.safetensors');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^mean-fusion: error: tensor "count": integer\/bool tensors must be identical/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect((await readdir(dir)).filter((f) => f.startsWith('bad') || f.endsWith('.tmp'))).toEqual([]);
    const s = await cli('ckpt-a', '-o', 'x.safetensors', '--stacked');
    expect(s.stderr).toMatch(/--stacked applies to \.npy inputs only/);
  });
  it('SIGINT mid-job: exit 130, temporary files removed, no output', async () => {
    // 64 sharded outputs of one 512 KiB tensor each, under a tiny memory limit: many tasks, about a second.
    const big: Record<string, Tensor> = {};
    for (let i = 0; i < 64; i++) big[`t${i}`] = tensor(new Float32Array(128 * 1024), [128, 1024]);
    await mkdir(join(dir, 'big'));
    await writeSafetensors(join(dir, 'big', 'model.safetensors'), big);
    const child = spawn(
      process.execPath,
      [
        BIN,
        'big',
        'big/model.safetensors',
        '-o',
        'int',
        '-t',
        '1',
        '--memory-limit',
        '64KiB',
        '--max-shard-size',
        '600KB',
      ],
      { cwd: dir },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 1500; i++) {
      const files = await readdir(join(dir, 'int')).catch(() => []);
      if (files.some((f) => f.endsWith('.tmp'))) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('interrupted; no output written');
    expect(await readdir(join(dir, 'int'))).toEqual([]);
  });
});
