import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NpyFormatError, OutputExistsError } from '../src/errors.js';
import { encodeNpyHeader, parseNpyHeader } from '../src/io/npy/header.js';
import { readNpy, readNpyHeader, readNpyRows } from '../src/io/npy/read.js';
import { createNpyFile, writeNpy } from '../src/io/npy/write.js';
import { DTYPE_CTORS, DTYPES } from '../src/tensor/dtype.js';
import { tensor } from '../src/tensor/tensor.js';

const FIXTURES = new URL('./fixtures/npy/', import.meta.url).pathname;

interface Manifest {
  valid: { file: string; dtype: string; shape: number[]; values: string[] }[];
  invalid: { file: string; error: string }[];
}
const manifest: Manifest = JSON.parse(await readFile(join(FIXTURES, 'manifest.json'), 'utf8'));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npy-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Bitwise equality that treats NaN as equal to NaN and tells -0 from +0. */
function same(a: number | bigint, b: number | bigint): boolean {
  return Object.is(a, b);
}

describe('reading fixtures written by numpy', () => {
  it.each(manifest.valid.map((v) => [v.file, v] as const))('%s', async (_name, v) => {
    const t = await readNpy(join(FIXTURES, v.file));
    expect(t.dtype).toBe(v.dtype);
    expect(t.shape).toEqual(v.shape);
    expect(t.data).toBeInstanceOf(DTYPE_CTORS[t.dtype as keyof typeof DTYPE_CTORS]);
    // int64/uint64 values are compared exactly, as BigInts.
    const expected = v.values.map((x) => (t.dtype.endsWith('int64') ? BigInt(x) : Number(x)));
    expect(t.data.length).toBe(expected.length);
    const got = Array.from(t.data as ArrayLike<number | bigint>);
    expect(got.every((x, i) => same(x, expected[i]))).toBe(true);
  });

  it('covers versions 1.0, 2.0 and 3.0, big-endian data, 0-d and zero-length arrays', async () => {
    const versions = await Promise.all(
      ['v1_f8', 'v2_f8', 'v3_f8'].map((f) => readNpyHeader(join(FIXTURES, `${f}.npy`))),
    );
    expect(versions.map((h) => h.version)).toEqual(['1.0', '2.0', '3.0']);
    const be = await readNpyHeader(join(FIXTURES, 'f8_be.npy'));
    expect(be.swap).toBe(true);
    expect(be.descr).toBe('>f8');
    expect((await readNpy(join(FIXTURES, 'scalar_i2_be.npy'))).data[0]).toBe(-1234);
    expect((await readNpy(join(FIXTURES, 'empty_0x3_f4.npy'))).shape).toEqual([0, 3]);
    const b = await readNpyHeader(join(FIXTURES, 'b1_na.npy'));
    expect([b.dtype, b.bool]).toEqual(['uint8', true]);
  });

  it('reads row ranges at file offsets, equal to slices of the whole array', async () => {
    for (const f of ['f8_be.npy', 'i2_le.npy', 'rank3_i4_be.npy', 'rank4_f4.npy', 'empty_3x0_f8.npy']) {
      const whole = await readNpy(join(FIXTURES, f));
      const rows = whole.shape[0];
      const width = whole.data.length / Math.max(rows, 1);
      for (let s = 0; s <= rows; s++) {
        for (let e = s; e <= rows; e++) {
          const part = await readNpyRows(join(FIXTURES, f), s, e);
          expect(part.shape).toEqual([e - s, ...whole.shape.slice(1)]);
          expect(Array.from(part.data as ArrayLike<number>)).toEqual(
            Array.from(whole.data.subarray(s * width, e * width) as ArrayLike<number>),
          );
        }
      }
    }
    await expect(readNpyRows(join(FIXTURES, 'f8_le.npy'), 2, 4)).rejects.toThrow(/0 ≤ start ≤ end ≤ 3/);
  });
});

describe('malformed files', () => {
  it.each(manifest.invalid.map((v) => [v.file, v.error] as const))('%s', async (file, fragment) => {
    const path = join(FIXTURES, file);
    const error = await readNpy(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NpyFormatError);
    expect((error as NpyFormatError).code).toBe('ERR_NPY_FORMAT');
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toContain(fragment);
    await expect(readNpyHeader(path)).rejects.toThrow(NpyFormatError);
  });

  it('parses only the header (data may be absent) and reports each problem by name', () => {
    const h = encodeNpyHeader('float64', [2, 3]);
    expect(parseNpyHeader(h, 'x.npy')).toMatchObject({ shape: [2, 3], dtype: 'float64', dataBytes: 48 });
    expect(() => parseNpyHeader(h.subarray(0, 20), 'x.npy')).toThrow(/x\.npy: truncated header/);
    const text = (dict: string) => {
      const body = `${dict}\n`;
      const out = new Uint8Array(10 + body.length);
      out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, body.length & 255, body.length >> 8]);
      for (let i = 0; i < body.length; i++) out[10 + i] = body.charCodeAt(i);
      return out;
    };
    expect(parseNpyHeader(text("{'descr':'<u2','fortran_order':False,'shape':(3L,4L)}"), 'a').shape).toEqual([
      3, 4,
    ]);
    expect(parseNpyHeader(text('{"descr":">i4","fortran_order":True,"shape":(5,)}'), 'a').swap).toBe(true);
    expect(() => parseNpyHeader(text("{'descr':'<f8','fortran_order':0,'shape':()}"), 'a')).toThrow(
      /fortran_order/,
    );
    expect(() =>
      parseNpyHeader(text("{'descr':'<f8','fortran_order':False,'shape':(1,),'x':1}"), 'a'),
    ).toThrow(/exactly the keys/);
    // float16 ('<f2') is supported since issue 13; complex and void types are not.
    expect(parseNpyHeader(text("{'descr':'<f2','fortran_order':False,'shape':()}"), 'a').dtype).toBe(
      'float16',
    );
    expect(() => parseNpyHeader(text("{'descr':'<c8','fortran_order':False,'shape':()}"), 'a')).toThrow(
      /unsupported dtype '<c8'/,
    );
    expect(() => parseNpyHeader(text("{'descr':'|V2','fortran_order':False,'shape':()}"), 'a')).toThrow(
      /unsupported dtype '\|V2'/,
    );
    expect(() =>
      parseNpyHeader(text(`{'descr':'<f8','fortran_order':False,'shape':${'('.repeat(200)}`), 'a'),
    ).toThrow(NpyFormatError);
    expect(() =>
      parseNpyHeader(text("{'descr':'<f8','fortran_order':False,'shape':(4294967296, 4294967296)}"), 'a'),
    ).toThrow(/too large/);
  });

  it('fuzz: no input makes the header parser throw anything but NpyFormatError', () => {
    const prefix = fc.constantFrom(
      new Uint8Array(0),
      new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]),
      new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]),
      new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 3, 0]),
    );
    const tokens = fc.constantFrom(
      "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
      '{',
      '}',
      '(',
      ')',
      '[',
      ']',
      ',',
      ':',
      "'",
      '"',
      '\\',
      'True',
      'False',
      'None',
      "'descr'",
      "'shape'",
      "'fortran_order'",
      "'<f8'",
      "'>i2'",
      "'|b1'",
      '-1',
      '99999999999999999999',
      '7L',
      ' ',
      '\n',
      '\u00e9',
      '\ud800',
    );
    const headerText = fc.array(tokens, { maxLength: 30 }).map((t) => t.join(''));
    const asFile = fc
      .tuple(prefix, fc.oneof(headerText, fc.string()), fc.nat(70000))
      .map(([p, body, len]) => {
        const bytes = new TextEncoder().encode(body);
        const out = new Uint8Array(p.length + 4 + bytes.length);
        out.set(p);
        new DataView(out.buffer).setUint32(p.length, len % 3 === 0 ? bytes.length : len, true);
        out.set(bytes, p.length + 4);
        return out;
      });
    fc.assert(
      fc.property(fc.oneof(asFile, fc.uint8Array({ maxLength: 200 })), (bytes) => {
        try {
          parseNpyHeader(bytes, 'fuzz.npy');
        } catch (error) {
          if (!(error instanceof NpyFormatError)) throw error;
          expect(error.message.startsWith('fuzz.npy: ')).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('files that are not regular files', () => {
  it('a directory or a FIFO input is refused by name, without blocking on the FIFO', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mf-npy-kind-'));
    try {
      await expect(readNpyHeader(dir)).rejects.toThrow(
        `${dir}: is a directory; expected a regular .npy file`,
      );
      const fifo = join(dir, 'pipe.npy');
      execFileSync('mkfifo', [fifo]);
      await expect(readNpyHeader(fifo)).rejects.toThrow(NpyFormatError);
      await expect(readNpyRows(fifo, 0, 0)).rejects.toThrow(/is a FIFO \(named pipe\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an output path that is a symlink or a directory is never replaced, even with overwrite', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mf-npy-kind-'));
    try {
      const target = join(dir, 'target.npy');
      await writeFile(target, 'keep');
      const link = join(dir, 'link.npy');
      await symlink(target, link);
      const t = tensor(new Float64Array([1, 2]), [2]);
      await expect(writeNpy(link, t, { overwrite: true })).rejects.toThrow(
        /is a symbolic link, which is never replaced/,
      );
      await expect(writeNpy(dir, t, { overwrite: true })).rejects.toThrow(OutputExistsError);
      expect(await readFile(target, 'utf8')).toBe('keep');
      expect((await readdir(dir)).sort()).toEqual(['link.npy', 'target.npy']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('writing', () => {
  it('round-trips every dtype and odd shapes, with a header numpy accepts (aligned to 64 bytes)', async () => {
    const shapes = [[], [0], [5], [3, 0], [2, 3, 4], [1, 1, 1, 2]];
    for (const dtype of DTYPES) {
      for (const shape of shapes) {
        const n = shape.reduce((a, b) => a * b, 1);
        const data = new DTYPE_CTORS[dtype](n);
        for (let i = 0; i < n; i++) {
          const v = ((i * 37) % 100) - (dtype.startsWith('u') ? 0 : 50);
          data[i] = dtype.endsWith('int64') ? (BigInt(v) as never) : v;
        }
        const path = join(dir, `rt-${dtype}-${shape.join('x')}.npy`);
        if (dtype === 'bfloat16') {
          // numpy has no bfloat16: refused before any file is made.
          await expect(writeNpy(path, tensor(data, shape, dtype))).rejects.toThrow(/numpy has no bfloat16/);
          await expect(readNpyHeader(path)).rejects.toThrow(/ENOENT/);
          continue;
        }
        await writeNpy(path, tensor(data, shape, dtype));
        const back = await readNpy(path);
        expect(back.dtype).toBe(dtype);
        expect(back.shape).toEqual(shape);
        expect(Array.from(back.data as ArrayLike<number | bigint>)).toEqual(
          Array.from(data as ArrayLike<number | bigint>),
        );
        const header = await readNpyHeader(path);
        expect(header.dataOffset % 64).toBe(0);
      }
    }
  });

  it('switches to version 2.0 when the header outgrows 65535 bytes', () => {
    const shape = Array.from({ length: 30000 }, () => 1);
    const h = encodeNpyHeader('float32', shape);
    expect(h[6]).toBe(2);
    expect(parseNpyHeader(h, 'big').shape.length).toBe(30000);
  });

  it('never overwrites unless asked, and leaves no temporary file behind', async () => {
    const path = join(dir, 'keep.npy');
    await writeNpy(path, tensor(new Float64Array([1, 2])));
    await expect(writeNpy(path, tensor(new Float64Array([3])))).rejects.toThrow(OutputExistsError);
    expect(Array.from((await readNpy(path)).data as Float64Array)).toEqual([1, 2]);
    await writeNpy(path, tensor(new Float64Array([3])), { overwrite: true });
    expect(Array.from((await readNpy(path)).data as Float64Array)).toEqual([3]);
    const w = await createNpyFile(join(dir, 'never.npy'), 'float32', [4]);
    expect((await stat(w.tempPath)).size).toBe(w.dataOffset + 16);
    await w.discard();
    const left = (await readdir(dir)).filter((f) => f.endsWith('.tmp') || f === 'never.npy');
    expect(left).toEqual([]);
  });

  it('a target that appears while writing is not clobbered', async () => {
    const path = join(dir, 'race.npy');
    const w = await createNpyFile(path, 'float64', [1]);
    await writeFile(path, 'someone else');
    await expect(w.commit()).rejects.toThrow(OutputExistsError);
    expect(await readFile(path, 'utf8')).toBe('someone else');
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
