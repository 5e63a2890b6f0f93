/**
 * The scaled-overflow state of a running mean: the elements whose plain sum is no longer finite.
 *
 * The kernel's overflow-safe pass re-reads every input scaled by 2^-e, where e grows with k (or Σ|w|).
 * A stream cannot re-read, so an element whose plain sum stops being finite switches to a scaled state,
 * derived from its last finite state: scaling by a power of two commutes exactly with every addition
 * (sums of multiples of 2^-1074 below 2^-1022 are exact) and with products and divisions whose results stay
 * normal, so s·2^-e carries on exactly as the kernel's scaled pass would have, and the state is rescaled when
 * e grows. The one case this cannot reproduce bit for bit is an element that mixes values near the overflow
 * threshold with values below about 2^-960, which the kernel's scaled pass rounds into subnormals.
 */
import { productErrorAny } from '../../kernels/exact.js';

/** The scaled state of an element whose plain sum is no longer finite: (s, c) times 2^-exponent. */
export interface Scaled {
  s: number;
  c: number;
}

/** The scaled states of one running mean's overflowed elements, all at one exponent. */
export class ScaledOverflow {
  readonly #f32: boolean;
  readonly #weighted: boolean;
  /** Elements whose plain sum overflowed (or met an infinity or NaN), with their scaled state. */
  readonly #states = new Map<number, Scaled>();
  #exp = 1;

  /**
   * @param f32 - Whether the output is float32 (the state carries a TwoSum compensation c).
   * @param weighted - Whether inputs come with weights (the weighted kernel path).
   */
  constructor(f32: boolean, weighted: boolean) {
    this.#f32 = f32;
    this.#weighted = weighted;
  }

  /** The exponent e of the scale 2^-e (the largest the kernel's plan has asked for so far). */
  get exponent(): number {
    return this.#exp;
  }

  /** The element's scaled state, if it has one. */
  get(i: number): Scaled | undefined {
    return this.#states.get(i);
  }

  /** How many elements have a scaled state. */
  get size(): number {
    return this.#states.size;
  }

  /** The overflowed elements and their scaled states. */
  entries(): IterableIterator<[number, Scaled]> {
    return this.#states.entries();
  }

  /** Raises the exponent to `exp` when that is larger, rescaling every state by 2^(old − exp). */
  raise(exp: number): void {
    if (exp > this.#exp) {
      const f = 2 ** (this.#exp - exp);
      for (const st of this.#states.values()) {
        st.s *= f;
        st.c *= f;
      }
    }
    this.#exp = Math.max(this.#exp, exp);
  }

  /** Applies `by` to every state's sums (the weight plan's rescale); the exponent stays. */
  rescale(by: (v: number) => number): void {
    for (const st of this.#states.values()) {
      st.s = by(st.s);
      st.c = by(st.c);
    }
  }

  /**
   * One step of the kernel's overflow-safe pass for element `i`, at the current scale. The first time, the
   * scaled state is the element's last finite state (old s, old c) scaled by 2^-exp.
   */
  step(i: number, was: boolean, old: number, oc: number, x: number, w: number): void {
    const scale = 2 ** -this.#exp;
    let st = this.#states.get(i);
    if (st === undefined) {
      st = { s: old * scale, c: oc * scale };
      this.#states.set(i, st);
    }
    const xs = x * scale;
    let v = xs;
    let e = 0;
    if (this.#weighted) {
      v = w * xs;
      if (this.#f32) e = productErrorAny(w, xs, v);
    }
    if (!was) {
      st.s = v;
      st.c = e;
      return;
    }
    const t = st.s + v;
    if (this.#f32) {
      const z = t - st.s;
      st.c += st.s - (t - z) + (v - z) + e;
    }
    st.s = t;
  }

  /** The kernel's finish of the overflow-safe pass for a scaled state. */
  finish(s: number, c: number, wHi: number, wLo: number): number {
    if (s - s !== 0) {
      const q = s / (wHi + wLo); // ±inf takes the sign of Σw; NaN stays NaN
      return this.#f32 ? Math.fround(q) : q;
    }
    const sum = c === 0 ? s : s + c;
    const m = sum / (wLo === 0 ? wHi : wHi + wLo);
    const r = m * 2 ** this.#exp;
    return this.#f32 ? Math.fround(r) : r;
  }
}
