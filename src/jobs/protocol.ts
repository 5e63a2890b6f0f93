/**
 * The task protocol between `fuseFiles` on the calling thread and the `fuse-files` worker (types only, so
 * the worker entry imports nothing else from here).
 */
import type { MeanKernelParams } from '../kernels/params.js';
import type { DType, FloatDType } from '../tensor/dtype.js';

/** Where one input tensor's elements live in a file. */
export interface FileSlice {
  /** Path of the `.npy` file. */
  readonly path: string;
  /** Byte offset of the tensor's element 0 (the data offset, plus j × tensor bytes for a stacked file). */
  readonly offset: number;
  /** Element type as read (numpy `b1` reads as uint8). */
  readonly dtype: DType;
  /** True when the file's byte order differs from the machine's (swap after reading). */
  readonly swap: boolean;
}

/** One chunk of a file fusion: elements `[start, end)` of every input, written to the same range of `out`. */
export interface FuseFilesTask {
  /** The k inputs, in fusion order. */
  readonly inputs: readonly FileSlice[];
  /** The output: the temporary `.npy` file, its data offset and dtype (machine byte order). */
  readonly out: { readonly path: string; readonly offset: number; readonly dtype: FloatDType };
  /** First element (inclusive), counting row-major over one tensor. */
  readonly start: number;
  /** Last element (exclusive). */
  readonly end: number;
  /**
   * Bounds strictly inside `(start, end)`, ascending, that split the task into chunks computed one after
   * another (each mapped, fused and written before the next), so the task's memory is one chunk's.
   */
  readonly splits?: readonly number[];
  /** Validated kernel parameters. */
  readonly params: MeanKernelParams;
}

/** What the worker returns for a chunk: input bytes read. */
export type FuseFilesResult = number;

/**
 * One range of a plan: the mean of elements `[start, end)` of the inputs (a {@link FuseFilesTask}), or, for
 * integer and bool tensors, a check that bytes `[start, end)` are identical in every input and a copy.
 */
export type RangeTask = ({ readonly kind: 'mean' } & FuseFilesTask) | CopyRangeTask;

/** Bytes `[start, end)` of each input (from its `offset`) that must be identical, copied to `out`. */
export interface CopyRangeTask {
  readonly kind: 'copy';
  /** The k inputs; `dtype` is ignored (bytes are compared). */
  readonly inputs: readonly FileSlice[];
  /** The output file and the byte offset of the tensor's first byte. */
  readonly out: { readonly path: string; readonly offset: number };
  /** First byte (inclusive), relative to the tensor. */
  readonly start: number;
  /** Last byte (exclusive). */
  readonly end: number;
}

/** One task of a plan: a batch of ranges (one range of a big tensor, or many small tensors). */
export interface PlanTask {
  readonly ranges: readonly RangeTask[];
}

/** What a range returns: input bytes read and, for a copy, the first input that differs. */
export interface RangeResult {
  readonly bytesRead: number;
  readonly differs?: { readonly input: number; readonly byte: number };
}

/** What a plan task returns: per range, its result. */
export type PlanTaskResult = RangeResult[];
