/** Reading the items of a stream (plain tensors or `{ tensor, weight }`) and checking them against the first. */
import { DTypeError, describe, OptionError, ShapeMismatchError } from '../../errors.js';
import { formatShape, sameShape } from '../../tensor/shape.js';
import { type AnyTensor, type TensorLike, toTensor } from '../../tensor/tensor.js';

/** A stream item that carries a weight (e.g. a federated client's update weighted by its sample count). */
export interface WeightedTensor {
  /** The tensor (or nested number arrays). */
  readonly tensor: TensorLike;
  /** A finite weight; the stream's result is Σ wᵢ·xᵢ / Σ wᵢ. */
  readonly weight: number;
}

/** An item of a stream given to `runningMean` or `windowMean`: a tensor, or a tensor with a weight. */
export type StreamItem = TensorLike | WeightedTensor;

/** A stream item after reading: a checked tensor and its weight (1 for unweighted streams). */
export interface ReadItem {
  readonly tensor: AnyTensor;
  readonly weight: number;
  /** Position in the stream, from 0. */
  readonly position: number;
}

function isWeighted(item: unknown): item is WeightedTensor {
  return typeof item === 'object' && item !== null && !Array.isArray(item) && 'tensor' in item;
}

/**
 * Reads the items of one subscription's stream and checks that they agree with the first: same kind
 * (weighted or not), same shape, same dtype.
 */
export class StreamReader {
  #position = 0;
  #first: AnyTensor | undefined;
  #weighted = false;

  /** True when the stream carries weights (decided by its first item). */
  get weighted(): boolean {
    return this.#weighted;
  }

  /**
   * @throws {OptionError} when a weighted item follows plain ones or the other way round, or a weight is not
   *   a finite number.
   * @throws {ShapeMismatchError} when the shape differs from the first item's (names both and the position).
   * @throws {DTypeError} when the dtype differs from the first item's, is float16/bfloat16, or the data type
   *   is unsupported.
   * @throws {TensorError} for a malformed tensor.
   */
  read(item: unknown): ReadItem {
    const position = this.#position++;
    // Built where an error needs it: this runs once per item.
    const name = () => `stream item ${position}`;
    const weighted = isWeighted(item);
    if (position === 0) this.#weighted = weighted;
    else if (weighted !== this.#weighted) {
      throw new OptionError(
        weighted
          ? `${name()} is a weighted item ({ tensor, weight }) but stream item 0 was a plain tensor; a stream is weighted throughout or not at all`
          : `${name()} is a plain tensor but stream item 0 was a weighted item ({ tensor, weight }); a stream is weighted throughout or not at all`,
      );
    }
    let weight = 1;
    let value: unknown = item;
    if (weighted) {
      weight = item.weight;
      if (typeof weight !== 'number' || !Number.isFinite(weight)) {
        throw new OptionError(
          `Expected the weight of ${name()} to be a finite number, got ${describe(weight)}`,
        );
      }
      value = item.tensor;
    }
    const tensor = toTensor(value, name);
    if (tensor.dtype === 'float16' || tensor.dtype === 'bfloat16') {
      // The running state would need the midpoint resolution of half-range.ts; not wired in yet.
      throw new DTypeError(
        `${name()} is ${tensor.dtype}: runningMean and windowMean do not take float16/bfloat16 streams yet; decode them with halfToFloat32 (exact) or use fuseMean`,
      );
    }
    const first = this.#first;
    if (first === undefined) this.#first = tensor;
    else {
      if (!sameShape(tensor.shape, first.shape)) {
        throw new ShapeMismatchError(
          `${name()} has shape ${formatShape(tensor.shape)} but stream item 0 has shape ${formatShape(first.shape)}; every tensor of a stream must share one shape`,
        );
      }
      if (tensor.dtype !== first.dtype) {
        throw new DTypeError(
          `${name()} has dtype ${tensor.dtype} (shape ${formatShape(tensor.shape)}) but stream item 0 has dtype ${first.dtype} (shape ${formatShape(first.shape)}); every tensor of a stream must share one dtype`,
        );
      }
    }
    return { tensor, weight, position };
  }
}
