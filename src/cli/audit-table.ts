import type { AuditReport, PodReport } from '../audit/index.js';

/**
 * The report for people: the agents' credential mode, namespaces, then pods, then findings, each
 * an aligned table (no final newline). Pods get a TRUST SUBJECT column when some are in web-identity mode.
 */
export function renderAuditTable(report: AuditReport): string {
  const trust = report.pods.some((pod) => pod.trustSubject !== null);
  const sections = [
    `CREDENTIAL MODE: ${report.credentialMode ?? 'unknown (no agent pods found)'}`,
    `NAMESPACES (${report.namespaces.length})\n${table(
      ['NAMESPACE', 'DEFAULT ROLE', 'ALLOWED ROLES', 'PROBLEMS'],
      report.namespaces.map((ns) => [
        ns.name,
        ns.defaultRole ?? '-',
        ns.allowedRoles.join(', ') || '-',
        [ns.problem ?? '', ...ns.warnings].filter(Boolean).join('; ') || '-',
      ]),
    )}`,
    `PODS (${report.pods.length})\n${table(
      ['NAMESPACE', 'POD', 'NODE', 'AGENT', 'DECISION', ...(trust ? ['TRUST SUBJECT'] : []), 'ROLE OR REASON'],
      report.pods.map((pod) => [
        pod.namespace,
        pod.pod,
        pod.node ?? '-',
        pod.agent ?? '-',
        pod.decision,
        ...(trust ? [pod.trustSubject ?? '-'] : []),
        outcome(pod),
      ]),
    )}`,
    report.findings.length === 0
      ? 'FINDINGS: none'
      : `FINDINGS (${report.findings.length})\n${table(['KIND', 'FINDING'], report.findings.map((f) => [f.kind, f.message]))}`,
    ...report.notes.map((note) => `NOTE: ${note}`),
  ];
  return sections.join('\n\n');
}

function outcome(pod: PodReport): string {
  return pod.decision === 'allow' ? `${pod.role} (${pod.source})` : `${pod.reason}: ${pod.message}`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '(none)';
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  return all.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] as number))).join('  ')).join('\n');
}
