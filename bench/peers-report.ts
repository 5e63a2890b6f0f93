/**
 * Renders the peers benchmark: the results page (Markdown) and the chart (SVG written as plain text).
 * Pure functions of the measured results, so regenerating both is one command and no figure is typed by hand.
 */
import { DATA_DESCRIPTIONS, type DataKind } from './peers-data.js';
import { TOOL_IDS, TOOL_INFO, type ToolId } from './peers-tools.js';

/** One contender on one job. */
export interface Cell {
  /** `'n/a'`: the tool has no such dtype; `'skipped'`: beyond its limits or the time budget. */
  readonly status: 'ok' | 'n/a' | 'skipped' | 'failed';
  /** Why the cell is skipped or failed, or a remark on how it was timed. */
  readonly note?: string;
  /** Timed runs in seconds (after the warm-up, if any). */
  readonly times?: readonly number[];
  /** Median of `times`, seconds. */
  readonly median?: number;
  /** Bytes read + written / median, in GB/s (1e9 bytes). */
  readonly gbps?: number;
  /** Largest error over the checked elements, in ulps of the output dtype. */
  readonly ulps?: number;
  /** True when the runs were not preceded by a warm-up run on this job. */
  readonly noWarmup?: boolean;
}

/** One fusion job and every contender's cell. */
export interface JobResult {
  readonly dtype: 'float32' | 'float64';
  readonly k: number;
  readonly shape: readonly [number, number];
  readonly data: DataKind;
  /** (k + 1) · elements · bytes per element. */
  readonly bytes: number;
  /** Number of elements whose error was checked. */
  readonly checked: number;
  readonly cells: Partial<Record<ToolId, Cell>>;
}

/** How each job is timed and checked (set by bench/peers.ts, stated on the page). */
export interface TimingConfig {
  /** Seconds of timed runs per tool and job after the warm-up. */
  readonly budget: number;
  readonly minReps: number;
  readonly maxReps: number;
  /** A run estimated above this many seconds runs once, without warm-up. */
  readonly slowSeconds: number;
  /** A run estimated above this many seconds is skipped. */
  readonly skipSeconds: number;
  /** Elements checked for accuracy per job. */
  readonly maxSamples: number;
}

/** Everything the page states besides the table. */
export interface RunInfo extends TimingConfig {
  readonly date: string;
  readonly quick: boolean;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly tf: string;
  readonly numpy: string;
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
  readonly seconds: number;
  /** Why a whole column is empty (e.g. no numpy, no pool yet). */
  readonly absent: Partial<Record<ToolId, string>>;
}

const DTYPE_SHORT = { float32: 'f32', float64: 'f64' } as const;

/** Short job label, e.g. `f32 k=8 2048²`. */
export function jobLabel(job: JobResult): string {
  const [r, c] = job.shape;
  const size = r === c ? `${r}²` : `${r}×${c}`;
  return `${DTYPE_SHORT[job.dtype]} k=${job.k} ${size}${job.data === 'offset' ? ' offset' : ''}`;
}

function formatGbps(x: number): string {
  return x >= 10 ? x.toFixed(1) : x >= 0.1 ? x.toFixed(2) : x.toPrecision(2);
}

function formatUlps(x: number): string {
  if (!Number.isFinite(x)) return '∞';
  return x < 10 ? x.toFixed(2) : x < 1000 ? x.toFixed(1) : x.toExponential(1);
}

/** Footnotes collected while rendering, numbered in order of first use. */
class Notes {
  readonly #notes: string[] = [];
  ref(text: string): string {
    let i = this.#notes.indexOf(text);
    if (i < 0) i = this.#notes.push(text) - 1;
    return `[${i + 1}]`;
  }
  render(): string {
    return this.#notes.map((n, i) => `${i + 1}. ${n}`).join('\n');
  }
}

function emptyCell(cell: Cell | undefined, notes: Notes, absent: string | undefined): string {
  if (cell === undefined) return absent === undefined ? '—' : `— ${notes.ref(absent)}`;
  if (cell.status === 'n/a') return 'n/a (f32 only)';
  return `${cell.status === 'failed' ? 'failed' : '—'} ${notes.ref(cell.note ?? cell.status)}`;
}

/**
 * A Markdown table with padded columns, laid out as biome's Markdown formatter lays it out (so the generated
 * page passes `biome check` unchanged): cells padded to the column width in code points, left- or
 * right-aligned, and a rule of dashes (ending in `:` for right-aligned columns).
 */
export function markdownTable(
  head: readonly string[],
  right: readonly boolean[],
  rows: readonly string[][],
): string {
  const len = (s: string): number => [...s].length;
  const widths = head.map((h, c) => Math.max(3, len(h), ...rows.map((r) => len(r[c]))));
  const pad = (s: string, c: number): string => {
    const fill = ' '.repeat(widths[c] - len(s));
    return right[c] ? fill + s : s + fill;
  };
  const line = (cells: readonly string[]): string => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `| ${widths.map((w, c) => (right[c] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

function throughputTable(
  jobs: readonly JobResult[],
  tools: readonly ToolId[],
  info: RunInfo,
  notes: Notes,
): string {
  const head = ['Job', 'MB moved', ...tools.map((t) => TOOL_INFO[t].label)];
  const rows = jobs.map((job) => {
    const ours = job.cells.ours?.gbps;
    const cols = tools.map((t) => {
      const cell = job.cells[t];
      if (cell?.status !== 'ok' || cell.gbps === undefined) return emptyCell(cell, notes, info.absent[t]);
      const r = ours === undefined ? Number.NaN : cell.gbps / ours;
      // Two significant digits below 0.1× so a far slower tool does not read 0.00×.
      const ratio =
        t === 'ours' || ours === undefined ? '' : ` (${r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}×)`;
      const mark = cell.noWarmup ? ` ${notes.ref(cell.note ?? 'one run, no warm-up')}` : '';
      return `${formatGbps(cell.gbps)}${ratio}${mark}`;
    });
    return [jobLabel(job), (job.bytes / 1e6).toFixed(0), ...cols];
  });
  return markdownTable(head, [false, ...head.slice(1).map(() => true)], rows);
}

function accuracyTable(
  jobs: readonly JobResult[],
  tools: readonly ToolId[],
  info: RunInfo,
  notes: Notes,
): string {
  const head = ['Job', 'elements checked', ...tools.map((t) => TOOL_INFO[t].label)];
  const rows = jobs.map((job) => {
    const cols = tools.map((t) => {
      const cell = job.cells[t];
      if (cell?.status !== 'ok' || cell.ulps === undefined) return emptyCell(cell, notes, info.absent[t]);
      return formatUlps(cell.ulps);
    });
    return [jobLabel(job), job.checked.toLocaleString('en-US'), ...cols];
  });
  return markdownTable(head, [false, ...head.slice(1).map(() => true)], rows);
}

/**
 * The results page, bench/RESULTS.md.
 *
 * @param svgName - File name of the chart, relative to the page.
 */
export function renderMarkdown(jobs: readonly JobResult[], info: RunInfo, svgName: string): string {
  const tools = TOOL_IDS;
  const notes = new Notes();
  const throughput = throughputTable(jobs, tools, info, notes);
  const accuracy = accuracyTable(jobs, tools, info, notes);
  const load = (l: readonly number[]): string => l.map((x) => x.toFixed(2)).join(' / ');
  const dataKinds = [...new Set(jobs.map((j) => j.data))];
  const quick = info.quick
    ? '\n> **Quick run** (`--quick`): small sizes for development; not the published figures.\n'
    : '';
  return `# Benchmarks against peers

Generated by \`npm run bench:peers\` (bench/peers.ts, bench/peers.py) on ${info.date}; do not edit by hand.
${quick}
![Throughput per tool per job (GB/s, log scale)](${svgName})

## Machine

- CPU: ${info.cpu}, ${info.cores} cores available to Node, ${info.memoryGiB.toFixed(1)} GiB RAM, ${info.os}
- Node ${info.node}; TensorFlow.js ${info.tf}; ${info.numpy}
- Load average (1/5/15 min) before: ${load(info.loadBefore)}, after: ${load(info.loadAfter)}. The machine is
  shared, so absolute figures are noisy; ratios measured side by side in one run are the robust part.
- Whole run: ${info.seconds.toFixed(0)} s.

## What runs

${markdownTable(
  ['Tool', 'Code'],
  [false, false],
  tools.map((t) => [TOOL_INFO[t].label, TOOL_INFO[t].code]),
)}

Every tool fuses the same bits in the same run: the script generates the inputs once (seeded), keeps them in
\`SharedArrayBuffer\`s for the JavaScript tools and hands numpy the same bytes through raw files read with
\`np.fromfile\` (one Python process for the whole job set; load time is not timed); Dask memory-maps the same
files (mapped once per job, not timed; its warm-up run faults the pages in). Each timed run starts from
the k input arrays and ends with a new output array, so TF.js runs include creating its tensors and reading
the result back (\`dataSync\`), numpy's stack variant includes the stacked copy, and Dask's runs include
wrapping the inputs (\`da.from_array\`), building the task graph and scheduling it.

Timing: per tool and job, one warm-up run, then the median of as many runs as fit ${info.budget} s (at least
${info.minReps}, at most ${info.maxReps}). A tool whose run is estimated (from its throughput on the previous job) to take over
${info.slowSeconds} s runs once without warm-up; over ${info.skipSeconds} s it is skipped. Jobs run from small to large.

Data: ${dataKinds.map((d) => `\`${d}\`: ${DATA_DESCRIPTIONS[d]}`).join('; ')}. Inputs of one dtype and size
are generated once and the k = 3 and k = 8 jobs fuse the first 3 or 8 of the 32 arrays.

## Throughput

GB/s = (k + 1) · elements · bytes per element / median time (bytes read + written once; 1 GB = 10⁹ bytes);
in brackets the ratio to ours on one thread. TensorFlow.js has no float64 (float32 only): its float64 cells read n/a.

${throughput}

## Accuracy

Largest error in ulps of the output dtype against the exact mean of the same inputs. The exact value is
computed per element with an error-free floating-point expansion of the sum (bench/peers-exact.ts), so the
error figures are exact to about 10⁻¹⁵ relative. Every element is checked up to ${info.maxSamples.toLocaleString('en-US')}
elements; larger outputs are checked on ${info.maxSamples.toLocaleString('en-US')} evenly strided elements. 0.50
is the best a rounded result can do (less when the exact means sit on a coarser grid, e.g. 1/3 ulp for k = 3).
numpy and TF.js wasm add float32 inputs in float32, so their float32 error grows with k; ours adds in float64
with compensation and rounds once. For float64 outputs ours, numpy and the JS loop all add sequentially in
float64 and divide once, so their errors match. Dask adds in the input dtype too, but as a tree (its reduction
sums the k blocks of a chunk in groups, then the group sums), so its error grows more slowly with k than a
sequential sum's, in float32 and float64 alike.

${accuracy}

## Notes

${notes.render()}
`;
}

const COLORS: Readonly<Record<ToolId, string>> = {
  ours: '#1f3b73',
  heap: '#7a3fb0',
  pool: '#3f7fd9',
  'js-loop': '#8c8c8c',
  'tf-cpu': '#e8832a',
  'tf-wasm': '#f2c230',
  'np-stack': '#2e9e5b',
  'np-add': '#7fd1a0',
  dask: '#d13b3b',
};

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The chart, bench/peers.svg: one panel per dtype, one group of bars per job, one bar per tool, GB/s on a
 * log scale. Skipped or failed cells have no bar.
 */
export function renderSvg(jobs: readonly JobResult[], title: string): string {
  const tools = TOOL_IDS;
  const dtypes = (['float32', 'float64'] as const).filter((d) => jobs.some((j) => j.dtype === d));
  const values = jobs.flatMap((j) => tools.map((t) => j.cells[t]?.gbps ?? Number.NaN)).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values, 1)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values, 1)));
  const bar = 9;
  const groupGap = 16;
  const groupWidth = tools.length * bar + groupGap;
  const maxGroups = Math.max(...dtypes.map((d) => jobs.filter((j) => j.dtype === d).length));
  const left = 56;
  const panelHeight = 220;
  const labelSpace = 58;
  const top = 64;
  const width = left + maxGroups * groupWidth + 20;
  const height = top + dtypes.length * (panelHeight + labelSpace + 24) + 10;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  );
  // Legend.
  let lx = left;
  for (const t of tools) {
    out.push(
      `<rect x="${lx}" y="32" width="10" height="10" fill="${COLORS[t]}"/>`,
      `<text x="${lx + 14}" y="41">${escapeXml(TOOL_INFO[t].label)}</text>`,
    );
    lx += 22 + TOOL_INFO[t].label.length * 6;
  }
  const decades = Math.round(Math.log10(hi / lo));
  dtypes.forEach((dtype, p) => {
    const y0 = top + p * (panelHeight + labelSpace + 24) + 14;
    const yOf = (v: number): number => y0 + panelHeight * (1 - Math.log10(v / lo) / decades);
    const caption =
      dtype === 'float32' ? ' ✕ = skipped or failed (see bench/RESULTS.md)' : ' TF.js has no float64';
    out.push(
      `<text x="${left}" y="${y0 - 4}"><tspan font-weight="bold">${dtype} (GB/s, log scale)</tspan>${caption}</text>`,
    );
    for (let d = 0; d <= decades; d++) {
      const v = lo * 10 ** d;
      const y = yOf(v).toFixed(1);
      out.push(
        `<line x1="${left}" x2="${width - 10}" y1="${y}" y2="${y}" stroke="#dddddd"/>`,
        `<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${v >= 1 ? v : v.toPrecision(1)}</text>`,
      );
    }
    const panelJobs = jobs.filter((j) => j.dtype === dtype);
    panelJobs.forEach((job, g) => {
      const gx = left + 8 + g * groupWidth;
      tools.forEach((t, b) => {
        const cell = job.cells[t];
        const v = cell?.gbps;
        if (cell !== undefined && (cell.status === 'skipped' || cell.status === 'failed')) {
          // Skipped or failed (not merely inapplicable): a cross on the axis, the reason as a tooltip.
          const x = gx + b * bar + (bar - 1) / 2;
          out.push(
            `<text x="${x}" y="${y0 + panelHeight - 3}" text-anchor="middle" font-size="9" fill="${COLORS[t]}">✕<title>${escapeXml(`${jobLabel(job)}: ${cell.note ?? cell.status}`)}</title></text>`,
          );
          return;
        }
        if (v === undefined || !(v > 0)) return;
        const y = yOf(Math.max(v, lo));
        const tip = `${TOOL_INFO[t].label}, ${jobLabel(job)}: ${formatGbps(v)} GB/s`;
        out.push(
          `<rect x="${gx + b * bar}" y="${y.toFixed(1)}" width="${bar - 1}" height="${(y0 + panelHeight - y).toFixed(1)}" fill="${COLORS[t]}"><title>${escapeXml(tip)}</title></rect>`,
        );
      });
      const cx = gx + (tools.length * bar) / 2;
      const [r, c] = job.shape;
      const lines = [`k=${job.k}`, r === c ? `${r}²` : `${r}×${c}`, job.data === 'offset' ? 'offset' : ''];
      lines.forEach((line, i) => {
        if (line)
          out.push(
            `<text x="${cx}" y="${y0 + panelHeight + 14 + i * 13}" text-anchor="middle">${line}</text>`,
          );
      });
    });
    out.push(
      `<line x1="${left}" x2="${width - 10}" y1="${y0 + panelHeight}" y2="${y0 + panelHeight}" stroke="#555555"/>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
