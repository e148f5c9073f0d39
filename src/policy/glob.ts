/**
 * Compiles a role glob: `*` matches any run of characters within one path segment (never `/`),
 * everything else is literal.
 */
export function compileGlob(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]*');
  return new RegExp(`^${body}$`);
}
