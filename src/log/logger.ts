import { pino, type DestinationStream, type Logger } from 'pino';
import { TOKEN_HEADER } from '../imds-protocol/index.js';

export type { Logger } from 'pino';

/** Paths pino replaces with [redacted]: credentials and IMDS tokens never reach a log line. */
const REDACT_PATHS = [
  'SecretAccessKey',
  'Token',
  'SessionToken',
  'secretAccessKey',
  'sessionToken',
  '*.SecretAccessKey',
  '*.Token',
  '*.SessionToken',
  '*.secretAccessKey',
  '*.sessionToken',
  `req.headers["${TOKEN_HEADER}"]`,
  `headers["${TOKEN_HEADER}"]`,
];

/** The one logger of a process; domains take `logger.child({ component })`. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'corridor' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
