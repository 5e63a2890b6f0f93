// A small mean fusion through the built package (run `npm ci` first).
import { MeanFusion, meanFusion, tensor } from '../dist/src/index.js';

const a = tensor(new Float32Array([16777216, 1, 2, 3]), [2, 2]);
const b = tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
const c = tensor(new Float32Array([1, 3, 4, 5]), [2, 2]);
console.log('mean of 3 float32 tensors:', meanFusion([a, b, c]));
console.log('weighted [1, 2, 1]:', meanFusion([a, b, c], { weights: [1, 2, 1] }).data);
console.log('tinyBIG mean_fusion config:', new MeanFusion({ dims: [2, 2] }).toConfig());
