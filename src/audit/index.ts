export { auditCluster } from './report.js';
export { readCluster } from './read-cluster.js';
export type { AgentPod, AgentReport, AgentState, AuditReport, ClusterSnapshot, Finding, FindingKind, NamespaceReport, PodReport } from './report.js';
