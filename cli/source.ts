/**
 * Opening a session on an operator's database for the CLI: credentials from `--url`,
 * `CONNECTOR_SOURCE_URL` or the operator's Secrets Manager secret; failures become exit codes with
 * messages that say what to do and never contain a credential.
 */
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SecretError } from '#shared/adapters/secret-source';
import { AwsSecretSource } from '#shared/adapters/secrets-aws';
import { LocalSecretSource, parseSourceUrl } from '#shared/adapters/secrets-local';
import type { OperatorConfig } from '#shared/config/schema';
import { connectionSettings } from '#shared/sources/connect';
import {
  applicationNameFor,
  openSource,
  SourceAccessError,
  type SourceConnection,
  SourceConnectionError,
  SourceError,
} from '#shared/sources/index';
import type { SecretCredentials, SourceCredentials } from '#shared/types';
import { CliError, type CliIo, EXIT } from './io.ts';
import { localSecretsFile } from './local-secrets.ts';
import { stackNames } from './operator.ts';

/** Where the credentials came from, for messages (never the values). */
export interface ResolvedCredentials {
  readonly credentials: SourceCredentials;
  readonly from: string;
}

/** Credentials from a connection URL (`--url` or `CONNECTOR_SOURCE_URL`). */
export function credentialsFromUrl(url: string, what: string): ResolvedCredentials {
  try {
    return { credentials: parseSourceUrl(url, what), from: what };
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.usage, { cause: e });
  }
}

/**
 * The operator's source connection: `--url`, else `CONNECTOR_SOURCE_URL` (a database that replaces
 * the operator's, credentials included), else the config's connection settings and TLS policy with
 * the user name and password of the operator's secret: in Secrets Manager (in the config's
 * region), or with `CONNECTOR_ADAPTERS=local` in the local secrets file
 * `CONNECTOR_LOCAL_SECRETS_FILE` (as `connector credentials set` writes it).
 */
export async function operatorCredentials(
  config: OperatorConfig,
  url: string | undefined,
  io: CliIo,
): Promise<ResolvedCredentials> {
  if (url) return credentialsFromUrl(url, '--url');
  if (io.env.CONNECTOR_SOURCE_URL) return credentialsFromUrl(io.env.CONNECTOR_SOURCE_URL, 'CONNECTOR_SOURCE_URL');
  const secretId = stackNames(config).secret;
  const localFile = localSecretsFile('check', io);
  let secret: SecretCredentials;
  let from: string;
  if (localFile) {
    try {
      secret = await new LocalSecretSource({ secretsFile: localFile }).getCredentials(secretId);
      from = `secret ${secretId} in ${localFile}`;
    } catch (e) {
      throw new CliError(
        `${(e as Error).message}; store them with \`CONNECTOR_ADAPTERS=local connector credentials set ${config.operatorId}\`, or pass --url postgres://user:password@host:port/database`,
        EXIT.aws,
        { cause: e instanceof SecretError ? undefined : e },
      );
    }
  } else {
    const source = new AwsSecretSource({
      provider: new SecretsProvider({ clientConfig: { region: config.region } }),
      maxAgeSeconds: 0,
    });
    try {
      secret = await source.getCredentials(secretId, { refresh: true });
      from = `secret ${secretId}`;
    } catch (e) {
      const hint =
        'set the credentials with `connector credentials set`, or pass --url postgres://user:password@host:port/database for a local check';
      throw new CliError(`${(e as Error).message}; ${hint}`, EXIT.aws, {
        cause: e instanceof SecretError ? undefined : e,
      });
    }
  }
  return { credentials: settingsFor(config, secret, secretId), from };
}

/** The config's connection settings with a secret's user name and password (TLS policy applied). */
export function settingsFor(config: OperatorConfig, secret: SecretCredentials, secretId: string): SourceCredentials {
  const source = config.source;
  if (source.type === 'files') {
    throw new CliError(`operator ${config.operatorId} drops files; it has no source database`, EXIT.problems);
  }
  try {
    return connectionSettings(source, config.stage, secret, { operatorId: config.operatorId, secretId });
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.problems);
  }
}

/** Options of {@link connect}. */
export interface ConnectOptions {
  readonly operatorId?: string;
  /** @default 60 */
  readonly statementTimeoutSeconds?: number;
  /** @default 'UTC' */
  readonly timeZone?: string;
  /** @default 10 */
  readonly connectTimeoutSeconds?: number;
}

/** Opens a session; an unreachable server or refused login ends the command with exit 3. */
export async function connect(creds: SourceCredentials, options: ConnectOptions = {}): Promise<SourceConnection> {
  try {
    return await openSource(creds, {
      applicationName: applicationNameFor(options.operatorId ?? 'cli', 'cli'),
      statementTimeoutSeconds: options.statementTimeoutSeconds ?? 60,
      timeZone: options.timeZone ?? 'UTC',
      connectTimeoutSeconds: options.connectTimeoutSeconds ?? 10,
      ...(options.operatorId ? { operatorId: options.operatorId } : {}),
    });
  } catch (e) {
    throw cannotConnect(e, creds);
  }
}

/** The error of a failed connection, with what to do about it. */
export function cannotConnect(e: unknown, creds: SourceCredentials): CliError {
  const where = `${creds.engine} at ${creds.host}:${creds.port}/${creds.database} as ${creds.username}`;
  const message = e instanceof Error ? e.message : String(e);
  const hint =
    e instanceof SourceConnectionError
      ? 'check the host and port, that the database accepts connections from this machine (security group, allow-list) and that it is up'
      : e instanceof SourceAccessError
        ? 'check the user name, password, database name and TLS setting (tls / sslmode); run the grant SQL from `connector grant-sql` if the user does not exist'
        : 'check the connection settings';
  return new CliError(`cannot connect to ${where}: ${message}\n  what to do: ${hint}`, EXIT.cannotConnect, {
    cause: e instanceof SourceError ? e : undefined,
  });
}
