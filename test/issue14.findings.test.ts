// Issue 14, smaller findings: each one the new-user trial reported, pinned.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileError, TensorError } from '../src/errors.js';
import { meanFusion } from '../src/fusion/mean-fusion.js';
import { encodeNpyHeader } from '../src/io/npy/header.js';
import { readNpy, readNpyHeader } from '../src/io/npy/read.js';
import { writeNpy } from '../src/io/npy/write.js';
import { fuseFilesAsync } from '../src/jobs/fuseFiles.js';
import { tensor } from '../src/tensor/tensor.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'dist/src/cli/main.js');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'findings-'));
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

describe('issue 14 smaller findings', () => {
  it('a .npy with bytes after its data is read, as np.load reads it', async () => {
    const path = join(dir, 'trailing.npy');
    const header = encodeNpyHeader('float64', [2]);
    const bytes = new Uint8Array(header.length + 16 + 8);
    bytes.set(header);
    new Float64Array(bytes.buffer, header.length, 2).set([1.5, -2]);
    await writeFile(path, bytes);
    expect([...(await readNpy(path)).data]).toEqual([1.5, -2]);
    expect((await readNpyHeader(path)).dataBytes).toBe(16);
    const out = join(dir, 'trailing-mean.npy');
    await fuseFilesAsync([path, path], out);
    expect([...(await readNpy(out)).data]).toEqual([1.5, -2]);
  });

  it('-w takes decimal numbers only: hex, spaces, Infinity are refused', async () => {
    const a = join(dir, 'w.npy');
    await writeNpy(a, tensor(new Float64Array([1, 2])));
    for (const w of ['0x10,1e0', '1, 2', ' 1,2', 'Infinity,1', '1,', '0b1,1', '1_0,1']) {
      const r = await cli(a, a, '-w', w, '-o', 'x.npy');
      expect(r.code, w).toBe(2);
      expect(r.stderr).toContain('Expected comma-separated finite decimal numbers');
    }
    const r = await cli(a, a, '-w', '1e0,-.5e1', '-o', 'ok.npy', '--json');
    expect(r.code, r.stderr).toBe(0);
  });

  it('a missing input reads like our other errors and keeps Node’s code', async () => {
    const error = await readNpy(join(dir, 'nosuch.npy')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileError);
    expect(error).toMatchObject({ name: 'FileError', code: 'ENOENT', file: join(dir, 'nosuch.npy') });
    expect((error as Error).message).toBe(`${join(dir, 'nosuch.npy')}: no such file or directory (ENOENT)`);
    const r = await cli('nosuch.npy', 'nosuch.npy', '-o', 'm.npy');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('mean-fusion: error: nosuch.npy: no such file or directory (ENOENT)\n');
  });

  it('the summary names its byte count bytesRead in the library and in --json', async () => {
    const a = join(dir, 'j.npy');
    await writeNpy(a, tensor(new Float32Array([1, 2])));
    const r = await cli(a, a, '-o', 'j-out.npy', '--json');
    const json = JSON.parse(r.stdout);
    expect(json.bytesRead).toBe(16);
    expect(json).not.toHaveProperty('bytes');
    const summary = await fuseFilesAsync([a, a], join(dir, 'j-lib.npy'));
    expect(summary.bytesRead).toBe(16);
  });

  it('a bare typed array is named, with the tensor(data, shape) call that fixes it', () => {
    expect(() => meanFusion([new Float32Array(4)] as never)).toThrow(TensorError);
    expect(() => meanFusion([new Float32Array(4)] as never)).toThrow(
      'Expected inputs[0] to be a tensor ({ data, shape, dtype }) or nested arrays, got a bare Float32Array: wrap it with a shape, e.g. tensor(data, [4])',
    );
  });

  it('--help does not break its description mid-sentence', async () => {
    const r = await cli('--help');
    const lines = r.stdout.split('\n');
    const start = lines.findIndex((l) => l.startsWith('Element-wise mean'));
    const description = lines.slice(start, lines.indexOf('', start)).join(' ');
    expect(description).toContain('out of core and multithreaded. The output appears atomically');
    // Lines are filled up to the wrap width: none but the last ends far before it.
    for (const line of lines.slice(start, lines.indexOf('', start) - 1))
      expect(line.length).toBeGreaterThan(60);
  });

  it('the published tarball has a LICENSE file', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const files = (JSON.parse(out)[0].files as { path: string }[]).map((f) => f.path);
    expect(files).toContain('LICENSE');
  });
});
