/**
 * The operator config schema: the single source of truth for `config/operators/<id>.yaml`.
 *
 * Every optional field has a documented default (`.default()` + `.describe()`); docs/config.md is
 * generated from this file (`npm run config:docs`) and a test keeps the two in sync.
 */
import { z } from 'zod';
import { CANONICAL_STREAMS, STREAM_NAMES, type StreamName } from '../canonical.ts';

/** A SQL identifier that can be quoted safely in PostgreSQL and MySQL without escaping. */
export const SAFE_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

const identifier = (what: string, example: string) =>
  z
    .string()
    .regex(SAFE_IDENTIFIER, {
      message: `must be a plain SQL identifier (letters, digits and underscores, starting with a letter or underscore, at most 63 characters): quotes, spaces, dots and semicolons are not allowed`,
    })
    .describe(what)
    .meta({ examples: [example] });

const CLOUDWATCH_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** EventBridge Scheduler expressions: `rate(N unit)` or a six-field `cron(...)`. */
const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON_FIELD = /^[0-9A-Za-z*?,/\-#L]+$/;

export function checkScheduleExpression(expr: string): string | undefined {
  const rate = RATE.exec(expr);
  if (rate) {
    const n = Number(rate[1]);
    const unit = rate[2] ?? '';
    if (n < 1) return 'a rate must be at least 1';
    if (n === 1 && unit.endsWith('s')) return `use the singular unit for 1: rate(1 ${unit.slice(0, -1)})`;
    if (n > 1 && !unit.endsWith('s')) return `use the plural unit for ${n}: rate(${n} ${unit}s)`;
    const minutes = unit.startsWith('minute') ? n : unit.startsWith('hour') ? n * 60 : n * 1440;
    if (minutes < 5) return 'incremental syncs run at most every 5 minutes, to protect the source database';
    if (minutes > 1440) return 'incremental syncs must run at least once a day so freshness alarms make sense';
    return undefined;
  }
  const cron = /^cron\((.*)\)$/.exec(expr);
  if (cron) {
    const fields = (cron[1] ?? '').trim().split(/\s+/);
    if (fields.length !== 6)
      return `a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`;
    if (!fields.every((f) => CRON_FIELD.test(f))) return 'a cron field contains an unexpected character';
    if (fields[2] !== '?' && fields[4] !== '?') return 'one of day-of-month or day-of-week must be "?"';
    return undefined;
  }
  return 'expected rate(<n> <minutes|hours|days>) or cron(<6 fields>)';
}

const schedule = z
  .string()
  .superRefine((value, ctx) => {
    const problem = checkScheduleExpression(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `invalid schedule "${value}": ${problem}` });
  })
  .describe('EventBridge Scheduler expression for incremental syncs.')
  .meta({ examples: ['rate(15 minutes)', 'cron(0/10 * * * ? *)'] });

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone.includes('/') || zone === 'UTC';
  } catch {
    return false;
  }
}

const timeZone = z
  .string()
  .refine(isTimeZone, { message: 'must be an IANA time zone name' })
  .meta({ examples: ['Europe/Malta', 'UTC'] });

const ec2Id = (prefix: string) =>
  z
    .string()
    .regex(new RegExp(`^${prefix}-[0-9a-f]{8}([0-9a-f]{9})?$`), {
      message: `must be an ID like ${prefix}-0123456789abcdef0`,
    })
    .meta({ examples: [`${prefix}-0123456789abcdef0`] });

const existingNetwork = z
  .strictObject({
    mode: z.literal('existing').describe('Place the extractors in an existing VPC that can reach the database.'),
    vpcId: ec2Id('vpc').describe('VPC of the extractor Lambdas.'),
    availabilityZones: z
      .array(
        z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, { message: 'must be an availability zone like eu-west-1a' }),
      )
      .min(1)
      .describe('Availability zones of the subnets, in the same order (needed to synthesize offline).')
      .meta({ examples: [['eu-west-1a', 'eu-west-1b']] }),
    subnetIds: z.array(ec2Id('subnet')).min(1).describe('Private subnets with a route to the database.'),
    securityGroupIds: z
      .array(ec2Id('sg'))
      .min(1)
      .describe('Security groups allowed by the database to connect on its port.'),
  })
  .superRefine((n, ctx) => {
    if (n.availabilityZones.length !== n.subnetIds.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['availabilityZones'],
        message: `list one availability zone per subnet (${n.subnetIds.length} subnets, ${n.availabilityZones.length} zones)`,
      });
    }
  });

const createdNetwork = z.strictObject({
  mode: z
    .literal('created')
    .describe('Create a VPC with a NAT gateway and an Elastic IP: the operator allow-lists that one static address.'),
  cidr: z
    .string()
    .regex(/^(10|172|192)\.\d{1,3}\.\d{1,3}\.\d{1,3}\/(1[6-9]|2[0-4])$/, {
      message: 'must be a private IPv4 CIDR between /16 and /24',
    })
    .default('10.40.0.0/16')
    .describe('CIDR of the created VPC.')
    .meta({ examples: ['10.40.0.0/16'] }),
  maxAzs: z.number().int().min(1).max(3).default(2).describe('Availability zones used by the extractor subnets.'),
});

const network = z
  .discriminatedUnion('mode', [existingNetwork, createdNetwork])
  .describe('Where the extractor Lambdas run.');

const databaseSource = (type: 'postgres' | 'mysql', defaultPort: number) =>
  z.strictObject({
    type: z.literal(type),
    host: z
      .string()
      .regex(/^[A-Za-z0-9.-]{1,253}$/, { message: 'must be a host name or IPv4 address' })
      .describe('Database host as reachable from the extractor network.')
      .meta({ examples: ['casino-db.internal.example.com'] }),
    port: z.number().int().min(1).max(65535).default(defaultPort).describe('Database port.'),
    database: identifier('Database name.', 'casino'),
    schema:
      type === 'postgres'
        ? identifier('Schema holding the tables.', 'public').default('public')
        : identifier('Schema (database) holding the tables; defaults to `database`.', 'casino').optional(),
    tls: z
      .enum(['verify-full', 'require', 'disable'])
      .default('verify-full')
      .describe('TLS mode: verify-full checks the server certificate and host name; disable is refused in production.'),
    timeZone: timeZone
      .default('UTC')
      .describe('Zone in which the source stores timestamps without time zone; they are converted to UTC.'),
    statementTimeoutSeconds: z
      .number()
      .int()
      .min(10)
      .max(900)
      .default(300)
      .describe('Statement timeout set on every extractor session.'),
    network,
  });

const filesSource = z.strictObject({
  type: z.literal('files').describe('The operator drops files under inbound/<stream>/ instead of opening a database.'),
});

const source = z
  .discriminatedUnion('type', [databaseSource('postgres', 5432), databaseSource('mysql', 3306), filesSource])
  .describe('The one access point the operator gives: a database or a file drop.');

const fieldMapping = z.union([
  z.string().describe('Source column (or file header) holding this canonical field.'),
  z.strictObject({
    column: z.string().describe('Source column (or file header).'),
    pii: z
      .enum(['keep', 'pseudonymize', 'drop'])
      .optional()
      .describe('Override of the canonical PII treatment; `keep` on personal data needs `justification`.'),
    justification: z.string().min(20).optional().describe('Why personal data is kept in clear (auditable).'),
    values: z
      .record(z.string(), z.string())
      .optional()
      .describe('Operator value → canonical value for enumeration fields. Unmapped values land as "unmapped".'),
    precision: z.number().int().min(1).max(38).optional().describe('DECIMAL precision of a money field (default 38).'),
    scale: z.number().int().min(0).max(38).optional().describe('DECIMAL scale of a money field (default 10).'),
  }),
]);

const fileFormat = z.strictObject({
  type: z.enum(['csv', 'jsonl', 'parquet']).default('csv').describe('File format.'),
  delimiter: z.string().length(1).default(',').describe('CSV field delimiter.'),
  quote: z.string().length(1).default('"').describe('CSV quote character.'),
  encoding: z.enum(['utf-8', 'latin1', 'utf-16le']).default('utf-8').describe('CSV character encoding.'),
  decimalSeparator: z.enum(['.', ',']).default('.').describe('Decimal separator of numbers in CSV.'),
  timestampFormat: z
    .enum([
      'iso8601',
      'epoch-millis',
      'epoch-seconds',
      'dd/MM/yyyy HH:mm:ss',
      'MM/dd/yyyy HH:mm:ss',
      'yyyy-MM-dd HH:mm:ss',
    ])
    .default('iso8601')
    .describe('How timestamps are written; values without offset are read in `fileDrop.timeZone`.'),
  dateFormat: z
    .enum(['yyyy-MM-dd', 'dd/MM/yyyy', 'MM/dd/yyyy', 'dd.MM.yyyy'])
    .default('yyyy-MM-dd')
    .describe('How dates are written.'),
});

const streamConfig = z.strictObject({
  table: identifier('Source table (database sources).', 'tx_payments').optional(),
  schema: identifier('Source schema, when it differs from `source.schema`.', 'reporting').optional(),
  cursor: z
    .string()
    .optional()
    .describe('Source column used as incremental cursor; default: the column mapped to the canonical cursor field.'),
  columns: z
    .record(z.string(), fieldMapping)
    .describe('Canonical field → source column. Only mapped columns are read; key and cursor are required.'),
  freshnessSlaMinutes: z
    .number()
    .int()
    .min(5)
    .max(10080)
    .optional()
    .describe('Alarm when the stream is older than this; default `alerts.defaultFreshnessSlaMinutes`.'),
  format: fileFormat.optional().describe('File format of dropped files for this stream (file drops).'),
});

export type StreamConfig = z.infer<typeof streamConfig>;
export type FieldMapping = z.infer<typeof fieldMapping>;

const streams = z
  .strictObject(
    Object.fromEntries(
      STREAM_NAMES.map((name) => [name, streamConfig.optional().describe(CANONICAL_STREAMS[name].description)]),
    ) as Record<StreamName, z.ZodOptional<typeof streamConfig>>,
  )
  .describe('The canonical streams this operator provides and how its data maps onto them.');

const iamPrincipalArn = z
  .string()
  .regex(/^arn:aws(-[a-z]+)*:iam::\d{12}:(root|role\/[\w+=,.@/-]{1,512}|user\/[\w+=,.@/-]{1,512})$/, {
    message: 'must be an IAM role, user or account root ARN',
  })
  .meta({ examples: ['arn:aws:iam::210987654321:role/casino-data-export'] });

const fileDrop = z.strictObject({
  principals: z
    .array(iamPrincipalArn)
    .default([])
    .describe('Operator AWS principals allowed to write objects under inbound/ (and nothing else).'),
  assumeRole: z
    .boolean()
    .default(false)
    .describe('Also create a role in this account the operator assumes with a per-operator ExternalId.'),
  timeZone: timeZone.default('UTC').describe('Zone of file timestamps written without an offset.'),
  maxFileSizeMb: z.number().int().min(1).max(51200).default(5120).describe('Larger files are quarantined unread.'),
  afterIngest: z
    .enum(['archive', 'delete'])
    .default('archive')
    .describe('What happens to the original once it has landed or been quarantined.'),
  sftp: z
    .strictObject({
      enabled: z
        .boolean()
        .default(false)
        .describe('Create an AWS Transfer Family SFTP endpoint writing into inbound/.'),
      userName: z
        .string()
        .regex(/^[a-zA-Z0-9_][a-zA-Z0-9_@.-]{2,99}$/)
        .optional()
        .describe('SFTP user of the operator.'),
      sshPublicKeys: z
        .array(z.string().regex(/^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$/))
        .default([])
        .describe('Public SSH keys of the SFTP user (public keys only).'),
    })
    .optional()
    .describe('Optional SFTP endpoint.'),
});

const alerts = z.strictObject({
  emails: z
    .array(z.email({ message: 'must be an e-mail address' }).meta({ examples: ['oncall@example.com'] }))
    .default([])
    .describe('Addresses subscribed to the alarm topic.'),
  httpsEndpoints: z
    .array(
      z
        .url({ protocol: /^https$/, message: 'must be an https:// URL' })
        .meta({ examples: ['https://events.pagerduty.com/integration/abc123/enqueue'] }),
    )
    .default([])
    .describe('HTTPS endpoints (paging tools) subscribed to the alarm topic.'),
  defaultFreshnessSlaMinutes: z
    .number()
    .int()
    .min(5)
    .max(10080)
    .default(60)
    .describe('Freshness SLA of streams that do not set their own.'),
});

const retention = z.strictObject({
  rawDays: z.number().int().min(0).max(36500).default(0).describe('Days landed Parquet is kept; 0 keeps it forever.'),
  noncurrentVersionDays: z
    .number()
    .int()
    .min(1)
    .max(3650)
    .default(30)
    .describe('Days overwritten or deleted object versions are kept (recovery window).'),
  archiveDays: z
    .number()
    .int()
    .min(1)
    .max(3650)
    .default(90)
    .describe('Days dropped originals are kept under archive/.'),
  quarantineDays: z.number().int().min(1).max(3650).default(180).describe('Days quarantined files are kept.'),
  logDays: z
    .union(
      CLOUDWATCH_RETENTION_DAYS.map((d) => z.literal(d)) as unknown as [z.ZodLiteral<number>, z.ZodLiteral<number>],
    )
    .default(365)
    .describe(`CloudWatch Logs retention in days (one of ${CLOUDWATCH_RETENTION_DAYS.join(', ')}).`),
  accessLogDays: z.number().int().min(1).max(3650).default(365).describe('Days S3 server access logs are kept.'),
});

export const operatorConfigSchema = z
  .strictObject({
    operatorId: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,30}[a-z0-9]$/, {
        message: 'must be 3-32 characters of lower-case letters, digits and hyphens, starting with a letter',
      })
      .describe('Stable operator identifier, used in resource names.')
      .meta({ examples: ['acme-casino'] }),
    displayName: z
      .string()
      .min(1)
      .max(100)
      .describe('Human-readable operator name.')
      .meta({ examples: ['Acme Casino Ltd'] }),
    stage: z.enum(['sandbox', 'production']).describe('Deployment stage; one stack per operator and stage.'),
    account: z
      .string()
      .regex(/^\d{12}$/, { message: 'must be a 12-digit AWS account id, quoted in YAML' })
      .describe('Target AWS account id.')
      .meta({ examples: ['123456789012'] }),
    region: z
      .string()
      .regex(
        /^(af|ap|ca|eu|il|me|mx|sa|us|cn|us-gov)-(central|north|south|east|west|northeast|southeast|northwest|southwest)-\d$/,
        {
          message: 'must be an AWS region code',
        },
      )
      .describe('Target AWS region.')
      .meta({ examples: ['eu-west-1'] }),
    source,
    snapshot: z
      .strictObject({
        days: z.number().int().min(1).max(3650).default(90).describe('Days of history copied by the snapshot.'),
        windowHours: z
          .number()
          .int()
          .min(1)
          .max(744)
          .default(24)
          .describe('Size of one snapshot window; each window is one unit of work and retry.'),
        targetRowsPerWindow: z
          .number()
          .int()
          .min(10000)
          .optional()
          .describe('If set, windows are split adaptively from row estimates so none exceeds this many rows.'),
        maxParallelWindows: z
          .number()
          .int()
          .min(1)
          .max(16)
          .default(2)
          .describe('Windows extracted at once; keep small to protect the operator database.'),
      })
      .default({ days: 90, windowHours: 24, maxParallelWindows: 2 })
      .describe('The one-time snapshot of recent history.'),
    incremental: z
      .strictObject({
        schedule: schedule.default('rate(15 minutes)'),
        lookbackMinutes: z
          .number()
          .int()
          .min(0)
          .max(1440)
          .default(60)
          .describe('Re-read this far behind the watermark to catch rows committed late.'),
        safetyLagSeconds: z
          .number()
          .int()
          .min(0)
          .max(3600)
          .default(60)
          .describe('Never read rows newer than now minus this lag (open transactions).'),
      })
      .default({ schedule: 'rate(15 minutes)', lookbackMinutes: 60, safetyLagSeconds: 60 })
      .describe('Incremental syncs after the snapshot.'),
    streams,
    fileDrop: fileDrop.optional().describe('File-drop access (required when `source.type` is files).'),
    alerts: alerts
      .default({ emails: [], httpsEndpoints: [], defaultFreshnessSlaMinutes: 60 })
      .describe('Where alarms go.'),
    retention: retention
      .default({
        rawDays: 0,
        noncurrentVersionDays: 30,
        archiveDays: 90,
        quarantineDays: 180,
        logDays: 365,
        accessLogDays: 365,
      })
      .describe('How long data and logs are kept.'),
    removalPolicy: z
      .enum(['retain', 'destroy'])
      .default('retain')
      .describe('What `cdk destroy` does to data; `destroy` is only accepted for the sandbox stage.'),
  })
  .describe('One operator and stage.');

export type OperatorConfig = z.infer<typeof operatorConfigSchema>;
export type OperatorConfigInput = z.input<typeof operatorConfigSchema>;
export type DatabaseSourceConfig = Extract<OperatorConfig['source'], { type: 'postgres' | 'mysql' }>;
export type FileFormat = z.infer<typeof fileFormat>;
