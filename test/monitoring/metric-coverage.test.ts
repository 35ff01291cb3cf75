/**
 * No alarm watches a metric nobody emits: the real extract-window and incremental-sync handlers run
 * against a small synthetic operator (PostgreSQL, s3rver, dynalite), their EMF output is captured
 * from stdout, and every connector metric (name + exact dimension set and values) that an alarm of
 * the same operator's synthesized stack reads must be among what they printed. Metrics of the
 * AWS/States, AWS/Lambda and AWS/SQS namespaces are AWS's own and are not checked here.
 *
 * CloudWatch matches a metric only by its exact dimension set, so an alarm on
 * `{Operator, Stream}` would never see datapoints published as `{service, Operator, Stream}`.
 */

import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { useLocalQueryEngine } from '#shared/adapters/athena';
import type { StreamName } from '#shared/canonical';
import { keyAuditedStreams, operatorConfigSchema } from '#shared/config/schema';
import { METRIC_NAMESPACE } from '#shared/contracts/metrics';
import type { ExtractWindowInput } from '#shared/contracts/steps';
import { servingColumns } from '#shared/serving/tables';
import { SyncStateStore } from '#shared/state/store';
import { duckType, LocalAthena } from '../../local/athena.ts';
import { catalogTables } from '../../local/lake.ts';
import { synthesizeOperatorStack } from '../../local/pipeline-runner.ts';
import { createSyntheticOperator, syntheticOperatorConfig } from '../../synthetic/operator.ts';
import {
  type Emf,
  emfDocuments,
  type LocalAws,
  lambdaContext,
  setHandlerEnv,
  startLocalAws,
} from '../extract/fixtures.ts';
import { engineAvailable, engineUrl, uniqueName } from '../helpers/databases.ts';
import { openDuckDb } from '../helpers/duckdb.ts';
import { synthesize } from '../lib/helpers.ts';
import { alarmsOf, metricsOfAlarm } from './alarm-metrics.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const OPERATOR = 'coverage-casino';
const AWS_NAMESPACES = new Set(['AWS/States', 'AWS/Lambda', 'AWS/SQS']);

/** `namespace|metric|dim=value,…` with dimensions sorted: how CloudWatch identifies a metric. */
function metricKey(namespace: string, name: string, dimensions: Readonly<Record<string, unknown>>): string {
  const dims = Object.entries(dimensions)
    .map(([k, v]) => `${k}=${String(v)}`)
    .sort()
    .join(',');
  return `${namespace}|${name}|${dims}`;
}

/** Every metric an EMF document publishes: each metric under each of its dimension sets. */
function emittedKeys(docs: readonly Emf[]): Set<string> {
  const keys = new Set<string>();
  for (const doc of docs) {
    for (const directive of doc._aws.CloudWatchMetrics) {
      for (const set of directive.Dimensions) {
        const dims = Object.fromEntries(set.map((d) => [d, doc[d]]));
        for (const metric of directive.Metrics) keys.add(metricKey(directive.Namespace, metric.Name, dims));
      }
    }
  }
  return keys;
}

const available = await engineAvailable('postgres');

describe.skipIf(!available)('alarm metric coverage', () => {
  const url = engineUrl('postgres');
  const schema = uniqueName('coverage');
  const H0 = Math.floor((Date.now() - 3 * HOUR) / MINUTE) * MINUTE;
  const emitted: Emf[] = [];
  const context: Context = lambdaContext(() => 900_000);
  let aws: LocalAws;
  let config: Record<string, unknown>;
  let athena: LocalAthena | undefined;

  async function captured<T>(fn: () => Promise<T>): Promise<T> {
    const writes: string[] = [];
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      return await fn();
    } finally {
      out.mockRestore();
      err.mockRestore();
      emitted.push(...emfDocuments(writes));
    }
  }

  beforeAll(async () => {
    aws = await startLocalAws();
    await createSyntheticOperator({
      engine: 'postgres',
      url,
      schema,
      players: 8,
      days: 1,
      now: new Date(H0),
      seed: 11,
    });
    config = syntheticOperatorConfig({ engine: 'postgres', url, schema, operatorId: OPERATOR });
    await setHandlerEnv({ aws, config, sourceUrl: url, reserveMs: 60_000 });
    const extract = await import('../../lambdas/extract-window/handler.ts');
    const incremental = await import('../../lambdas/incremental-sync/handler.ts');
    const store = new SyncStateStore(aws.dynamo.doc, aws.table);

    const streams = Object.keys(config.streams as object) as StreamName[];
    const windows: ExtractWindowInput[] = streams.map((stream) => ({
      snapshotId: 'snap-coverage',
      runId: 'snap-coverage',
      stream,
      windowId: 'w1',
      from: new Date(H0 - DAY).toISOString(),
      to: new Date(H0).toISOString(),
    }));
    await store.snapshots.start({
      snapshotId: 'snap-coverage',
      cutoff: new Date(H0),
      streams,
      windows: windows.map((w) => ({ ...w, from: new Date(w.from), to: new Date(w.to) })),
    });
    for (const w of windows) await captured(() => extract.handler(w, context));
    await store.snapshots.complete('snap-coverage');
    for (const stream of streams) {
      await captured(() => incremental.handler({ runId: 'incr-coverage', stream }, context));
    }
    // A publish of what landed: planned, then ended as if every MERGE had run.
    process.env.CONNECTOR_GLUE_DATABASE = 'connector_coverage_casino_sandbox';
    const publish = await import('../../lambdas/publish/handler.ts');
    const plan = (await captured(() =>
      publish.handler({ action: 'plan', executionName: 'publish-coverage' }, context),
    )) as unknown as { status: string; owner: string; streams: { statements: { id: string }[] }[] };
    expect(plan.status).toBe('planned');
    const results = plan.streams.map((s) =>
      s.statements.map((st) => ({ id: st.id, status: 'merged' as const, scannedBytes: 1 })),
    );
    const end = (await captured(() =>
      publish.handler({ action: 'end', owner: plan.owner, results }, context),
    )) as unknown as { walletSources: { runIds: string[]; windowIds: string[] }[] };
    expect(end.walletSources.length).toBeGreaterThan(0);
    // The wallet ledger audit that follows, its statement run by DuckDB over the (empty) wallet tables.
    const duck = await openDuckDb();
    const database = process.env.CONNECTOR_GLUE_DATABASE;
    await duck.query(`CREATE SCHEMA "${database}"`);
    const columns = servingColumns(operatorConfigSchema.parse(config), 'wallet_transactions');
    await duck.query(
      `CREATE TABLE "${database}".wallet_transactions (${columns.map((c) => `"${c.name}" ${duckType(c.icebergType)}`).join(', ')})`,
    );
    await duck.query(
      `CREATE TABLE "${database}".wallet_transactions_landed (player_id VARCHAR, run_id VARCHAR, window_id VARCHAR)`,
    );
    useLocalQueryEngine({ execute: async (sql) => ({ rows: await duck.query(sql), scannedBytes: 0 }) });
    try {
      const audit = (await captured(() =>
        publish.handler({ action: 'audit-wallet', publish: 'publish-coverage', sources: end.walletSources }, context),
      )) as unknown as { status: string; breaks: number };
      expect(audit).toMatchObject({ status: 'audited', breaks: 0 });
    } finally {
      useLocalQueryEngine(undefined);
      duck.close();
    }

    // The key audit of every audited stream, its Athena statements on the local engine over the
    // synthesized catalog. The serving tables are empty (the MERGEs above were not run), so every
    // audit finds rows to repair and reports all its metrics.
    const parsed = operatorConfigSchema.parse(config);
    const { template, resolve } = synthesizeOperatorStack(parsed, { bucket: aws.bucket, table: aws.table });
    athena = await LocalAthena.open({
      tables: catalogTables(template, resolve),
      s3: aws.s3.client,
      databasePath: ':memory:',
      cacheDir: join(aws.dir, 'athena-cache'),
    });
    useLocalQueryEngine(athena);
    const keyAudit = await import('../../lambdas/key-audit/handler.ts');
    for (const { stream } of keyAuditedStreams(parsed)) {
      const result = (await captured(() => keyAudit.handler({ stream }, context))) as { status: string };
      expect(result.status).toBe('completed');
    }
    useLocalQueryEngine(undefined);
  });

  afterAll(async () => {
    const pg = await import('pg');
    const client = new pg.default.Client({ connectionString: url });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end());
    athena?.close();
    await aws?.stop();
  });

  it('every connector metric an alarm reads is emitted by the handlers with the same dimensions', () => {
    const { template } = synthesize(operatorConfigSchema.parse(config));
    const watched = new Set<string>();
    for (const alarm of Object.values(alarmsOf(template))) {
      for (const m of metricsOfAlarm(alarm.Properties)) {
        if (AWS_NAMESPACES.has(m.namespace)) continue;
        expect(m.namespace).toBe(METRIC_NAMESPACE);
        watched.add(metricKey(m.namespace, m.name, m.dimensions));
      }
    }
    const streams = Object.keys(config.streams as object);
    expect(streams.length).toBeGreaterThan(1);
    // The connector metrics the alarms read: freshness, completed windows, reconciliation, NULL cursors,
    // schema drift, per stream.
    // late arrivals against the lookback, per stream.
    for (const stream of streams) {
      for (const name of [
        'FreshnessLagSeconds',
        'WindowsCompleted',
        'ReconciliationMismatch',
        'NullCursorRows',
        'SchemaDriftColumns',
        'MaxLatenessSeconds',
      ]) {
        expect(watched).toContain(
          metricKey(METRIC_NAMESPACE, name, { service: 'connector', Operator: `${OPERATOR}-sandbox`, Stream: stream }),
        );
      }
    }
    // The money totals', per stream with money totals.
    for (const stream of streams.filter((s) => ['payments', 'game_rounds', 'wallet_transactions'].includes(s))) {
      expect(watched).toContain(
        metricKey(METRIC_NAMESPACE, 'MoneyTotalsMismatches', {
          service: 'connector',
          Operator: `${OPERATOR}-sandbox`,
          Stream: stream,
        }),
      );
    }
    // The key audit's alarms, per audited stream.
    const audited = keyAuditedStreams(operatorConfigSchema.parse(config)).map((a) => a.stream);
    expect(audited.length).toBeGreaterThan(0);
    for (const stream of audited) {
      for (const name of ['KeyAuditFailed', 'KeyAuditRepaired']) {
        expect(watched).toContain(
          metricKey(METRIC_NAMESPACE, name, { service: 'connector', Operator: `${OPERATOR}-sandbox`, Stream: stream }),
        );
      }
    }
    // The wallet ledger audit's, per operator.
    for (const name of ['WalletLedgerBreaks', 'WalletLedgerAuditFailures']) {
      expect(watched).toContain(
        metricKey(METRIC_NAMESPACE, name, { service: 'connector', Operator: `${OPERATOR}-sandbox` }),
      );
    }

    const emittedSet = emittedKeys(emitted);
    expect(emitted.length).toBeGreaterThanOrEqual(2 * streams.length);
    const missing = [...watched].filter((key) => !emittedSet.has(key));
    expect(missing).toEqual([]);
  });

  it('would notice an alarm on a dimension set the handlers do not emit', () => {
    const emittedSet = emittedKeys(emitted);
    const stream = Object.keys(config.streams as object)[0]!;
    const withService = metricKey(METRIC_NAMESPACE, 'FreshnessLagSeconds', {
      service: 'connector',
      Operator: `${OPERATOR}-sandbox`,
      Stream: stream,
    });
    const withoutService = metricKey(METRIC_NAMESPACE, 'FreshnessLagSeconds', {
      Operator: `${OPERATOR}-sandbox`,
      Stream: stream,
    });
    expect(emittedSet).toContain(withService);
    expect(emittedSet).not.toContain(withoutService);
  });
});
