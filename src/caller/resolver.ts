import { LRUCache } from 'lru-cache';
import type { CredentialMode, Session, SessionKey, SessionScope } from '../credentials/index.js';
import type { PodDirectory, PodInfo, PodLookup } from '../kube/index.js';
import type { Logger, LogThrottle } from '../log/index.js';
import type { CounterHandle, Metrics } from '../metrics/index.js';
import { decideRole, type Decision, type PolicyOptions } from '../policy/index.js';
import { createCredentialAudit } from './credential-audit.js';

/** Who is calling and what they may have: the pod (if any), the decision and the session key. */
export interface CallerAccess {
  ip: string;
  pod: PodInfo | undefined;
  decision: Decision;
  /** Set when the decision allows a role. Stable per pod version, so caches can key on it. */
  sessionKey: SessionKey | undefined;
  /** For an IP several live pods claim: which ones (namespace/name), for the audit log and the node's admin only. */
  sharedWith?: readonly string[];
}

export interface CallerResolver {
  /** The caller behind `ip` from the in-memory index only (never waits); undefined when the IP is not known yet. */
  known(ip: string): CallerAccess | undefined;
  /** The caller behind `ip`; an IP not known yet waits up to the pod-lookup timeout for the watch to deliver it. */
  find(ip: string): Promise<CallerAccess>;
  /**
   * Undefined for a known IP; otherwise a promise that settles once the watch delivers `ip`, or
   * after `capMs` or the pod-lookup timeout, whichever is shorter.
   */
  seen(ip: string, capMs: number): Promise<unknown> | undefined;
  /** The decision for a known pod object (prefetch, explain). */
  forPod(pod: PodInfo): CallerAccess;
  /** Counts the decision and writes an audit line when it differs from this pod's last one. */
  auditDecision(access: CallerAccess): void;
  /**
   * A credential document from `session` went to the pod of `access` (allowed) at `ip`: an audit
   * line the first time this pod receives this session, none after (cheap on every request).
   */
  auditHandOut(access: CallerAccess, session: Session, ip: string): void;
}

export interface CallerResolverOptions {
  directory: PodDirectory;
  policy: PolicyOptions;
  podLookupTimeoutMs: number;
  /** `pod`: every pod's session key names the pod, so it gets a session of its own. Default `namespace`. */
  sessionScope?: SessionScope;
  /** `web-identity`: every session key names the pod's ServiceAccount, whose token assumes the role. Default `node-role`. */
  credentialMode?: CredentialMode;
  metrics: Metrics;
  logger: Logger;
  /**
   * Audit lines for callers that are no single pod (an unknown or shared IP): any address that can
   * reach the port makes one, so they go through a throttle built on the audit logger.
   */
  strangerAudit: LogThrottle;
}

interface CachedAccess {
  namespace: unknown;
  serviceAccount: unknown;
  access: CallerAccess;
}

export function createCallerResolver(options: CallerResolverOptions): CallerResolver {
  const { directory, policy, metrics } = options;
  const audit = options.logger.child({ component: 'audit' });
  const credentialAudit = createCredentialAudit(audit);
  const podScope = options.sessionScope === 'pod';
  const webIdentity = options.credentialMode === 'web-identity';
  // Pod objects are replaced on every watch update, so a WeakMap keyed by them never goes stale;
  // the namespace and ServiceAccount objects are compared too, as they change independently.
  const byPod = new WeakMap<PodInfo, CachedAccess>();
  const lastDecision = new LRUCache<string, string>({ max: 10_000 });
  const decisionCounters = new Map<string, CounterHandle>();
  // What record() needs of an access, worked out once per access object: a pod's access is
  // reused until the pod or its namespace changes, so the request path builds no strings.
  const auditOf = new WeakMap<CallerAccess, { counter: CounterHandle; signature: string }>();

  function forPod(pod: PodInfo): CallerAccess {
    const namespace = directory.namespace(pod.namespace);
    // Undefined unless ServiceAccounts are watched (--service-account-roles); decideRole applies the flag itself.
    const serviceAccount = directory.serviceAccount(pod.namespace, pod.serviceAccountName);
    const cached = byPod.get(pod);
    if (cached && cached.namespace === namespace && cached.serviceAccount === serviceAccount) return cached.access;
    const decision = decideRole({ pod, namespace, serviceAccount }, policy);
    const sessionKey: SessionKey | undefined = decision.allowed
      ? {
          roleArn: decision.role.arn,
          namespace: pod.namespace,
          ...(decision.externalId !== undefined ? { externalId: decision.externalId } : {}),
          ...(decision.sessionPolicy !== undefined ? { sessionPolicy: decision.sessionPolicy } : {}),
          ...(decision.policyArns !== undefined ? { policyArns: decision.policyArns } : {}),
          ...(podScope ? { pod: { uid: pod.uid, name: pod.name } } : {}),
          ...(webIdentity ? { serviceAccount: pod.serviceAccountName } : {}),
        }
      : undefined;
    const access: CallerAccess = { ip: pod.ip ?? '', pod, decision, sessionKey };
    byPod.set(pod, { namespace, serviceAccount, access });
    return access;
  }

  function fromLookup(ip: string, lookup: PodLookup): CallerAccess {
    if (lookup.kind === 'found') return forPod(lookup.pod);
    if (lookup.kind === 'ambiguous') {
      // The message goes to the pod; which pods share its IP only to the audit log and the node's admin.
      return {
        ...denied(ip, {
          allowed: false,
          reason: 'ambiguous-ip',
          message: `several live pods share ${ip}, so corridor cannot tell which one is asking`,
          requested: undefined,
        }),
        sharedWith: lookup.pods.map((p) => `${p.namespace}/${p.name}`),
      };
    }
    return denied(ip, { allowed: false, reason: 'unknown-pod', message: `no pod on this node has IP ${ip}`, requested: undefined });
  }

  function counter(outcome: string, reason: string): CounterHandle {
    const label = `${outcome}|${reason}`;
    let handle = decisionCounters.get(label);
    if (handle === undefined) {
      handle = metrics.handle(metrics.decisions, { outcome, reason });
      decisionCounters.set(label, handle);
    }
    return handle;
  }

  function auditFor(access: CallerAccess): { counter: CounterHandle; signature: string } {
    let known = auditOf.get(access);
    if (known === undefined) {
      const { decision } = access;
      known = {
        counter: counter(decision.allowed ? 'allowed' : 'denied', decision.allowed ? decision.source : decision.reason),
        signature: decision.allowed ? `allow ${decision.role.arn}` : `deny ${decision.reason} ${decision.message}`,
      };
      auditOf.set(access, known);
    }
    return known;
  }

  return {
    known(ip) {
      const lookup = directory.byIp(ip);
      return lookup.kind === 'unknown' ? undefined : fromLookup(ip, lookup);
    },
    async find(ip) {
      // waitForIp answers at once for a known IP.
      return fromLookup(ip, await directory.waitForIp(ip, options.podLookupTimeoutMs));
    },
    seen(ip, capMs) {
      if (directory.byIp(ip).kind !== 'unknown') return undefined;
      return directory.waitForIp(ip, Math.min(capMs, options.podLookupTimeoutMs));
    },
    forPod,
    auditDecision(access) {
      const { decision, pod } = access;
      const { counter: decided, signature } = auditFor(access);
      decided.inc();
      const who = pod ? pod.uid : `ip:${access.ip}`;
      if (lastDecision.get(who) === signature) return;
      lastDecision.set(who, signature);
      const fields = {
        pod: pod?.name,
        namespace: pod?.namespace,
        ip: access.ip,
        role: decision.allowed ? decision.role.arn : decision.requested,
        decision: decision.allowed ? 'allow' : 'deny',
        reason: decision.allowed ? decision.source : decision.reason,
      };
      if (decision.allowed) {
        audit.info(fields, 'role decision');
      } else if (pod === undefined) {
        const shared = access.sharedWith ? { sharedWith: access.sharedWith } : {};
        options.strangerAudit.note(decision.reason, { ...fields, detail: decision.message, ...shared }, 'role decision');
      } else {
        audit.warn({ ...fields, detail: decision.message }, 'role decision');
      }
    },
    auditHandOut(access, session, ip) {
      const { pod, decision } = access;
      if (pod !== undefined && decision.allowed) credentialAudit.served(pod, decision.role.arn, session, ip);
    },
  };
}

function denied(ip: string, decision: Decision): CallerAccess {
  return { ip, pod: undefined, decision, sessionKey: undefined };
}
