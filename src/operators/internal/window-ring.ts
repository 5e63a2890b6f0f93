/**
 * The inputs of a sliding window: copies (so the producer may reuse its buffers) in a ring of `size`
 * slots, with their weights.
 */
import { DTYPE_CTORS, type DType, type TypedArray } from '../../tensor/dtype.js';

/** Copies of the last `size` inputs and their weights, oldest at the head once the ring is full. */
export class WindowRing {
  readonly #size: number;
  readonly #n: number;
  readonly #dataCtor: (typeof DTYPE_CTORS)[DType];
  readonly #slots: TypedArray[] = [];
  readonly #weights: Float64Array;
  #head = 0;
  #length = 0;

  /**
   * @param size - Window length.
   * @param n - Elements per input.
   * @param dtype - The inputs' dtype (never int64: those streams use int64-stream.ts).
   */
  constructor(size: number, n: number, dtype: DType) {
    this.#size = size;
    this.#n = n;
    this.#dataCtor = DTYPE_CTORS[dtype];
    this.#weights = new Float64Array(size);
  }

  /** Inputs currently held (up to `size`). */
  get length(): number {
    return this.#length;
  }

  /** The slot the next {@link WindowRing.advance} overwrites: the oldest input once the ring is full. */
  head(): TypedArray {
    let slot = this.#slots[this.#head];
    if (slot === undefined) {
      slot = new this.#dataCtor(this.#n) as TypedArray;
      this.#slots.push(slot);
    }
    return slot;
  }

  /** The weight of the slot at the head (the oldest input's once the ring is full). */
  headWeight(): number {
    return this.#weights[this.#head];
  }

  /** Copies `x` with weight `w` into the head slot (evicting the oldest input once full) and moves on. */
  advance(x: TypedArray, w: number): void {
    this.head().set(x);
    this.#weights[this.#head] = w;
    this.#head = (this.#head + 1) % this.#size;
    if (this.#length < this.#size) this.#length++;
  }

  /** The window's inputs, oldest first, and their weights. */
  window(): [TypedArray[], Float64Array] {
    const L = this.#length;
    const start = L === this.#size ? this.#head : 0;
    const inputs: TypedArray[] = [];
    const weights = new Float64Array(L);
    for (let j = 0; j < L; j++) {
      const r = (start + j) % this.#size;
      inputs.push(this.#slots[r]);
      weights[j] = this.#weights[r];
    }
    return [inputs, weights];
  }
}
