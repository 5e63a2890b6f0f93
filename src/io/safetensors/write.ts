/**
 * Writing safetensors files atomically (temporary file beside the target, fsync, rename): the header
 * padded with spaces to a multiple of 8 bytes, tensors laid out widest dtype first and then by name (as the
 * reference writer does, so every tensor's data is aligned to its item size), `__metadata__` carried.
 *
 * ## References
 * - huggingface/safetensors README ("Format") and `safetensors/src/tensor.rs` (`prepare`: the layout order
 *   and the 8-byte padding).
 */
import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { describe, OptionError } from '../../errors.js';
import { isDType } from '../../tensor/dtype.js';
import type { Tensor } from '../../tensor/tensor.js';
import { type AtomicFileWriter, type AtomicWriteOptions, createAtomicFile } from '../atomic.js';
import { swapBytes } from '../npy/range.js';
import {
  isSafetensorsDType,
  type SafetensorsDType,
  safetensorsDTypeOf,
  safetensorsItemSize,
} from './dtypes.js';
import { encodeSafetensorsHeader, METADATA_KEY, type SafetensorsEntry } from './header.js';
import type { SafetensorsTensor } from './read.js';

/** Options of {@link writeSafetensors} and {@link createSafetensorsFile}. */
export interface SafetensorsWriteOptions extends AtomicWriteOptions {
  /** `__metadata__`: string → string. */
  metadata?: Readonly<Record<string, string>>;
}

/** What a tensor entry of a new file needs. */
export interface SafetensorsSpec {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
}

/** A safetensors file being written: header in place; fill each entry's range at `dataOffset + begin`. */
export interface SafetensorsFileWriter extends AtomicFileWriter {
  /** The tensors, in file order, with their ranges in the data area. */
  readonly entries: readonly SafetensorsEntry[];
}

/** The reference writer's order: widest item first, then by name. */
export function layoutOrder<T extends SafetensorsSpec>(specs: readonly T[]): T[] {
  return [...specs].sort(
    (a, b) =>
      safetensorsItemSize(b.dtype) - safetensorsItemSize(a.dtype) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

function checkMetadata(metadata: unknown): Readonly<Record<string, string>> | undefined {
  if (metadata === undefined) return undefined;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new OptionError(`Expected \`metadata\` to be an object of strings, got ${describe(metadata)}`);
  }
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') {
      throw new OptionError(`Expected \`metadata[${JSON.stringify(k)}]\` to be a string, got ${describe(v)}`);
    }
  }
  return metadata as Record<string, string>;
}

/**
 * Creates the temporary file of a safetensors file with the given tensors (laid out in {@link layoutOrder})
 * beside `target`, header written and data area sized, for callers that fill the data themselves.
 *
 * @throws {OptionError} for a tensor named `__metadata__`, a repeated name, or bad `metadata`.
 * @throws {OutputExistsError} when `target` exists and `overwrite` is not true.
 */
export async function createSafetensorsFile(
  target: string,
  specs: readonly SafetensorsSpec[],
  options: SafetensorsWriteOptions = {},
): Promise<SafetensorsFileWriter> {
  const metadata = checkMetadata(options.metadata);
  const names = new Set<string>();
  for (const s of specs) {
    if (s.name === METADATA_KEY) throw new OptionError(`A tensor cannot be named ${METADATA_KEY}`);
    if (names.has(s.name)) throw new OptionError(`Tensor name ${JSON.stringify(s.name)} appears twice`);
    names.add(s.name);
  }
  const { bytes, entries, dataBytes } = encodeSafetensorsHeader(layoutOrder(specs), metadata);
  const writer = await createAtomicFile(target, bytes, dataBytes, options);
  return Object.assign(writer, { entries });
}

function specOf(name: string, t: Tensor | SafetensorsTensor): SafetensorsSpec {
  if (isSafetensorsDType(t.dtype)) return { name, dtype: t.dtype, shape: t.shape };
  if (isDType(t.dtype)) return { name, dtype: safetensorsDTypeOf(t.dtype), shape: t.shape };
  throw new OptionError(`Expected tensor ${JSON.stringify(name)} to have a dtype, got ${describe(t.dtype)}`);
}

/**
 * Writes tensors as one safetensors file, atomically.
 *
 * @param path - Target file.
 * @param tensors - Name → tensor: package tensors (float16/bfloat16 as F16/BF16 bit patterns) or
 *   {@link SafetensorsTensor}s (any safetensors dtype, e.g. I64 as a BigInt64Array).
 * @throws {OptionError} for a tensor named `__metadata__`, a `data` whose byte length disagrees with its
 *   dtype and shape, or bad `metadata`.
 * @throws {OutputExistsError} when `path` exists and `overwrite` is not true.
 * @throws {Error} Node's file system errors; no file is left at `path` then.
 */
export async function writeSafetensors(
  path: string,
  tensors:
    | Readonly<Record<string, Tensor | SafetensorsTensor>>
    | ReadonlyMap<string, Tensor | SafetensorsTensor>,
  options: SafetensorsWriteOptions = {},
): Promise<void> {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const specs = list.map(([name, t]) => {
    const spec = specOf(name, t);
    const bytes = spec.shape.reduce((a, b) => a * b, 1) * safetensorsItemSize(spec.dtype);
    if (t.data.byteLength !== bytes) {
      throw new OptionError(
        `Tensor ${JSON.stringify(name)}: ${t.data.byteLength} bytes of data for ${spec.dtype} shape [${spec.shape.join(', ')}] (${bytes} bytes)`,
      );
    }
    return { ...spec, data: t.data };
  });
  const writer = await createSafetensorsFile(path, specs, options);
  try {
    const byName = new Map(specs.map((s) => [s.name, s.data]));
    const fh = await open(writer.tempPath, 'r+');
    try {
      for (const e of writer.entries) {
        const d = byName.get(e.name) as ArrayBufferView;
        let bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
        if (endianness() !== 'LE') {
          bytes = bytes.slice();
          swapBytes(bytes, safetensorsItemSize(e.dtype));
        }
        let done = 0;
        while (done < bytes.length) {
          const { bytesWritten } = await fh.write(
            bytes,
            done,
            bytes.length - done,
            writer.dataOffset + e.begin + done,
          );
          done += bytesWritten;
        }
      }
    } finally {
      await fh.close();
    }
    await writer.commit();
  } catch (error) {
    await writer.discard();
    throw error;
  }
}
