/**
 * The credentials seam: the operator's Secrets Manager secret in the cloud; a JSON file or a
 * connection URL on a laptop (Secrets Manager has no local engine). Both validate the same shape,
 * and no error ever contains a credential value.
 */
import { z } from 'zod';
import type { SecretCredentials } from '../types.ts';

/** Reads the user name and password of the source database. */
export interface SecretSource {
  /**
   * The credentials stored under `secretId`. `refresh` bypasses any cache (after an authentication
   * failure, when the password may have been rotated).
   */
  getCredentials(secretId: string, options?: { readonly refresh?: boolean }): Promise<SecretCredentials>;
}

/** Credentials cannot be read or are not valid. Never contains a secret value. */
export class SecretError extends Error {
  override readonly name = 'SecretError';
  constructor(
    message: string,
    readonly secretId: string,
    /** Throttling and service errors may succeed on retry; a missing secret or bad shape will not. */
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const nonEmpty = z.string().min(1);

/**
 * The secret's JSON: `{username, password}`, optionally `tls` (which can only raise the config's
 * `source.tls`). Connection settings (`engine`, `host`, `port`, `database`/`dbname`), as an RDS-style
 * secret holds them, are tolerated and ignored: the operator config decides where the connector
 * connects, so a config edit never needs a secret change (and a secret change never moves it).
 */
const credentialsSchema = z.object({
  username: nonEmpty,
  password: nonEmpty,
  tls: z.enum(['verify-full', 'require', 'disable']).optional(),
});

const EXPECTED: Record<string, string> = {
  username: 'a user name',
  password: 'a non-empty string',
  tls: '"verify-full", "require" or "disable"',
};

/** Keys of an RDS-style secret that the connector ignores (the config holds these settings). */
export const IGNORED_SECRET_KEYS = ['engine', 'host', 'port', 'database', 'dbname'] as const;

/** The documented shape of the secret, for messages and docs (values are placeholders). */
export const CREDENTIALS_EXAMPLE = '{"username":"connector_ro","password":"…"}';

/**
 * Validates a parsed secret value; `where` names it in errors (e.g. `secret acme/source`).
 * The error lists each missing or invalid field by name, never by value.
 */
export function parseCredentials(value: unknown, secretId: string, where = `secret ${secretId}`): SecretCredentials {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SecretError(`${where} must be a JSON object like ${CREDENTIALS_EXAMPLE}`, secretId);
  }
  const raw = value as Record<string, unknown>;
  if (raw.caCertificate !== undefined) {
    throw new SecretError(
      `${where} holds a caCertificate; CA certificates are not secret and belong in the operator config (source.caBundle: aws-rds, or the PEM bundle of the operator's CA). Store only ${CREDENTIALS_EXAMPLE}`,
      secretId,
    );
  }
  const result = credentialsSchema.safeParse(raw);
  if (result.success) {
    const { tls, ...rest } = result.data;
    return tls === undefined ? rest : { ...rest, tls };
  }
  const problems = new Map<string, string>();
  for (const issue of result.error.issues) {
    const field = String(issue.path[0] ?? '(value)');
    if (problems.has(field)) continue;
    const missing = raw[field] === undefined || raw[field] === null;
    problems.set(
      field,
      missing ? `${field} is missing` : `${field} is invalid (expected ${EXPECTED[field] ?? 'a valid value'})`,
    );
  }
  throw new SecretError(
    `${where} does not hold valid source credentials: ${[...problems.values()].join('; ')}. Expected a JSON object like ${CREDENTIALS_EXAMPLE}`,
    secretId,
  );
}
