// npm's install step: use a prebuilt native kernel from prebuilds/ if one loads here, else build it with
// node-gyp (through node-gyp-build). It never fails the install: without a compiler, on another OS, or when
// the build breaks, the package runs on its WebAssembly kernel (the same results, slower) and this says so.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/** True when node-gyp-build finds a build or prebuild of the addon that loads in this Node. */
function loads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

if (process.env.MEAN_FUSION_KERNEL !== 'wasm' && !loads()) {
  let status = 1;
  try {
    const bin = join(dirname(require.resolve('node-gyp-build/package.json')), 'bin.js');
    // npm_config_build_from_source skips node-gyp-build's own prebuild probe: none loaded above.
    const env = { ...process.env, npm_config_build_from_source: 'true' };
    status = spawnSync(process.execPath, [bin], { cwd: root, stdio: 'inherit', env }).status ?? 1;
  } catch {
    status = 1;
  }
  if (status !== 0 || !loads()) {
    console.warn(
      'mean-fusion: the native kernel could not be built here; the WebAssembly kernel will run instead (same results, slower).',
    );
  }
}
