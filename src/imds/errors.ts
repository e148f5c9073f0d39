import http from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { MAX_TOKEN_TTL_SECONDS, MIN_TOKEN_TTL_SECONDS, TOKEN_TTL_HEADER } from '../imds-protocol/index.js';
import { UpstreamError } from '../node-metadata/index.js';
import { sendText } from './text-reply.js';

/** A row whose status is the error's own `statusCode`: errors of node-metadata and of fastify. */
const ITS_OWN = 'its own';

/**
 * Every answer the metadata server gives a pod instead of data, by code: the HTTP status, the text
 * (SDKs, scripts and people read it, so it is safe to show a pod and changes only on purpose,
 * here) and any extra header. Routes throw an `ImdsError` (or pass it to `done`); the error
 * handler below answers it, and every other error, from this table.
 *
 * The UPSTREAM_ codes are node-metadata's own, so a failed passthrough is rethrown as it is: its
 * status is the error's `statusCode` (node-metadata/errors.ts), its text this table's.
 */
export const IMDS_ERRORS = {
  /** A token that is not ours, expired or for another IP; or none where IMDSv2 is required. */
  UNAUTHORIZED: { status: 401, text: 'Unauthorized' },
  /** A token PUT with X-Forwarded-For: it came through a proxy, and real IMDS refuses it too. */
  FORWARDED_TOKEN_REQUEST: { status: 403, text: 'Forbidden' },
  BAD_TOKEN_TTL: { status: 400, text: `Bad Request: ${TOKEN_TTL_HEADER} must be ${MIN_TOKEN_TTL_SECONDS}-${MAX_TOKEN_TTL_SECONDS}` },
  /** No such path, version or role name; or an IP that is no pod here, with nothing more to say. */
  NOT_FOUND: { status: 404, text: 'Not Found' },
  /** A denied pod: the one-line reason, never other namespaces' roles. */
  DENIED: { status: 404, text: (reason: string) => `Not Found: ${reason}` },
  METHOD_NOT_ALLOWED: { status: 405, text: 'Method Not Allowed' },
  /** Over the caller's budget: answered by the caller guard (guard/fastify.ts), before any route. */
  TOO_MANY_REQUESTS: { status: 429, text: 'Too Many Requests' },
  /** STS gave no session with min-remaining left; `code` is the failure's (credentials/sts-codes.ts). */
  CREDENTIALS_UNAVAILABLE: {
    status: 503,
    text: (roleName: string, code: string) => `Service Unavailable: credentials for role ${roleName} are not available (${code})`,
  },
  /** The node's metadata service has too many requests waiting (503): the pod may retry in a second. */
  UPSTREAM_BUSY: {
    status: ITS_OWN,
    text: 'Service Unavailable: the instance metadata service is busy, try again in a second',
    headers: { 'retry-after': '1' },
  },
  /** It failed or answered too much (502). */
  UPSTREAM_FAILED: { status: ITS_OWN, text: 'Bad Gateway: the instance metadata service did not answer' },
  /** It missed the request's deadline (502). */
  UPSTREAM_TIMEOUT: { status: ITS_OWN, text: 'Bad Gateway: the instance metadata service did not answer' },
  /** Fastify's own client errors (bad content type, body too large) keep their 4xx status; the text is the status line's. */
  CLIENT_ERROR: { status: ITS_OWN, text: (status: number) => http.STATUS_CODES[status] ?? 'Bad Request' },
  /** Anything else: logged in full, and the pod learns nothing of it. */
  INTERNAL: { status: 500, text: 'Internal Server Error' },
} as const;

type Table = typeof IMDS_ERRORS;
type ImdsErrorCode = keyof Table;
type TextArgs<C extends ImdsErrorCode> = Table[C]['text'] extends (...args: infer A) => string ? A : [];

type OwnCode = { [C in ImdsErrorCode]: Table[C]['status'] extends number ? C : never }[ImdsErrorCode];

/** A reply instead of data: a code of the table, its status, and its text, safe to show a pod. */
class ImdsError extends Error {
  override name = 'ImdsError';
  constructor(
    readonly code: ImdsErrorCode,
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
  }
}

/** The error a route throws for `code`, with the table's status and text (filled in with `args` where it takes any). */
export function imdsError<C extends OwnCode>(code: C, ...args: TextArgs<C>): ImdsError {
  const row: { status: number; text: string | ((...a: never[]) => string) } = IMDS_ERRORS[code];
  const text = typeof row.text === 'string' ? row.text : (row.text as (...a: unknown[]) => string)(...args);
  return new ImdsError(code, text, row.status);
}

/** The metadata server's one error handler: every error a pod is answered with passes here. */
export function answerError(error: Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const answer = podAnswer(error as FastifyError);
  if (answer.code === 'INTERNAL') request.log.error({ reqId: request.id, err: error, url: request.url }, 'metadata request failed');
  const { headers } = IMDS_ERRORS[answer.code] as { headers?: Record<string, string> };
  if (headers !== undefined) reply.headers(headers);
  return sendText(reply, answer.statusCode, answer.message);
}

function podAnswer(error: FastifyError): ImdsError {
  if (error instanceof ImdsError) return error;
  if (error instanceof UpstreamError) {
    const code = error.code === 'UPSTREAM_BUSY' || error.code === 'UPSTREAM_TIMEOUT' ? error.code : 'UPSTREAM_FAILED';
    return new ImdsError(code, IMDS_ERRORS[code].text, error.statusCode);
  }
  const status = error.statusCode;
  if (status !== undefined && status >= 400 && status < 500) return new ImdsError('CLIENT_ERROR', IMDS_ERRORS.CLIENT_ERROR.text(status), status);
  return imdsError('INTERNAL');
}
