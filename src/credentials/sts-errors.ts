import { PERMANENT_CODES, STS_CODE, THROTTLING_CODES } from './sts-codes.js';
import { AssumeRoleError } from './types.js';

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/**
 * Turns whatever the SDK threw into an AssumeRoleError with STS's code and whether retrying soon
 * can help. Throttling and HTTP 429 -> `Throttling` (retryable); IAM, validation and signature
 * errors -> not retryable; 5xx, timeouts, network errors and missing agent credentials ->
 * retryable. Any other 4xx is treated as not retryable: a request STS rejected will be rejected
 * again, and hammering it helps nobody.
 */
export function toAssumeRoleError(error: unknown): AssumeRoleError {
  if (error instanceof AssumeRoleError) return error;
  const shape: SdkErrorShape = typeof error === 'object' && error !== null ? error : {};
  const message = typeof shape.message === 'string' && shape.message !== '' ? shape.message : String(error);
  const status = typeof shape.$metadata?.httpStatusCode === 'number' ? shape.$metadata.httpStatusCode : undefined;
  // `Code` is the code on the wire; `name` is the SDK's class name for modelled errors
  // (MalformedPolicyDocumentException for code MalformedPolicyDocument).
  const wireCode = typeof shape.Code === 'string' && shape.Code !== '' ? shape.Code : undefined;
  const name = typeof shape.name === 'string' ? shape.name : undefined;
  const serviceCode = wireCode ?? (status !== undefined && name !== 'Unknown' ? name : undefined);

  if (name === 'TimeoutError' || name === 'AbortError' || shape.code === 'ETIMEDOUT') {
    return new AssumeRoleError(`STS request timed out: ${message}`, STS_CODE.TIMEOUT, true);
  }
  if ((serviceCode !== undefined && THROTTLING_CODES.has(serviceCode)) || status === 429) {
    return new AssumeRoleError(message, STS_CODE.THROTTLING, true);
  }
  if (serviceCode !== undefined && PERMANENT_CODES.has(serviceCode)) return new AssumeRoleError(message, serviceCode, false);
  if (status !== undefined && status >= 500) return new AssumeRoleError(message, serviceCode ?? `HTTP${status}`, true);
  if (status !== undefined && status >= 400) return new AssumeRoleError(message, serviceCode ?? `HTTP${status}`, status === 408);
  // Answered, but not with anything parseable (a captive portal, a truncated body).
  if (status !== undefined) return new AssumeRoleError(message, STS_CODE.INVALID_RESPONSE, true);
  if (name === 'CredentialsProviderError') return new AssumeRoleError(`agent credentials unavailable: ${message}`, STS_CODE.CREDENTIALS_PROVIDER_ERROR, true);
  // No HTTP status: the request never got an answer (ECONNREFUSED, ECONNRESET, ENOTFOUND...),
  // or something failed before sending; keep the error's own name so it is not mistaken for STS.
  const localCode = typeof shape.code === 'string' ? shape.code : name !== undefined && name !== 'Error' ? name : 'Unknown';
  return new AssumeRoleError(message, localCode, true);
}
