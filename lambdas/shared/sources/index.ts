/**
 * Source readers: one read-only session on an operator's PostgreSQL or MySQL/MariaDB database,
 * streaming exact text batches ordered by (cursor, key). See {@link SourceConnection}.
 */
import type { SourceCredentials } from '../types.ts';
import { openMysql } from './mysql.ts';
import { openPostgres } from './postgres.ts';
import type { SourceConnection, SourceOptions } from './source.ts';

export { dateBound, localWallTimeToUtc, utcToLocalWallTime, wallTimeBound } from '../mapping/time.ts';
export * from './errors.ts';
export { mysqlKind } from './mysql.ts';
export { postgresKind } from './postgres.ts';
export * from './source.ts';

/**
 * Opens a read-only session on the operator's database.
 *
 * @throws SourceConnectionError (retryable) when the server cannot be reached,
 *   SourceAccessError when the credentials, TLS settings or database are wrong.
 */
export function openSource(creds: SourceCredentials, opts: SourceOptions): Promise<SourceConnection> {
  return creds.engine === 'postgres' ? openPostgres(creds, opts) : openMysql(creds, opts);
}
