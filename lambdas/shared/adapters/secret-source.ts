/**
 * The credentials seam: the operator's Secrets Manager secret in the cloud; a JSON file or a
 * connection URL on a laptop (Secrets Manager has no local engine). Both validate the same shape,
 * and no error ever contains a credential value.
 */
import { z } from 'zod';
import type { SourceCredentials } from '../types.ts';

/** Reads the source database credentials. */
export interface SecretSource {
  /**
   * The credentials stored under `secretId`. `refresh` bypasses any cache (after an authentication
   * failure, when the password may have been rotated).
   */
  getCredentials(secretId: string, options?: { readonly refresh?: boolean }): Promise<SourceCredentials>;
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

const ENGINE_ALIASES: Record<string, SourceCredentials['engine']> = {
  postgres: 'postgres',
  postgresql: 'postgres',
  'aurora-postgresql': 'postgres',
  mysql: 'mysql',
  mariadb: 'mysql',
  'aurora-mysql': 'mysql',
};

const nonEmpty = z.string().min(1);

/**
 * The secret's JSON: `{engine, host, port, database, username, password, tls?, caCertificate?}`.
 * RDS-style `dbname`, engine names such as `postgresql`/`mariadb` and a numeric string port are
 * accepted as well.
 */
const credentialsSchema = z.object({
  engine: z.string().transform((v, ctx) => {
    const engine = ENGINE_ALIASES[v.toLowerCase()];
    if (!engine) ctx.addIssue({ code: 'custom', message: 'unknown engine' });
    return engine ?? 'postgres';
  }),
  host: nonEmpty,
  port: z
    .union([
      z.number(),
      z
        .string()
        .regex(/^\d{1,5}$/)
        .transform(Number),
    ])
    .pipe(z.number().int().min(1).max(65535)),
  database: nonEmpty,
  username: nonEmpty,
  password: nonEmpty,
  tls: z.enum(['verify-full', 'require', 'disable']).default('verify-full'),
  caCertificate: z.string().includes('-----BEGIN CERTIFICATE-----').optional(),
});

const EXPECTED: Record<string, string> = {
  engine: '"postgres" or "mysql"',
  host: 'a host name',
  port: 'an integer from 1 to 65535',
  database: 'a database name',
  username: 'a user name',
  password: 'a non-empty string',
  tls: '"verify-full", "require" or "disable"',
  caCertificate: 'a PEM certificate bundle',
};

/** The documented shape of the secret, for messages and docs (values are placeholders). */
export const CREDENTIALS_EXAMPLE =
  '{"engine":"postgres","host":"db.example.com","port":5432,"database":"casino","username":"connector_ro","password":"…","tls":"verify-full"}';

/**
 * Validates a parsed secret value; `where` names it in errors (e.g. `secret acme/source`).
 * The error lists each missing or invalid field by name, never by value.
 */
export function parseCredentials(value: unknown, secretId: string, where = `secret ${secretId}`): SourceCredentials {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SecretError(`${where} must be a JSON object like ${CREDENTIALS_EXAMPLE}`, secretId);
  }
  const raw = { ...(value as Record<string, unknown>) };
  if (raw.database === undefined && raw.dbname !== undefined) raw.database = raw.dbname;
  const result = credentialsSchema.safeParse(raw);
  if (result.success) {
    const { caCertificate, ...rest } = result.data;
    return caCertificate === undefined ? rest : { ...rest, caCertificate };
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
