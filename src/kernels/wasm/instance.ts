/**
 * The SIMD kernel module, instantiated once per thread over the thread's kernel heap (see
 * `../heap/memory.ts`). Compiled from `kernel.wat` by `scripts/build-wasm.mjs`.
 */
import { threadHeap } from '../heap/memory.js';
import { KERNEL_WASM_BASE64 } from './kernel-bytes.generated.js';

/**
 * Exports of `kernel.wat`; addresses are byte offsets into the heap, counts are elements (multiples of 4),
 * `tab` is the address of a table of i32 input addresses, `init` (0 or 1) starts a block's sum afresh,
 * `d` (non-zero on a block's last group) divides the sums and returns 1 when a quotient is not finite.
 */
export interface KernelExports {
  addm_f64(acc: number, tab: number, m: number, n: number, init: number, d: number): number;
  addm_f32(acc: number, tab: number, m: number, n: number, init: number, d: number): number;
  add8_f64(acc: number, tab: number, n: number, init: number, d: number): number;
  add8_f32(acc: number, tab: number, n: number, init: number, d: number): number;
  addm2_f64(acc: number, cmp: number, tab: number, m: number, n: number, init: number): void;
  addm2_f32(acc: number, cmp: number, tab: number, m: number, n: number, init: number): void;
  add8c_f64(acc: number, cmp: number, tab: number, n: number, init: number): void;
  add8c_f32(acc: number, cmp: number, tab: number, n: number, init: number): void;
  fin_f32(acc: number, cmp: number, out: number, n: number, d: number): number;
}

/** The slice of the global `WebAssembly` namespace used here (Node 20's types do not declare it). */
interface WasmGlobal {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

let instance: KernelExports | undefined;

/** This thread's kernel instance (compiled synchronously on first use: the module is a few KB). */
export function kernel(): KernelExports {
  if (instance === undefined) {
    const wasm = (globalThis as unknown as { WebAssembly: WasmGlobal }).WebAssembly;
    const module = new wasm.Module(Buffer.from(KERNEL_WASM_BASE64, 'base64'));
    instance = new wasm.Instance(module, { env: { memory: threadHeap().memory } }).exports as KernelExports;
  }
  return instance;
}
