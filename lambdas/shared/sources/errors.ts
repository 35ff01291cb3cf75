/**
 * Errors raised by the source readers, with stable `name`s that Step Functions Retry/Catch match:
 *
 * | name | retryable | when |
 * | --- | --- | --- |
 * | `SourceConnectionError` | yes | the network or the server dropped or refused the session (reset, terminated, too many connections, server shutting down, killed by a DBA) |
 * | `SourceTimeoutError` | yes | the statement timeout or a lock timeout fired, or a serialization failure / deadlock |
 * | `SourceAccessError` | no | authentication failed, TLS verification failed, the database does not exist, or a privilege is missing |
 * | `SourceQueryError` | no | anything the operator's schema or the config must fix: a missing table or column, an unsafe identifier, a type problem |
 * | `SchemaDriftError` | no | the source table changed under the mapping (a mapped column dropped, renamed or retyped beyond what the landed type holds), found by the catalog check before a run reads |
 *
 * Messages name the operator, stream and table when known, and are the connector's own words: never
 * a driver message (which can quote row values), a statement with bound values, the password or a
 * connection string. The driver error itself is not kept.
 */
import { scrubSecrets } from '../scrub.ts';

/** Where an error happened, for messages. */
export interface SourceErrorContext {
  readonly operatorId?: string;
  readonly stream?: string;
  /** `schema.table` */
  readonly table?: string;
}

/** Base class of the reader errors; `retryable` tells whether trying again later can succeed. */
export abstract class SourceError extends Error {
  abstract readonly retryable: boolean;
  /** SQLSTATE (PostgreSQL), MySQL error code name, or Node.js socket error code, when there is one. */
  readonly code: string | undefined;
  readonly context: SourceErrorContext;

  constructor(message: string, options: { context?: SourceErrorContext; code?: string } = {}) {
    super(withContext(message, options.context ?? {}));
    this.code = options.code;
    this.context = options.context ?? {};
  }
}

/** The session was refused or lost; retry with a new connection. */
export class SourceConnectionError extends SourceError {
  override readonly name = 'SourceConnectionError';
  readonly retryable = true;
}

/** A statement or lock timeout, serialization failure or deadlock; retry, then split the window. */
export class SourceTimeoutError extends SourceError {
  override readonly name = 'SourceTimeoutError';
  readonly retryable = true;
}

/** Credentials, TLS, database or privileges are wrong; a person must fix them. */
export class SourceAccessError extends SourceError {
  override readonly name = 'SourceAccessError';
  readonly retryable = false;
}

/** The query cannot succeed as configured (missing table or column, unsafe identifier, …). */
export class SourceQueryError extends SourceError {
  override readonly name = 'SourceQueryError';
  readonly retryable = false;
}

/**
 * A mapped column of the stream's table was dropped, renamed or retyped beyond what its landed type
 * holds (see `drift/compare.ts`). The message names the table, each column, its old and new type and
 * what to change in config; it holds names and types only, never a value.
 */
export class SchemaDriftError extends SourceError {
  override readonly name = 'SchemaDriftError';
  readonly retryable = false;
}

type SourceErrorClass =
  | typeof SourceConnectionError
  | typeof SourceTimeoutError
  | typeof SourceAccessError
  | typeof SourceQueryError;

function withContext(message: string, context: SourceErrorContext): string {
  const where = [
    context.operatorId ? `operator ${context.operatorId}` : undefined,
    context.stream ? `stream ${context.stream}` : undefined,
    context.table ? `table ${context.table}` : undefined,
  ].filter((part) => part !== undefined);
  return where.length > 0 ? `${where.join(', ')}: ${message}` : message;
}

const RETRYABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ERR_SOCKET_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

const TLS_CODES =
  /^(ERR_TLS_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_SELF_SIGNED|HOSTNAME_MISMATCH|ERR_SSL_|HANDSHAKE_NO_SSL_SUPPORT|HANDSHAKE_SSL_ERROR)/;

/** PostgreSQL SQLSTATE → error class. */
function classifyPgCode(code: string, message: string): SourceErrorClass | undefined {
  if (code.startsWith('08')) return SourceConnectionError; // connection_exception
  if (code === '57014') return /statement timeout/i.test(message) ? SourceTimeoutError : SourceConnectionError;
  if (code === '57P01' || code === '57P02' || code === '57P03' || code === '57P05') return SourceConnectionError;
  if (code === '53300' || code === '53200' || code === '53100' || code === '53400') return SourceConnectionError;
  if (code === '40001' || code === '40P01' || code === '55P03' || code === '25P03') return SourceTimeoutError;
  if (code === '28000' || code === '28P01' || code === '3D000' || code === '42501') return SourceAccessError;
  if (/^[0-9A-Z]{5}$/.test(code)) return SourceQueryError;
  return undefined;
}

/** MySQL/MariaDB error code name → error class. */
function classifyMysqlCode(code: string, errno: number | undefined): SourceErrorClass | undefined {
  switch (code) {
    case 'ER_CON_COUNT_ERROR':
    case 'ER_TOO_MANY_USER_CONNECTIONS':
    case 'ER_SERVER_SHUTDOWN':
    case 'ER_NORMAL_SHUTDOWN':
    case 'ER_SHUTDOWN_COMPLETE':
    case 'ER_CONNECTION_KILLED':
    case 'ER_QUERY_INTERRUPTED':
    case 'ER_NET_READ_ERROR':
    case 'ER_NET_READ_INTERRUPTED':
    case 'ER_NET_ERROR_ON_WRITE':
    case 'ER_NET_WRITE_INTERRUPTED':
    case 'ER_NET_PACKETS_OUT_OF_ORDER':
    case 'ER_ABORTING_CONNECTION':
    case 'ER_NEW_ABORTING_CONNECTION':
    case 'ER_OUT_OF_RESOURCES':
    case 'ER_CLIENT_INTERACTION_TIMEOUT':
      return SourceConnectionError;
    case 'ER_QUERY_TIMEOUT':
    case 'ER_STATEMENT_TIMEOUT':
    case 'ER_LOCK_WAIT_TIMEOUT':
    case 'ER_LOCK_DEADLOCK':
      return SourceTimeoutError;
    case 'ER_ACCESS_DENIED_ERROR':
    case 'ER_DBACCESS_DENIED_ERROR':
    case 'ER_TABLEACCESS_DENIED_ERROR':
    case 'ER_COLUMNACCESS_DENIED_ERROR':
    case 'ER_SPECIFIC_ACCESS_DENIED_ERROR':
    case 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR':
    case 'ER_BAD_DB_ERROR':
    case 'ER_HOST_IS_BLOCKED':
    case 'ER_HOST_NOT_PRIVILEGED':
    case 'ER_NOT_SUPPORTED_AUTH_MODE':
    case 'ER_SECURE_TRANSPORT_REQUIRED':
    case 'HANDSHAKE_NO_SSL_SUPPORT':
      return SourceAccessError;
  }
  // Codes mysql2 does not name (MariaDB-specific or newer): 1927 connection killed, 1969 statement
  // timeout (MariaDB), 3024 statement timeout (MySQL), 4031 client interaction timeout (MySQL 8.0.24+).
  if (errno === 1927 || errno === 4031 || errno === 2013 || errno === 2006) return SourceConnectionError;
  if (errno === 1969 || errno === 3024) return SourceTimeoutError;
  if (code.startsWith('ER_')) return SourceQueryError;
  return undefined;
}

interface DriverErrorFields {
  code?: unknown;
  errno?: unknown;
  message?: unknown;
  sqlState?: unknown;
}

/** The error class for a raw driver or socket error. */
export function classOf(err: unknown): SourceErrorClass {
  if (err instanceof SourceError) return err.constructor as SourceErrorClass;
  const e = (typeof err === 'object' && err !== null ? err : {}) as DriverErrorFields;
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  const errno = typeof e.errno === 'number' ? e.errno : undefined;
  if (RETRYABLE_NODE_CODES.has(code)) return SourceConnectionError;
  if (
    TLS_CODES.test(code) ||
    /self[- ]signed certificate|certificate|does not support (SSL|secure connection)|SSL off/i.test(message)
  ) {
    return SourceAccessError;
  }
  const mysql = code.startsWith('ER_') || (errno !== undefined && errno >= 1000 && errno < 5000);
  const byCode = mysql ? classifyMysqlCode(code, errno) : code ? classifyPgCode(code, message) : undefined;
  if (byCode) return byCode;
  if (
    /Connection terminated|connection (error|closed|lost)|not queryable|socket hang up|timeout expired|Connection lost|server closed the connection|read ECONNRESET|Query read timeout/i.test(
      message,
    )
  ) {
    return SourceConnectionError;
  }
  return SourceQueryError;
}

/**
 * Whether an error (a reader error or a raw `pg` / `mysql2` / socket error) is transient: a retry
 * with a fresh connection may succeed. Step Functions should match on the error names instead.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof SourceError) return err.retryable;
  const Class = classOf(err);
  return Class === SourceConnectionError || Class === SourceTimeoutError;
}

/** The driver's code of an error: SQLSTATE, MySQL code name or errno, or Node.js socket/TLS code. */
function driverCode(err: unknown): string | undefined {
  const e = (typeof err === 'object' && err !== null ? err : {}) as DriverErrorFields;
  if (typeof e.code === 'string' && e.code !== '') return e.code;
  if (typeof e.errno === 'number') return String(e.errno);
  return undefined;
}

/** PostgreSQL SQLSTATEs the connector names in its own words. */
const PG_TEXT: Record<string, string> = {
  '28P01': 'password authentication failed',
  '28000':
    'the server refused the login (unknown user, or no pg_hba.conf entry for this host, user, database and TLS mode)',
  '3D000': 'the database does not exist',
  '42501': 'permission denied: the connector user lacks a privilege',
  '42P01': 'a table or view does not exist',
  '42703': 'a column does not exist',
  '42883': 'a function or operator does not exist',
  '42601': 'the server reported a syntax error',
  '25006': 'the session is in a read-only transaction and refused a write',
  '57014': 'the statement was cancelled (statement timeout or a cancel request)',
  '57P01': 'the server terminated the session (administrator command)',
  '57P02': 'the server terminated the session (crash shutdown)',
  '57P03': 'the server is not accepting connections yet',
  '57P05': 'the server terminated the idle session',
  '53300': 'the server has too many connections',
  '53200': 'the server is out of memory',
  '53100': 'the server is out of disk space',
  '40001': 'serialization failure',
  '40P01': 'deadlock detected',
  '55P03': 'a lock could not be acquired in time',
  '25P03': 'the idle-in-transaction timeout ended the session',
  '22P02': 'a value could not be converted to the column type',
};

/** PostgreSQL SQLSTATE classes (first two characters). */
const PG_CLASS_TEXT: Record<string, string> = {
  '08': 'connection exception',
  '0A': 'feature not supported',
  '22': 'data exception (a value could not be converted or is out of range)',
  '23': 'integrity constraint violation',
  '25': 'invalid transaction state',
  '28': 'invalid authorization',
  '2B': 'dependent objects still exist',
  '3D': 'invalid database',
  '3F': 'invalid schema',
  '40': 'transaction rollback',
  '42': 'syntax error or access rule violation',
  '53': 'insufficient resources on the server',
  '54': 'program limit exceeded',
  '55': 'object not in prerequisite state',
  '57': 'operator intervention',
  '58': 'system error on the server',
  P0: 'error raised by a PL/pgSQL function (in a view or function the table is read through)',
  XX: 'internal error of the server',
};

/** MySQL/MariaDB codes the connector names in its own words. */
const MYSQL_TEXT: Record<string, string> = {
  ER_ACCESS_DENIED_ERROR: 'the server refused the login (user name or password, or host not allowed)',
  ER_ACCESS_DENIED_NO_PASSWORD_ERROR: 'the server refused the login without a password',
  ER_DBACCESS_DENIED_ERROR: 'the connector user may not use this database',
  ER_TABLEACCESS_DENIED_ERROR: 'the connector user lacks a privilege on a table',
  ER_COLUMNACCESS_DENIED_ERROR: 'the connector user lacks a privilege on a column',
  ER_SPECIFIC_ACCESS_DENIED_ERROR: 'the connector user lacks a privilege',
  ER_BAD_DB_ERROR: 'the database does not exist',
  ER_HOST_IS_BLOCKED: 'this host is blocked by the server (too many connection errors)',
  ER_HOST_NOT_PRIVILEGED: 'this host may not connect to the server',
  ER_NOT_SUPPORTED_AUTH_MODE: 'the server asks for an authentication method the client does not support',
  ER_SECURE_TRANSPORT_REQUIRED: 'the server requires TLS',
  HANDSHAKE_NO_SSL_SUPPORT: 'the server does not support TLS',
  ER_CON_COUNT_ERROR: 'the server has too many connections',
  ER_TOO_MANY_USER_CONNECTIONS: 'the connector user has too many connections',
  ER_SERVER_SHUTDOWN: 'the server is shutting down',
  ER_NORMAL_SHUTDOWN: 'the server is shutting down',
  ER_SHUTDOWN_COMPLETE: 'the server shut down',
  ER_CONNECTION_KILLED: 'the session was killed',
  ER_QUERY_INTERRUPTED: 'the statement was interrupted (killed)',
  ER_QUERY_TIMEOUT: 'the statement timeout fired',
  ER_STATEMENT_TIMEOUT: 'the statement timeout fired',
  ER_LOCK_WAIT_TIMEOUT: 'a lock could not be acquired in time',
  ER_LOCK_DEADLOCK: 'deadlock detected',
  ER_NO_SUCH_TABLE: 'a table or view does not exist',
  ER_BAD_FIELD_ERROR: 'a column does not exist',
  ER_PARSE_ERROR: 'the server reported a syntax error',
  ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: 'the session is read-only and refused a write (READ ONLY transaction)',
  ER_SIGNAL_EXCEPTION: 'a SIGNAL was raised by a function or trigger (in a view or function the table is read through)',
  PROTOCOL_CONNECTION_LOST: 'the connection was lost',
  PROTOCOL_SEQUENCE_TIMEOUT: 'the server did not answer in time',
};

/** MySQL/MariaDB errnos without a code name in mysql2. */
const MYSQL_ERRNO_TEXT: Record<number, string> = {
  1927: 'the session was killed',
  1969: 'the statement timeout fired (max_statement_time)',
  3024: 'the statement timeout fired (max_execution_time)',
  4031: 'the server closed the idle session',
  2013: 'the connection was lost during a statement',
  2006: 'the server has gone away',
};

/** Node.js socket and TLS codes. */
const NODE_TEXT: Record<string, string> = {
  ECONNREFUSED: 'the connection was refused (nothing listens on this host and port, or a firewall rejects it)',
  ECONNRESET: 'the connection was reset',
  ECONNABORTED: 'the connection was aborted',
  EPIPE: 'the connection was closed while writing',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  EHOSTDOWN: 'the host is down',
  ENETUNREACH: 'the network is unreachable',
  ENETDOWN: 'the network is down',
  EAI_AGAIN: 'the host name could not be resolved (temporary DNS failure)',
  ENOTFOUND: 'the host name does not resolve',
  ERR_SOCKET_CLOSED: 'the socket was closed',
  ERR_STREAM_PREMATURE_CLOSE: 'the connection closed before the reply ended',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS: the server certificate is self-signed and not trusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS: the server certificate chain ends in a CA that is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS: the server certificate is not signed by a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'TLS: the CA of the server certificate is not trusted',
  UNABLE_TO_GET_ISSUER_CERT: 'TLS: the CA of the server certificate is not trusted',
  CERT_HAS_EXPIRED: 'TLS: the server certificate has expired',
  CERT_NOT_YET_VALID: 'TLS: the server certificate is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS: the server certificate does not name this host',
  HOSTNAME_MISMATCH: 'TLS: the server certificate does not name this host',
};

/** Fixed driver messages without a code, recognised by their wording; anything else is not quoted. */
const PHRASES: readonly [RegExp, string][] = [
  [/^Connection terminated unexpectedly/, 'the connection was closed unexpectedly'],
  [/^Connection terminated due to connection timeout|^timeout expired/i, 'the connection attempt timed out'],
  [/does not support (SSL|secure connection)|SSL off|Server does not support SSL/i, 'the server does not support TLS'],
  [/self[- ]signed certificate|certificate/i, 'TLS: the server certificate could not be verified'],
  [/Client network socket disconnected before secure TLS connection/i, 'the TLS handshake was interrupted'],
  [/^Query read timeout|socket hang up|server closed the connection/i, 'the connection was lost'],
  [/not queryable/i, 'the connection is no longer usable'],
  [/^connect ETIMEDOUT|^Connection lost|connection (error|closed|lost)/i, 'the connection was lost'],
];

/** Identifier-valued fields `pg` copies from the server's error (names, never values). */
const PG_NAME_FIELDS = ['schema', 'table', 'column', 'dataType', 'constraint'] as const;

/**
 * The connector's own description of a driver error: chosen by its code, never the driver's
 * message, which can quote row values (PostgreSQL data exceptions, RAISE and SIGNAL texts) and
 * whose error objects carry the statement with bound values (mysql2 `sql`) or row details (pg
 * `detail`, `where`).
 */
export function describeDriverError(err: unknown): string {
  const e = (typeof err === 'object' && err !== null ? err : {}) as DriverErrorFields & Record<string, unknown>;
  const code = typeof e.code === 'string' ? e.code : '';
  const errno = typeof e.errno === 'number' ? e.errno : undefined;
  let text: string | undefined = NODE_TEXT[code] ?? MYSQL_TEXT[code];
  if (!text && errno !== undefined) text = MYSQL_ERRNO_TEXT[errno];
  if (!text && /^[0-9A-Z]{5}$/.test(code)) {
    text = PG_TEXT[code] ?? `the server reported SQLSTATE ${code} (${PG_CLASS_TEXT[code.slice(0, 2)] ?? 'an error'})`;
    const names = PG_NAME_FIELDS.filter((f) => typeof e[f] === 'string' && /^[\w$]{1,63}$/.test(e[f] as string)).map(
      (f) => `${f === 'dataType' ? 'type' : f} ${e[f] as string}`,
    );
    if (names.length > 0) text += ` (${names.join(', ')})`;
  }
  if (!text && code.startsWith('ER_')) text = `the server reported ${code}`;
  if (!text && TLS_CODES.test(code)) text = 'TLS: the server certificate could not be verified';
  if (!text) {
    const message = typeof e.message === 'string' ? e.message : '';
    text = PHRASES.find(([pattern]) => pattern.test(message))?.[1];
  }
  if (!text) {
    const name = err instanceof Error ? err.name : typeof err;
    text = `unexpected ${/^\w{1,40}$/.test(name) ? name : 'error'} from the database driver`;
  }
  return text;
}

/**
 * Wraps a driver error into the matching reader error. The message names the context and says
 * what happened in the connector's own words ({@link describeDriverError}) with the driver's code;
 * the driver error is not kept (as `cause` or otherwise), so nothing that logs, returns or records
 * the error can carry a row value, a statement with bound values or a credential. `secrets` are
 * removed from `doing` as a last line of defence.
 */
export function toSourceError(
  err: unknown,
  context: SourceErrorContext,
  secrets: readonly string[] = [],
  doing?: string,
): SourceError {
  if (err instanceof SourceError) return err;
  const Class = classOf(err);
  const code = driverCode(err);
  const safeCode = code !== undefined && /^[\w-]{1,64}$/.test(code) ? code : undefined;
  const hint = hintFor(Class, safeCode);
  let message = `${doing ? `${doing}: ` : ''}${describeDriverError(err)}${safeCode ? ` (${safeCode})` : ''}${hint ? `. ${hint}` : ''}`;
  message = scrubSecrets(message, secrets);
  return new Class(message, { context, ...(safeCode ? { code: safeCode } : {}) });
}

/** Codes of a login the server refused (wrong or rotated password, unknown user). */
const LOGIN_REFUSED = new Set([
  '28P01',
  '28000',
  'ER_ACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
  '1045',
]);

/** Whether the server refused the login: the stored password may have been rotated. */
export function isLoginRefused(err: unknown): boolean {
  return err instanceof SourceAccessError && err.code !== undefined && LOGIN_REFUSED.has(err.code);
}

function hintFor(Class: SourceErrorClass, code: string | undefined): string {
  if (Class === SourceTimeoutError) {
    return 'The statement ran longer than source.statementTimeoutSeconds: add an index on (cursor, key), or use smaller windows (snapshot.windowHours / snapshot.targetRowsPerWindow)';
  }
  if (Class === SourceAccessError) {
    if (code === '42501' || (code?.includes('ACCESS_DENIED') && code !== 'ER_ACCESS_DENIED_ERROR')) {
      return 'Check the grants of the connector user (see the grant SQL in the operator guide)';
    }
    if (code !== undefined && (TLS_CODES.test(code) || code === 'HANDSHAKE_NO_SSL_SUPPORT')) {
      return 'Check source.tls and source.caBundle in the operator config against the certificate the server presents';
    }
    return 'Check the user name and password in the credentials secret, and source.host, source.database, source.tls and source.caBundle in the operator config';
  }
  return '';
}
