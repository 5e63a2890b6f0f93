/**
 * The sliding-window accumulator of `windowMean`: running compensated sums over the last `size` inputs, the
 * bound that decides when an element's sums can be trusted, and the exact recompute from the window of the
 * elements whose sums cannot.
 */
import { OptionError } from '../../errors.js';
import { productError, roundQuotientToFloat32, SPLIT_LIMIT } from '../../kernels/exact.js';
import { meanRange } from '../../kernels/mean-range.js';
import {
  finishNativeF32,
  finishNativeF64c,
  nativeStream,
  type WindowState,
  windowPushNative,
  windowUntrustedNative,
} from '../../kernels/native-stream.js';
import { meanElement } from '../../kernels/scalar.js';
import type { FloatArray, FloatDType, TypedArray } from '../../tensor/dtype.js';
import { shapeSize } from '../../tensor/shape.js';
import type { AnyTensor, Tensor } from '../../tensor/tensor.js';
import { newTensor } from './output-tensor.js';
import { type ResolvedStreamOptions, streamDType } from './stream-options.js';
import { WindowRing } from './window-ring.js';

/** The kernel's condition for a product's error term: a finite product of operands Dekker's split handles. */
function splittable(w: number, x: number, p: number): boolean {
  return p - p === 0 && Math.abs(x) < SPLIT_LIMIT && Math.abs(w) < SPLIT_LIMIT;
}

/**
 * The sliding-window mean of the last `size` pushes: a TwoSum-compensated running sum that adds the newest
 * input and subtracts the one leaving, restarted every `size` pushes from a second accumulator that has
 * only added the current window's inputs (so rounding never builds up over more than one window). Elements
 * whose running state is not finite (infinities, NaN, overflow) are recomputed exactly by the kernel over
 * the window.
 */
export class WindowAccumulator {
  readonly shape: readonly number[];
  readonly dtype: FloatDType;
  readonly #size: number;
  readonly #n: number;
  readonly #f32: boolean;
  readonly #omit: boolean;
  readonly #weighted: boolean;
  /** Copies of the window's inputs and their weights. */
  readonly #ring: WindowRing;
  /** Running (s, c) and, for omit, per-element weight sums (wHi, wLo) of the window. */
  readonly #main: Float64Array[];
  /** The same sums over the pushes since the last restart. */
  readonly #fresh: Float64Array[];
  /**
   * Per element, the largest |s| of the running sums since their fresh start (and of the fresh sums since
   * theirs): the compensation c is itself a plain float64 sum of TwoSum errors, each at most u·|s|, so after
   * at most 3·size steps its rounding error is at most (3·size)²·u²·peak. A huge input that has left the
   * window leaves that error behind; {@link WindowAccumulator.result} recomputes such elements exactly.
   * `#inexact` marks elements whose c was ever nonzero after a push: while it stays 0, every step was exact
   * (a push's add and subtract errors cancelled exactly, if any), so s is the exact sum.
   */
  readonly #peak: Float64Array;
  readonly #freshPeak: Float64Array;
  readonly #inexact: Uint8Array;
  readonly #freshInexact: Uint8Array;
  #freshCount = 0;
  /** The native stream kernel for a plain window of this dtype (null: the JavaScript loop runs). */
  #native: ReturnType<typeof nativeStream> | undefined;

  constructor(size: number, first: AnyTensor, weighted: boolean, options: ResolvedStreamOptions) {
    this.#size = size;
    this.shape = first.shape;
    this.dtype = streamDType(first.dtype, options);
    this.#n = shapeSize(first.shape);
    this.#f32 = this.dtype === 'float32';
    this.#omit = options.nanOmit;
    this.#weighted = weighted;
    this.#ring = new WindowRing(size, this.#n, first.dtype);
    const parts = this.#omit ? 4 : 2;
    this.#main = Array.from({ length: parts }, () => new Float64Array(this.#n));
    this.#fresh = Array.from({ length: parts }, () => new Float64Array(this.#n));
    this.#peak = new Float64Array(this.#n);
    this.#freshPeak = new Float64Array(this.#n);
    this.#inexact = new Uint8Array(this.#n);
    this.#freshInexact = new Uint8Array(this.#n);
  }

  /** Inputs currently in the window (up to `size`). */
  get length(): number {
    return this.#ring.length;
  }

  /** Adds one tensor's data (unchecked) with weight `w`, evicting the oldest once the window is full. */
  push(x: TypedArray, w: number): void {
    const size = this.#size;
    const n = this.#n;
    const ring = this.#ring;
    const full = ring.length === size;
    const slot = ring.head();
    const oldW = ring.headWeight();
    const main = this.#main;
    const fresh = this.#fresh;
    const s = main[0];
    const c = main[1];
    const wh = main[2];
    const wl = main[3];
    const fs = fresh[0];
    const fc = fresh[1];
    const fwh = fresh[2];
    const fwl = fresh[3];
    const omit = this.#omit;
    const weighted = this.#weighted;
    if (this.#native === undefined) this.#native = omit || weighted ? null : nativeStream(x);
    const native = this.#native;
    // Plain windows on the native kernel: the same TwoSum steps per element, in the same order (add x to
    // the running and the fresh sums, then subtract the leaving input from the running sum), vectorized.
    // The peak and inexact marks of the loop after this one are set there too (native/window.c).
    if (native !== null) windowPushNative(native, x, full ? slot : null, this.#state());
    for (let i = 0; native === null && i < n; i++) {
      const xi = x[i];
      if (!(omit && xi !== xi)) {
        const v = weighted ? w * xi : xi;
        const e = weighted && splittable(w, xi, v) ? productError(w, xi, v) : 0;
        // TwoSum into the running and the fresh sums.
        let a = s[i];
        let t = a + v;
        let z = t - a;
        c[i] += a - (t - z) + (v - z) + e;
        s[i] = t;
        a = fs[i];
        t = a + v;
        z = t - a;
        fc[i] += a - (t - z) + (v - z) + e;
        fs[i] = t;
        if (omit) {
          a = wh[i];
          t = a + w;
          z = t - a;
          wl[i] += a - (t - z) + (w - z);
          wh[i] = t;
          a = fwh[i];
          t = a + w;
          z = t - a;
          fwl[i] += a - (t - z) + (w - z);
          fwh[i] = t;
        }
      }
      if (full) {
        const xo = slot[i];
        if (!(omit && xo !== xo)) {
          const p = weighted ? oldW * xo : xo;
          const v = -p;
          const e = weighted && splittable(oldW, xo, p) ? -productError(oldW, xo, p) : 0;
          const a = s[i];
          const t = a + v;
          const z = t - a;
          c[i] += a - (t - z) + (v - z) + e;
          s[i] = t;
          if (omit) {
            const b = wh[i];
            const u = b - oldW;
            const y = u - b;
            wl[i] += b - (u - y) + (-oldW - y);
            wh[i] = u;
          }
        }
      }
    }
    ring.advance(x, w);
    const peak = this.#peak;
    const freshPeak = this.#freshPeak;
    const inexact = this.#inexact;
    const freshInexact = this.#freshInexact;
    for (let i = 0; native === null && i < n; i++) {
      const a = Math.abs(s[i]);
      if (a > peak[i]) peak[i] = a;
      const b = Math.abs(fs[i]);
      if (b > freshPeak[i]) freshPeak[i] = b;
      if (c[i] !== 0) inexact[i] = 1;
      if (fc[i] !== 0) freshInexact[i] = 1;
    }
    if (++this.#freshCount === size) {
      // The fresh sums hold exactly the current window: restart the running sums from them.
      for (let p = 0; p < this.#main.length; p++) {
        this.#main[p].set(this.#fresh[p]);
        this.#fresh[p].fill(0);
      }
      peak.set(freshPeak);
      freshPeak.fill(0);
      inexact.set(freshInexact);
      freshInexact.fill(0);
      this.#freshCount = 0;
    }
  }

  /** The running sums and marks as the native window kernel takes them (the arrays themselves, not copies). */
  #state(): WindowState {
    const [s, c] = this.#main;
    const [fs, fc] = this.#fresh;
    return {
      s,
      c,
      fs,
      fc,
      peak: this.#peak,
      freshPeak: this.#freshPeak,
      inexact: this.#inexact,
      freshInexact: this.#freshInexact,
    };
  }

  /**
   * True when the compensated state (s, c) of element `i` is within a float64 ulp of the window's exact sum:
   * exact (c never nonzero), or with an error bound 2·(3·size)²·u²·peak (see #peak; the 2 covers a sum
   * between the add and the subtract of one push) of at most 2^-52·|s + c|.
   */
  #trusted(si: number, ci: number, i: number): boolean {
    if (this.#inexact[i] === 0) return true;
    const steps = 3 * this.#size;
    return 2 * steps * steps * 2 ** -106 * this.#peak[i] <= 2 ** -52 * Math.abs(si + ci);
  }

  /**
   * The mean of the window as a new tensor: the float32 nearest the compensated sum's quotient, or its
   * float64 quotient; elements whose running state is not finite come from the kernel over the window.
   *
   * @throws {OptionError} when the window's weights sum to zero (as `meanFusion` throws).
   */
  result(): Tensor {
    let window: [TypedArray[], Float64Array] | undefined;
    let wHi = this.#ring.length;
    let wLo = 0;
    if (this.#weighted) {
      window = this.#ring.window();
      const weights = window[1];
      let total = 0;
      for (let j = 0; j < weights.length; j++) total += weights[j];
      if (total === 0) {
        throw new OptionError(
          `The weights of the ${weights.length} stream items in the window sum to 0: their weighted mean is undefined`,
        );
      }
      wHi = weights[0];
      for (let j = 1; j < weights.length; j++) {
        const w = weights[j];
        const u = wHi + w;
        const y = u - wHi;
        wLo += wHi - (u - y) + (w - y);
        wHi = u;
      }
    }
    const out = newTensor(this.dtype, this.shape);
    const o = out.data;
    const main = this.#main;
    const s = main[0];
    const c = main[1];
    const wh = main[2];
    const wl = main[3];
    const f32 = this.#f32;
    const omit = this.#omit;
    const native = this.#native ?? null;
    if (native !== null) {
      // The native finishes write (c = 0 ? s : s + c) / length (float64) or its fin_f32 rounding (float32)
      // and report the elements the loop below must finish (not finite, or near a float32 midpoint).
      const exact = (i: number): number => {
        const m = (c[i] === 0 ? s[i] : s[i] + c[i]) / wHi;
        if (m - m === 0 && c[i] - c[i] === 0) return f32 ? roundQuotientToFloat32(m, s[i], c[i], wHi, 0) : m;
        window ??= this.#ring.window();
        return meanElement(window[0], i, { weights: null, nanOmit: false }, f32, 0);
      };
      if (f32) finishNativeF32(native, s, c, o as Float32Array, wHi, exact);
      else if (finishNativeF64c(native, s, c, o as Float64Array, wHi) > 0) {
        for (let i = 0; i < this.#n; i++) if (!(o[i] - o[i] === 0 && c[i] - c[i] === 0)) o[i] = exact(i);
      }
      const untrusted = windowUntrustedNative(native, this.#state(), this.#size);
      if (untrusted.length > 0) {
        window ??= this.#ring.window();
        const plain = { weights: null, nanOmit: false };
        if (untrusted.length > 16) {
          // Many: one batch fusion of the window (the same bits as the scalar kernel per element).
          const exactAll = (f32 ? new Float32Array(this.#n) : new Float64Array(this.#n)) as FloatArray;
          meanRange(window[0], exactAll, 0, this.#n, plain);
          for (const i of untrusted) o[i] = exactAll[i];
        } else for (const i of untrusted) o[i] = meanElement(window[0], i, plain, f32, 0);
      }
      return out;
    }
    for (let i = 0; i < this.#n; i++) {
      const si = s[i];
      const ci = c[i];
      const hi = omit ? wh[i] : wHi;
      const lo = omit ? wl[i] : wLo;
      const m = (ci === 0 ? si : si + ci) / (lo === 0 ? hi : hi + lo);
      if (m - m === 0 && ci - ci === 0 && this.#trusted(si, ci, i)) {
        o[i] = f32 ? roundQuotientToFloat32(m, si, ci, hi, lo) : m;
        continue;
      }
      window ??= this.#ring.window();
      const params = { weights: this.#weighted ? window[1] : null, nanOmit: omit };
      o[i] = meanElement(window[0], i, params, f32, 0);
    }
    return out;
  }
}
