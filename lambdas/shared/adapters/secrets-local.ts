/**
 * {@link SecretSource} for laptops and tests: a JSON file mapping secret ids to credentials (the
 * shape `connector credentials set` stores in Secrets Manager), and {@link parseSourceUrl} for a
 * connection URL (`postgres://user:password@host:port/database?sslmode=disable`) that replaces the
 * operator's database altogether on a laptop (`CONNECTOR_SOURCE_URL`).
 */
import { readFile } from 'node:fs/promises';
import type { SecretCredentials, SourceCredentials } from '../types.ts';
import { parseCredentials, SecretError, type SecretSource } from './secret-source.ts';

export interface LocalSecretSourceOptions {
  /** JSON file `{ "<secretId>": { "username": …, "password": … } }`. */
  readonly secretsFile: string;
}

const SCHEMES: Record<string, SourceCredentials['engine']> = {
  'postgres:': 'postgres',
  'postgresql:': 'postgres',
  'mysql:': 'mysql',
  'mariadb:': 'mysql',
};
const DEFAULT_PORTS = { postgres: 5432, mysql: 3306 } as const;
const SSL_MODES: Record<string, SourceCredentials['tls']> = {
  disable: 'disable',
  allow: 'disable',
  prefer: 'disable',
  require: 'require',
  'verify-ca': 'verify-full',
  'verify-full': 'verify-full',
  false: 'disable',
  true: 'verify-full',
};

/**
 * Parses a postgres:// or mysql:// connection URL into credentials. TLS comes from `sslmode` (or
 * `ssl`); without it, a loopback host means `disable` and any other host `verify-full`. Errors name
 * what is wrong, never the URL (it holds the password).
 */
export function parseSourceUrl(url: string, what = 'CONNECTOR_SOURCE_URL'): SourceCredentials {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SecretError(`${what} is not a valid URL; expected postgres://user:password@host:5432/database`, what);
  }
  const engine = SCHEMES[parsed.protocol];
  if (!engine) {
    throw new SecretError(`${what} must start with postgres:// or mysql:// (got ${parsed.protocol}//)`, what);
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const missing = [
    ...(host ? [] : ['host']),
    ...(database ? [] : ['database (the URL path)']),
    ...(parsed.username ? [] : ['user name']),
  ];
  if (missing.length > 0) throw new SecretError(`${what} has no ${missing.join(', ')}`, what);
  const mode = parsed.searchParams.get('sslmode') ?? parsed.searchParams.get('ssl');
  const loopback = host === 'localhost' || host === '::1' || host.startsWith('127.');
  let tls: SourceCredentials['tls'] = loopback ? 'disable' : 'verify-full';
  if (mode !== null) {
    const mapped = SSL_MODES[mode];
    if (!mapped) throw new SecretError(`${what} has an unknown sslmode; use disable, require or verify-full`, what);
    tls = mapped;
  }
  return {
    engine,
    host,
    port: parsed.port ? Number(parsed.port) : DEFAULT_PORTS[engine],
    database,
    username: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    tls,
  };
}

/** Reads source credentials from a local secrets file. */
export class LocalSecretSource implements SecretSource {
  constructor(private readonly options: LocalSecretSourceOptions) {}

  async getCredentials(secretId: string): Promise<SecretCredentials> {
    const { secretsFile } = this.options;
    const secrets = await readSecretsFile(secretsFile, secretId);
    if (Object.hasOwn(secrets, secretId)) {
      return parseCredentials(secrets[secretId], secretId, `secret ${secretId} in ${secretsFile}`);
    }
    const known = Object.keys(secrets);
    throw new SecretError(
      `secret ${secretId} is not in ${secretsFile} (it holds ${known.length ? known.join(', ') : 'no secrets'}); store it with \`CONNECTOR_ADAPTERS=local connector credentials set\`, or set CONNECTOR_SOURCE_URL to run against a local database`,
      secretId,
    );
  }
}

async function readSecretsFile(file: string, secretId: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new SecretError(`local secrets file ${file} cannot be read: ${(error as Error).message}`, secretId, false, {
      cause: error,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The parser's message quotes the file's content, which holds passwords.
    throw new SecretError(`local secrets file ${file} is not valid JSON`, secretId);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SecretError(`local secrets file ${file} must be a JSON object of secret id → credentials`, secretId);
  }
  return value as Record<string, unknown>;
}
