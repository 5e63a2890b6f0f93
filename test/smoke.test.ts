import { describe, expect, it } from 'vitest';
import { meanFusion, tensor } from '../src/index.js';

describe('meanFusion smoke', () => {
  it('fuses two float64 tensors', () => {
    const r = meanFusion([tensor(new Float64Array([1, 2]), [2]), tensor(new Float64Array([3, 5]), [2])]);
    expect(Array.from(r.data)).toEqual([2, 3.5]);
    expect(r.shape).toEqual([2]);
    expect(r.dtype).toBe('float64');
  });
});
