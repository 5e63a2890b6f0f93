import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutputExistsError, SafetensorsFormatError, tensor, toHalfBits } from '../src/index.js';
import { parseSafetensors, readSafetensors, readSafetensorsHeader } from '../src/io/safetensors/read.js';
import { writeSafetensors } from '../src/io/safetensors/write.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mf-st-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A file from a header object (or raw JSON text) and `data` bytes, padded like the reference writer. */
function file(header: unknown, data: Uint8Array | number = 0, pad = true): Uint8Array {
  let json = typeof header === 'string' ? header : JSON.stringify(header);
  if (pad) json += ' '.repeat((8 - (json.length % 8)) % 8);
  const text = new TextEncoder().encode(json);
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + text.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(body, 8 + text.length);
  return out;
}

const entry = (dtype: string, shape: number[], begin: number, end: number) => ({
  dtype,
  shape,
  data_offsets: [begin, end],
});

describe('safetensors header', () => {
  it('reads a valid header: rank 0, empty tensors, metadata, any order of keys', () => {
    const h = parseSafetensors(
      file(
        {
          b: entry('F32', [2, 2], 8, 24),
          __metadata__: { format: 'pt' },
          a: entry('I64', [], 0, 8),
          e: entry('BF16', [0, 3], 24, 24),
        },
        24,
      ),
    );
    expect(h.tensors.map((t) => t.name)).toEqual(['a', 'b', 'e']);
    expect(h.metadata).toEqual({ format: 'pt' });
    expect(h.byName.get('b')?.shape).toEqual([2, 2]);
    expect(h.dataOffset % 8).toBe(0);
  });
  const bad: [string, Uint8Array, RegExp][] = [
    ['too short', new Uint8Array(5), /too short/],
    [
      'absurd length',
      (() => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setBigUint64(0, 2n ** 63n, true);
        return b;
      })(),
      /exceeds the limit/,
    ],
    [
      'length past the end',
      (() => {
        const b = file({}, 0);
        new DataView(b.buffer).setBigUint64(0, 1000n, true);
        return b;
      })(),
      /past the end/,
    ],
    ['not starting with {', file(' {}'), /start with/],
    ['not JSON', file('{"a":'), /not valid JSON/],
    [
      'not UTF-8',
      (() => {
        const b = file('{"a":1}   ');
        b[10] = 0xff;
        return b;
      })(),
      /UTF-8/,
    ],
    [
      'duplicate names',
      file(
        '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
        2,
      ),
      /duplicate key "a"/,
    ],
    ['unknown dtype', file({ w: entry('F8_E4M3', [1], 0, 1) }, 1), /tensor "w": unsupported dtype "F8_E4M3"/],
    ['bad shape', file({ w: entry('U8', [-1], 0, 1) }, 1), /tensor "w": shape entry -1/],
    ['fractional shape', file({ w: entry('U8', [1.5], 0, 1) }, 1), /tensor "w": shape entry 1.5/],
    [
      'size mismatch',
      file({ w: entry('F32', [2], 0, 4) }, 4),
      /tensor "w": data_offsets \[0, 4\] span 4 bytes but F32 shape \[2\] needs 8/,
    ],
    ['hole', file({ a: entry('U8', [1], 0, 1), b: entry('U8', [1], 2, 3) }, 3), /tensor "b".*hole/],
    ['overlap', file({ a: entry('U8', [2], 0, 2), b: entry('U8', [2], 1, 3) }, 3), /tensor "b".*overlap/],
    ['trailing data', file({ a: entry('U8', [1], 0, 1) }, 2), /cover 1 bytes.*holds 2/],
    ['truncated data', file({ a: entry('U8', [4], 0, 4) }, 2), /cover 4 bytes.*holds 2/],
    ['bad metadata', file({ __metadata__: { a: 1 } }), /__metadata__\["a"\] must be a string/],
    ['entry not an object', file({ a: [1] }), /tensor "a": the entry must be an object/],
    ['unknown field', file({ a: { ...entry('U8', [0], 0, 0), x: 1 } }), /tensor "a": unknown field "x"/],
    [
      'huge integers',
      file('{"a":{"dtype":"U8","shape":[99999999999999999999],"data_offsets":[0,0]}}'),
      /below 2\^53/,
    ],
    [
      'overflowing size',
      file({ a: entry('F64', [2 ** 30, 2 ** 30, 2 ** 10], 0, 0) }),
      /more bytes than 2\^53/,
    ],
    ['deep nesting', file(`{"a":${'['.repeat(100000)}`), /nesting deeper/],
  ];
  it.each(bad)('rejects %s with a SafetensorsFormatError naming the file', (_, bytes, message) => {
    expect(() => parseSafetensors(bytes, 'x.safetensors')).toThrow(SafetensorsFormatError);
    expect(() => parseSafetensors(bytes, 'x.safetensors')).toThrow(message);
    expect(() => parseSafetensors(bytes, 'x.safetensors')).toThrow(/^x\.safetensors: /);
  });
  it('fuzz: arbitrary and mutated files raise only SafetensorsFormatError, fast, with small allocations', () => {
    const valid = file(
      {
        __metadata__: { format: 'pt' },
        'layer.0.weight': entry('BF16', [2, 3], 0, 12),
        'layer.0.bias': entry('F32', [3], 12, 24),
        step: entry('I64', [], 24, 32),
      },
      32,
    );
    const mutated = fc
      .array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 })
      .map((edits) => {
        const b = valid.slice();
        for (const [at, v] of edits) b[at] = v;
        return b;
      });
    const truncated = fc.nat(valid.length).map((n) => valid.slice(0, n));
    const textual = fc
      .string({
        unit: fc.constantFrom(
          '{',
          '}',
          '[',
          ']',
          '"',
          ':',
          ',',
          '0',
          '1',
          'e',
          '-',
          ' ',
          'a',
          '\\',
          'F32',
          'shape',
          'dtype',
          'data_offsets',
        ),
      })
      .map((s) => file(s, 8, false));
    const json = fc.jsonValue().map((v) => file(v, 16));
    const arbitrary = fc.uint8Array({ maxLength: 64 });
    fc.assert(
      fc.property(fc.oneof(mutated, truncated, textual, json, arbitrary), (bytes) => {
        const t0 = performance.now();
        try {
          parseSafetensors(bytes, 'fuzz');
        } catch (error) {
          if (!(error instanceof SafetensorsFormatError)) throw error;
          expect(error.code).toBe('ERR_SAFETENSORS_FORMAT');
        }
        expect(performance.now() - t0).toBeLessThan(500);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('safetensors read and write', () => {
  it('round-trips every dtype with metadata, padded to 8, widest dtype first', async () => {
    const path = join(dir, 'all.safetensors');
    const bits = toHalfBits([1, -2.5, 65504], 'float16');
    await writeSafetensors(
      path,
      {
        f64: tensor(new Float64Array([1, 2]), [2]),
        f32: tensor(new Float32Array([3]), []),
        f16: tensor(bits, [3], 'float16'),
        bf16: tensor(toHalfBits([1, 2], 'bfloat16'), [1, 2], 'bfloat16'),
        i64: { dtype: 'I64', shape: [2], data: new BigInt64Array([-1n, 2n ** 40n]) },
        bool: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
        u8: tensor(new Uint8Array([7]), [1]),
        empty: tensor(new Int16Array(0), [0, 4]),
      },
      { metadata: { format: 'pt', note: 'é' } },
    );
    const h = await readSafetensorsHeader(path);
    expect(h.dataOffset % 8).toBe(0);
    expect(h.metadata).toEqual({ format: 'pt', note: 'é' });
    expect(h.tensors.map((t) => t.dtype)).toEqual(['F64', 'I64', 'F32', 'BF16', 'I16', 'F16', 'BOOL', 'U8']);
    const all = await readSafetensors(path);
    expect(Array.from(all.get('f16')?.data as Uint16Array)).toEqual(Array.from(bits));
    expect(Array.from(all.get('i64')?.data as BigInt64Array)).toEqual([-1n, 2n ** 40n]);
    expect(all.get('f32')?.shape).toEqual([]);
    const one = await readSafetensors(path, 'f64');
    expect(Array.from(one.data as Float64Array)).toEqual([1, 2]);
    await expect(readSafetensors(path, 'nope')).rejects.toThrow(/tensor "nope": no such tensor/);
    await expect(writeSafetensors(path, {})).rejects.toThrow(OutputExistsError);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
  it('matches a file written by the reference implementation (fixture)', async () => {
    // Bytes as the reference writer lays them out: {"__metadata__":…,"w":{…}} padded with spaces.
    const bytes = file(
      { __metadata__: { format: 'np' }, w: entry('F32', [2], 0, 8) },
      new Uint8Array(new Float32Array([1.5, -2]).buffer),
    );
    const path = join(dir, 'ref.safetensors');
    await writeFile(path, bytes);
    const w = await readSafetensors(path, 'w');
    expect(Array.from(w.data as Float32Array)).toEqual([1.5, -2]);
    const again = join(dir, 'again.safetensors');
    await writeSafetensors(again, { w: tensor(new Float32Array([1.5, -2])) }, { metadata: { format: 'np' } });
    expect(new Uint8Array(await readFile(again))).toEqual(bytes);
  });
  it('refuses a tensor named __metadata__ and data of the wrong size, leaving nothing behind', async () => {
    const path = join(dir, 'bad.safetensors');
    await expect(writeSafetensors(path, { __metadata__: tensor(new Float32Array(1)) })).rejects.toThrow(
      /__metadata__/,
    );
    await expect(
      writeSafetensors(path, { a: { dtype: 'F32', shape: [2], data: new Float32Array(1) } }),
    ).rejects.toThrow(/4 bytes of data for F32 shape \[2\] \(8 bytes\)/);
    expect((await readdir(dir)).some((f) => f.startsWith('.bad'))).toBe(false);
  });
});
