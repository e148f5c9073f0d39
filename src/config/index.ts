export { parseAgentConfig, annotationKeys, sessionSettings, AGENT_FLAGS, DEFAULT_PASSTHROUGH_PATHS } from './agent-config.js';
export type { AgentConfig, AnnotationKeys, ConfigResult } from './agent-config.js';
export { parseFlags, usage, envName } from './flags.js';
export type { FlagSpec, FlagValue, ParsedFlags } from './flags.js';
export { parseHostIpv6 } from './host-ipv6.js';
export type { HostIpv6Result } from './host-ipv6.js';
