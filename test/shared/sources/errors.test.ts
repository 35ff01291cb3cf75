import { describe, expect, it } from 'vitest';
import {
  classOf,
  isRetryable,
  SourceAccessError,
  SourceConnectionError,
  SourceQueryError,
  SourceTimeoutError,
  toSourceError,
} from '../../../lambdas/shared/sources/errors.ts';

/** Driver errors as `pg` and `mysql2` raise them (fields only; the classes are driver-internal). */
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'ERROR' });
const mysqlError = (code: string, errno: number, message: string) =>
  Object.assign(new Error(message), { code, errno, sqlState: 'HY000' });
const socketError = (code: string) => Object.assign(new Error(`connect ${code} 10.0.0.1:5432`), { code });

describe('source error classification', () => {
  it.each([
    [
      'PG admin shutdown',
      pgError('57P01', 'terminating connection due to administrator command'),
      SourceConnectionError,
    ],
    ['PG connection failure', pgError('08006', 'connection failure'), SourceConnectionError],
    ['PG too many connections', pgError('53300', 'sorry, too many clients already'), SourceConnectionError],
    ['PG cannot connect now', pgError('57P03', 'the database system is starting up'), SourceConnectionError],
    ['PG statement timeout', pgError('57014', 'canceling statement due to statement timeout'), SourceTimeoutError],
    ['PG query cancelled by a DBA', pgError('57014', 'canceling statement due to user request'), SourceConnectionError],
    ['PG lock timeout', pgError('55P03', 'canceling statement due to lock timeout'), SourceTimeoutError],
    ['PG serialization failure', pgError('40001', 'could not serialize access'), SourceTimeoutError],
    ['PG bad password', pgError('28P01', 'password authentication failed for user "reader"'), SourceAccessError],
    ['PG permission denied', pgError('42501', 'permission denied for table rounds'), SourceAccessError],
    ['PG missing database', pgError('3D000', 'database "x" does not exist'), SourceAccessError],
    ['PG missing column', pgError('42703', 'column "x" does not exist'), SourceQueryError],
    ['PG read-only', pgError('25006', 'cannot execute INSERT in a read-only transaction'), SourceQueryError],
    ['pg connection terminated', new Error('Connection terminated unexpectedly'), SourceConnectionError],
    ['pg connect timeout', new Error('timeout expired'), SourceConnectionError],
    ['socket reset', socketError('ECONNRESET'), SourceConnectionError],
    ['connection refused', socketError('ECONNREFUSED'), SourceConnectionError],
    ['DNS hiccup', socketError('EAI_AGAIN'), SourceConnectionError],
    ['TLS untrusted', socketError('SELF_SIGNED_CERT_IN_CHAIN'), SourceAccessError],
    ['TLS host mismatch', socketError('ERR_TLS_CERT_ALTNAME_INVALID'), SourceAccessError],
    ['MySQL connection lost', mysqlError('PROTOCOL_CONNECTION_LOST', 0, 'Connection lost'), SourceConnectionError],
    [
      'MySQL too many connections',
      mysqlError('ER_CON_COUNT_ERROR', 1040, 'Too many connections'),
      SourceConnectionError,
    ],
    ['MariaDB connection killed', mysqlError('', 1927, 'Connection was killed'), SourceConnectionError],
    [
      'MySQL query killed',
      mysqlError('ER_QUERY_INTERRUPTED', 1317, 'Query execution was interrupted'),
      SourceConnectionError,
    ],
    ['MySQL statement timeout', mysqlError('', 3024, 'maximum statement execution time exceeded'), SourceTimeoutError],
    ['MariaDB statement timeout', mysqlError('', 1969, 'max_statement_time exceeded'), SourceTimeoutError],
    ['MySQL deadlock', mysqlError('ER_LOCK_DEADLOCK', 1213, 'Deadlock found'), SourceTimeoutError],
    [
      'MySQL bad password',
      mysqlError('ER_ACCESS_DENIED_ERROR', 1045, "Access denied for user 'r'@'h'"),
      SourceAccessError,
    ],
    [
      'MySQL no SELECT grant',
      mysqlError('ER_TABLEACCESS_DENIED_ERROR', 1142, 'SELECT command denied'),
      SourceAccessError,
    ],
    ['MySQL missing column', mysqlError('ER_BAD_FIELD_ERROR', 1054, "Unknown column 'x'"), SourceQueryError],
    ['anything else', new Error('something odd'), SourceQueryError],
  ])('%s → %s', (_label, error, expected) => {
    expect(classOf(error)).toBe(expected);
    expect(isRetryable(error)).toBe(expected === SourceConnectionError || expected === SourceTimeoutError);
    const wrapped = toSourceError(error, { operatorId: 'acme', stream: 'payments', table: 'casino.tx' });
    expect(wrapped).toBeInstanceOf(expected);
    expect(wrapped.name).toBe(expected.name);
    expect(wrapped.cause).toBeUndefined();
    expect(wrapped.message.startsWith('operator acme, stream payments, table casino.tx: ')).toBe(true);
  });

  it('describes driver errors in its own words and says what to do', () => {
    const error = toSourceError(
      pgError('28P01', 'password authentication failed for user "reader" (tried s3cr3t-pw)'),
      { operatorId: 'acme' },
      ['s3cr3t-pw'],
      'connecting',
    );
    expect(error.message).toBe(
      'operator acme: connecting: password authentication failed (28P01). Check the user name and password in the credentials secret, and source.host, source.database, source.tls and source.caBundle in the operator config',
    );
    expect(error.code).toBe('28P01');
    const denied = toSourceError(pgError('42501', 'permission denied for table rounds'), {});
    expect(denied.message).toMatch(/Check the grants of the connector user/);
  });

  it('keeps reader errors as they are', () => {
    const original = new SourceTimeoutError('slow', { context: { stream: 'players' } });
    expect(toSourceError(original, { stream: 'other' })).toBe(original);
    expect(original.message).toBe('stream players: slow');
    expect(isRetryable(original)).toBe(true);
    expect(isRetryable(new SourceQueryError('bad'))).toBe(false);
  });
});

describe('no row value, statement or credential in a source error', () => {
  const VALUE = 'PLAYER-RAW-ID-4711';
  const PASSWORD = 'PW-Secret-9931';
  /** Everything a logger, Step Functions or a serializer could see of an error. */
  const everything = (e: unknown) =>
    JSON.stringify(e, Object.getOwnPropertyNames(e)) + String((e as Error).stack) + String((e as Error).cause);

  it.each([
    [
      'pg data exception quoting the value',
      Object.assign(new Error(`invalid input syntax for type integer: "${VALUE}"`), {
        code: '22P02',
        where: `COPY customers, line 1, column id: "${VALUE}"`,
        detail: `Key (id)=(${VALUE}) already exists.`,
        parameters: [VALUE],
      }),
    ],
    [
      'pg RAISE in a view',
      Object.assign(new Error(`bad row ${VALUE}`), { code: 'P0001', where: `PL/pgSQL function boom(text) ${VALUE}` }),
    ],
    [
      'mysql2 statement timeout with the statement and its bound values',
      Object.assign(new Error('Query execution was interrupted (max_statement_time exceeded)'), {
        code: 'ER_STATEMENT_TIMEOUT',
        errno: 1969,
        sqlState: '70100',
        sql: `SELECT * FROM customers WHERE (modified_ts, account_id) > ('2026-01-01', '${VALUE}')`,
        sqlMessage: 'Query execution was interrupted (max_statement_time exceeded)',
      }),
    ],
    [
      'MariaDB SIGNAL quoting the value',
      Object.assign(new Error(`bad ${VALUE}`), {
        code: 'ER_SIGNAL_EXCEPTION',
        errno: 1644,
        sqlMessage: `bad ${VALUE}`,
      }),
    ],
    [
      'mysql2 refused login',
      Object.assign(new Error(`Access denied for user 'reader'@'10.0.0.1' (using password: YES) ${PASSWORD}`), {
        code: 'ER_ACCESS_DENIED_ERROR',
        errno: 1045,
      }),
    ],
    ['an error without a code', new Error(`something about ${VALUE}`)],
  ])('%s', (_label, driverError) => {
    const wrapped = toSourceError(driverError, { operatorId: 'acme', stream: 'players' }, [PASSWORD], 'reading');
    expect(everything(wrapped)).not.toContain(VALUE);
    expect(everything(wrapped)).not.toContain(PASSWORD);
    expect(wrapped.message).toMatch(/^operator acme, stream players: reading: /);
  });
});
