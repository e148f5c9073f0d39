/**
 * The EC2 instance metadata protocol's names and limits, as SDKs and the node's own IMDS use them.
 * Pod-facing server (imds), token issuing (imds-token) and the node's IMDS client (node-metadata)
 * all speak it, so it is spelled once, here, and this module imports nothing.
 */

/** Carries an IMDSv2 session token on every request. */
export const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
/** Asks for (on PUT) and reports (in the answer) a token's lifetime in seconds. */
export const TOKEN_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
/** Where an IMDSv2 token is minted, with PUT. */
export const TOKEN_PATH = '/latest/api/token';
/** A token lives 1 s to 6 h; real IMDS refuses any other TTL with 400. */
export const MIN_TOKEN_TTL_SECONDS = 1;
export const MAX_TOKEN_TTL_SECONDS = 21_600;
