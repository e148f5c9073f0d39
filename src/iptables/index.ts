export { parseInterfacePattern, interfaceMatch, formatInterfacePattern } from './interface-pattern.js';
export type { InterfacePattern, PatternResult } from './interface-pattern.js';
export {
  CORRIDOR_CHAIN,
  ENTRY_CHAIN,
  FORWARD_CHAIN,
  METADATA_ADDRESS,
  METADATA_ADDRESS_V6,
  jumpRule,
  ipv6JumpRule,
  redirectRules,
  ipv6RedirectRules,
  ipv6RejectRules,
  describeRedirect,
  describeIpv6,
  chainRestoreInput,
} from './rules.js';
export type { RedirectTarget } from './rules.js';
export { createIptablesRunner, IptablesUnavailableError } from './runner.js';
export type { CommandResult, IptablesRunner, IptablesRunnerOptions } from './runner.js';
export { IptablesCommandError } from './rule-table.js';
export { installRules } from './install.js';
export type { InstallReport } from './install.js';
export { checkRules } from './check.js';
export type { CheckReport } from './check.js';
export { removeRules } from './remove.js';
export { installIpv6Rules, checkIpv6Rules, removeIpv6Rules, underIpv6Mode, IPV6_MODES } from './ipv6.js';
export type { Ipv6Mode, Ipv6Outcome } from './ipv6.js';
export type { RemoveReport } from './remove.js';
export { parseIptablesOptions, iptablesOptions, IPTABLES_FLAGS, IPTABLES_ACTIONS } from './options.js';
export type { IptablesAction, IptablesFlagValues, IptablesOptions, IptablesOptionsResult } from './options.js';
