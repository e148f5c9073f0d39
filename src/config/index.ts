export { parseAgentConfig, policyOptions, sessionSettings, AGENT_FLAGS } from './agent-config.js';
export type { AgentConfig } from './agent-config.js';
export { parseFlags, usage } from './flags.js';
export type { FlagSpec, FlagValue } from './flags.js';
export { parseHostIpv6 } from './host-ipv6.js';
export type { HostIpv6Result } from './host-ipv6.js';
