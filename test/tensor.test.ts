import { describe, expect, it } from 'vitest';
import { allocate, DTypeError, fromNested, isShared, TensorError, tensor, toShared } from '../src/index.js';
import { dtypeOf } from '../src/tensor/dtype.js';
import { toTensor } from '../src/tensor/tensor.js';

describe('tensor()', () => {
  it('wraps a typed array without copying and defaults to a 1-d shape', () => {
    const data = new Int16Array([1, 2, 3]);
    const t = tensor(data);
    expect(t.data).toBe(data);
    expect(t.shape).toEqual([3]);
    expect(t.dtype).toBe('int16');
  });
  it('accepts 0-d and zero-length shapes', () => {
    expect(tensor(new Float64Array([5]), []).shape).toEqual([]);
    expect(tensor(new Float64Array(0), [3, 0]).shape).toEqual([3, 0]);
  });
  it('maps Uint8ClampedArray to uint8', () => {
    expect(tensor(new Uint8ClampedArray(2)).dtype).toBe('uint8');
  });
  it('rejects a length that disagrees with the shape', () => {
    expect(() => tensor(new Float32Array(5), [2, 3])).toThrow(TensorError);
    expect(() => tensor(new Float32Array(5), [2, 3])).toThrow(
      /data.length is 5 but shape \(2, 3\) holds 6 elements/,
    );
  });
  it('rejects invalid dimensions', () => {
    expect(() => tensor(new Float32Array(2), [2.5])).toThrow(/non-negative integer/);
    expect(() => tensor(new Float32Array(2), [Number.NaN])).toThrow(TensorError);
    expect(() => tensor(new Float32Array(0), [-0.5])).toThrow(TensorError);
  });
  it('accepts BigInt arrays as int64/uint64 (issue 14); rejects non-typed arrays with a DTypeError', () => {
    expect(tensor(new BigUint64Array(1)).dtype).toBe('uint64');
    expect(tensor(new BigInt64Array(2), [2, 1]).dtype).toBe('int64');
    expect(() => dtypeOf(new DataView(new ArrayBuffer(1)))).toThrow(DTypeError);
    expect(() => dtypeOf([1, 2])).toThrow(DTypeError);
  });
});

describe('fromNested()', () => {
  it('reads nested arrays as float64, row-major', () => {
    const t = fromNested([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float64');
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });
  it('reads a number as a 0-d tensor and [] as shape (0,)', () => {
    expect(fromNested(7).shape).toEqual([]);
    expect(fromNested([]).shape).toEqual([0]);
  });
  it('rejects ragged nesting and non-numbers', () => {
    expect(() => fromNested([[1, 2], [3]])).toThrow(
      /Ragged nested array: expected 2 entries at \[1\], got 1/,
    );
    expect(() => fromNested([[1], ['a' as unknown as number]])).toThrow(/Expected a number at \[1\]\[0\]/);
  });
});

describe('toTensor()', () => {
  it('names the argument in errors', () => {
    expect(() => toTensor(null, '`inputs[3]`')).toThrow(/`inputs\[3\]` to be a tensor/);
    expect(() => toTensor({ data: new Float32Array(1), shape: [1], dtype: 'float64' }, 'x')).toThrow(
      /x.dtype is "float64" but its data is a Float32Array \(float32\)/,
    );
  });
});

describe('allocate()', () => {
  it('allocates zero-filled tensors, optionally on a SharedArrayBuffer', () => {
    const t = allocate('float32', [2, 3]);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(t.data.length).toBe(6);
    expect(isShared(t)).toBe(false);
    const s = allocate('uint16', [4], { shared: true });
    expect(s.data.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(isShared(s)).toBe(true);
  });
  it('rejects an unknown dtype with a DTypeError listing the supported ones', () => {
    expect(() => allocate('int128' as never, [2])).toThrow(DTypeError);
    expect(() => allocate('int128' as never, [2])).toThrow(
      /one of float64, float32, int8, uint8, int16, uint16, int32, uint32, int64, uint64/,
    );
    expect(allocate('int64', [2]).data).toBeInstanceOf(BigInt64Array);
  });
  it('copies into shared memory without touching the original', () => {
    const t = tensor(new Int8Array([1, -2, 3]), [3]);
    const s = toShared(t);
    expect(isShared(s)).toBe(true);
    expect(Array.from(s.data)).toEqual([1, -2, 3]);
    expect(s.data).not.toBe(t.data);
  });
});
