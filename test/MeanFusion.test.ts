import { describe, expect, it } from 'vitest';
import {
  EmptyInputError,
  MeanFusion,
  meanFusion,
  OptionError,
  ShapeMismatchError,
  type Tensor,
  tensor,
} from '../src/index.js';

const f64 = (values: number[], shape?: number[]): Tensor => tensor(new Float64Array(values), shape);

describe('MeanFusion (tinyBIG mean_fusion)', () => {
  it('has tinyBIG defaults: name, calculate_l = 0', () => {
    const f = new MeanFusion();
    expect(f.name).toBe('mean_fusion');
    expect(f.calculateL()).toBe(0);
  });
  it('forward fuses like meanFusion', () => {
    const xs = [f64([1, 2], [2]), f64([3, 5], [2])];
    expect(new MeanFusion().forward(xs).data).toEqual(meanFusion(xs).data);
    expect(Array.from(new MeanFusion({ weights: [1, 3] }).forward(xs).data)).toEqual([2.5, 4.25]);
  });
  it('calculateN returns the common dim and throws when dims are inconsistent or missing', () => {
    expect(new MeanFusion({ dims: [4, 4, 4] }).calculateN()).toBe(4);
    expect(new MeanFusion().calculateN([7, 7])).toBe(7);
    expect(() => new MeanFusion({ dims: [4, 5] }).calculateN()).toThrow(/equal dims, got \[4,5\]/);
    expect(() => new MeanFusion().calculateN()).toThrow(OptionError);
  });
  it('applies preprocess to the stacked (k, ...) input and postprocess to the output, in order', () => {
    const seen: number[][] = [];
    const double = (x: Tensor): Tensor => {
      seen.push([...x.shape]);
      return tensor(
        Float64Array.from(x.data, (v) => v * 2),
        x.shape,
      );
    };
    const plusOne = (x: Tensor): Tensor =>
      tensor(
        Float64Array.from(x.data, (v) => v + 1),
        x.shape,
      );
    const f = new MeanFusion({ preprocess: [double], postprocess: [plusOne, double] });
    const r = f.forward([f64([1, 2], [2]), f64([3, 4], [2]), f64([5, 6], [2])]);
    expect(seen[0]).toEqual([3, 2]); // the stack
    expect(Array.from(r.data)).toEqual([(6 + 1) * 2, (8 + 1) * 2]);
  });
  it('a preprocess may change k (e.g. drop an input)', () => {
    const dropFirst = (x: Tensor): Tensor => tensor(x.data.slice(2), [x.shape[0] - 1, ...x.shape.slice(1)]);
    const r = new MeanFusion({ preprocess: dropFirst }).forward([f64([100, 100]), f64([1, 2]), f64([3, 4])]);
    expect(Array.from(r.data)).toEqual([2, 3]);
  });
  it('raises on an empty list and on shapes that differ', () => {
    expect(() => new MeanFusion().forward([])).toThrow(EmptyInputError);
    expect(() => new MeanFusion().forward([f64([1, 2]), f64([1, 2, 3])])).toThrow(ShapeMismatchError);
    expect(() => new MeanFusion({ preprocess: (x) => x }).forward([f64([1, 2]), f64([1])])).toThrow(
      /x\[1\] has shape/,
    );
  });
  it('toConfig is JSON-serialisable and round-trips the settings', () => {
    function normalise(x: Tensor): Tensor {
      return x;
    }
    const f = new MeanFusion({
      name: 'avg',
      dims: [3, 3],
      weights: [1, 2],
      nan: 'omit',
      exact: true,
      preprocess: [normalise],
    });
    const config = JSON.parse(JSON.stringify(f.toConfig()));
    expect(config).toEqual({
      name: 'avg',
      dims: [3, 3],
      weights: [1, 2],
      nan: 'omit',
      exact: true,
      preprocess: ['normalise'],
      postprocess: [],
    });
  });
  it('rejects bad configuration', () => {
    expect(() => new MeanFusion({ preprocess: [42 as never] })).toThrow(/preprocess\[0\]` to be a function/);
    expect(() => new MeanFusion({ dims: [-1] })).toThrow(OptionError);
    expect(() => new MeanFusion({ nan: 'drop' as never })).toThrow(OptionError);
  });
});
