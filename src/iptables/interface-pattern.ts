/**
 * Which pod interfaces' traffic is sent to the agent, as iptables' `-i` understands it: an exact
 * name (`cni0`), a prefix ending in `+` (`cali+`, `eni+`, `veth+`), or either negated with a
 * leading `!` (`!eth0`: every interface but the node's own).
 */
export interface InterfacePattern {
  /** The name as iptables takes it, `+` included. */
  name: string;
  negated: boolean;
}

// Linux interface names are at most 15 bytes (IFNAMSIZ - 1) and may not hold '/', ':' or
// whitespace; we accept a conservative character set so nothing reaches iptables that it would
// read as another option.
const NAME = /^[A-Za-z0-9_.@-]{1,15}\+?$|^\+$/;

export type PatternResult = { ok: true; pattern: InterfacePattern } | { ok: false; error: string };

/** `cali+` -> `{ name: 'cali+', negated: false }`; `!eth0` -> `{ name: 'eth0', negated: true }`. */
export function parseInterfacePattern(text: string): PatternResult {
  const trimmed = text.trim();
  const negated = trimmed.startsWith('!');
  const name = negated ? trimmed.slice(1).trim() : trimmed;
  if (!NAME.test(name)) {
    return {
      ok: false,
      error:
        `"${text}" is not an interface pattern (a name of up to 15 letters, digits or _.@-, ` +
        'optionally ending in + and starting with ! to negate: cali+, eni+, cni0, !eth0)',
    };
  }
  return { ok: true, pattern: { name, negated } };
}

/** The `-i` match for one pattern: `-i cali+` or `! -i eth0`. */
export function interfaceMatch(pattern: InterfacePattern): string[] {
  return pattern.negated ? ['!', '-i', pattern.name] : ['-i', pattern.name];
}

/** How a pattern is written on the command line, for messages. */
export function formatInterfacePattern(pattern: InterfacePattern): string {
  return `${pattern.negated ? '!' : ''}${pattern.name}`;
}
