/**
 * The codes an AssumeRole failure is known by (AssumeRoleError.code, a key's lastFailure, the
 * pod's 503 text, logs): STS's own, as on the wire, and corridor's for failures STS never
 * answered. Code compares against these names, never against bare strings.
 */
export const STS_CODE = {
  /** STS's throttling code; every other throttling code is reported as this one. */
  THROTTLING: 'Throttling',
  ACCESS_DENIED: 'AccessDenied',
  ACCESS_DENIED_EXCEPTION: 'AccessDeniedException',
  /** corridor's: the request timed out or was aborted. */
  TIMEOUT: 'Timeout',
  /** corridor's: STS answered, but not with anything usable. */
  INVALID_RESPONSE: 'InvalidResponse',
  /** corridor's: the agent's own credentials for calling STS are unavailable. */
  CREDENTIALS_PROVIDER_ERROR: 'CredentialsProviderError',
  /** corridor's: STS granted a session with less than min-remaining left. */
  SESSION_TOO_SHORT: 'SessionTooShort',
  /** corridor's (web-identity mode): the API server refused the pod's ServiceAccount token (RBAC, admission: HTTP 403). */
  TOKEN_REQUEST_DENIED: 'TokenRequestDenied',
  /** corridor's (web-identity mode): the pod or its ServiceAccount is gone, or the request was invalid (HTTP 4xx). */
  TOKEN_REQUEST_INVALID: 'TokenRequestInvalid',
  /** corridor's (web-identity mode): the API server did not answer the TokenRequest, or failed (5xx, 429, network). */
  TOKEN_REQUEST_FAILED: 'TokenRequestFailed',
  /** corridor's (web-identity mode): no live pod of the ServiceAccount on this node to bind a token to. */
  NO_POD_TO_BIND: 'NoPodToBind',
} as const;

/** STS (and AWS-wide) throttling codes; all become `Throttling`, the code STS itself uses. */
export const THROTTLING_CODES: ReadonlySet<string> = new Set([
  STS_CODE.THROTTLING,
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'SlowDown',
  'PriorRequestNotComplete',
  'BandwidthLimitExceeded',
]);

/** Codes that mean "this request will not work until someone changes IAM or config". */
export const PERMANENT_CODES: ReadonlySet<string> = new Set([
  STS_CODE.ACCESS_DENIED,
  STS_CODE.ACCESS_DENIED_EXCEPTION,
  'ValidationError',
  'ValidationException',
  'MalformedPolicyDocument',
  'MalformedPolicyDocumentException',
  'PackedPolicyTooLarge',
  'PackedPolicyTooLargeException',
  'RegionDisabledException',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'InvalidParameterValue',
  'InvalidParameterCombination',
  'MissingParameter',
  'InvalidAction',
  'OptInRequired',
  'NotAuthorized',
  // AssumeRoleWithWebIdentity: the token or the provider is wrong; asking again with the same setup will not help.
  'InvalidIdentityToken',
  'InvalidIdentityTokenException',
  'IDPRejectedClaim',
  'IDPRejectedClaimException',
]);

/** Both spellings of access denied: a denial by IAM, the `access-denied` result of STS calls. */
export function isAccessDenied(code: string): boolean {
  return code === STS_CODE.ACCESS_DENIED || code === STS_CODE.ACCESS_DENIED_EXCEPTION;
}

/** The codes of a failure before STS was asked: getting the pod's ServiceAccount token. */
export function isTokenRequestCode(code: string): boolean {
  return (
    code === STS_CODE.TOKEN_REQUEST_DENIED ||
    code === STS_CODE.TOKEN_REQUEST_INVALID ||
    code === STS_CODE.TOKEN_REQUEST_FAILED ||
    code === STS_CODE.NO_POD_TO_BIND
  );
}
