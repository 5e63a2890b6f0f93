/**
 * Worker entry of `fuseFiles`: one task of one or more chunks, read straight from the input files and
 * written straight into the output file (see `src/jobs/range.ts`). Imports only that leaf and protocol types.
 */
import type { FuseFilesResult, FuseFilesTask } from '../src/jobs/protocol.js';
import { FileCache, fuseTask, withReference } from '../src/jobs/range.js';

/**
 * Fuses elements `[start, end)` of the task's files into its output file, chunk by chunk at its `splits`;
 * returns the input bytes read.
 */
export default async function fuseFilesChunk(task: FuseFilesTask): Promise<FuseFilesResult> {
  const files = new FileCache();
  try {
    return await withReference(() => fuseTask(task, files));
  } finally {
    files.close();
  }
}
