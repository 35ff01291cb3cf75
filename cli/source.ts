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
import { scrubSecrets } from '#shared/scrub';
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
import { CliError, type CliIo, EXIT, UsageError } from './io.ts';
import { localSecretsFile } from './local-secrets.ts';
import { stackNames } from './operator.ts';

/** AWS errors that mean "who you are" failed, not "what you asked for". */
const AWS_IDENTITY_ERRORS = new Set([
  'CredentialsProviderError',
  'ExpiredTokenException',
  'ExpiredToken',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
]);

/** The name of the AWS SDK error under a wrapped error (Powertools and SecretError wrap it). */
function awsErrorName(e: unknown): string | undefined {
  let current: unknown = e;
  for (let depth = 0; depth < 4 && current; depth++) {
    const name = (current as { name?: string }).name;
    if (name && name !== 'SecretError' && name !== 'GetParameterError' && name !== 'Error') return name;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

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
  command = 'check',
): Promise<ResolvedCredentials> {
  if (url) return credentialsFromUrl(url, '--url');
  if (io.env.CONNECTOR_SOURCE_URL) return credentialsFromUrl(io.env.CONNECTOR_SOURCE_URL, 'CONNECTOR_SOURCE_URL');
  const secretId = stackNames(config).secret;
  const localFile = localSecretsFile(command, io);
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
      const aws = awsErrorName(e);
      if (aws && AWS_IDENTITY_ERRORS.has(aws)) {
        throw new CliError(
          `${command}: ${aws === 'CredentialsProviderError' ? 'no AWS credentials found' : `the AWS credentials were refused (${aws})`}: ` +
            `they are needed to read the database credentials from secret ${secretId} (Secrets Manager, account ${config.account}, ${config.region}).\n` +
            '  what to do: log in to the operator account (aws sso login, or set AWS_PROFILE), or give the database with a URL instead: ' +
            '--url postgres://user:password@host:port/database (or mysql://…), or use the local secrets file (CONNECTOR_ADAPTERS=local CONNECTOR_LOCAL_SECRETS_FILE=…)',
          EXIT.aws,
        );
      }
      const hint =
        aws === 'ResourceNotFoundException'
          ? `the secret does not exist: deploy the stack (npx cdk deploy ${stackNames(config).stack}), then store the database credentials with \`connector credentials set ${config.operatorId}\``
          : 'store the database credentials with `connector credentials set`, or pass --url postgres://user:password@host:port/database for a local check';
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

/** Seconds a connection attempt may take when neither `--timeout` nor the URL says. */
export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;

/** The `--timeout` option of the commands that connect to a database, for their help. */
export const TIMEOUT_HELP = `  --timeout S      give up connecting after S seconds (default: the URL's connect_timeout, else ${DEFAULT_CONNECT_TIMEOUT_SECONDS})`;

function timeoutSeconds(value: string, what: string, command: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 1 || n > 600) {
    throw new UsageError(
      `${command}: ${what} must be a whole number of seconds from 1 to 600, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/**
 * How long a connection attempt may take: `--timeout`, else the `connect_timeout` parameter of the
 * connection URL (seconds, as libpq spells it; honoured for mysql:// URLs too), else 10 s.
 */
export function connectTimeout(command: string, option: string | undefined, url: string | undefined): number {
  if (option !== undefined) return timeoutSeconds(option, '--timeout', command);
  if (url) {
    let param: string | null = null;
    try {
      param = new URL(url).searchParams.get('connect_timeout');
    } catch {
      // An invalid URL is reported where it is parsed, without its text.
    }
    if (param !== null) return timeoutSeconds(param, 'connect_timeout in the URL', command);
  }
  return DEFAULT_CONNECT_TIMEOUT_SECONDS;
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
      connectTimeoutSeconds: options.connectTimeoutSeconds ?? DEFAULT_CONNECT_TIMEOUT_SECONDS,
      ...(options.operatorId ? { operatorId: options.operatorId } : {}),
    });
  } catch (e) {
    throw cannotConnect(e, creds, options.connectTimeoutSeconds ?? DEFAULT_CONNECT_TIMEOUT_SECONDS);
  }
}

/** The error of a failed connection, with what to do about it. */
export function cannotConnect(e: unknown, creds: SourceCredentials, timeoutSeconds?: number): CliError {
  const where = `${creds.engine} at ${creds.host}:${creds.port}/${creds.database} as ${creds.username}`;
  const raw = scrubSecrets(e instanceof Error ? e.message : String(e), [creds.password]);
  const timedOut = /ETIMEDOUT|timeout expired|timed? ?out/i.test(raw);
  const message =
    timedOut && timeoutSeconds !== undefined
      ? `${raw}: no answer within ${timeoutSeconds} s (raise it with --timeout, or connect_timeout in the URL)`
      : raw;
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
