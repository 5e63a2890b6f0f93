/**
 * The accumulator of `runningMean` and `windowMean` for int64/uint64 streams (`BigInt64Array`,
 * `BigUint64Array` tensors): per element an exact BigInt sum, so every result is the float64 (or float32)
 * nearest the exact mean of the items so far (or of the window), ties to even, which is bit for bit what
 * `meanFusion` gives for the same tensors. Weights are exact too (each finite float64 is an integer times
 * 2^-1074). Memory: one BigInt per element (plus, for a window, copies of the window's tensors); work per
 * element per push: one BigInt addition (two for a full window), so these streams are slower than float ones.
 */
import { EmptyInputError, OptionError } from '../../errors.js';
import { roundRatio, scaled } from '../../kernels/exact-rational.js';
import type { BigIntArray, FloatDType } from '../../tensor/dtype.js';
import { shapeSize } from '../../tensor/shape.js';
import type { AnyTensor, Tensor } from '../../tensor/tensor.js';
import type { ResolvedStreamOptions } from './stream-options.js';

/** A finite float64 weight as the exact integer N with w = N · 2^-1074. */
const exactWeight = scaled;

/** Exact running (or sliding-window) sums of an int64/uint64 stream. */
export class ExactIntegerAccumulator {
  readonly shape: readonly number[];
  readonly dtype: FloatDType;
  readonly #n: number;
  readonly #weighted: boolean;
  /** Window length, or `Infinity` for a running mean. */
  readonly #size: number;
  readonly #sums: bigint[];
  #weightSum = 0n;
  #count = 0;
  #position = 0;
  /** The window's tensors (copies) and exact weights, oldest first, for eviction. */
  readonly #ring: { data: BigIntArray; w: bigint }[] = [];

  /**
   * @param first - The stream's first tensor (only its shape is read here).
   * @param size - Window length for `windowMean`; omit for `runningMean`.
   */
  constructor(
    first: AnyTensor,
    weighted: boolean,
    options: ResolvedStreamOptions,
    size = Number.POSITIVE_INFINITY,
  ) {
    this.shape = first.shape;
    this.dtype = options.dtype ?? 'float64';
    this.#n = shapeSize(first.shape);
    this.#weighted = weighted;
    this.#size = size;
    this.#sums = new Array<bigint>(this.#n).fill(0n);
  }

  /** Items in the window (all items so far for a running mean). */
  get length(): number {
    return this.#count;
  }

  /** Adds one tensor's data (same shape and dtype as the first; unchecked) with weight `w`. */
  push(x: BigIntArray, w: number): void {
    const n = this.#n;
    const sums = this.#sums;
    const wn = this.#weighted ? exactWeight(w) : 1n;
    if (this.#count === this.#size) {
      const old = this.#ring.shift() as { data: BigIntArray; w: bigint };
      for (let i = 0; i < n; i++) sums[i] -= old.w * old.data[i];
      this.#weightSum -= old.w;
      this.#count--;
    }
    if (wn === 1n) for (let i = 0; i < n; i++) sums[i] += x[i];
    else for (let i = 0; i < n; i++) sums[i] += wn * x[i];
    this.#weightSum += wn;
    this.#count++;
    this.#position++;
    // A window keeps a copy: the producer may reuse its buffer.
    if (Number.isFinite(this.#size)) this.#ring.push({ data: x.slice(), w: wn });
  }

  /**
   * The mean so far (or of the window) as a new tensor.
   *
   * @throws {EmptyInputError} before the first push.
   * @throws {OptionError} when the weights sum to zero (as `meanFusion` throws).
   */
  result(): Tensor {
    if (this.#count === 0)
      throw new EmptyInputError('The stream has no tensor yet: a mean needs at least one');
    if (this.#weightSum === 0n) {
      const first = this.#position - this.#count;
      throw new OptionError(
        `The weights of stream items ${first} to ${this.#position - 1} sum to 0: their weighted mean is undefined`,
      );
    }
    const f32 = this.dtype === 'float32';
    const data = f32 ? new Float32Array(this.#n) : new Float64Array(this.#n);
    const w = this.#weightSum;
    for (let i = 0; i < this.#n; i++) data[i] = roundRatio(this.#sums[i], w, f32);
    return { data, shape: this.shape, dtype: this.dtype };
  }
}
