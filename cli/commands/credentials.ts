/**
 * `connector credentials set <operator>`: stores the source database credentials in the operator's
 * secret. The JSON is read from stdin only (never from arguments, which end up in shell history
 * and process lists) and is never printed, not even in errors.
 */
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CREDENTIALS_EXAMPLE, IGNORED_SECRET_KEYS, parseCredentials } from '#shared/adapters/secret-source';
import { scrubSecrets } from '#shared/scrub';
import type { SecretCredentials } from '#shared/types';
import { awsError } from '../aws.ts';
import { databaseSource, defineCommand } from '../command.ts';
import { CliError, type CliIo, EXIT, OPERATOR_HELP, OPERATOR_OPTIONS, printJson, UsageError } from '../io.ts';
import { localSecretsFile, writeLocalSecret } from '../local-secrets.ts';
import { stackNames } from '../operator.ts';
import { connect, connectTimeout, settingsFor, TIMEOUT_HELP } from '../source.ts';

const HELP = `Usage: connector credentials set <operator> [--no-check] < credentials.json

Reads the user name and password of the operator's read-only database user as JSON from stdin,
validates them, tests the connection (unless --no-check) and stores them in the operator's secret
connector/<operator>-<stage>/source (Secrets Manager PutSecretValue, in the config's region).
Where to connect (source.type, host, port, database) and the TLS policy (source.tls, the minimum,
and source.caBundle) come from the operator config, never from the secret, so editing them needs
no new secret. With CONNECTOR_ADAPTERS=local the secret goes instead into the JSON file
CONNECTOR_LOCAL_SECRETS_FILE (secret id → credentials, created 0600 if missing), which the local
adapters and \`connector check\` read. The credentials are never printed. Pass them on stdin only, e.g.

  npx connector credentials set acme-casino < creds.json
  read -rs PW; printf '{"username":"connector_ro","password":"%s"}' "$PW" \\
    | npx connector credentials set acme-casino

Shape: ${CREDENTIALS_EXAMPLE}
(optional tls: a stricter mode than source.tls; a weaker one is refused. engine, host, port and
database, as RDS-style secrets hold them, are ignored.)

Options:
  --no-check      store without testing the connection (e.g. the database is only reachable from the VPC)
  --json          print {"secret", "versionId", "checked"} on success
${TIMEOUT_HELP}
  -h, --help      show this help

${OPERATOR_HELP}

Exit codes: 0 stored, 1 the credentials are invalid, 2 usage error, 3 the connection test failed
(nothing stored), 4 Secrets Manager refused the update.`;

/** Storing the secret is the only step that differs between the AWS and the local adapters. */
async function storeInSecretsManager(
  config: { readonly region: string },
  secretId: string,
  creds: SecretCredentials,
  io: CliIo,
): Promise<string | undefined> {
  io.err(`storing the credentials in secret ${secretId} (${config.region})…\n`);
  const client = new SecretsManagerClient({ region: config.region });
  try {
    const out = await client.send(
      new PutSecretValueCommand({ SecretId: secretId, SecretString: JSON.stringify(creds) }),
    );
    return out.VersionId;
  } catch (e) {
    throw awsError(`storing the credentials in secret ${secretId}`, e, [creds.password]);
  } finally {
    client.destroy();
  }
}

export const credentialsCommand = defineCommand({
  name: 'credentials',
  summary: "store the source database credentials in the operator's secret (from stdin)",
  help: HELP,
  options: {
    ...OPERATOR_OPTIONS,
    'no-check': { type: 'boolean' },
    json: { type: 'boolean' },
    timeout: { type: 'string' },
  },
  async run({ values, positionals, io, operator }) {
    const [action, operatorId, ...extra] = positionals;
    if (action !== 'set')
      throw new UsageError(
        'credentials: the only action is `set`: `connector credentials set <operator> < creds.json`',
      );
    if (extra.length > 0) {
      throw new UsageError(
        'credentials set: unexpected arguments; credentials are read from stdin only, never from the command line',
      );
    }
    const localFile = localSecretsFile('credentials set', io);
    const { config } = operator({ operator: operatorId, as: 'credentials set' });
    const source = databaseSource('credentials set', config, 'it has no database credentials');
    const secretId = stackNames(config).secret;
    const text = (await io.readStdin()).trim();
    if (text === '') {
      throw new UsageError(`credentials set: no credentials on stdin; pipe a JSON object like ${CREDENTIALS_EXAMPLE}`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      // The parser's message quotes the input, which holds the password.
      throw new CliError(
        `credentials set: stdin is not valid JSON; expected an object like ${CREDENTIALS_EXAMPLE}`,
        EXIT.problems,
      );
    }
    let secret: SecretCredentials;
    try {
      secret = parseCredentials(value, secretId, 'stdin');
    } catch (e) {
      throw new CliError(`credentials set: ${(e as Error).message}`, EXIT.problems);
    }
    const ignored = IGNORED_SECRET_KEYS.filter((k) => (value as Record<string, unknown>)[k] !== undefined);
    if (ignored.length > 0) {
      io.err(
        `warning: ignoring ${ignored.join(', ')} on stdin: the connector connects where the operator config says (source.type, source.host, source.port, source.database); only username and password are stored\n`,
      );
    }
    const creds = settingsFor(config, secret, secretId);
    if (!values['no-check']) {
      io.err(
        `testing the connection to ${creds.host}:${creds.port}/${creds.database} (tls: ${creds.tls}) as ${creds.username}…\n`,
      );
      try {
        const conn = await connect(creds, {
          operatorId: config.operatorId,
          timeZone: source.timeZone,
          connectTimeoutSeconds: connectTimeout('credentials set', values.timeout, undefined),
        });
        try {
          await conn.serverTime();
        } finally {
          await conn.close();
        }
      } catch (e) {
        const message = scrubSecrets((e as Error).message, [creds.password]);
        throw new CliError(
          `${message}\nNothing was stored. Use --no-check to store credentials that cannot be tested from here.`,
          EXIT.cannotConnect,
        );
      }
    }
    let versionId: string | undefined;
    if (localFile) {
      io.err(`storing the credentials in secret ${secretId} in the local secrets file ${localFile}…\n`);
      writeLocalSecret(localFile, secretId, secret);
    } else {
      versionId = await storeInSecretsManager(config, secretId, secret, io);
    }
    if (values.json) {
      printJson(io, {
        secret: secretId,
        versionId: versionId ?? null,
        checked: !values['no-check'],
        ...(localFile ? { file: localFile } : {}),
      });
    } else {
      io.out(
        `Stored credentials of ${creds.username} for ${creds.engine} ${creds.host}:${creds.port}/${creds.database} in ${secretId}${versionId ? ` (version ${versionId})` : ''}${localFile ? ` (local file ${localFile})` : ''}.\n` +
          `Next: npx connector check ${config.operatorId}${values.config ? ` --config ${values.config}` : config.stage === 'production' ? ' --stage production' : ''}\n`,
      );
    }
    return EXIT.ok;
  },
});
