/**
 * `connector grant-sql <operator>`: the SQL the operator's DBA runs to create the connector's
 * least-privilege user: SELECT on exactly the columns the extractor reads, nothing else.
 */
import { STREAM_NAMES } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { type SourcePlan, sourcePlan } from '#shared/extract/source-plan';
import { defineCommand } from '../command.ts';
import { CliError, EXIT, OPERATOR_HELP, OPERATOR_OPTIONS, UsageError } from '../io.ts';
import { type Dialect, qualified, quoteIdent, recommendedIndex } from '../sql.ts';

const HELP = `Usage: connector grant-sql <operator> [--dialect postgres|mysql] [--user NAME]

Prints the SQL that creates the connector's read-only database user for the operator's DBA:
SELECT on exactly the mapped columns the extractor reads (dropped fields excluded), a statement
timeout, a connection limit of snapshot.maxParallelWindows + 2, read-only transactions, and the
recommended (cursor, key) index of every table as a comment. No password is ever printed:
PostgreSQL takes it from a psql variable, MySQL creates the account locked until the DBA sets one.

Options:
  --dialect D        postgres or mysql (default: the config's source.type)
  --user NAME        database user to create (default: connector_ro)
  --user-host HOST   MySQL account host (default: %, restrict it to the connector's egress address)
  -h, --help         show this help

${OPERATOR_HELP}

Exit codes: 0 SQL printed, 1 the config cannot be granted (file-drop source, invalid config), 2 usage error.`;

const USER = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;
const USER_HOST = /^[A-Za-z0-9.%_:-]{1,255}$/;

/** Options of {@link grantSql}. */
export interface GrantSqlOptions {
  readonly dialect?: Dialect;
  /** @default 'connector_ro' */
  readonly user?: string;
  /** MySQL account host. @default '%' */
  readonly userHost?: string;
}

/** The plans of every database stream of the config, in canonical order. */
export function databasePlans(config: OperatorConfig): { stream: string; plan: SourcePlan }[] {
  return STREAM_NAMES.filter((s) => config.streams[s]?.table).map((stream) => ({
    stream,
    plan: sourcePlan(config, stream),
  }));
}

/** The grant SQL of an operator, as one script. */
export function grantSql(config: OperatorConfig, options: GrantSqlOptions = {}): string {
  if (config.source.type === 'files') {
    throw new CliError(
      `grant-sql: operator ${config.operatorId} drops files (source.type: files); it needs no database user. See \`connector drop-instructions ${config.operatorId}\``,
      EXIT.problems,
    );
  }
  const dialect = options.dialect ?? config.source.type;
  const user = options.user ?? 'connector_ro';
  const userHost = options.userHost ?? '%';
  if (!USER.test(user)) {
    throw new UsageError(
      'grant-sql: --user must be letters, digits and underscores (at most 32), starting with a letter',
    );
  }
  if (!USER_HOST.test(userHost)) throw new UsageError('grant-sql: --user-host must be a host name, address or pattern');
  const source = config.source;
  const connections = config.snapshot.maxParallelWindows + 2;
  const timeout = source.statementTimeoutSeconds;
  const plans = databasePlans(config);
  const header = [
    `-- Read-only database user of the iGaming data connector for ${config.displayName}`,
    `-- (operator ${config.operatorId}, stage ${config.stage}, database ${source.database}).`,
    '-- It can read exactly the columns listed below and nothing else; it cannot write.',
    `-- Connection limit ${connections}: snapshot.maxParallelWindows (${config.snapshot.maxParallelWindows}) + 2 for incremental syncs and checks.`,
  ];
  const out: string[] = [];
  if (dialect === 'postgres') {
    const u = quoteIdent('postgres', user);
    out.push(
      ...header,
      '--',
      '-- Run as a superuser or the owner of the tables, passing the password as a psql variable',
      '-- (it never appears in this file or in the shell history if read from a prompt):',
      `--   read -rs PW && psql "host=${source.host} port=${source.port} dbname=${source.database}" -v ON_ERROR_STOP=1 -v password="$PW" -f grant.sql`,
      '-- Then store the same password with `connector credentials set`.',
      '',
      `CREATE ROLE ${u} LOGIN PASSWORD :'password' CONNECTION LIMIT ${connections};`,
      `ALTER ROLE ${u} SET default_transaction_read_only = on;`,
      `ALTER ROLE ${u} SET statement_timeout = '${timeout}s';`,
      `ALTER ROLE ${u} SET idle_in_transaction_session_timeout = '${timeout}s';`,
      `GRANT CONNECT ON DATABASE ${quoteIdent('postgres', source.database)} TO ${u};`,
    );
    for (const schema of [...new Set(plans.map((p) => p.plan.schema))]) {
      out.push(`GRANT USAGE ON SCHEMA ${quoteIdent('postgres', schema)} TO ${u};`);
    }
    if (config.incremental.holdBackForOpenTransactions) {
      out.push(
        '-- Lets the user see when other sessions started their open transactions (pg_stat_activity), so an',
        '-- incremental run never moves past rows a long transaction has not committed yet. Read-only',
        "-- statistics, no data. Without it only the connector's own sessions are visible and only the",
        '-- lookback protects against long transactions (`connector check` warns).',
        `GRANT pg_read_all_stats TO ${u};`,
      );
    }
  } else {
    const u = `'${user}'@'${userHost}'`;
    out.push(
      ...header,
      '--',
      '-- Run as an administrator. The account is created LOCKED and without a password; set the',
      '-- password and unlock it with the statement at the end (edit it, do not save the password here).',
      '-- MySQL has no per-user statement timeout: the connector sets max_execution_time',
      `-- (MariaDB: max_statement_time) to ${timeout} s on every session it opens.`,
      '',
      `CREATE USER IF NOT EXISTS ${u} ACCOUNT LOCK;`,
      `ALTER USER ${u}${source.tls === 'disable' ? '' : ' REQUIRE SSL'} WITH MAX_USER_CONNECTIONS ${connections};`,
      `-- MariaDB only, a server-side backstop: ALTER USER ${u} WITH MAX_STATEMENT_TIME ${timeout};`,
    );
  }
  for (const { stream, plan } of plans) {
    const table = qualified(dialect, plan.schema, plan.table);
    const cols = plan.columns.map((c) => quoteIdent(dialect, c)).join(', ');
    const to = dialect === 'postgres' ? quoteIdent('postgres', user) : `'${user}'@'${userHost}'`;
    out.push(
      '',
      `-- stream ${stream}: key ${plan.keyColumn}, cursor ${plan.cursorColumn}`,
      `GRANT SELECT (${cols}) ON ${dialect === 'postgres' ? 'TABLE ' : ''}${table} TO ${to};`,
      '-- recommended index for ordered, ranged reads (skip it if an index on (cursor, key) exists):',
      `-- ${recommendedIndex(dialect, plan.schema, plan.table, plan.cursorColumn, plan.keyColumn)}`,
      ...(dialect === 'mysql'
        ? [
            '-- optional: lets the schema-drift check see new columns too (it lists column names and types, reads no row):',
            `-- GRANT REFERENCES ON ${table} TO ${to};`,
          ]
        : []),
    );
  }
  if (dialect === 'mysql') {
    out.push(
      '',
      '-- Finally, set the password and unlock the account (replace the placeholder, run it once):',
      `-- ALTER USER '${user}'@'${userHost}' IDENTIFIED BY '<a strong password>' ACCOUNT UNLOCK;`,
    );
  }
  return `${out.join('\n')}\n`;
}

export const grantSqlCommand = defineCommand({
  name: 'grant-sql',
  summary: "SQL for the operator's DBA: a least-privilege read-only user",
  help: HELP,
  options: {
    ...OPERATOR_OPTIONS,
    dialect: { type: 'string' },
    user: { type: 'string' },
    'user-host': { type: 'string' },
  },
  async run({ values, io, operator }) {
    if (values.dialect !== undefined && values.dialect !== 'postgres' && values.dialect !== 'mysql') {
      throw new UsageError(`grant-sql: --dialect must be postgres or mysql, got ${JSON.stringify(values.dialect)}`);
    }
    const { config } = operator();
    io.out(
      grantSql(config, {
        ...(values.dialect ? { dialect: values.dialect } : {}),
        ...(values.user ? { user: values.user } : {}),
        ...(values['user-host'] ? { userHost: values['user-host'] } : {}),
      }),
    );
    return EXIT.ok;
  },
});
