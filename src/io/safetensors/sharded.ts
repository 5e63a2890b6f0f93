/**
 * Sharded safetensors checkpoints: `model.safetensors.index.json` (its `weight_map` names the shard file of
 * every tensor), opening any checkpoint input (a file, an index, or a directory holding either), and
 * planning the shards of an output under a maximum size.
 *
 * ## References
 * - huggingface/transformers `modeling_utils` and huggingface_hub `split_torch_state_dict_into_shards`:
 *   index layout `{ "metadata": { "total_size": … }, "weight_map": { name: shard } }`, shard names
 *   `model-00001-of-00003.safetensors`; a tensor larger than the limit gets a shard of its own.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SafetensorsFormatError } from '../../errors.js';
import { createAtomicFile } from '../atomic.js';
import type { SafetensorsEntry, SafetensorsHeader } from './header.js';
import { JsonSyntaxError, parseJson } from './json.js';
import { readSafetensorsHeader } from './read.js';

/** The index file name of a sharded model. */
export const INDEX_NAME = 'model.safetensors.index.json';

/** One input checkpoint: its shards' headers and where each tensor lives. */
export interface Checkpoint {
  /** The input as given. */
  readonly source: string;
  /** `__metadata__` of the first shard (or of the single file). */
  readonly metadata: Readonly<Record<string, string>> | undefined;
  /** Every tensor: its shard header and entry, in the order of the shards and their data. */
  readonly tensors: ReadonlyMap<
    string,
    { readonly header: SafetensorsHeader; readonly entry: SafetensorsEntry }
  >;
}

/**
 * Reads an index file: shard file paths (in first-use order) and the tensor → shard path map.
 *
 * @throws {SafetensorsFormatError} when it is not JSON of the form `{ weight_map: { name: file } }`, or a
 *   shard name is not a plain file name in the index's directory.
 */
export async function readSafetensorsIndex(
  path: string,
): Promise<{ shards: string[]; weightMap: Map<string, string> }> {
  const bytes = await readFile(path);
  if (bytes.length > 100_000_000) throw new SafetensorsFormatError(path, 'index file larger than 100 MB');
  let root: unknown;
  try {
    root = parseJson(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    if (error instanceof JsonSyntaxError || error instanceof TypeError) {
      throw new SafetensorsFormatError(path, `the index is not valid UTF-8 JSON: ${error.message}`);
    }
    throw error;
  }
  const map = root instanceof Map ? root.get('weight_map') : undefined;
  if (!(map instanceof Map)) throw new SafetensorsFormatError(path, 'the index has no "weight_map" object');
  const weightMap = new Map<string, string>();
  const shards: string[] = [];
  for (const [name, shard] of map) {
    if (
      typeof shard !== 'string' ||
      shard === '' ||
      shard === '.' ||
      shard === '..' ||
      basename(shard) !== shard
    ) {
      throw new SafetensorsFormatError(path, 'weight_map must name a shard file in the same directory', name);
    }
    const file = join(dirname(path), shard);
    if (!shards.includes(file)) shards.push(file);
    weightMap.set(name, file);
  }
  return { shards, weightMap };
}

/**
 * Opens a checkpoint input: a `.safetensors` file, an index `.json`, or a directory holding
 * `model.safetensors.index.json` (or exactly one `*.safetensors.index.json`) or exactly one `.safetensors`
 * file. Reads and validates every shard header (no tensor data).
 *
 * @throws {SafetensorsFormatError} for a malformed shard or index, a tensor the index maps to a shard that
 *   lacks it, or a shard tensor the index does not list.
 * @throws {Error} Node's file system errors, or a directory with no (or several) candidates.
 */
export async function openCheckpoint(source: string): Promise<Checkpoint> {
  let path = source;
  if ((await stat(source)).isDirectory()) {
    const names = (await readdir(source)).sort();
    const indexes = names.filter((n) => n.endsWith('.safetensors.index.json'));
    const files = names.filter((n) => n.endsWith('.safetensors'));
    if (names.includes(INDEX_NAME)) path = join(source, INDEX_NAME);
    else if (indexes.length === 1) path = join(source, indexes[0]);
    else if (files.length === 1) path = join(source, files[0]);
    else {
      throw new SafetensorsFormatError(
        source,
        `expected a directory with ${INDEX_NAME} or one .safetensors file, found ${files.length} .safetensors and ${indexes.length} index files`,
      );
    }
  }
  const tensors = new Map<string, { header: SafetensorsHeader; entry: SafetensorsEntry }>();
  if (!path.endsWith('.json')) {
    const header = await readSafetensorsHeader(path);
    for (const entry of header.tensors) tensors.set(entry.name, { header, entry });
    return { source, metadata: header.metadata, tensors };
  }
  const { shards, weightMap } = await readSafetensorsIndex(path);
  let metadata: Readonly<Record<string, string>> | undefined;
  for (const [i, shard] of shards.entries()) {
    const header = await readSafetensorsHeader(shard);
    if (i === 0) metadata = header.metadata;
    for (const entry of header.tensors) {
      const listed = weightMap.get(entry.name);
      if (listed === undefined) throw new SafetensorsFormatError(shard, `not listed in ${path}`, entry.name);
      if (listed === shard) tensors.set(entry.name, { header, entry });
    }
  }
  for (const [name, shard] of weightMap) {
    if (!tensors.has(name)) {
      throw new SafetensorsFormatError(shard, `listed in ${path} but missing from the shard`, name);
    }
  }
  return { source, metadata, tensors };
}

/**
 * Splits tensors (in layout order) into consecutive shards of at most `maxBytes` of data each; a tensor
 * larger than `maxBytes` gets a shard of its own.
 *
 * @returns Groups of indices into `sizes` (one empty group for no tensors).
 */
export function planShards(sizes: readonly number[], maxBytes: number): number[][] {
  const shards: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  sizes.forEach((size, i) => {
    if (current.length > 0 && bytes + size > maxBytes) {
      shards.push(current);
      current = [];
      bytes = 0;
    }
    current.push(i);
    bytes += size;
  });
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

/** The file name of shard `i` (0-based) of `n`: `model-00001-of-00003.safetensors`. */
export function shardName(i: number, n: number): string {
  const pad = (x: number) => String(x).padStart(5, '0');
  return `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
}

/**
 * Writes `model.safetensors.index.json` into `dir` atomically: `{ metadata: { total_size }, weight_map }`,
 * the map sorted by tensor name, as transformers writes it.
 *
 * @returns The index path and its size in bytes.
 * @throws {OutputExistsError} when the index exists and `overwrite` is false.
 */
export async function writeSafetensorsIndex(
  dir: string,
  weightMap: ReadonlyMap<string, string>,
  totalSize: number,
  overwrite: boolean,
): Promise<{ path: string; bytes: number }> {
  const sorted = [...weightMap].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const json = `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: Object.fromEntries(sorted) }, null, 2)}\n`;
  const bytes = new TextEncoder().encode(json);
  const path = join(dir, INDEX_NAME);
  const file = await createAtomicFile(path, bytes, 0, { overwrite });
  await file.commit();
  return { path, bytes: bytes.length };
}
