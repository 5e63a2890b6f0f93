// An input file truncated while the native kernel reads its mapped pages raises SIGBUS in that thread; the
// kernel must turn it into a failed call (the file job then reads the chunk with positioned reads and
// reports the truncation), never a dead process. A worker truncates and restores a file in a loop while
// the main thread reads it through the mapped-file kernel; without the handler the process dies (exit 135).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nativeKernel } from '../src/kernels/native.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe.runIf(nativeKernel() !== null)('mapped-file kernel and truncated files', () => {
  it('a file truncated during the call fails the call; the process lives', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mean-fusion-sigbus-'));
    try {
      const script = `
        import { Worker } from 'node:worker_threads';
        import { openSync, writeFileSync, fstatSync } from 'node:fs';
        import { createRequire } from 'node:module';
        const k = createRequire(import.meta.url)('node-gyp-build')(${JSON.stringify(root)});
        const path = ${JSON.stringify(join(dir, 'x.bin'))}, bytes = 32 << 20;
        writeFileSync(path, Buffer.alloc(bytes, 1));
        const w = new Worker(\`import { ftruncateSync, openSync } from 'node:fs';
          const fd = openSync(\${JSON.stringify(path)}, 'r+'); const s = new Int32Array(new SharedArrayBuffer(4));
          const end = Date.now() + 1500;
          while (Date.now() < end) { Atomics.wait(s, 0, 0, 2); ftruncateSync(fd, 4096); ftruncateSync(fd, \${bytes}); }\`,
          { eval: true });
        const fd = openSync(path, 'r');
        const out = new Float64Array(bytes / 8), flags = new Int32Array(16);
        const seen = new Set();
        const end = Date.now() + 1200;
        while (Date.now() < end) seen.add(k.meanFiles([fd], [0], [0], out, out.length, flags));
        await w.terminate();
        console.log(JSON.stringify([...seen].sort()));
      `;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: root,
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(r.signal, r.stderr).toBeNull();
      expect(r.status, r.stderr).toBe(0);
      const statuses = JSON.parse(r.stdout) as number[];
      for (const s of statuses) expect([0, -1]).toContain(s);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
