/**
 * A failing run leaks nothing: the synthesized snapshot state machine runs locally (real handlers,
 * local/pipeline-runner.ts) against a throwaway server that checks passwords, fails in three ways —
 * a personal field that cannot be converted, a view whose function raises an error quoting the
 * row, a login refused after the password changed — and no handler log line, metric, execution
 * output, event or Fail cause contains the distinctive row value or the password.
 * no-leak-postgres.test.ts and no-leak-mysql.test.ts run it, one engine per process (the handlers
 * read their environment once).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type DynaliteHandle, type S3rverHandle, startDynalite, startS3rver } from '../../local/engines.ts';
import { createLocalPipeline, type LocalPipeline, type SnapshotRun } from '../../local/pipeline-runner.ts';
import type { Engine } from '../helpers/databases.ts';
import {
  createTestPki,
  mariadbAvailable,
  startTlsMariadb,
  startTlsPostgres,
  type TestPki,
  type TlsServer,
} from '../helpers/tls-servers.ts';

const VALUE = 'PLAYER-RAW-ID-4711';
const PASSWORD = 'PW-Distinctive-9931';

/** Defines the no-leak test of one engine. */
export function describeNoLeak(engine: Engine): void {
  const available = engine === 'postgres' || mariadbAvailable();
  if (!available && process.env.CI) throw new Error('mariadbd is not installed; CI needs it for the no-leak test');

  describe.skipIf(!available)(`a failing run leaks no row value or password (${engine})`, () => {
    let pki: TestPki;
    let server: TlsServer;
    let s3: S3rverHandle;
    let dynamo: DynaliteHandle;
    let pipeline: LocalPipeline;
    let output = '';

    const q = (name: string) => (engine === 'postgres' ? `"${name}"` : `\`${name}\``);

    /** Runs a snapshot, capturing everything the handlers write to stdout, stderr and the console. */
    async function capturedSnapshot(): Promise<{ run: SnapshotRun; text: string }> {
      let text = '';
      const grab = (chunk: unknown) => {
        text += String(chunk);
        return true;
      };
      const out = vi.spyOn(process.stdout, 'write').mockImplementation(grab);
      const err = vi.spyOn(process.stderr, 'write').mockImplementation(grab);
      const consoles = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) =>
        vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
          text += `${args.map(String).join(' ')}\n`;
        }),
      );
      try {
        const run = await pipeline.runSnapshot();
        return { run, text };
      } finally {
        for (const spy of [out, err, ...consoles]) spy.mockRestore();
      }
    }

    /** The run's result, events, outputs and Fail causes, and the logs and metrics of its handlers. */
    function expectNoLeak(run: SnapshotRun, text: string): void {
      const everything = `${JSON.stringify(run)}\n${text}`;
      expect(everything).not.toContain(VALUE);
      expect(everything).not.toContain(PASSWORD);
      output += everything;
    }

    beforeAll(async () => {
      pki = createTestPki();
      server = engine === 'postgres' ? await startTlsPostgres(pki, PASSWORD) : await startTlsMariadb(pki, PASSWORD);
      const yesterday = new Date(Date.now() - 6 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
      await server.admin(
        `CREATE TABLE ${q('customers_data')} (customer_id VARCHAR(64) PRIMARY KEY, modified_ts TIMESTAMP NOT NULL, dob VARCHAR(32));
         INSERT INTO ${q('customers_data')} VALUES ('${VALUE}', '${yesterday}', '${VALUE}');
         CREATE VIEW ${q('customers')} AS SELECT customer_id, modified_ts, dob FROM ${q('customers_data')};`,
      );
      if (engine === 'postgres') await server.admin('GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader');
      [s3, dynamo] = await Promise.all([startS3rver(), startDynalite()]);
      const config = {
        operatorId: `noleak-${engine === 'postgres' ? 'pg' : 'my'}`,
        displayName: 'No Leak Casino',
        stage: 'sandbox',
        account: '111111111111',
        region: 'eu-west-1',
        source: {
          type: engine,
          host: 'localhost',
          port: server.port,
          database: server.database,
          schema: engine === 'postgres' ? 'public' : server.database,
          tls: 'require',
          network: { mode: 'created' },
        },
        snapshot: { days: 1, windowHours: 24 },
        streams: {
          players: {
            table: 'customers',
            columns: {
              player_id: 'customer_id',
              updated_at: 'modified_ts',
              birth_date: {
                column: 'dob',
                pii: 'keep',
                justification: 'Age verification reports need the date of birth (test of redaction).',
              },
            },
          },
        },
      };
      pipeline = await createLocalPipeline({
        config,
        engines: {
          s3,
          dynamo,
          source: {
            url: `${engine}://${server.user}:${PASSWORD}@localhost:${server.port}/${server.database}?sslmode=require`,
          },
        },
        quiet: false,
        shortenWaits: true,
      });
    });

    afterAll(async () => {
      await pipeline?.close();
      await Promise.allSettled([s3?.stop(), dynamo?.stop(), server?.stop()]);
    });

    it('a personal field that cannot be converted (CoercionError)', async () => {
      const { run, text } = await capturedSnapshot();
      expect(run.status).toBe('FAILED');
      // The logs and metrics were captured, and say what failed without the value.
      expect(text).toContain('CoercionError');
      expect(text).toContain('<redacted personal value>');
      expect(text).toContain('ExtractFailures');
      expectNoLeak(run, text);
    });

    it('a function in the source view raising an error that quotes the row', async () => {
      await server.admin(
        engine === 'postgres'
          ? `CREATE FUNCTION boom(v text) RETURNS text LANGUAGE plpgsql AS
               $$ BEGIN RAISE EXCEPTION 'bad row %', v USING DETAIL = 'row ' || v; END $$;
             CREATE OR REPLACE VIEW customers AS SELECT boom(customer_id)::varchar(64) AS customer_id, modified_ts, dob FROM customers_data;
             GRANT SELECT ON customers TO reader;`
          : `CREATE FUNCTION boom(v VARCHAR(64)) RETURNS VARCHAR(64) DETERMINISTIC
               BEGIN DECLARE m VARCHAR(128) DEFAULT CONCAT('bad row ', v); SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = m; RETURN v; END;
             CREATE OR REPLACE VIEW customers AS SELECT boom(customer_id) AS customer_id, modified_ts, dob FROM customers_data;
             GRANT EXECUTE ON FUNCTION casino.boom TO 'reader'@'%';`,
      );
      const { run, text } = await capturedSnapshot();
      expect(run.status).toBe('FAILED');
      expect(text).toMatch(/SourceQueryError.*(RAISE|SIGNAL|PL\/pgSQL)/);
      expectNoLeak(run, text);
    });

    it('a login refused after the password changed on the server', async () => {
      await server.setPassword('Rotated-On-The-Server-1');
      const { run, text } = await capturedSnapshot();
      expect(run.status).toBe('FAILED');
      expect(`${JSON.stringify(run)}${text}`).toMatch(/SourceAccessError/);
      expectNoLeak(run, text);
    });

    it('checked real output', () => {
      // Guards the checks above against capturing nothing.
      expect(output.length).toBeGreaterThan(2_000);
    });
  });
}
