/**
 * `connector run <operator> --local --out DIR [--incremental]`: the operator's real pipelines on
 * this machine, against its own database, landing Parquet into DIR (see local/run-local.ts).
 */
import type { StreamName } from '#shared/canonical';
import type { SourceCredentials } from '#shared/types';
import { defineCommand, openOperatorSource } from '../command.ts';
import {
  CliError,
  EXIT,
  formatCount,
  formatDuration,
  OPERATOR_HELP,
  OPERATOR_OPTIONS,
  printJson,
  UsageError,
} from '../io.ts';
import { TIMEOUT_HELP } from '../source.ts';

const HELP = `Usage: connector run <operator> --local --out DIR [--incremental] [--url URL] [--json]

Runs the operator's pipelines on this machine, as deployed: the snapshot and incremental state
machines that \`cdk synth\` produces, with the real Lambda handlers in this process, against the
operator's own database (read-only, as the deployed connector reads it), with local engines for
S3 (s3rver) and DynamoDB (dynalite). Committed data lands in DIR as plain Parquet files, one
Hive-partitioned dataset per stream:

  DIR/<stream>/dt=YYYY-MM-DD/<run>-<window>-<part>.parquet
  DIR/.connector/     state kept between runs (local bucket, sync state, local key): do not edit

Read it with DuckDB:  SELECT * FROM read_parquet('DIR/payments/**/*.parquet', hive_partitioning = true)
pandas:               pd.read_parquet('DIR/payments')
Spark:                spark.read.parquet('DIR/payments')

The first run takes the snapshot (snapshot.days of history; a run that stopped half-way is
resumed by running it again); --incremental then runs one incremental sync from the snapshot's
watermarks, in a later process, as often as wanted. Progress goes to stderr, a summary table to
stdout.

Credentials: --url, else CONNECTOR_SOURCE_URL, else the operator's secret: with
CONNECTOR_ADAPTERS=local the local secrets file CONNECTOR_LOCAL_SECRETS_FILE that
\`connector credentials set\` writes, otherwise Secrets Manager.

Options:
  --local          run on this machine (required: the deployed pipelines start with \`connector snapshot\`)
  --out DIR        output directory (created if missing)
  --incremental    run one incremental sync after a snapshot in DIR
  --url URL        postgres://user:password@host:port/db or mysql://… (?sslmode=require for TLS)
  --json           print the summary as JSON
${TIMEOUT_HELP}
  -h, --help       show this help

${OPERATOR_HELP}

Exit codes: 0 the run completed, 1 it failed (windows or streams failed, nothing half-landed is
visible in DIR), 2 usage error, 3 cannot connect to the database, 4 the secret cannot be read.`;

/** A connection URL for the handlers' local secret source (the same credentials, as a URL). */
export function credentialsUrl(creds: SourceCredentials): string {
  if (creds.ca && creds.ca.length > 0) {
    throw new CliError(
      'run --local: the config names a CA bundle (source.caBundle), which a local run cannot pass on to its handlers; give the database with --url …?sslmode=verify-full and the CA in NODE_EXTRA_CA_CERTS',
      EXIT.usage,
    );
  }
  const url = new URL(`${creds.engine === 'postgres' ? 'postgres' : 'mysql'}://placeholder`);
  url.hostname = creds.host.includes(':') ? `[${creds.host}]` : creds.host;
  url.port = String(creds.port);
  url.username = encodeURIComponent(creds.username);
  url.password = encodeURIComponent(creds.password);
  url.pathname = `/${encodeURIComponent(creds.database)}`;
  url.searchParams.set('sslmode', creds.tls);
  return url.toString();
}

/** "1,234 rows/s" from rows and milliseconds. */
function rate(rows: number, ms: number): string {
  return ms > 0 ? `${formatCount(Math.round((rows * 1000) / ms))} rows/s` : '-';
}

/** The summary as a table. */
export function formatSummary(
  summary: import('../../local/run-local.ts').LocalRunSummary,
  operator: string,
  out: string,
  selector = operator,
): string {
  const lines: string[] = [];
  const what =
    summary.mode === 'snapshot' ? `Snapshot ${summary.id ?? '(not planned)'}` : `Incremental run ${summary.id ?? '-'}`;
  lines.push(
    `${what} of ${operator}: ${summary.ok ? 'completed' : `FAILED (${summary.status})`} in ${formatDuration(summary.seconds)}, ` +
      `${summary.units.done}/${summary.units.total} ${summary.mode === 'snapshot' ? 'windows' : 'streams'}` +
      `${summary.units.failed ? `, ${summary.units.failed} failed` : ''}${summary.resumed ? ' (resumed)' : ''}`,
  );
  if (!summary.ok && summary.cause) lines.push(`  ${summary.error ?? 'error'}: ${summary.cause}`);
  lines.push('');
  const header = ['stream', 'rows this run', 'rows in DIR', 'current rows', 'files', 'MB', 'watermark'];
  const rows = Object.entries(summary.streams).map(([stream, s]) => [
    stream,
    formatCount(s.rows),
    formatCount(s.committedRows),
    formatCount(s.currentRows),
    formatCount(s.files),
    (s.bytes / 1_048_576).toFixed(1),
    s.watermark ?? '-',
  ]);
  const total = Object.values(summary.streams).reduce(
    (t, s) => ({
      rows: t.rows + s.rows,
      committed: t.committed + s.committedRows,
      current: t.current + s.currentRows,
      files: t.files + s.files,
      bytes: t.bytes + s.bytes,
    }),
    { rows: 0, committed: 0, current: 0, files: 0, bytes: 0 },
  );
  rows.push([
    'total',
    formatCount(total.rows),
    formatCount(total.committed),
    formatCount(total.current),
    formatCount(total.files),
    (total.bytes / 1_048_576).toFixed(1),
    '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: readonly string[]) =>
    r
      .map((c, i) => (i === 0 || i === 6 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  lines.push(fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt));
  const first = (Object.keys(summary.streams)[0] as StreamName | undefined) ?? 'payments';
  lines.push(
    '',
    `Parquet in ${out}/<stream>/dt=…/, e.g. duckdb -c "SELECT count(*) FROM read_parquet('${out}/${first}/**/*.parquet', hive_partitioning = true)"`,
    `Current state (the serving table, one row per key) in ${out}/current/<stream>.parquet`,
  );
  if (summary.ok && summary.mode === 'snapshot') {
    lines.push(`Next: connector run ${selector} --local --out ${out} --incremental`);
  }
  return `${lines.join('\n')}\n`;
}

export const runLocalCommand = defineCommand({
  name: 'run',
  summary: "run the operator's pipelines on this machine against its database, landing Parquet in a directory",
  help: HELP,
  options: {
    ...OPERATOR_OPTIONS,
    local: { type: 'boolean' },
    out: { type: 'string' },
    incremental: { type: 'boolean' },
    url: { type: 'string' },
    json: { type: 'boolean' },
    timeout: { type: 'string' },
  },
  async run({ values, io, operator }) {
    if (!values.local) {
      throw new UsageError(
        'run: only --local runs are started from here; in AWS start the snapshot with `connector snapshot <operator>` (incremental syncs run on their schedule)',
      );
    }
    if (!values.out) throw new UsageError('run: give the output directory with --out DIR');
    const { config } = operator();
    // Fail early, with the CLI's message, when the database cannot be reached.
    const { connection: probe, credentials } = await openOperatorSource('run', config, io, {
      noDatabase: 'there is no database to run a snapshot against',
      url: values.url,
      timeout: values.timeout,
    });
    await probe.close();
    const sourceUrl = credentialsUrl(credentials);

    const { LocalRunError, dropPowertoolsWarnings, openLocalRun } = await import('../../local/run-local.ts');
    dropPowertoolsWarnings();
    const out = values.out;
    io.err(`synthesizing ${config.operatorId}-${config.stage} and starting the local engines in ${out}…\n`);
    let lastReport = 0;
    let session: Awaited<ReturnType<typeof openLocalRun>> | undefined;
    try {
      session = await openLocalRun({
        config,
        out,
        sourceUrl,
        mode: values.incremental ? 'incremental' : 'snapshot',
        onProgress: (p) => {
          const now = Date.now();
          const finished = p.done + p.failed >= p.total;
          if (now - lastReport < 2000 && !finished) return;
          lastReport = now;
          const eta =
            p.done > 0 && p.total > p.done
              ? `, ETA ${formatDuration(((p.total - p.done) * p.elapsedMs) / p.done / 1000)}`
              : '';
          io.err(
            `[${p.mode}] ${p.done}/${p.total} ${p.mode === 'snapshot' ? 'windows' : 'streams'}${p.failed ? `, ${p.failed} failed` : ''}, ` +
              `${formatCount(p.rows)} rows, ${rate(p.rows, p.elapsedMs)}${eta}\n`,
          );
        },
      });
      const { summary } = values.incremental ? await session.incremental() : await session.snapshot();
      if (values.json) {
        printJson(io, { operatorId: config.operatorId, stage: config.stage, out: session.out, ...summary });
      } else {
        const selector = [
          config.operatorId,
          ...(values.config ? ['--config', values.config] : values.stage ? ['--stage', values.stage] : []),
        ].join(' ');
        io.out(formatSummary(summary, config.operatorId, out, selector));
      }
      return summary.ok ? EXIT.ok : EXIT.problems;
    } catch (e) {
      if (e instanceof LocalRunError) throw new CliError(`run: ${e.message}`, EXIT.problems, { cause: e });
      throw e;
    } finally {
      await session?.close();
    }
  },
});
