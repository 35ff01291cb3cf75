/**
 * The CLI side of the local adapters (`CONNECTOR_ADAPTERS=local`): operator secrets live in the
 * JSON file `CONNECTOR_LOCAL_SECRETS_FILE` (secret id → credentials) that `LocalSecretSource`
 * reads, instead of Secrets Manager. Errors never quote the file's content (it holds passwords).
 */
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { SecretCredentials } from '#shared/types';
import { CliError, type CliIo, EXIT, UsageError } from './io.ts';

/**
 * The local secrets file when `CONNECTOR_ADAPTERS=local`, resolved against the working directory;
 * `undefined` in AWS mode (the default).
 */
export function localSecretsFile(command: string, io: CliIo): string | undefined {
  const mode = io.env.CONNECTOR_ADAPTERS?.trim() || 'aws';
  if (mode === 'aws') return undefined;
  if (mode !== 'local') {
    throw new UsageError(`${command}: CONNECTOR_ADAPTERS must be "aws" or "local", got ${JSON.stringify(mode)}`);
  }
  const file = io.env.CONNECTOR_LOCAL_SECRETS_FILE?.trim();
  if (!file) {
    throw new UsageError(
      `${command}: CONNECTOR_ADAPTERS=local needs CONNECTOR_LOCAL_SECRETS_FILE: the JSON file of secret id → credentials (created if missing)`,
    );
  }
  return resolve(io.cwd, file);
}

function readSecrets(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`local secrets file ${file} cannot be read: ${(e as Error).message}`, EXIT.problems, {
      cause: e,
    });
  }
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The parser's message quotes the file's content, which holds passwords.
    throw new CliError(`local secrets file ${file} is not valid JSON; fix or remove it`, EXIT.problems);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliError(
      `local secrets file ${file} must be a JSON object of secret id → credentials; fix or remove it`,
      EXIT.problems,
    );
  }
  return value as Record<string, unknown>;
}

/**
 * Stores `credentials` (user name and password) under `secretId` in the local secrets file, keeping the other secrets. The
 * file is created if missing and is always left readable by its owner only (0600); it is replaced
 * atomically, so a failed write never leaves half a file.
 */
export function writeLocalSecret(file: string, secretId: string, credentials: SecretCredentials): void {
  const secrets = readSecrets(file);
  secrets[secretId] = credentials;
  const temp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
    chmodSync(temp, 0o600);
    renameSync(temp, file);
  } catch (e) {
    throw new CliError(`local secrets file ${file} cannot be written: ${(e as Error).message}`, EXIT.problems, {
      cause: e,
    });
  }
}
