// npm's install step: build the native kernel (or use a prebuild from prebuilds/) with node-gyp-build.
// It must never fail the install: without a compiler, on another OS, or when the build breaks, the package
// runs on its WebAssembly kernel (the same results, slower), and this says so in one line.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (process.env.MEAN_FUSION_KERNEL === 'wasm') process.exit(0);
const require = createRequire(import.meta.url);
let bin;
try {
  bin = join(dirname(require.resolve('node-gyp-build/package.json')), 'bin.js');
} catch {
  bin = undefined;
}
const result =
  bin === undefined ? { status: 1 } : spawnSync(process.execPath, [bin], { cwd: root, stdio: 'inherit' });
if (result.status !== 0) {
  console.warn(
    'mean-fusion: the native kernel could not be built here; the WebAssembly kernel will run instead (same results, slower).',
  );
}
