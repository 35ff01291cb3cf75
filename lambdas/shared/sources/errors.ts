/**
 * Errors raised by the source readers, with stable `name`s that Step Functions Retry/Catch match:
 *
 * | name | retryable | when |
 * | --- | --- | --- |
 * | `SourceConnectionError` | yes | the network or the server dropped or refused the session (reset, terminated, too many connections, server shutting down, killed by a DBA) |
 * | `SourceTimeoutError` | yes | the statement timeout or a lock timeout fired, or a serialization failure / deadlock |
 * | `SourceAccessError` | no | authentication failed, TLS verification failed, the database does not exist, or a privilege is missing |
 * | `SourceQueryError` | no | anything the operator's schema or the config must fix: a missing table or column, an unsafe identifier, a type problem |
 *
 * Messages name the operator, stream and table when known, and never contain the password or a
 * connection string.
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

  constructor(message: string, options: { context?: SourceErrorContext; code?: string; cause?: unknown } = {}) {
    super(withContext(message, options.context ?? {}), { cause: options.cause });
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
  /^(ERR_TLS_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_SELF_SIGNED|HOSTNAME_MISMATCH|ERR_SSL_|HANDSHAKE_NO_SSL_SUPPORT)/;

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

/**
 * Wraps a driver error into the matching reader error, naming the context and removing any
 * occurrence of the password from the message.
 */
export function toSourceError(
  err: unknown,
  context: SourceErrorContext,
  secrets: readonly string[] = [],
  doing?: string,
): SourceError {
  if (err instanceof SourceError) return err;
  const Class = classOf(err);
  const e = (typeof err === 'object' && err !== null ? err : {}) as DriverErrorFields;
  let message = typeof e.message === 'string' && e.message !== '' ? e.message : String(err);
  if (message === '[object Object]' || message === '') message = 'unknown error';
  message = scrubSecrets(message, secrets);
  const code = typeof e.code === 'string' ? e.code : typeof e.errno === 'number' ? String(e.errno) : undefined;
  const hint = hintFor(Class, code);
  return new Class(`${doing ? `${doing}: ` : ''}${message}${code ? ` (${code})` : ''}${hint ? `. ${hint}` : ''}`, {
    context,
    ...(code ? { code } : {}),
    cause: err,
  });
}

function hintFor(Class: SourceErrorClass, code: string | undefined): string {
  if (Class === SourceTimeoutError) {
    return 'The statement ran longer than source.statementTimeoutSeconds: add an index on (cursor, key), or use smaller windows (snapshot.windowHours / snapshot.targetRowsPerWindow)';
  }
  if (Class === SourceAccessError) {
    if (code === '42501' || (code?.includes('ACCESS_DENIED') && code !== 'ER_ACCESS_DENIED_ERROR')) {
      return 'Check the grants of the connector user (see the grant SQL in the operator guide)';
    }
    return 'Check the credentials secret (host, database, user, password, tls) and the CA certificate';
  }
  return '';
}
