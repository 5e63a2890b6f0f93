/**
 * Worker entry of plan-based file jobs (`fuseCheckpoints`): runs one task, a batch of ranges, each a mean
 * or a checked copy, reading straight from the input files and writing straight into the output files.
 */

import { fusePlanRange } from '../src/jobs/plan-range.js';
import type { PlanTask, PlanTaskResult } from '../src/jobs/protocol.js';
import { copyRange, FileCache, withReference } from '../src/jobs/range.js';

/** Runs every range of the task in order, with one set of open files; returns each range's result. */
export default async function runPlanTask(task: PlanTask): Promise<PlanTaskResult> {
  const files = new FileCache();
  try {
    return await withReference(() =>
      task.ranges.map((r) =>
        r.kind === 'copy' ? copyRange(r, files) : { bytesRead: fusePlanRange(r, files) },
      ),
    );
  } finally {
    files.close();
  }
}
