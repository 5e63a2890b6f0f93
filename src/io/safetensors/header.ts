/**
 * The safetensors header: parsing and validation (pure, no I/O), and encoding for the writers.
 *
 * Layout: 8 bytes N (u64, little-endian), N bytes of UTF-8 JSON starting with `{` (writers pad it with
 * spaces to a multiple of 8), then the data area. The JSON maps each tensor name to
 * `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the data area) plus an optional
 * `__metadata__` of string → string. The tensors' byte ranges, sorted, must tile the data area exactly:
 * no hole, no overlap, and `end − begin` = elements × item size.
 *
 * ## References
 * - huggingface/safetensors, README "Format", and `safetensors/src/tensor.rs` (`read_metadata`,
 *   `Metadata::validate`: header size limit of 100 000 000 bytes, the contiguity and size checks).
 */
import { SafetensorsFormatError } from '../../errors.js';
import { isSafetensorsDType, type SafetensorsDType, safetensorsItemSize } from './dtypes.js';
import { JsonNumber, type JsonObject, JsonSyntaxError, type JsonValue, parseJson } from './json.js';

/** Largest header accepted (the reference implementation's limit): 100 000 000 bytes. */
export const MAX_HEADER_BYTES = 100_000_000;

/** The special key holding string → string metadata. */
export const METADATA_KEY = '__metadata__';

/** One tensor of a safetensors file. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** First byte, relative to the data area. */
  readonly begin: number;
  /** Byte past the last, relative to the data area. */
  readonly end: number;
}

/** A validated header. */
export interface SafetensorsHeader {
  /** The file it was read from (for messages). */
  readonly file: string;
  /** Byte offset of the data area in the file: 8 + the header length. */
  readonly dataOffset: number;
  /** Bytes of the data area. */
  readonly dataBytes: number;
  /** `__metadata__`, when present. */
  readonly metadata: Readonly<Record<string, string>> | undefined;
  /** The tensors in data order. */
  readonly tensors: readonly SafetensorsEntry[];
  /** The tensors by name. */
  readonly byName: ReadonlyMap<string, SafetensorsEntry>;
}

/**
 * Reads the header length from a file's first 8 bytes and checks it against the file size, before anything
 * is allocated for the header.
 *
 * @throws {SafetensorsFormatError} when the file is shorter than 8 bytes, or the length exceeds
 *   {@link MAX_HEADER_BYTES} or the file.
 */
export function headerLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (prefix.length < 8 || fileSize < 8) {
    throw new SafetensorsFormatError(
      file,
      `${fileSize} bytes is too short for a safetensors file (8-byte header length missing)`,
    );
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsFormatError(
      file,
      `header length ${n} exceeds the limit of ${MAX_HEADER_BYTES} bytes`,
    );
  }
  if (Number(n) + 8 > fileSize) {
    throw new SafetensorsFormatError(
      file,
      `header length ${n} runs past the end of the file (${fileSize} bytes)`,
    );
  }
  if (n < 2n) throw new SafetensorsFormatError(file, `header length ${n} is too small for a JSON object`);
  return Number(n);
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses and validates the JSON header bytes of `file`, whose data area is `dataBytes` long.
 *
 * @throws {SafetensorsFormatError} for every violation of the format, naming the file and the tensor.
 */
export function parseSafetensorsHeader(json: Uint8Array, dataBytes: number, file: string): SafetensorsHeader {
  let text: string;
  try {
    text = decoder.decode(json);
  } catch {
    throw new SafetensorsFormatError(file, 'the header is not valid UTF-8');
  }
  if (text[0] !== '{') throw new SafetensorsFormatError(file, "the header does not start with '{'");
  let root: JsonValue;
  try {
    root = parseJson(text);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    throw new SafetensorsFormatError(file, `the header is not valid JSON: ${error.message}`);
  }
  const fail = (problem: string, tensor?: string): never => {
    throw new SafetensorsFormatError(file, problem, tensor);
  };
  let metadata: Record<string, string> | undefined;
  const tensors: SafetensorsEntry[] = [];
  for (const [name, info] of root as JsonObject) {
    if (name === METADATA_KEY) {
      metadata = readMetadata(info, fail);
      continue;
    }
    tensors.push(readEntry(name, info, fail));
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let previous: string | undefined;
  for (const t of tensors) {
    if (t.begin !== at) {
      const where =
        previous === undefined
          ? 'the start of the data area'
          : `the end of tensor ${JSON.stringify(previous)}`;
      fail(
        `data_offsets [${t.begin}, ${t.end}] ${t.begin > at ? 'leave a hole after' : 'overlap'} ${where} (byte ${at})`,
        t.name,
      );
    }
    at = t.end;
    previous = t.name;
  }
  if (at !== dataBytes) {
    fail(`the tensors cover ${at} bytes of data but the file holds ${dataBytes} bytes after the header`);
  }
  return {
    file,
    dataOffset: 8 + json.length,
    dataBytes,
    metadata,
    tensors,
    byName: new Map(tensors.map((t) => [t.name, t])),
  };
}

type Fail = (problem: string, tensor?: string) => never;

function readMetadata(info: JsonValue, fail: Fail): Record<string, string> | undefined {
  if (info === null) return undefined;
  if (!(info instanceof Map)) return fail(`${METADATA_KEY} must be an object of strings`);
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of info) {
    if (typeof v !== 'string') fail(`${METADATA_KEY}[${JSON.stringify(k)}] must be a string`);
    out[k] = v as string;
  }
  return out;
}

/** A JSON number that is a non-negative integer within 2^53, or undefined. */
function safeInteger(v: JsonValue | undefined): number | undefined {
  if (!(v instanceof JsonNumber) || !/^(0|[1-9]\d{0,15})$/.test(v.text)) return undefined;
  const n = Number(v.text);
  return Number.isSafeInteger(n) ? n : undefined;
}

function readEntry(name: string, info: JsonValue, fail: Fail): SafetensorsEntry {
  if (!(info instanceof Map)) return fail('the entry must be an object { dtype, shape, data_offsets }', name);
  for (const key of info.keys()) {
    if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') {
      fail(`unknown field ${JSON.stringify(key)} (expected dtype, shape, data_offsets)`, name);
    }
  }
  const dtype = info.get('dtype');
  if (typeof dtype !== 'string') return fail('dtype must be a string', name);
  if (!isSafetensorsDType(dtype)) {
    return fail(
      `unsupported dtype ${JSON.stringify(dtype)} (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL)`,
      name,
    );
  }
  const rawShape = info.get('shape');
  if (!Array.isArray(rawShape)) return fail('shape must be an array of non-negative integers', name);
  const shape = rawShape.map(
    (d) =>
      safeInteger(d) ?? fail(`shape entry ${describeJson(d)} is not a non-negative integer below 2^53`, name),
  );
  let bytes = shape.includes(0) ? 0 : safetensorsItemSize(dtype);
  for (const d of shape) {
    bytes *= d;
    if (!Number.isSafeInteger(bytes)) fail(`shape [${shape.join(', ')}] holds more bytes than 2^53`, name);
  }
  const offsets = info.get('data_offsets');
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    return fail('data_offsets must be an array [begin, end] of two integers', name);
  }
  const begin = safeInteger(offsets[0]);
  const end = safeInteger(offsets[1]);
  if (begin === undefined || end === undefined)
    return fail('data_offsets must be non-negative integers below 2^53', name);
  if (end < begin) fail(`data_offsets [${begin}, ${end}] end before they begin`, name);
  if (end - begin !== bytes) {
    fail(
      `data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} shape [${shape.join(', ')}] needs ${bytes}`,
      name,
    );
  }
  return { name, dtype, shape: Object.freeze(shape), begin, end };
}

function describeJson(v: JsonValue): string {
  if (v instanceof JsonNumber) return v.text.length > 40 ? `${v.text.slice(0, 40)}…` : v.text;
  if (v instanceof Map) return 'an object';
  if (Array.isArray(v)) return 'an array';
  return JSON.stringify(v).slice(0, 40);
}

/**
 * Encodes a header for `tensors` (laid out in the given order, offsets computed) and `metadata`: the u64
 * length, then the JSON padded with spaces to a multiple of 8 bytes, so the data area starts aligned.
 *
 * @returns The header bytes and each tensor's `[begin, end)` in the data area.
 */
export function encodeSafetensorsHeader(
  tensors: readonly {
    readonly name: string;
    readonly dtype: SafetensorsDType;
    readonly shape: readonly number[];
  }[],
  metadata?: Readonly<Record<string, string>>,
): { bytes: Uint8Array; entries: SafetensorsEntry[]; dataBytes: number } {
  const obj: Record<string, unknown> = {};
  if (metadata !== undefined) obj[METADATA_KEY] = { ...metadata };
  let at = 0;
  const entries: SafetensorsEntry[] = [];
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * safetensorsItemSize(t.dtype);
    entries.push({ name: t.name, dtype: t.dtype, shape: t.shape, begin: at, end: at + n });
    // defineProperty: a tensor named "__proto__" must become a key, not the prototype.
    Object.defineProperty(obj, t.name, {
      value: { dtype: t.dtype, shape: [...t.shape], data_offsets: [at, at + n] },
      enumerable: true,
      configurable: true,
      writable: true,
    });
    at += n;
  }
  const json = new TextEncoder().encode(JSON.stringify(obj));
  const padded = Math.ceil(json.length / 8) * 8;
  const bytes = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(json, 8);
  return { bytes, entries, dataBytes: at };
}
