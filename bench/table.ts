import type { Spread } from './load.js';

/** One decimal, or `?` when the figure is missing. */
export const f1 = (n: number | undefined) => (n === undefined ? '?' : n.toFixed(1));

/** `median (min..max, spread%)` of rounds. */
export const sp = (s: Spread | undefined, digits: number) => (s ? `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}..${s.max.toFixed(digits)}, ${(s.spread * 100).toFixed(0)}%)` : '');

/** A Markdown table, padded so that it reads in a terminal too. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
