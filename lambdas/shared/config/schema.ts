/**
 * The operator config schema: the single source of truth for `config/operators/<id>.yaml`.
 *
 * docs/config.md is generated from this file (`npm run config:docs`) and a test keeps the two in
 * sync. Metadata used by the error messages and the generated reference:
 * - `.describe()`: what the field is for (every field has one);
 * - `examples`: a valid value, shown in error messages and in the reference;
 * - `whenAbsent`: on an optional field without `.default()`, what happens when it is left out
 *   (a test fails when an optional field has neither);
 * - `expected`: overrides the generated "expected ..." text where the type alone says too little.
 */
import { z } from 'zod';
import { CANONICAL_STREAMS, getField, STREAM_NAMES, type StreamName } from '../canonical.ts';
import { checkScheduleExpression } from './schedule.ts';
import { checkCaBundle } from './tls.ts';

/** Canonical wallet transaction types (the keys of `walletLedger.directions`). */
const WALLET_TYPE_NAMES = getField('wallet_transactions', 'type')?.values ?? ['unmapped'];

/** A SQL identifier that can be quoted safely in PostgreSQL and MySQL without escaping. */
export const SAFE_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

const identifier = (what: string, example: string) =>
  z
    .string()
    .regex(SAFE_IDENTIFIER, {
      message:
        'must be a plain SQL identifier: letters, digits and underscores, starting with a letter or underscore, at most 63 characters (no quotes, spaces, dots or semicolons)',
    })
    .describe(what)
    .meta({ examples: [example] });

const CLOUDWATCH_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const schedule = z
  .string()
  .superRefine((value, ctx) => {
    const problem = checkScheduleExpression(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `invalid schedule "${value}": ${problem}` });
  })
  .describe('EventBridge Scheduler expression for incremental syncs (at most every 5 minutes, at least once a day).')
  .meta({
    examples: ['rate(15 minutes)', 'cron(0/10 * * * ? *)'],
    expected:
      'rate(<n> minutes|hours|days) between 5 minutes and 1 day, or cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)',
  });

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
  .refine(isTimeZone, { message: 'must be an IANA time zone name like Europe/Malta or UTC' })
  .meta({ examples: ['Europe/Malta'], expected: 'an IANA time zone name like Europe/Malta or UTC' });

const ec2Id = (prefix: string, what: string) =>
  z
    .string()
    .regex(new RegExp(`^${prefix}-[0-9a-f]{8}([0-9a-f]{9})?$`), {
      message: `must be ${what} ID like ${prefix}-0123456789abcdef0`,
    })
    .meta({ examples: [`${prefix}-0123456789abcdef0`] });

const existingNetwork = z
  .strictObject({
    mode: z.literal('existing').describe('Place the extractors in an existing VPC that can reach the database.'),
    vpcId: ec2Id('vpc', 'a VPC').describe('VPC of the extractor Lambdas.'),
    availabilityZones: z
      .array(
        z
          .string()
          .regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, { message: 'must be an availability zone like eu-west-1a' })
          .meta({ examples: ['eu-west-1a'] }),
      )
      .min(1)
      .describe('Availability zones of the subnets, one per subnet in the same order (needed to synthesize offline).')
      .meta({ examples: [['eu-west-1a', 'eu-west-1b']] }),
    subnetIds: z
      .array(ec2Id('subnet', 'a subnet'))
      .min(1)
      .describe('Private subnets with a route to the database.')
      .meta({ examples: [['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210']] }),
    securityGroupIds: z
      .array(ec2Id('sg', 'a security group'))
      .min(1)
      .describe('Security groups allowed by the database to connect on its port.')
      .meta({ examples: [['sg-0123456789abcdef0']] }),
  })
  .meta({
    examples: [
      {
        mode: 'existing',
        vpcId: 'vpc-0123456789abcdef0',
        availabilityZones: ['eu-west-1a', 'eu-west-1b'],
        subnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
        securityGroupIds: ['sg-0123456789abcdef0'],
      },
    ],
  });

const createdNetwork = z.strictObject({
  mode: z
    .literal('created')
    .describe('Create a VPC with a NAT gateway and an Elastic IP: the operator allow-lists that one static address.'),
  cidr: z
    .string()
    .regex(/^(10|172|192)\.\d{1,3}\.\d{1,3}\.\d{1,3}\/(1[6-9]|2[0-4])$/, {
      message: 'must be a private IPv4 CIDR between /16 and /24, like 10.40.0.0/16',
    })
    .default('10.40.0.0/16')
    .describe('CIDR of the created VPC.'),
  maxAzs: z.number().int().min(1).max(3).default(2).describe('Availability zones used by the extractor subnets.'),
});

const network = z
  .discriminatedUnion('mode', [createdNetwork, existingNetwork])
  .describe('Where the extractor Lambdas run.')
  .meta({ examples: [{ mode: 'created' }] });

/**
 * How the source compares key values, with the default of each source type: PostgreSQL compares
 * exactly (deterministic collations); MySQL/MariaDB's usual collations (`utf8mb4_general_ci`,
 * `utf8mb4_unicode_ci`, MariaDB's default) ignore case and trailing spaces; files are compared
 * exactly unless stated.
 */
export const DEFAULT_KEY_COMPARISON = {
  postgres: { caseInsensitive: false, padSpace: false },
  mysql: { caseInsensitive: true, padSpace: true },
  files: { caseInsensitive: false, padSpace: false },
} as const;

const keyComparison = (type: 'postgres' | 'mysql' | 'files') =>
  z
    .strictObject({
      caseInsensitive: z
        .boolean()
        .describe(
          'Keys that differ only in letter case are the same key (`_ci` collations, citext): the key form folds case (Unicode simple case folding).',
        )
        .meta({ examples: [DEFAULT_KEY_COMPARISON[type].caseInsensitive] }),
      padSpace: z
        .boolean()
        .describe(
          'Trailing spaces do not count (PAD SPACE collations, PostgreSQL character(n)): the key form drops trailing spaces.',
        )
        .meta({ examples: [DEFAULT_KEY_COMPARISON[type].padSpace] }),
    })
    .default({ ...DEFAULT_KEY_COMPARISON[type] })
    .describe(
      type === 'files'
        ? 'How the operator compares key values (player_id, primary keys) in its own systems; key and reference fields are pseudonymized in that form so they join as there. Changing it after data has landed changes pseudonyms.'
        : "How the database compares key values (player_id, primary keys): key and reference fields are pseudonymized in that form, so they join in the lake as they join in the source. `connector discover` proposes it from the key columns' collations, `connector check` verifies it. Changing it after data has landed changes pseudonyms.",
    )
    .meta({ examples: [{ ...DEFAULT_KEY_COMPARISON[type] }] });

const databaseSource = (type: 'postgres' | 'mysql', defaultPort: number) =>
  z.strictObject({
    type: z.literal(type).describe(type === 'postgres' ? 'A PostgreSQL database.' : 'A MySQL or MariaDB database.'),
    host: z
      .string()
      .regex(/^[A-Za-z0-9.-]{1,253}$/, { message: 'must be a host name or IPv4 address, without scheme or port' })
      .describe('Database host as reachable from the extractor network.')
      .meta({ examples: ['casino-db.internal.example.com'] }),
    port: z.number().int().min(1).max(65535).default(defaultPort).describe('Database port.'),
    database: identifier('Database name.', 'casino'),
    schema:
      type === 'postgres'
        ? identifier('Schema holding the tables.', 'public').default('public')
        : identifier(
            'On MySQL/MariaDB a schema is a database: set `database` to the database holding the tables; `schema`, if given, must equal it.',
            'casino',
          )
            .optional()
            .meta({ whenAbsent: 'the value of `database`' }),
    tls: z
      .enum(['verify-full', 'require', 'disable'])
      .default('verify-full')
      .describe(
        'Minimum TLS mode of every session: verify-full encrypts and checks the server certificate and host name against `caBundle`; require encrypts without checking; disable does not encrypt. Production accepts verify-full only.',
      ),
    caBundle: z
      .string()
      .superRefine((value, ctx) => {
        const problem = checkCaBundle(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .default('system')
      .describe(
        "CAs trusted to sign the server certificate with tls: verify-full: `system` (the public CAs Node.js ships), `aws-rds` (the Amazon RDS and Aurora global bundle shipped with the connector), or the PEM bundle of the operator's own CA (certificates only; they are public).",
      )
      .meta({
        examples: ['aws-rds'],
        expected: '"system", "aws-rds", or a PEM bundle of CA certificates (-----BEGIN CERTIFICATE----- …)',
      }),
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
    keyComparison: keyComparison(type),
    network,
  });

const filesSource = z.strictObject({
  type: z.literal('files').describe('The operator drops files under inbound/<stream>/ instead of opening a database.'),
  keyComparison: keyComparison('files'),
});

const source = z
  .discriminatedUnion('type', [databaseSource('postgres', 5432), databaseSource('mysql', 3306), filesSource])
  .describe('The one access point the operator gives: a database or a file drop.')
  .meta({
    examples: [
      { type: 'postgres', host: 'casino-db.internal.example.com', database: 'casino', network: { mode: 'created' } },
    ],
  });

const fieldMapping = z
  .union([
    z
      .string()
      .min(1)
      .describe('Source column (or file header) holding this canonical field.')
      .meta({ examples: ['txn_amount'] }),
    z.strictObject({
      column: z
        .string()
        .min(1)
        .describe('Source column (or file header).')
        .meta({ examples: ['txn_amount'] }),
      pii: z
        .enum(['keep', 'pseudonymize', 'drop'])
        .optional()
        .describe('Override of the canonical PII treatment; `keep` on personal data needs `justification`.')
        .meta({ examples: ['pseudonymize'], whenAbsent: "the field's default treatment (see Canonical streams)" }),
      justification: z
        .string()
        .min(20)
        .optional()
        .describe('Why personal data is kept in clear (auditable).')
        .meta({
          examples: ['Age verification reports require the full date of birth (MGA directive 3).'],
          whenAbsent: 'none; required when `pii: keep` is set on personal data',
        }),
      values: z
        .record(z.string(), z.string().meta({ examples: ['approved'] }))
        .optional()
        .describe('Operator value → canonical value, for enumeration fields.')
        .meta({
          examples: [{ APPROVED: 'approved', DECLINED: 'declined' }],
          whenAbsent: 'source values are used as they are; one that is not a canonical value lands as `unmapped`',
        }),
      precision: z
        .number()
        .int()
        .min(1)
        .max(38)
        .optional()
        .describe('DECIMAL precision of a money field.')
        .meta({ examples: [18], whenAbsent: 'the canonical precision, 38' }),
      scale: z
        .number()
        .int()
        .min(0)
        .max(38)
        .optional()
        .describe('DECIMAL scale of a money field.')
        .meta({ examples: [2], whenAbsent: 'the canonical scale, 10' }),
    }),
  ])
  .describe('The source column of a canonical field: its name, or a mapping with `column` and options.')
  .meta({
    examples: ['txn_amount'],
    expected:
      'a source column name, or a mapping with `column` (and optionally pii, justification, values, precision, scale)',
  });

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

/** When a key audit runs unless the stream says otherwise: daily at 03:30 UTC. */
export const DEFAULT_KEY_AUDIT_SCHEDULE = 'cron(30 3 * * ? *)';

/**
 * Whether a stream is audited when its config does not say: streams whose rows are updated and can
 * be deleted (accounts, payments, bonuses) are; append-only or high-volume event streams are not.
 */
export const KEY_AUDIT_BY_DEFAULT: Readonly<Record<StreamName, boolean>> = {
  players: true,
  payments: true,
  bonuses: true,
  sessions: false,
  wallet_transactions: false,
  game_rounds: false,
  compliance_events: false,
};

/** The streams an operator's key audit covers, with their schedules (database sources only). */
export function keyAuditedStreams(config: {
  readonly source: { readonly type: string };
  readonly streams: Partial<
    Record<StreamName, { readonly keyAudit?: { readonly enabled?: boolean; readonly schedule?: string } }>
  >;
}): { stream: StreamName; schedule: string }[] {
  if (config.source.type === 'files') return [];
  return STREAM_NAMES.filter((name) => {
    const stream = config.streams[name];
    return stream !== undefined && (stream.keyAudit?.enabled ?? KEY_AUDIT_BY_DEFAULT[name]);
  }).map((stream) => ({ stream, schedule: config.streams[stream]?.keyAudit?.schedule ?? DEFAULT_KEY_AUDIT_SCHEDULE }));
}

const streamConfig = z
  .strictObject({
    table: identifier('Source table the stream is read from (database sources; required there).', 'tx_payments')
      .optional()
      .meta({ whenAbsent: 'none: required for database sources, not allowed for file drops' }),
    schema: identifier('Source schema, when it differs from `source.schema`.', 'reporting')
      .optional()
      .meta({ whenAbsent: 'the value of `source.schema`' }),
    cursor: z
      .string()
      .optional()
      .describe('Source column used as incremental cursor (a timestamp that grows on every change).')
      .meta({ examples: ['modified_ts'], whenAbsent: 'the column mapped to the canonical cursor field' }),
    cursorType: z
      .enum(['naive', 'zoned'])
      .optional()
      .describe(
        'How the cursor column stores time: `zoned` for instants (PostgreSQL timestamptz, MySQL TIMESTAMP), `naive` for wall-clock times read in `source.timeZone` (timestamp without time zone, DATETIME, DATE). A naive cursor needs `incremental.lookbackMinutes` to cover the repeated hour of that zone; the extractor checks the column it reads against this.',
      )
      .meta({
        examples: ['zoned'],
        whenAbsent: 'treated as naive by the lookback check (database sources)',
      }),
    columns: z
      .record(z.string(), fieldMapping)
      .describe(
        'Canonical field → source column. Only mapped columns are read; fields that are never NULL (key, cursor, player_id) must be mapped.',
      )
      .meta({ examples: [{ payment_id: 'txn_id', player_id: 'customer_id', updated_at: 'modified_ts' }] }),
    freshnessSlaMinutes: z
      .number()
      .int()
      .min(5)
      .max(10080)
      .optional()
      .describe(
        'Alarm when the newest landed data of the stream is older than this. File drops: when no file of the stream has landed for this long.',
      )
      .meta({
        examples: [30],
        whenAbsent: '`alerts.defaultFreshnessSlaMinutes` (file drops: `fileDrop.freshnessSlaHours`)',
      }),
    keyAudit: z
      .strictObject({
        enabled: z
          .boolean()
          .optional()
          .describe(
            "Compare the stream's primary keys at the source with the serving table's on a schedule: keys deleted at the source are removed from the lake (tombstones), rows missing from the lake are re-extracted. Database sources only.",
          )
          .meta({
            examples: [true],
            whenAbsent:
              'on for players, payments and bonuses; off for the append-only or high-volume event streams (sessions, wallet_transactions, game_rounds, compliance_events)',
          }),
        schedule: schedule
          .default(DEFAULT_KEY_AUDIT_SCHEDULE)
          .describe(
            'When the audit runs (EventBridge Scheduler `rate(…)` or `cron(…)`, UTC). It reads every key of the table in pages, so once a day at a quiet hour is the usual choice.',
          ),
      })
      .optional()
      .describe('The scheduled key audit of this stream (hard deletes and lost rows without CDC).')
      .meta({ examples: [{ enabled: true, schedule: 'cron(30 3 * * ? *)' }], whenAbsent: 'the stream default' }),
    format: fileFormat
      .optional()
      .describe('File format of dropped files for this stream (file drops only).')
      .meta({ whenAbsent: 'CSV with the defaults below' }),
  })
  .meta({
    examples: [
      {
        table: 'tx_payments',
        columns: { payment_id: 'txn_id', player_id: 'customer_id', updated_at: 'modified_ts' },
      },
    ],
  });

export type StreamConfig = z.infer<typeof streamConfig>;
export type FieldMapping = z.infer<typeof fieldMapping>;

/** The smallest valid mapping of a stream: its table and the fields that are never NULL. */
function minimalStream(name: StreamName): { table: string; columns: Record<string, string> } {
  const required = CANONICAL_STREAMS[name].fields.filter((f) => !f.nullable).map((f) => f.name);
  return { table: name, columns: Object.fromEntries(required.map((f) => [f, f])) };
}

const streams = z
  .strictObject(
    Object.fromEntries(
      STREAM_NAMES.map((name) => [
        name,
        streamConfig
          .optional()
          .describe(CANONICAL_STREAMS[name].description)
          .meta({ examples: [minimalStream(name)], whenAbsent: 'the stream is not landed' }),
      ]),
    ) as Record<StreamName, z.ZodOptional<typeof streamConfig>>,
  )
  .describe('The canonical streams this operator provides and how its data maps onto them.')
  .meta({
    examples: [
      {
        payments: {
          table: 'tx_payments',
          columns: { payment_id: 'txn_id', player_id: 'customer_id', updated_at: 'modified_ts' },
        },
      },
    ],
  });

/** Lambda's largest ephemeral storage (/tmp), in MB. */
export const LAMBDA_MAX_EPHEMERAL_MB = 10_240;
/** Ephemeral storage of the ingest function beyond the largest file, in MB. */
export const EPHEMERAL_HEADROOM_MB = 512;
/** Largest `fileDrop.maxFileSizeMb`: a spooled file and the headroom fit Lambda's largest /tmp. */
export const MAX_FILE_SIZE_MB = LAMBDA_MAX_EPHEMERAL_MB - EPHEMERAL_HEADROOM_MB;

/** Whether `value` is an IPv4 CIDR (a.b.c.d/n with octets 0-255 and n 0-32). */
export function isIpv4Cidr(value: string): boolean {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value);
  if (!match) return false;
  return match.slice(1, 5).every((o) => Number(o) <= 255) && Number(match[5]) <= 32;
}

const iamPrincipalArn = z
  .string()
  .regex(/^arn:aws(-[a-z]+)*:iam::\d{12}:(root|role\/[\w+=,.@/-]{1,512}|user\/[\w+=,.@/-]{1,512})$/, {
    message: 'must be an IAM role, user or account root ARN like arn:aws:iam::210987654321:role/casino-data-export',
  })
  .meta({ examples: ['arn:aws:iam::210987654321:role/casino-data-export'] });

const fileDrop = z
  .strictObject({
    principals: z
      .array(iamPrincipalArn)
      .default([])
      .describe('Operator AWS principals allowed to write objects under inbound/ (and nothing else).'),
    assumeRole: z
      .boolean()
      .default(false)
      .describe('Also create a role in this account the operator assumes with a per-operator ExternalId.'),
    timeZone: timeZone.default('UTC').describe('Zone of file timestamps written without an offset.'),
    maxFileSizeMb: z
      .number()
      .int()
      .min(1)
      .max(MAX_FILE_SIZE_MB)
      .default(5120)
      .describe(
        `Larger files (or their content after decompression) are quarantined unread. Parquet files are spooled to the ingest function's ephemeral storage, which is sized from this (plus ${EPHEMERAL_HEADROOM_MB} MB), so it is at most Lambda's ${LAMBDA_MAX_EPHEMERAL_MB} MB minus that headroom.`,
      ),
    freshnessSlaHours: z
      .number()
      .int()
      .min(1)
      .max(168)
      .default(26)
      .describe(
        "Alarm when no file of a stream has landed for this long (missing data counts as breaching): the default suits a nightly export with a couple of hours' slack. A stream's own freshnessSlaMinutes overrides it.",
      ),
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
          .regex(/^[a-zA-Z0-9_][a-zA-Z0-9_@.-]{2,99}$/, {
            message: 'must be 3-100 letters, digits, and _ @ . - characters, not starting with @ . or -',
          })
          .optional()
          .describe('SFTP user of the operator.')
          .meta({ examples: ['acme-upload'], whenAbsent: 'none; required when `enabled` is true' }),
        sshPublicKeys: z
          .array(
            z
              .string()
              .regex(/^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$/, {
                message: 'must be an OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp*)',
              })
              .max(2048, {
                message:
                  'must be at most 2048 characters, the longest key AWS Transfer Family stores: use an ssh-ed25519 key, or drop the comment',
              })
              .meta({ examples: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9wZXJhdG9yLWtleQ ops@acme'] }),
          )
          .default([])
          .describe('Public SSH keys of the SFTP user (public keys only).'),
        allowedCidrs: z
          .array(
            z
              .string()
              .superRefine((value, ctx) => {
                if (!isIpv4Cidr(value))
                  ctx.addIssue({ code: 'custom', message: 'must be an IPv4 CIDR like 203.0.113.0/24' });
              })
              .meta({ examples: ['203.0.113.0/24'], expected: 'an IPv4 CIDR like 203.0.113.0/24' }),
          )
          .default([])
          .describe(
            "Source addresses the operator uploads from; the endpoint's security group admits SSH from these only (required when enabled).",
          ),
        vpcCidr: z
          .string()
          .regex(/^(10|172|192)\.\d{1,3}\.\d{1,3}\.\d{1,3}\/(1[6-9]|2[0-6])$/, {
            message: 'must be a private IPv4 CIDR between /16 and /26, like 10.60.0.0/24',
          })
          .default('10.60.0.0/24')
          .describe(
            'CIDR of the small VPC the SFTP endpoint is placed in (public subnets with one Elastic IP each, no other resources).',
          ),
      })
      .optional()
      .describe('SFTP endpoint for operators that cannot write to S3.')
      .meta({ whenAbsent: 'no SFTP endpoint' }),
  })
  .meta({ examples: [{ principals: ['arn:aws:iam::210987654321:role/casino-data-export'] }] });

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
  runbookUrl: z
    .url({ protocol: /^https$/, message: 'must be an https:// URL of the published runbook, without #section' })
    .refine((u) => !u.includes('#'), { message: 'must not contain #: alarm descriptions add the section' })
    .optional()
    .describe(
      "Where on-call opens the runbook (docs/runbook.md published on the team's wiki or repository host); every alarm description links `<runbookUrl>#<section>`.",
    )
    .meta({
      examples: ['https://git.example.com/data/igaming-connector/blob/main/docs/runbook.md'],
      whenAbsent: 'alarm descriptions name docs/runbook.md of the connector repository',
    }),
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
  logDays: z.literal(CLOUDWATCH_RETENTION_DAYS).default(365).describe('CloudWatch Logs retention in days.'),
  accessLogDays: z.number().int().min(1).max(3650).default(365).describe('Days S3 server access logs are kept.'),
});

/** The schema of one operator config file (one operator and stage). */
export const operatorConfigSchema = z
  .strictObject({
    operatorId: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,30}[a-z0-9]$/, {
        message:
          'must be 3-32 characters of lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen',
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
        { message: 'must be an AWS region code like eu-west-1' },
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
          .describe('Split windows adaptively from row estimates so none exceeds this many rows.')
          .meta({ examples: [5000000], whenAbsent: 'windows are exactly `windowHours` long' }),
        maxParallelWindows: z
          .number()
          .int()
          .min(1)
          .max(16)
          .default(2)
          .describe('Windows extracted at once; keep small to protect the operator database.'),
      })
      .prefault({})
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
          .describe(
            "Each run re-reads this far behind the stream's watermark, so rows committed after an earlier run read past their cursor (long transactions, replica delay) still land; they land again if already read. With a naive cursor it must also cover the longest repeated wall-clock span of `source.timeZone` (60 for Europe/Malta, 30 for Australia/Lord_Howe); 0 only with a safety lag.",
          ),
        safetyLagSeconds: z
          .number()
          .int()
          .min(0)
          .max(3600)
          .default(60)
          .describe(
            "Never read rows with a cursor newer than now minus this lag: a transaction still open, or a database clock behind the connector's, writes cursors the watermark would otherwise pass before they commit; 0 only with a lookback.",
          ),
        latenessAlarmShare: z
          .number()
          .gt(0)
          .max(1)
          .default(0.5)
          .describe(
            "Alarm when a run finds a late arrival (a row committed after an earlier run read past its cursor, caught by the lookback) whose lateness exceeds this share of lookbackMinutes: the warning, before any row is lost, that the lookback is too short for this operator's database.",
          ),
        holdBackForOpenTransactions: z
          .boolean()
          .default(true)
          .describe(
            "PostgreSQL: end each run's range before the start of the oldest transaction of the database that is still open and has written (minus openTransactionMarginSeconds), so a long transaction's rows are not passed by the watermark. Needs the connector user to see other sessions (GRANT pg_read_all_stats; `connector grant-sql` prints it); without it only the user's own sessions are visible and `connector check` says so. Ignored for MySQL/MariaDB.",
          ),
        openTransactionMarginSeconds: z
          .number()
          .int()
          .min(0)
          .max(3600)
          .default(60)
          .describe(
            "PostgreSQL holdback: how far before an open transaction's start its rows' cursors may lie (an application that stamps the cursor before BEGIN, or with its own clock).",
          ),
      })
      .prefault({})
      .describe(
        "Incremental syncs after the snapshot: every run reads each stream's rows with a cursor in [watermark − lookbackMinutes, now − safetyLagSeconds) and moves the watermark to the end of that range. A row that commits more than about lookbackMinutes + safetyLagSeconds after its cursor time can be missed; with both at 0 every row committed after a run read past its cursor is lost, so that is refused.",
      ),
    streams,
    serving: z
      .strictObject({
        bytesScannedCutoffGb: z
          .number()
          .int()
          .min(1)
          .max(1_000_000)
          .default(1000)
          .describe(
            "Athena cancels any query of the operator's workgroup that would scan more than this many GB (publishing a 90-day snapshot of a large operator scans its landed Parquet once).",
          ),
        snapshotRetentionDays: z
          .number()
          .int()
          .min(1)
          .max(365)
          .default(7)
          .describe(
            'Iceberg snapshots of the serving tables older than this are expired (with their unreferenced data files) by the Glue retention optimizer: the time-travel window, and the bound on how long erased rows survive in old snapshots.',
          ),
        snapshotsToRetain: z
          .number()
          .int()
          .min(1)
          .max(100)
          .default(3)
          .describe('Most recent Iceberg snapshots kept whatever their age.'),
        orphanFileRetentionDays: z
          .number()
          .int()
          .min(1)
          .max(365)
          .default(3)
          .describe(
            'Files under a serving table no snapshot references are deleted once older than this (failed writes).',
          ),
        compaction: z
          .boolean()
          .default(true)
          .describe('Let the Glue compaction optimizer rewrite small data files and merge delete files.'),
        publishSchedule: schedule
          .default('rate(15 minutes)')
          .describe(
            'How often dropped files are published into the serving tables (file drops only; database runs publish when they end).',
          ),
        maxPublishDelayMinutes: z
          .number()
          .int()
          .min(15)
          .max(10080)
          .default(120)
          .describe('Alarm when a committed window has waited longer than this to be published.'),
      })
      .prefault({})
      .describe('The serving tables (Apache Iceberg) analysts query: publishing, limits and maintenance.'),
    walletLedger: z
      .strictObject({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            "Audit the wallet ledger after every publish: per player and currency, each entry's balance_after must equal the previous entry's plus its amount in the direction of its type (needs wallet_transactions with player_id, type, amount, balance_after and created_at landed).",
          ),
        directions: z
          .partialRecord(z.enum(WALLET_TYPE_NAMES as [string, ...string[]]), z.enum(['credit', 'debit', 'signed']))
          .default({})
          .describe(
            'How each canonical wallet transaction type moves the balance: `credit` adds abs(amount), `debit` subtracts abs(amount), `signed` adds the amount as booked. Types not listed keep the default: deposit, win, bonus_credit, refund credit; bet, withdrawal, bonus_debit debit; adjustment and unmapped signed.',
          )
          .meta({ examples: [{ refund: 'signed', adjustment: 'signed' }] }),
        maxExamples: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .default(20)
          .describe(
            'Breaks kept per audit as examples (player pseudonym, transaction ids, expected and actual balance) in a KMS-encrypted object under `_integrity/wallet/` of the landing bucket.',
          ),
      })
      .prefault({})
      .describe('The wallet ledger audit (balance_after continuity), run after each publish.'),
    fileDrop: fileDrop
      .optional()
      .describe('File-drop access: who may upload, and how files are handled.')
      .meta({ whenAbsent: 'no file drop; required when `source.type` is files' }),
    alerts: alerts.prefault({}).describe('Where alarms go.'),
    retention: retention.prefault({}).describe('How long data and logs are kept.'),
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
export type KeyComparisonConfig = z.infer<ReturnType<typeof keyComparison>>;
