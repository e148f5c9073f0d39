/**
 * What policy decides on: only the fields it reads. The caller hands them over; kube's PodInfo,
 * NamespaceInfo and ServiceAccountInfo fit as they are.
 */
export interface PodFacts {
  name: string;
  namespace: string;
  serviceAccountName: string;
  annotations: Readonly<Record<string, string>>;
}

export interface NamespaceFacts {
  name: string;
  annotations: Readonly<Record<string, string>>;
}

export interface ServiceAccountFacts {
  annotations: Readonly<Record<string, string>>;
}

/** The annotation keys policy reads (configurable by flags; defaults are kube2iam's). */
export interface AnnotationKeys {
  role: string;
  allowedRoles: string;
  externalId: string;
  /** Namespace: an inline IAM policy (JSON) passed to AssumeRole as Policy. */
  sessionPolicy: string;
  /** Namespace: a JSON array of managed policy ARNs passed to AssumeRole as PolicyArns. */
  sessionPolicyArns: string;
  serviceAccountRole: string;
}
