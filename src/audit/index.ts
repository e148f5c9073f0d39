export { auditCluster } from './report.js';
export { readCluster } from './read-cluster.js';
export type { AgentPod, AuditReport, ClusterSnapshot, PodReport } from './report.js';
