/**
 * The per-element state of an exact running mean, and the JavaScript loops that push one input into it.
 *
 * Per element it is the very state the scalar kernel (`meanElement` in src/kernels/scalar.ts) builds while it
 * walks the inputs in order: the sum s (started from the first input, so −0 survives), the TwoSum
 * compensation c for float32 outputs and, for `nan: 'omit'`, whether the element has started and the
 * compensated weight sum (wHi, wLo) of its inputs. Elements whose sum stops being finite continue in
 * {@link ScaledOverflow}. The native stream kernel performs the steps of the plain loops vectorized; these
 * loops run when it is not available, and for weighted or NaN-omitting streams.
 */
import { productErrorAny } from '../../kernels/exact.js';
import type { TypedArray } from '../../tensor/dtype.js';
import { ScaledOverflow } from './scaled-overflow.js';

/** The running sums of every element of a stream's tensors. */
export class RunningState {
  readonly n: number;
  readonly f32: boolean;
  readonly omit: boolean;
  readonly weighted: boolean;
  readonly s: Float64Array;
  readonly c: Float64Array;
  /** Per element, for `nan: 'omit'`: has a non-NaN input been seen, and the weight sum of those. */
  readonly started: Uint8Array;
  readonly wHiE: Float64Array;
  readonly wLoE: Float64Array;
  /** Elements whose plain sum overflowed (or met an infinity or NaN), with their scaled state. */
  readonly scaled: ScaledOverflow;

  /**
   * @param n - Elements per tensor.
   * @param f32 - Whether the output is float32 (the state keeps a compensation c).
   * @param omit - Whether NaN inputs are skipped (per-element start flags and weight sums).
   * @param weighted - Whether pushes carry weights.
   */
  constructor(n: number, f32: boolean, omit: boolean, weighted: boolean) {
    this.n = n;
    this.f32 = f32;
    this.omit = omit;
    this.weighted = weighted;
    this.s = new Float64Array(n);
    this.c = new Float64Array(f32 ? n : 0);
    this.started = new Uint8Array(omit ? n : 0);
    this.wHiE = new Float64Array(omit ? n : 0);
    this.wLoE = new Float64Array(omit ? n : 0);
    this.scaled = new ScaledOverflow(f32, weighted);
  }

  /** Plain mean, float64 output: a sequential float64 sum (the SIMD kernel's float64 path). */
  pushPlain(x: TypedArray, first: boolean): void {
    const s = this.s;
    const n = this.n;
    if (first) {
      for (let i = 0; i < n; i++) {
        const t = x[i];
        s[i] = t;
        if (t - t !== 0) this.scaled.step(i, false, 0, 0, t, 1);
      }
      return;
    }
    for (let i = 0; i < n; i++) {
      const old = s[i];
      const t = old + x[i];
      s[i] = t;
      if (t - t !== 0) this.scaled.step(i, true, old, 0, x[i], 1);
    }
  }

  /** Plain mean, float32 output: TwoSum-compensated (the SIMD kernel's float32 path). */
  pushCompensated(x: TypedArray, first: boolean): void {
    const s = this.s;
    const c = this.c;
    const n = this.n;
    if (first) {
      for (let i = 0; i < n; i++) {
        const v = x[i];
        s[i] = v;
        c[i] = 0;
        if (v - v !== 0) this.scaled.step(i, false, 0, 0, v, 1);
      }
      return;
    }
    for (let i = 0; i < n; i++) {
      const v = x[i];
      const old = s[i];
      const oc = c[i];
      const t = old + v;
      const z = t - old;
      const nc = oc + (old - (t - z) + (v - z));
      s[i] = t;
      c[i] = nc;
      if (t - t !== 0 || nc - nc !== 0) this.scaled.step(i, true, old, oc, v, 1);
    }
  }

  /** Weighted and/or NaN-omitting mean: the scalar kernel's loop body, one input at a time. */
  pushGeneral(x: TypedArray, w: number, first: boolean): void {
    const s = this.s;
    const c = this.c;
    const n = this.n;
    const f32 = this.f32;
    const omit = this.omit;
    const weighted = this.weighted;
    const started = this.started;
    const wHiE = this.wHiE;
    const wLoE = this.wLoE;
    for (let i = 0; i < n; i++) {
      const xi = x[i];
      if (omit && xi !== xi) continue;
      const was = omit ? started[i] === 1 : !first;
      let v = xi;
      let e = 0;
      if (weighted) {
        v = w * xi;
        if (f32) e = productErrorAny(w, xi, v); // as the kernel (scalar.ts)
      }
      const old = s[i];
      const oc = f32 ? c[i] : 0;
      let t = v;
      let nc = e;
      if (was) {
        t = old + v;
        if (f32) {
          const z = t - old;
          nc = oc + (old - (t - z) + (v - z) + e);
        }
      }
      s[i] = t;
      if (f32) c[i] = nc;
      if (t - t !== 0 || nc - nc !== 0) this.scaled.step(i, was, old, oc, xi, w);
      if (omit) {
        if (!was) {
          started[i] = 1;
          wHiE[i] = w;
        } else {
          const hi = wHiE[i];
          const u = hi + w;
          const y = u - hi;
          wLoE[i] += hi - (u - y) + (w - y);
          wHiE[i] = u;
        }
      }
    }
  }
}
