/**
 * Planning a checkpoint average: matching the tensors of k checkpoints (names, shapes, dtypes), choosing
 * each output tensor's dtype, laying out (and sharding) the output, and cutting the work into plan tasks of
 * byte ranges for the runner: big tensors split into element ranges, small tensors batched into one task.
 */
import { CheckpointMismatchError, ShapeMismatchError } from '../errors.js';
import { resultDType } from '../fusion/validate.js';
import { SAFETENSORS_DTYPES, type SafetensorsDType, safetensorsDTypeOf } from '../io/safetensors/dtypes.js';
import type { SafetensorsEntry, SafetensorsHeader } from '../io/safetensors/header.js';
import type { Checkpoint } from '../io/safetensors/sharded.js';
import { layoutOrder } from '../io/safetensors/write.js';
import type { MeanKernelParams } from '../kernels/params.js';
import { halfDTypes } from '../kernels/params.js';
import type { FloatDType } from '../tensor/dtype.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import type { FileSlice, RangeTask } from './protocol.js';
import type { PlannedTask } from './run-plan.js';

const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** One output tensor and where its k sources are. */
export interface PlannedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  /** Output dtype (safetensors name). */
  readonly dtype: SafetensorsDType;
  /** True when averaged; false when copied (integers, bools). */
  readonly averaged: boolean;
  /** Per input: the shard header and entry. */
  readonly sources: readonly { readonly header: SafetensorsHeader; readonly entry: SafetensorsEntry }[];
}

/** Glob patterns (`*` any run of characters, `?` one) as one regular expression; `undefined` for none. */
function globs(patterns: readonly string[] | undefined): RegExp | undefined {
  if (patterns === undefined || patterns.length === 0) return undefined;
  const one = (p: string) =>
    p
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
      .join('');
  return new RegExp(`^(?:${patterns.map(one).join('|')})$`, 's');
}

/**
 * Matches the tensors of the checkpoints and picks output dtypes.
 *
 * @throws {CheckpointMismatchError} for a tensor missing from an input or extra in one, integer/bool
 *   tensors whose dtypes differ, or a float tensor in one input that is an integer in another.
 * @throws {ShapeMismatchError} for a tensor whose shape differs between inputs (names it, both files and
 *   both shapes).
 */
export function matchCheckpoints(
  checkpoints: readonly Checkpoint[],
  options: { include?: readonly string[]; exclude?: readonly string[]; dtype?: FloatDType },
): PlannedTensor[] {
  const include = globs(options.include);
  const exclude = globs(options.exclude);
  const selected = (name: string) => (include === undefined || include.test(name)) && !exclude?.test(name);
  const first = checkpoints[0];
  const tensors: PlannedTensor[] = [];
  for (const [name, src0] of first.tensors) {
    if (!selected(name)) continue;
    const sources = checkpoints.map((c) => {
      const s = c.tensors.get(name);
      if (s === undefined) {
        throw new CheckpointMismatchError(name, `in ${first.source} but missing from ${c.source}`);
      }
      if (!sameShape(s.entry.shape, src0.entry.shape)) {
        throw new ShapeMismatchError(
          `tensor ${JSON.stringify(name)} has shape ${formatShape(s.entry.shape)} in ${c.source} but ${formatShape(src0.entry.shape)} in ${first.source}`,
        );
      }
      return s;
    });
    const floats = sources.map((s) => SAFETENSORS_DTYPES[s.entry.dtype].float);
    if (floats.every((f) => f)) {
      const dtype =
        options.dtype ??
        resultDType(sources.map((s) => ({ dtype: SAFETENSORS_DTYPES[s.entry.dtype].dtype as string })));
      tensors.push({
        name,
        shape: src0.entry.shape,
        dtype: safetensorsDTypeOf(dtype),
        averaged: true,
        sources,
      });
      continue;
    }
    const odd = sources.findIndex((s) => s.entry.dtype !== src0.entry.dtype);
    if (odd >= 0) {
      throw new CheckpointMismatchError(
        name,
        `${src0.entry.dtype} in ${first.source} but ${sources[odd].entry.dtype} in ${checkpoints[odd].source}; integer and bool tensors are copied and must match`,
      );
    }
    tensors.push({ name, shape: src0.entry.shape, dtype: src0.entry.dtype, averaged: false, sources });
  }
  for (const c of checkpoints.slice(1)) {
    for (const name of c.tensors.keys()) {
      if (selected(name) && !first.tensors.has(name)) {
        throw new CheckpointMismatchError(name, `in ${c.source} but missing from ${first.source}`);
      }
    }
  }
  return layoutOrder(tensors);
}

/** Where an output tensor goes: its file's temporary path and the byte offset of its first element. */
export interface OutputSlot {
  readonly path: string;
  readonly offset: number;
}

const sliceOf = (s: PlannedTensor['sources'][number]): FileSlice => {
  const dtype = SAFETENSORS_DTYPES[s.entry.dtype].dtype ?? 'uint8';
  return { path: s.header.file, offset: s.header.dataOffset + s.entry.begin, dtype, swap: !LITTLE };
};

/**
 * Cuts the work into tasks of at most about `taskBytes` (input bytes read + output bytes written): a
 * tensor larger than that is split into element ranges; smaller ones are batched, several to a task.
 */
export function planCheckpointTasks(
  tensors: readonly PlannedTensor[],
  slots: ReadonlyMap<string, OutputSlot>,
  params: MeanKernelParams,
  taskBytes: number,
): PlannedTask[] {
  const tasks: PlannedTask[] = [];
  let ranges: RangeTask[] = [];
  let labels: string[] = [];
  let bytes = 0;
  const flush = () => {
    if (ranges.length > 0) tasks.push({ task: { ranges }, labels });
    ranges = [];
    labels = [];
    bytes = 0;
  };
  for (const t of tensors) {
    const slot = slots.get(t.name) as OutputSlot;
    const inputs = t.sources.map(sliceOf);
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if (elements === 0) continue;
    const outSize = SAFETENSORS_DTYPES[t.dtype].size;
    const perElement = t.sources.reduce((s, x) => s + SAFETENSORS_DTYPES[x.entry.dtype].size, outSize);
    // Means count elements; copies count bytes (each costs k reads and one write).
    const total = t.averaged ? elements : elements * outSize;
    const unitCost = t.averaged ? perElement : perElement / outSize;
    const step = Math.max(1, Math.floor(taskBytes / unitCost));
    for (let start = 0; start < total; start += step) {
      const end = Math.min(total, start + step);
      const cost = (end - start) * unitCost;
      if (bytes > 0 && bytes + cost > taskBytes) flush();
      if (t.averaged) {
        const out = {
          path: slot.path,
          offset: slot.offset,
          dtype: SAFETENSORS_DTYPES[t.dtype].dtype as FloatDType,
        };
        const half = halfDTypes(
          inputs.map((x) => x.dtype),
          out.dtype,
        );
        ranges.push({
          kind: 'mean',
          inputs,
          out,
          start,
          end,
          params: half === undefined ? params : { ...params, half },
        });
      } else {
        ranges.push({ kind: 'copy', inputs, out: slot, start, end });
      }
      labels.push(t.name);
      bytes += cost;
    }
  }
  flush();
  return tasks;
}
