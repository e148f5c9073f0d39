/**
 * The directory listings of the metadata tree, derived from what corridor serves: the pod's own
 * iam/ entries (only with a role) and the allowlisted passthrough paths. One entry per line,
 * sorted, sub-directories with a trailing slash, no newline at the end, as real IMDS answers;
 * the version root (`/latest/`) names its categories without a slash, as real IMDS does.
 * user-data is never listed (it is never served).
 */
export interface Listing {
  /** The directory, relative to the version root: '' (the root itself), 'meta-data/', 'meta-data/placement/'... */
  dir: string;
  /** The answer for a pod with a role; undefined: nothing to list (404). */
  withRole: string | undefined;
  /** The answer for a known pod without a role (denied): passthrough entries only. */
  withoutRole: string | undefined;
}

/** What a pod with a role gets under meta-data/iam/ (security-credentials-extended is not listed by real IMDS either). */
const ROLE_PATHS = ['meta-data/iam/info', 'meta-data/iam/security-credentials/'];

/**
 * `served`: passthrough paths relative to the version root ('meta-data/placement/region').
 * Directories already answered by a route of their own (security-credentials/, or an
 * allowlisted path that is itself a directory) get no listing.
 */
export function metadataListings(served: readonly string[]): Listing[] {
  const withRole = entriesByDir([...served, ...ROLE_PATHS]);
  const withoutRole = entriesByDir(served);
  const answeredElsewhere = new Set([...served.map((path) => `${path.replace(/\/+$/, '')}/`), 'meta-data/iam/security-credentials/']);
  const listings: Listing[] = [];
  for (const dir of [...withRole.keys()].sort()) {
    if (answeredElsewhere.has(dir)) continue;
    listings.push({ dir, withRole: render(withRole.get(dir)), withoutRole: render(withoutRole.get(dir)) });
  }
  return listings;
}

function entriesByDir(paths: readonly string[]): Map<string, Set<string>> {
  const byDir = new Map<string, Set<string>>();
  for (const path of paths) {
    const segments = path.split('/').filter((s) => s !== '');
    const isDir = path.endsWith('/');
    for (let i = 0; i < segments.length; i++) {
      const dir = i === 0 ? '' : `${segments.slice(0, i).join('/')}/`;
      const below = i < segments.length - 1 || isDir;
      // The version root lists its categories without a slash (dynamic, meta-data), as real IMDS does.
      const entry = below && i > 0 ? `${segments[i]}/` : segments[i]!;
      let entries = byDir.get(dir);
      if (entries === undefined) byDir.set(dir, (entries = new Set()));
      entries.add(entry);
    }
  }
  return byDir;
}

function render(entries: Set<string> | undefined): string | undefined {
  return entries === undefined || entries.size === 0 ? undefined : [...entries].sort().join('\n');
}
