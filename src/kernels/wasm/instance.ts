/**
 * The SIMD kernel module, instantiated once per thread (each worker gets its own instance and memory).
 * Compiled from `kernel.wat` by `scripts/build-wasm.mjs`.
 */
import { KERNEL_WASM_BASE64 } from './kernel-bytes.generated.js';

/** Exports of `kernel.wat`; addresses are byte offsets into `memory`, counts are elements. */
export interface KernelExports {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  promote_f32(dst: number, src: number, n: number): void;
  addm_f64(acc: number, x: number, stride: number, m: number, n: number): void;
  addm_f32(acc: number, x: number, stride: number, m: number, n: number): void;
  add8_f64(acc: number, x: number, n: number): void;
  add8_f32(acc: number, x: number, n: number): void;
  add8c_f64(acc: number, cmp: number, x: number, n: number): void;
  add8c_f32(acc: number, cmp: number, x: number, n: number): void;
  addm2_f64(acc: number, cmp: number, x: number, stride: number, m: number, n: number): void;
  addm2_f32(acc: number, cmp: number, x: number, stride: number, m: number, n: number): void;
  div_f64(acc: number, n: number, d: number): number;
  fin_f32(acc: number, cmp: number, out: number, n: number, d: number): number;
}

/** The slice of the global `WebAssembly` namespace used here (Node 20's types do not declare it). */
interface WasmGlobal {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}

let instance: KernelExports | undefined;

/** This thread's kernel instance (compiled synchronously on first use: the module is under 1 KB). */
export function kernel(): KernelExports {
  if (instance === undefined) {
    const wasm = (globalThis as unknown as { WebAssembly: WasmGlobal }).WebAssembly;
    const module = new wasm.Module(Buffer.from(KERNEL_WASM_BASE64, 'base64'));
    instance = new wasm.Instance(module).exports as KernelExports;
  }
  return instance;
}
