// Argument errors of the kernel-heap API: disposeTensor and isInHeap reject what is not a tensor with a
// TensorError naming the function; allocate rejects options that are not an object or whose `heap` /
// `shared` is not a boolean with an OptionError naming the option (and allocates nothing), and a dtype
// that is a constructor instead of a name with a DTypeError naming it. Matched by name and code too, as
// across a worker boundary.
import { describe, expect, it } from 'vitest';
import { DTypeError, OptionError, TensorError } from '../src/errors.js';
import { heapAllocatedBytes } from '../src/kernels/heap/memory.js';
import { allocate, disposeTensor, isInHeap } from '../src/tensor/alloc.js';
import type { DType } from '../src/tensor/dtype.js';
import type { Tensor } from '../src/tensor/tensor.js';

/** What `f` threw. */
function thrown(f: () => unknown): Error & { code?: string } {
  try {
    f();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected an error');
}

const NOT_TENSORS: Array<[string, unknown, RegExp]> = [
  ['[1, 2, 3]', [1, 2, 3], /got an array of length 3/],
  ['[1, 2]', [1, 2], /got an array of length 2/],
  ['{}', {}, /got Object \(object\)/],
  ['null', null, /got `null`/],
  ['undefined', undefined, /got `undefined`/],
  ['{ data: 5 }', { data: 5 }, /got Object \(object\)/],
  ['a bare Float64Array', new Float64Array(2), /got a Float64Array/],
];

describe('disposeTensor and isInHeap: arguments that are not tensors', () => {
  for (const fn of ['disposeTensor', 'isInHeap'] as const) {
    const call = fn === 'disposeTensor' ? disposeTensor : isInHeap;
    for (const [label, value, got] of NOT_TENSORS) {
      it(`${fn}(${label}) throws a TensorError naming ${fn}()`, () => {
        const error = thrown(() => call(value as Tensor));
        expect(error).toBeInstanceOf(TensorError);
        expect(error.name).toBe('TensorError');
        expect(error.code).toBe('ERR_TENSOR');
        expect(error.message).toContain(`${fn}()`);
        expect(error.message).toMatch(got);
      });
    }
  }

  it('still answers for tensors: true/false, never throws', () => {
    const t = allocate('float64', [3], { heap: true });
    expect(isInHeap(t)).toBe(true);
    expect(isInHeap({ data: new Float64Array(3), shape: [3], dtype: 'float64' })).toBe(false);
    expect(disposeTensor(t)).toBe(true);
    expect(disposeTensor(t)).toBe(false);
    expect(disposeTensor(allocate('float64', [3], { shared: true }))).toBe(false);
  });
});

describe('allocate: invalid options and dtypes', () => {
  const BAD_OPTIONS: Array<[string, unknown, string, RegExp]> = [
    ['null', null, '`options`', /got `null`/],
    ['true', true, '`options`', /got `true` \(boolean\)/],
    ["'heap'", 'heap', '`options`', /got `'heap'` \(string\)/],
    ["{ heap: 'yes' }", { heap: 'yes' }, '`options.heap`', /got `'yes'` \(string\)/],
    ['{ heap: 1 }', { heap: 1 }, '`options.heap`', /got `1` \(number\)/],
    ['{ shared: 1 }', { shared: 1 }, '`options.shared`', /got `1` \(number\)/],
    ["{ heap: true, shared: 'no' }", { heap: true, shared: 'no' }, '`options.shared`', /got `'no'`/],
  ];
  for (const [label, options, name, got] of BAD_OPTIONS) {
    it(`allocate('float64', [2], ${label}) throws an OptionError naming ${name} and allocates nothing`, () => {
      const before = heapAllocatedBytes();
      const error = thrown(() => allocate('float64', [2], options as never));
      expect(error).toBeInstanceOf(OptionError);
      expect(error.name).toBe('OptionError');
      expect(error.code).toBe('ERR_OPTION');
      expect(error.message).toContain(`Expected ${name} to be`);
      expect(error.message).toMatch(got);
      expect(heapAllocatedBytes()).toBe(before);
    });
  }

  it('accepts omitted, empty and boolean options', () => {
    expect(isInHeap(allocate('float64', [2]))).toBe(false);
    expect(isInHeap(allocate('float64', [2], undefined))).toBe(false);
    expect(isInHeap(allocate('float64', [2], {}))).toBe(false);
    expect(isInHeap(allocate('float64', [2], { heap: false, shared: false }))).toBe(false);
    const t = allocate('float64', [2], { heap: true, shared: false });
    expect(isInHeap(t)).toBe(true);
    disposeTensor(t);
  });

  for (const options of [undefined, { heap: true }]) {
    it(`allocate(Float64Array, [2]${options ? ', { heap: true }' : ''}) throws a DTypeError naming \`Float64Array\``, () => {
      const before = heapAllocatedBytes();
      const error = thrown(() => allocate(Float64Array as unknown as DType, [2], options));
      expect(error).toBeInstanceOf(DTypeError);
      expect(error.name).toBe('DTypeError');
      expect(error.code).toBe('ERR_DTYPE');
      expect(error.message).toContain('`dtype`');
      expect(error.message).toContain('`Float64Array`');
      expect(heapAllocatedBytes()).toBe(before);
    });
  }
});
