#!/usr/bin/env node
/**
 * The `mean-fusion` executable (package.json `bin`): wires the process's streams and signals to
 * {@link run} and sets the exit code. The only module that touches `process` exit state.
 */
import { constants } from 'node:os';
import { run } from './run.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const controller = new AbortController();
let received: NodeJS.Signals | undefined;
/** The shell convention for death by a signal: 128 + its number (SIGINT 130, SIGTERM 143, SIGHUP 129). */
const signalExit = (signal: NodeJS.Signals) => 128 + constants.signals[signal];
const onSignal = (signal: NodeJS.Signals) => {
  // First signal: abort the job so its temporary file is removed; a second one exits at once.
  if (received !== undefined) process.exit(signalExit(signal));
  received = signal;
  controller.abort(new Error(`received ${signal}`));
};
for (const signal of SIGNALS) process.on(signal, onSignal);
// A reader that went away (`mean-fusion --help | head`) is not an error of ours: stop writing, quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    stream.destroy();
  });
}

const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
});
for (const signal of SIGNALS) process.off(signal, onSignal);
// Not process.exit(): let stdout and stderr drain; the pool's threads are already closed.
process.exitCode = received !== undefined && code !== 0 ? signalExit(received) : code;
