// Makes the compiled `bin` entries executable after `tsc` (which writes files without the x bit), so
// `npx mean-fusion` and `./dist/src/cli/main.js` run straight after `npm ci`.
import { chmodSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
for (const file of Object.values(pkg.bin ?? {})) chmodSync(new URL(`../${file}`, import.meta.url), 0o755);
