import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSize } from '../src/cli/size.js';
import { meanFusion } from '../src/fusion/mean-fusion.js';
import { readNpy } from '../src/io/npy/read.js';
import { writeNpy } from '../src/io/npy/write.js';

/** The built bin (npm test builds first). */
const BIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const FIX = fileURLToPath(new URL('./fixtures/npy/', import.meta.url));
const fx = (name: string) => join(FIX, name);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: dir }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? -1), stdout, stderr });
    });
  });
}

const nothingLeft = async (name: string) => {
  const files = await readdir(dir);
  expect(files.filter((f) => f === name || f.endsWith('.tmp'))).toEqual([]);
};

function same(a: { data: ArrayLike<number | bigint> }, b: { data: ArrayLike<number | bigint> }): boolean {
  return a.data.length === b.data.length && Array.from(a.data).every((x, i) => Object.is(x, b.data[i]));
}

describe('mean-fusion CLI (built bin)', () => {
  it('fuses files of mixed dtypes and byte orders, bitwise as meanFusion; a pipe gets no progress bar', async () => {
    const inputs = ['f8_le.npy', 'f4_be.npy', 'i2_be.npy', 'u1_na.npy'].map(fx);
    const r = await cli(...inputs, '-o', 'out.npy', '-t', '2', '--chunk-rows', '1');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/out\.npy: mean of 4 arrays of shape \(3, 4\) → float64/);
    const expected = meanFusion(await Promise.all(inputs.map(readNpy)));
    const got = await readNpy(join(dir, 'out.npy'));
    expect(got.shape).toEqual([3, 4]);
    expect(same(got, expected)).toBe(true);
  });

  it('--json prints one summary line; --weights, --nan, --dtype reach the job', async () => {
    const inputs = [fx('f8_le.npy'), fx('f8_be.npy')];
    const r = await cli(
      ...inputs,
      '-o',
      'w.npy',
      '-w',
      '1,3',
      '--nan',
      'omit',
      '--dtype',
      'float32',
      '--json',
    );
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const summary = JSON.parse(lines[0]);
    expect(summary).toMatchObject({ output: 'w.npy', shape: [3, 4], dtype: 'float32', k: 2, bytesRead: 192 });
    expect(typeof summary.seconds).toBe('number');
    const tensors = await Promise.all(inputs.map(readNpy));
    const expected = meanFusion(tensors, { weights: [1, 3], nan: 'omit', dtype: 'float32' });
    expect(same(await readNpy(join(dir, 'w.npy')), expected)).toBe(true);
  });

  it('--stacked fuses the first axis of one file', async () => {
    const r = await cli('--stacked', fx('rank3_i4_be.npy'), '-o', 'st.npy');
    expect(r.code).toBe(0);
    const stack = await readNpy(fx('rank3_i4_be.npy'));
    const slices = [0, 1].map((j) => ({
      data: stack.data.subarray(j * 12, j * 12 + 12),
      shape: [3, 4],
      dtype: stack.dtype,
    }));
    expect(same(await readNpy(join(dir, 'st.npy')), meanFusion(slices))).toBe(true);
  });

  it('--help and --version exit 0', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: mean-fusion [options] <inputs...>');
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
    const v = await cli('-V');
    expect(v).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
  });

  const oneLine = (r: Result) => {
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  };

  it('errors: one line on stderr naming the file or option, non-zero exit, no output left', async () => {
    let r = await cli(fx('f8_le.npy'));
    oneLine(r);
    expect(r.stderr).toMatch(/^mean-fusion: required option '-o, --output <file>'/);
    expect(r.code).toBe(2);
    r = await cli(fx('f8_le.npy'), '-o', 'x.npy', '--bogus');
    oneLine(r);
    expect(r.stderr).toMatch(/^mean-fusion: unknown option '--bogus'/);
    r = await cli(fx('f8_le.npy'), fx('rank3_i4_be.npy'), '-o', 'bad.npy');
    oneLine(r);
    expect(r.stderr).toContain('rank3_i4_be.npy (inputs[1]) has shape (2, 3, 4)');
    await nothingLeft('bad.npy');
    r = await cli(fx('f8_le.npy'), fx('truncated_data.npy'), '-o', 'bad.npy');
    oneLine(r);
    expect(r.stderr).toContain(`${fx('truncated_data.npy')}: truncated data`);
    r = await cli(fx('f8_le.npy'), fx('fortran_2x3.npy'), '-o', 'bad.npy');
    oneLine(r);
    expect(r.stderr).toContain('Fortran');
    r = await cli(fx('f8_le.npy'), 'missing.npy', '-o', 'bad.npy');
    oneLine(r);
    expect(r.stderr).toContain('missing.npy');
    r = await cli(fx('f8_le.npy'), fx('f4_le.npy'), '-w', '1', '-o', 'bad.npy');
    oneLine(r);
    expect(r.stderr).toContain('--weights');
    r = await cli(fx('f8_le.npy'), '-w', '1,x', '-o', 'bad.npy');
    oneLine(r);
    expect(r.stderr).toContain('--weights');
    r = await cli(fx('f8_le.npy'), '-t', '0', '-o', 'bad.npy');
    oneLine(r);
    expect(r.stderr).toContain('--threads');
    r = await cli(fx('f8_le.npy'), '--memory-limit', 'lots', '-o', 'bad.npy');
    oneLine(r);
    expect(r.stderr).toContain('--memory-limit');
    r = await cli(fx('f8_le.npy'), '--nan', 'ignore', '-o', 'bad.npy');
    oneLine(r);
    expect(r.stderr).toContain('--nan');
    r = await cli(fx('f8_le.npy'), '-o', join('no-such-dir', 'x.npy'));
    oneLine(r);
    expect(r.stderr).toContain(`Cannot create ${join('no-such-dir', 'x.npy')}: ENOENT`);
    r = await cli(fx('f8_le.npy'), fx('f8_le.npy'), '--stacked', '-o', 'bad.npy');
    oneLine(r);
    expect(r.stderr).toContain('--stacked');
    await nothingLeft('bad.npy');
  });

  it('keeps an existing output unless --force; --debug adds the stack trace', async () => {
    await writeFile(join(dir, 'keep.npy'), 'precious');
    const r = await cli(fx('f8_le.npy'), '-o', 'keep.npy');
    oneLine(r);
    expect(r.stderr).toContain('keep.npy already exists; use --force to replace it');
    expect(await readFile(join(dir, 'keep.npy'), 'utf8')).toBe('precious');
    const d = await cli(fx('f8_le.npy'), '-o', 'keep.npy', '--debug');
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/\n\s+at /);
    const f = await cli(fx('f8_le.npy'), '-o', 'keep.npy', '--force');
    expect(f.code).toBe(0);
    expect(same(await readNpy(join(dir, 'keep.npy')), await readNpy(fx('f8_le.npy')))).toBe(true);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)(
    '%s mid-job: exit %i (128 + signal), temporary file removed, no output',
    async (signal, exitCode) => {
      // 4096 one-row chunks on one thread: the job runs for about a second, far longer than the poll below.
      const inputs: string[] = [];
      for (let j = 0; j < 8; j++) {
        const path = join(dir, `big-${signal}-${j}.npy`);
        await writeNpy(path, { data: new Float64Array(4096 * 512), shape: [4096, 512], dtype: 'float64' });
        inputs.push(path);
      }
      const child = spawn(
        process.execPath,
        [BIN, ...inputs, '-o', 'int.npy', '--chunk-rows', '1', '-t', '1'],
        {
          cwd: dir,
        },
      );
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      // Wait until the job has created its temporary output, then interrupt it.
      for (let i = 0; i < 1500 && !(await readdir(dir)).some((f) => f.endsWith('.tmp')); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      child.kill(signal);
      expect(await exited).toBe(exitCode);
      expect(stderr).toContain('interrupted; no output written');
      await nothingLeft('int.npy');
    },
  );
});

describe('parseSize', () => {
  it('reads SI and IEC units, rejects anything else', () => {
    expect(parseSize('512MB')).toBe(512e6);
    expect(parseSize('1GiB')).toBe(2 ** 30);
    expect(parseSize('1.5 kib')).toBe(1536);
    expect(parseSize('64M')).toBe(64 * 2 ** 20);
    expect(parseSize('1048576')).toBe(1048576);
    for (const bad of ['', 'MB', '-1MB', '12XB', '0', '1e3', '0.1B']) expect(parseSize(bad)).toBeUndefined();
  });
});
