#!/usr/bin/env node
/**
 * The `mean-fusion` executable (package.json `bin`): wires the process's streams and signals to
 * {@link run} and sets the exit code. The only module that touches `process` exit state.
 */
import { run } from './run.js';

const controller = new AbortController();
let interrupts = 0;
const onSignal = (signal: NodeJS.Signals) => {
  // First signal: abort the job so its temporary file is removed; a second one exits at once.
  if (++interrupts > 1) process.exit(130);
  controller.abort(new Error(`received ${signal}`));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
});
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
// Not process.exit(): let stdout and stderr drain; the pool's threads are already closed.
process.exitCode = code;
