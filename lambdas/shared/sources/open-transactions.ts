/**
 * What PostgreSQL knows about transactions still open, for the incremental holdback: a run must not
 * move its watermark past a row that an open transaction may still commit with an earlier cursor.
 *
 * `pg_stat_activity` shows `xact_start` and `backend_xid` of other roles' sessions only to a
 * superuser or a member of `pg_read_all_stats` (included in `pg_monitor`); without that grant the
 * connector's user sees only its own sessions and the holdback cannot work (reported as
 * `visibility: 'own'`). MySQL and MariaDB expose nothing comparable to a read-only user
 * (`information_schema.innodb_trx` needs PROCESS): there the lookback and the late-arrival
 * measurement are the only guard.
 */
import type { SourceConnection } from './source.ts';

export interface OpenTransactions {
  /** `all`: every session of the database is visible; `own`: only the connector user's (no grant). */
  readonly visibility: 'all' | 'own';
  /**
   * Start of the oldest transaction of the database still open that has written (holds a
   * transaction id), other than the caller's; undefined when there is none (or none visible).
   */
  readonly oldestWriterStart?: Date;
}

/**
 * The oldest open writing transaction of the current database and whether the user can see other
 * roles' sessions. PostgreSQL only.
 */
export async function openTransactions(source: SourceConnection): Promise<OpenTransactions> {
  if (source.engine !== 'postgres') throw new Error('open transactions are read from PostgreSQL only');
  const [row] = await source.query(
    `SELECT (SELECT floor(extract(epoch FROM min(a.xact_start)) * 1000)::bigint
               FROM pg_catalog.pg_stat_activity a
              WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
                AND a.xact_start IS NOT NULL AND a.backend_xid IS NOT NULL),
            (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
              OR pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')`,
  );
  const start = row?.[0];
  const all = row?.[1] === 't' || row?.[1] === 'true';
  return {
    visibility: all ? 'all' : 'own',
    ...(start != null ? { oldestWriterStart: new Date(Number(start)) } : {}),
  };
}

/**
 * The range end an incremental run may use: `proposed`, held behind the oldest open writing
 * transaction's start minus `marginMs`, and never before `watermark` (a watermark never moves back).
 * Returns the end and how far it was held back (ms; 0 when not held).
 */
export function holdRangeEnd(
  proposed: Date,
  watermark: Date,
  open: OpenTransactions,
  marginMs: number,
): { to: Date; heldBackMs: number } {
  if (!open.oldestWriterStart) return { to: proposed, heldBackMs: 0 };
  const limit = open.oldestWriterStart.getTime() - marginMs;
  if (limit >= proposed.getTime()) return { to: proposed, heldBackMs: 0 };
  const to = Math.max(limit, watermark.getTime());
  return { to: new Date(to), heldBackMs: proposed.getTime() - to };
}
