export { parseAgentConfig, agentConfig, policyOptions, sessionSettings, AGENT_FLAGS, POLICY_FLAGS } from './agent-config.js';
export type { AgentConfig, AgentFlagValues } from './agent-config.js';
export { parseFlags, pickFlags, usage, envName } from './flags.js';
export type { FlagSpec, FlagValues, FlagName, ParsedFlags } from './flags.js';
export { parseHostIpv6 } from './host-ipv6.js';
export type { HostIpv6Result } from './host-ipv6.js';
