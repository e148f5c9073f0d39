export { parseAgentConfig, agentConfig, policyOptions, sessionSettings, AGENT_FLAGS, POLICY_FLAGS } from './agent-config.js';
export type { AgentConfig } from './agent-config.js';
export { parseFlags, pickFlags, usage } from './flags.js';
export type { FlagSpec, FlagValues, FlagName } from './flags.js';
export { parseHostIpv6 } from './host-ipv6.js';
