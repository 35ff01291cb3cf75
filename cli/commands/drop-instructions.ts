/**
 * `connector drop-instructions <operator>`: what a file-drop operator needs to upload: bucket,
 * prefixes, who may write, the expected columns and format per stream, and copy-paste commands.
 * Deployed names (bucket, upload role, ExternalId, SFTP endpoint) are read from the stack's
 * outputs with CloudFormation; without access to the stack (offline, or not deployed yet) the
 * instructions say how to read them instead.
 */
import type { FileFormat, OperatorConfig } from '#shared/config/schema';
import { inboundStreamPrefix } from '#shared/layout';
import { defineCommand } from '../command.ts';
import { CliError, EXIT, OPERATOR_HELP, OPERATOR_OPTIONS, printJson } from '../io.ts';
import { stackNames } from '../operator.ts';
import { type DeployedStack, operatorStack, STACK_OUTPUTS } from '../stack.ts';

const HELP = `Usage: connector drop-instructions <operator> [--offline] [--json]

Prints the instructions to send to a file-drop operator: the landing bucket and inbound/<stream>/
prefixes, the principals allowed to write, the expected columns and file format of every stream,
and copy-paste upload commands. The bucket (and the upload role with its ExternalId, when
fileDrop.assumeRole is set, and the SFTP endpoint) are read from the outputs of the operator's
stack with CloudFormation (AWS credentials of the operator account). When the stack cannot be
read, the instructions carry the \`aws cloudformation describe-stacks\` call instead, and a
warning says why.

Options:
  --offline     do not read the stack; print the describe-stacks call instead
  --json        print the instructions as JSON
  -h, --help    show this help

${OPERATOR_HELP}

Exit codes: 0 printed, 1 the operator has no file drop configured, 2 usage error.`;

const EXTENSION: Record<FileFormat['type'], string> = { csv: 'csv', jsonl: 'jsonl', parquet: 'parquet' };

function formatText(format: FileFormat | undefined): string {
  if (!format) return 'CSV, comma-separated, UTF-8, header row, ISO-8601 timestamps';
  if (format.type !== 'csv') {
    return format.type === 'jsonl'
      ? `JSON Lines (one object per line), timestamps ${format.timestampFormat}`
      : 'Parquet';
  }
  return `CSV, delimiter ${JSON.stringify(format.delimiter)}, quote ${JSON.stringify(format.quote)}, ${format.encoding}, decimal separator ${JSON.stringify(format.decimalSeparator)}, timestamps ${format.timestampFormat}, dates ${format.dateFormat}, header row`;
}

/** The instructions of one operator; `stack` fills in the deployed names. */
export function dropInstructions(config: OperatorConfig, stack?: DeployedStack) {
  const fileDrop = config.fileDrop;
  if (!fileDrop) {
    throw new CliError(
      `drop-instructions: operator ${config.operatorId} has no fileDrop section in its config; it is read from its ${config.source.type} database`,
      EXIT.problems,
    );
  }
  const names = stackNames(config);
  const describe = (key: string) =>
    `aws cloudformation describe-stacks --stack-name ${names.stack} --region ${config.region} --query "Stacks[0].Outputs[?OutputKey=='${key}'].OutputValue" --output text`;
  const streams = Object.entries(config.streams).map(([stream, sc]) => {
    const ext = EXTENSION[sc?.format?.type ?? 'csv'];
    return {
      stream,
      prefix: inboundStreamPrefix(stream),
      format: formatText(sc?.format),
      columns: Object.values(sc?.columns ?? {}).map((m) => (typeof m === 'string' ? m : m.column)),
      example: `aws s3 cp ./${stream}-2025-01-31.${ext} "s3://$BUCKET/${inboundStreamPrefix(stream)}${stream}-2025-01-31.${ext}"`,
    };
  });
  return {
    operatorId: config.operatorId,
    stage: config.stage,
    stack: names.stack,
    account: config.account,
    region: config.region,
    bucket: stack?.outputs[STACK_OUTPUTS.landingBucket] ?? '<LandingBucketName stack output>',
    uploadRoleArn: stack?.outputs[STACK_OUTPUTS.uploadRole] ?? null,
    externalId: stack?.outputs[STACK_OUTPUTS.externalId] ?? null,
    sftpEndpoint: stack?.outputs[STACK_OUTPUTS.sftpEndpoint] ?? null,
    fromStack: stack !== undefined,
    fetchBucket: describe('LandingBucketName'),
    fetchAllOutputs: `aws cloudformation describe-stacks --stack-name ${names.stack} --region ${config.region} --query "Stacks[0].Outputs" --output table`,
    principals: fileDrop.principals,
    assumeRole: fileDrop.assumeRole,
    maxFileSizeMb: fileDrop.maxFileSizeMb,
    timeZone: fileDrop.timeZone,
    sftp: fileDrop.sftp?.enabled ? { userName: fileDrop.sftp.userName ?? null } : null,
    streams,
  };
}

export const dropInstructionsCommand = defineCommand({
  name: 'drop-instructions',
  summary: 'bucket, prefixes, role and upload commands for a file-drop operator',
  help: HELP,
  options: {
    ...OPERATOR_OPTIONS,
    json: { type: 'boolean' },
    offline: { type: 'boolean' },
  },
  async run({ values, io, operator }) {
    const { config } = operator();
    dropInstructions(config); // refuses an operator without a file drop before any AWS call
    let stack: DeployedStack | undefined;
    if (!values.offline) {
      try {
        stack = await operatorStack(config, io, 'drop-instructions');
      } catch (e) {
        if (!(e instanceof CliError)) throw e;
        io.err(`warning: the stack outputs cannot be read, so the instructions say how to read them:\n${e.message}\n`);
      }
    }
    const d = dropInstructions(config, stack);
    if (values.json) {
      printJson(io, d);
      return EXIT.ok;
    }
    const lines = [
      `File drop for ${config.displayName} (${d.operatorId}, ${d.stage})`,
      '',
      ...(d.fromStack
        ? [`Stack ${d.stack} in account ${d.account}, region ${d.region}.`, '']
        : [
            `Stack ${d.stack} in account ${d.account}, region ${d.region}. Read the bucket name (and the other outputs) with:`,
            `  ${d.fetchBucket}`,
            `  ${d.fetchAllOutputs}`,
            '',
          ]),
      `Bucket:  ${d.bucket}`,
      `Prefix:  inbound/<stream>/ (one folder per stream, sub-folders allowed; files up to ${d.maxFileSizeMb} MB, optionally .gz)`,
      `Writers: ${d.principals.length > 0 ? d.principals.join(', ') : '(none configured: add fileDrop.principals)'} may put objects under inbound/ only.`,
    ];
    if (d.assumeRole) {
      lines.push(
        d.uploadRoleArn && d.externalId
          ? 'Role:    assume the upload role with its ExternalId:'
          : 'Role:    assume the upload role with its ExternalId (both are outputs of the stack, see the table above):',
        `  aws sts assume-role --role-arn ${d.uploadRoleArn ?? '<FileDropUploadRoleArn output>'} --external-id ${d.externalId ?? '<FileDropExternalId output>'} --role-session-name ${d.operatorId}-upload`,
      );
    }
    if (d.sftp)
      lines.push(
        `SFTP:    user ${d.sftp.userName ?? '<fileDrop.sftp.userName>'} on ${d.sftpEndpoint ? `the endpoint ${d.sftpEndpoint}` : 'the Transfer Family endpoint of the stack (see outputs)'}.`,
      );
    lines.push(`Timestamps without an offset are read in ${d.timeZone}.`, '', 'Streams:');
    for (const s of d.streams) {
      lines.push(`  ${s.stream} → ${s.prefix}`, `    format:  ${s.format}`, `    columns: ${s.columns.join(', ')}`);
    }
    lines.push(
      '',
      'Upload (copy-paste; the bucket encrypts every object with the operator key, no extra flags needed):',
      d.fromStack ? `  BUCKET=${d.bucket}` : `  BUCKET=$(${d.fetchBucket})`,
      ...d.streams.map((s) => `  ${s.example}`),
      '',
      'Files that do not match are moved to quarantine/<stream>/ with a machine-readable reason; nothing is lost.',
    );
    io.out(`${lines.join('\n')}\n`);
    return EXIT.ok;
  },
});
