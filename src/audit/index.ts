export { auditCluster } from './report.js';
export type { AgentPod, AgentReport, AgentState, AuditReport, ClusterSnapshot, Finding, FindingKind, NamespaceReport, PodReport } from './report.js';
