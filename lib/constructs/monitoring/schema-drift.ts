/**
 * Schema drift, per stream of a database or file-drop operator.
 *
 * SchemaDriftColumns is emitted per stream by every schema check (a snapshot's plan, the first
 * invocation of every incremental run, every ingested or header-quarantined file; 0 included).
 * Missing data keeps the alarm's state: it stays in ALARM from the check that found drift until a
 * later check of the stream finds none (a reported change is accepted by the next successful run,
 * so that is usually the next run).
 */
import type { StreamName } from '#shared/canonical';
import { METRICS } from '#shared/contracts/metrics';
import { type AlarmFactory, ANY_KEEPING_STATE, pascal } from './alarm-factory.ts';
import { RUNBOOK_ANCHORS } from './runbook.ts';

/** One schema-drift alarm per stream; `source` says where the columns are checked (a source table, or file headers). */
export function schemaDriftAlarms(
  alarms: AlarmFactory,
  streams: readonly StreamName[],
  source: 'database' | 'files',
): void {
  const { config, name } = alarms;
  for (const stream of streams) {
    const where =
      source === 'database'
        ? `the source table of ${stream}`
        : `the header of ${stream} files (against the last landed file)`;
    alarms.add(
      `SchemaDrift${pascal(stream)}`,
      'warning',
      `stream ${stream}`,
      RUNBOOK_ANCHORS.schemaDrift,
      `${stream} schema drift`,
      `Columns of ${where} changed since the last successful run: a new, removed or retyped column is reported (never read); a mapped column dropped, renamed or retyped beyond its landed type fails the stream with SchemaDriftError until the config matches.`,
      [
        `connector status ${config.operatorId} --stage ${config.stage} (line "schema drift": what changed, when, and what to change in config)`,
        `Logs Insights on /connector/${name}/${source === 'database' ? 'incremental-sync' : 'ingest-file'}: filter stream = "${stream}" and ispresent(schemaDrift)`,
      ],
      alarms.metrics.metric(METRICS.schemaDriftColumns, 'Maximum', alarms.period, stream),
      ANY_KEEPING_STATE,
    );
  }
}
