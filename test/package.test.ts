// The published package: what `npm pack` ships, and an install on a machine that cannot build the native
// kernel (no working compiler): the install step succeeds quietly and the package runs on WebAssembly.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('package', () => {
  it('npm pack ships the compiled code, the native sources and the install script, and no tests', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
    for (const want of [
      'package.json',
      'binding.gyp',
      'native/mean.c',
      'native/stream.c',
      'native/files.c',
      'native/files.h',
      'native/accumulate.h',
      'native/kernel.h',
      'native/binding.c',
      'scripts/install-native.mjs',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/kernels/native.js',
      'dist/workers/fuse.js',
      'dist/workers/fuse-entry.cjs',
      'dist/src/cli/main.js',
    ]) {
      expect(files, want).toContain(want);
    }
    for (const path of files) {
      expect(path.startsWith('test/') || path.startsWith('build/') || path.startsWith('src/'), path).toBe(
        false,
      );
    }
  });

  it('without a compiler the install step exits 0 with one notice, and the package runs on WebAssembly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mean-fusion-nocc-'));
    try {
      for (const part of ['package.json', 'binding.gyp', 'native', 'scripts', 'dist']) {
        cpSync(join(root, part), join(dir, part), { recursive: true });
      }
      symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
      // No prebuilds/ and no build/ here; a compiler that always fails stands in for a missing one.
      const env = { ...process.env, CC: '/bin/false', CXX: '/bin/false', MEAN_FUSION_KERNEL: '' };
      const install = spawnSync(process.execPath, ['scripts/install-native.mjs'], {
        cwd: dir,
        env,
        encoding: 'utf8',
      });
      expect(install.status, install.stderr).toBe(0);
      expect(install.stderr).toContain('the WebAssembly kernel will run instead');
      const run = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { kernelInfo, meanFusion, tensor } from './dist/src/index.js';
           const r = meanFusion([tensor(new Float32Array(100).fill(1), [100]), tensor(new Float32Array(100).fill(2), [100])]);
           console.log(JSON.stringify({ info: kernelInfo(), first: r.data[0], last: r.data[99] }));`,
        ],
        { cwd: dir, env, encoding: 'utf8' },
      );
      expect(run.status, run.stderr).toBe(0);
      const out = JSON.parse(run.stdout) as {
        info: { kernel: string; reason?: string };
        first: number;
        last: number;
      };
      expect(out.info.kernel).toBe('wasm');
      expect(out.info.reason).toMatch(/native kernel not loaded/);
      expect([out.first, out.last]).toEqual([1.5, 1.5]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
