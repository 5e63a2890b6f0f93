/**
 * Planning of a `fuseFiles` job on the calling thread: the headers and options checked, then the threads
 * and the row chunks sized so the whole process stays within `memoryLimit` (see memory-budget.ts).
 */
import { describe, EmptyInputError, OptionError, ShapeMismatchError } from '../errors.js';
import { type MeanFusionOptions, resolveOptions } from '../fusion/options.js';
import { resultDType } from '../fusion/validate.js';
import type { NpyHeader } from '../io/npy/header.js';
import { readNpyHeader } from '../io/npy/read.js';
import { halfDTypes, type MeanKernelParams } from '../kernels/params.js';
import { maxThreads } from '../pool/FusionPool.js';
import { planChunks, type RowRange } from '../pool/plan.js';
import { type FloatDType, itemSize } from '../tensor/dtype.js';
import { formatShape, rowCount, rowSize, sameShape, shapeSize } from '../tensor/shape.js';
import { folioRanges } from './folio-ranges.js';
import { type ThreadLimit, threadBudget } from './memory-budget.js';
import type { FileSlice } from './protocol.js';

/**
 * Largest chunk task (input bytes read plus output bytes written) when the memory limit allows it: 16 MiB.
 * Big enough that a chunk's syscalls and thread hand-off cost next to nothing; small enough that an aborted
 * chunk (whose thread is terminated) wastes little and that 2 threads get many chunks of a 2 GB job.
 */
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024;

/** What {@link planFiles} reads of the options: those of `meanFusion` plus `stacked`. */
export interface PlanFilesOptions extends Omit<MeanFusionOptions, 'out'> {
  readonly stacked?: boolean;
}

/** A validated job: where the k tensors are, the output's shape and dtype, the kernel parameters. */
export interface FilesPlan {
  readonly slices: readonly FileSlice[];
  readonly shape: readonly number[];
  readonly dtype: FloatDType;
  readonly params: MeanKernelParams;
}

/** Checks an integer option: `Expected \`name\` to be an integer from min and up, got …`. */
export function integer(value: unknown, name: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new OptionError(`Expected \`${name}\` to be an integer from ${min} and up, got ${describe(value)}`);
  }
  return value;
}

/** Reads every header and checks inputs, shapes and options, as `planFusion` does for in-memory tensors. */
export async function planFiles(inputs: unknown, options: PlanFilesOptions): Promise<FilesPlan> {
  const paths = typeof inputs === 'string' ? [inputs] : inputs;
  if (!Array.isArray(paths)) {
    throw new OptionError(`Expected \`inputs\` to be an array of .npy paths, got ${describe(inputs)}`);
  }
  paths.forEach((p, i) => {
    if (typeof p !== 'string' || p === '') {
      throw new OptionError(`Expected \`inputs[${i}]\` to be a .npy file path, got ${describe(p)}`);
    }
  });
  if (paths.length === 0) {
    throw new EmptyInputError('Expected `inputs` to name at least one .npy file, got an empty array');
  }
  const headers: NpyHeader[] = [];
  for (const p of paths as string[]) headers.push(await readNpyHeader(p));
  let slices: FileSlice[];
  let shape: readonly number[];
  if (options.stacked === true) {
    if (headers.length !== 1) {
      throw new OptionError(
        `Expected one stacked .npy file with \`stacked: true\`, got ${headers.length} files`,
      );
    }
    const h = headers[0];
    if (h.shape.length === 0 || h.shape[0] === 0) {
      throw new EmptyInputError(
        `${h.file} has shape ${formatShape(h.shape)}: a stacked file needs a first axis of length k ≥ 1`,
      );
    }
    shape = Object.freeze(h.shape.slice(1));
    const bytes = shapeSize(shape) * h.itemSize;
    slices = Array.from({ length: h.shape[0] }, (_, j) => ({
      path: h.file,
      offset: h.dataOffset + j * bytes,
      dtype: h.dtype,
      swap: h.swap,
    }));
  } else {
    shape = headers[0].shape;
    headers.forEach((h, i) => {
      if (!sameShape(h.shape, shape)) {
        throw new ShapeMismatchError(
          `${h.file} (inputs[${i}]) has shape ${formatShape(h.shape)} but ${headers[0].file} (inputs[0]) has shape ${formatShape(shape)}; all inputs must share one shape`,
        );
      }
    });
    slices = headers.map((h) => ({ path: h.file, offset: h.dataOffset, dtype: h.dtype, swap: h.swap }));
  }
  const resolved = resolveOptions(options, slices.length);
  const dtype = resolved.dtype ?? resultDType(slices);
  const half = halfDTypes(
    slices.map((x) => x.dtype),
    dtype,
  );
  return {
    slices,
    shape,
    dtype,
    params: {
      weights: resolved.weights,
      nanOmit: resolved.nanOmit,
      ...(half === undefined ? {} : { half }),
      ...(resolved.exact ? { exact: true } : {}),
    },
  };
}

/** The threads of a job, why fewer than asked for run (if so), and its chunks. */
export interface JobShape {
  readonly threads: number;
  readonly limitedBy: ThreadLimit | undefined;
  readonly ranges: RowRange[];
}

/**
 * Sizes a job: with its own threads (`poolThreads` undefined), threads are clamped to the job's chunks, to
 * what `memoryLimit` holds for the whole process and to `maxThreads()`, and each chunk gets what the limit
 * leaves; on a caller's pool (its threads are the caller's), the chunks in flight keep under half of it.
 *
 * @throws {OptionError} when `memoryLimit` cannot hold one element per thread, is below the process's floor
 *   (own threads), or `chunkRows` does not fit it.
 */
export function planJob(
  plan: FilesPlan,
  requested: number,
  poolThreads: number | undefined,
  memoryLimit: number,
  chunkRows: number | undefined,
): JobShape {
  const rows = rowCount(plan.shape);
  const width = rowSize(plan.shape);
  const elements = shapeSize(plan.shape);
  const bytesPerElement = plan.slices.reduce((s, x) => s + itemSize(x.dtype), itemSize(plan.dtype));
  const rowBytes = width * bytesPerElement;
  const asked = poolThreads ?? Math.min(requested, maxThreads());
  // These two checks come first: they name the option at fault for limits far too small for anything.
  if (Math.min(MAX_CHUNK_BYTES, Math.floor(memoryLimit / 2 / asked)) < bytesPerElement) {
    throw new OptionError(
      `\`memoryLimit\` ${memoryLimit} is too small: ${asked} thread(s) need at least ${2 * asked * bytesPerElement} bytes`,
    );
  }
  if (chunkRows !== undefined && chunkRows * rowBytes * asked > memoryLimit / 2) {
    throw new OptionError(
      `\`chunkRows\` ${chunkRows} needs ${chunkRows * rowBytes} bytes per chunk; with ${asked} thread(s) that exceeds half of \`memoryLimit\` (${memoryLimit} bytes)`,
    );
  }
  let threads = asked;
  let limitedBy: ThreadLimit | undefined =
    asked < requested && poolThreads === undefined ? 'maxThreads' : undefined;
  let chunkCap = Math.floor(memoryLimit / 2 / threads);
  let chunkBytes = Math.min(MAX_CHUNK_BYTES, chunkCap);
  if (poolThreads === undefined) {
    const natural =
      elements === 0
        ? 1
        : chunkRows !== undefined
          ? Math.ceil(rows / chunkRows)
          : rowBytes <= MAX_CHUNK_BYTES
            ? Math.ceil(rows / Math.floor(MAX_CHUNK_BYTES / Math.max(rowBytes, 1)))
            : Math.ceil((elements * bytesPerElement) / MAX_CHUNK_BYTES);
    const budget = threadBudget(requested, natural, memoryLimit, maxThreads(), MAX_CHUNK_BYTES);
    ({ threads, limitedBy, chunkBytes, chunkCap } = budget);
    if (chunkRows !== undefined && chunkRows * rowBytes > chunkBytes) {
      throw new OptionError(
        `\`chunkRows\` ${chunkRows} needs ${chunkRows * rowBytes} bytes per chunk; with ${threads} thread(s) \`memoryLimit\` (${memoryLimit} bytes) leaves ${chunkBytes} bytes per chunk`,
      );
    }
  }
  return { threads, limitedBy, ranges: splitRanges(plan, threads, chunkBytes, chunkCap, chunkRows) };
}

/**
 * Element ranges `[start, end)` of one tensor, each a chunk task, covering `within` (default: the whole
 * tensor), sized from `memoryLimit` (half of it for the chunks of `threads` threads, at most
 * {@link MAX_CHUNK_BYTES} each, or one 2 MiB folio per input within that half: see `splitRanges`): the
 * ranges of a cluster shard.
 *
 * @throws {OptionError} when `memoryLimit` cannot hold one element per thread, or `chunkRows` does not fit it.
 */
export function planRanges(
  plan: FilesPlan,
  threads: number,
  memoryLimit: number,
  chunkRows: number | undefined,
  within?: RowRange,
): RowRange[] {
  const width = rowSize(plan.shape);
  const bytesPerElement = plan.slices.reduce((s, x) => s + itemSize(x.dtype), itemSize(plan.dtype));
  const chunkCap = Math.floor(memoryLimit / 2 / threads);
  const perTask = Math.min(MAX_CHUNK_BYTES, chunkCap);
  if (perTask < bytesPerElement) {
    throw new OptionError(
      `\`memoryLimit\` ${memoryLimit} is too small: ${threads} thread(s) need at least ${2 * threads * bytesPerElement} bytes`,
    );
  }
  const rowBytes = width * bytesPerElement;
  if (chunkRows !== undefined && chunkRows * rowBytes * threads > memoryLimit / 2) {
    throw new OptionError(
      `\`chunkRows\` ${chunkRows} needs ${chunkRows * rowBytes} bytes per chunk; with ${threads} thread(s) that exceeds half of \`memoryLimit\` (${memoryLimit} bytes)`,
    );
  }
  return splitRanges(plan, threads, perTask, chunkCap, chunkRows, within);
}

/**
 * Element ranges `[start, end)` covering `within` (default: the whole tensor), each a task of at most
 * `perTask` bytes (or `chunkRows` rows). Without `chunkRows`, ranges start and end on the page cache's
 * 2 MiB folios of every input where the inputs allow it (folio-ranges.ts: up to `chunkCap` bytes when one
 * folio per input needs more than `perTask`). Otherwise row-aligned ranges are split on row boundaries; a
 * range that is not, or whose single row is over the budget, is split on elements (C order makes them
 * contiguous).
 */
function splitRanges(
  plan: FilesPlan,
  threads: number,
  perTask: number,
  chunkCap: number,
  chunkRows: number | undefined,
  within?: RowRange,
): RowRange[] {
  const width = rowSize(plan.shape);
  const elements = shapeSize(plan.shape);
  const start = within?.start ?? 0;
  const end = within?.end ?? elements;
  if (end <= start) return [];
  const bytesPerElement = plan.slices.reduce((s, x) => s + itemSize(x.dtype), itemSize(plan.dtype));
  const rowBytes = width * bytesPerElement;
  const aligned = start % width === 0 && end % width === 0;
  const rows = aligned ? (end - start) / width : rowCount(plan.shape);
  const fromRows = (c: RowRange) => ({ start: start + c.start * width, end: start + c.end * width });
  if (chunkRows !== undefined && aligned)
    return planChunks(rows, rowBytes, { chunkRows, threads }).map(fromRows);
  const onFolios =
    chunkRows === undefined
      ? folioRanges(plan.slices, bytesPerElement, start, end, perTask, chunkCap, threads)
      : null;
  if (onFolios !== null) return onFolios;
  if (aligned && rowBytes <= perTask) {
    return planChunks(rows, rowBytes, { chunkBytes: perTask, threads }).map(fromRows);
  }
  return planChunks(end - start, bytesPerElement, { chunkBytes: perTask, threads }).map((c) => ({
    start: start + c.start,
    end: start + c.end,
  }));
}
