/**
 * What the PostgreSQL holdback can see: a writing transaction of another role is visible to a user
 * granted pg_read_all_stats, and invisible (reported as `own`) without the grant.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSource, type SourceConnection } from '#shared/sources/index';
import { openTransactions } from '#shared/sources/open-transactions';
import { createPostgresScratch, engineAvailable, type PostgresScratch, uniqueName } from '../../helpers/databases.ts';

const available = await engineAvailable('postgres');

describe.skipIf(!available)('open transactions on PostgreSQL', () => {
  let db: PostgresScratch;
  const role = uniqueName('reader');
  let writer: pg.Client;
  let started: number;

  async function asReader(fn: (conn: SourceConnection) => Promise<void>): Promise<void> {
    const conn = await openSource(
      { ...db.credentials, username: role, password: 'reader-pw' },
      { applicationName: 'igaming-connector/test-open-xact', statementTimeoutSeconds: 30, timeZone: 'UTC' },
    );
    try {
      await fn(conn);
    } finally {
      await conn.close();
    }
  }

  beforeAll(async () => {
    db = await createPostgresScratch('open_xact');
    await db.admin.query(`CREATE TABLE "${db.schema}".t (id int PRIMARY KEY)`);
    await db.admin.query(`CREATE ROLE "${role}" LOGIN PASSWORD 'reader-pw'`);
    writer = new pg.Client({
      connectionString: process.env.CONNECTOR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    });
    await writer.connect();
    await writer.query('BEGIN');
    await writer.query(`INSERT INTO "${db.schema}".t VALUES (1)`);
    const { rows } = await writer.query(
      `SELECT floor(extract(epoch FROM xact_start) * 1000)::bigint AS s FROM pg_stat_activity WHERE pid = pg_backend_pid()`,
    );
    started = Number(rows[0].s);
  });

  afterAll(async () => {
    await writer?.query('ROLLBACK').catch(() => undefined);
    await writer?.end();
    await db?.admin.query(`DROP ROLE IF EXISTS "${role}"`).catch(() => undefined);
    await db?.drop();
  });

  it('without pg_read_all_stats: only its own sessions, so the open writer is not seen', async () => {
    await asReader(async (conn) => {
      const open = await openTransactions(conn);
      expect(open.visibility).toBe('own');
      expect(open.oldestWriterStart).toBeUndefined();
    });
  });

  it('with pg_read_all_stats: sees the oldest open writing transaction of the database', async () => {
    await db.admin.query(`GRANT pg_read_all_stats TO "${role}"`);
    await asReader(async (conn) => {
      const open = await openTransactions(conn);
      expect(open.visibility).toBe('all');
      // Other sessions of the shared test database may hold older transactions.
      expect(open.oldestWriterStart?.getTime()).toBeLessThanOrEqual(started);
    });
  });
});
