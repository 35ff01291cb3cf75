/**
 * The deployed stack of an operator, read with CloudFormation: its status and outputs (bucket,
 * sync-state table, state machines, upload role…), so no command asks the user to paste
 * `aws cloudformation describe-stacks` output.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import type { OperatorConfig } from '#shared/config/schema';
import { awsError, clientSettings } from './aws.ts';
import { CliError, type CliIo, EXIT } from './io.ts';
import { stackNames } from './operator.ts';

/** Output keys of the operator stack (lib/stacks/operator-connector-stack.ts, lib/constructs/file-drop.ts). */
export const STACK_OUTPUTS = {
  landingBucket: 'LandingBucketName',
  inboundPrefix: 'InboundPrefix',
  sourceSecret: 'SourceSecretArn',
  kmsKey: 'KmsKeyArn',
  glueDatabase: 'GlueDatabaseName',
  alarmTopic: 'AlarmTopicArn',
  notificationTopic: 'NotificationTopicArn',
  syncStateTable: 'SyncStateTableName',
  snapshotStateMachine: 'SnapshotStateMachineArn',
  incrementalStateMachine: 'IncrementalStateMachineArn',
  egressIp: 'EgressIp',
  uploadRole: 'FileDropUploadRoleArn',
  externalId: 'FileDropExternalId',
  sftpEndpoint: 'FileDropSftpEndpoint',
  sftpUser: 'FileDropSftpUser',
} as const;

/** A deployed stack: its status and outputs by key. */
export interface DeployedStack {
  readonly name: string;
  readonly status: string;
  readonly outputs: Readonly<Record<string, string>>;
}

/** The stack does not exist in the config's account and region. */
export class StackNotDeployedError extends CliError {
  override readonly name: string = 'StackNotDeployedError';
}

/** A CloudFormation client for the config's region (AWS_ENDPOINT_URL_CLOUDFORMATION honoured). */
export function cloudFormationClient(region: string, io: CliIo): CloudFormationClient {
  return new CloudFormationClient(clientSettings(region, io, 'CLOUDFORMATION'));
}

/** Describes one stack; undefined when it does not exist. Other failures are thrown as AWS errors. */
export async function describeStack(
  client: CloudFormationClient,
  name: string,
  region: string,
): Promise<DeployedStack | undefined> {
  try {
    const out = await client.send(new DescribeStacksCommand({ StackName: name }));
    const stack = out.Stacks?.[0];
    if (!stack) return undefined;
    const outputs: Record<string, string> = {};
    for (const o of stack.Outputs ?? [])
      if (o.OutputKey && o.OutputValue !== undefined) outputs[o.OutputKey] = o.OutputValue;
    return { name, status: stack.StackStatus ?? 'UNKNOWN', outputs };
  } catch (e) {
    // CloudFormation answers a missing stack with a ValidationError "Stack with id X does not exist".
    if ((e as { name?: string }).name === 'ValidationError' && /does not exist/.test((e as Error).message)) {
      return undefined;
    }
    throw awsError(`reading stack ${name} (CloudFormation, ${region})`, e);
  }
}

/** The operator's deployed stack; a stack that is not deployed ends the command with what to do. */
export async function operatorStack(config: OperatorConfig, io: CliIo, command: string): Promise<DeployedStack> {
  const name = stackNames(config).stack;
  const client = cloudFormationClient(config.region, io);
  try {
    const stack = await describeStack(client, name, config.region);
    if (!stack) {
      throw new StackNotDeployedError(
        `${command}: stack ${name} is not deployed in account ${config.account}, region ${config.region}\n  what to do: deploy it with \`npx cdk deploy ${name}\` (check --stage and your AWS profile: \`connector doctor ${config.operatorId}\`)`,
        EXIT.aws,
      );
    }
    return stack;
  } finally {
    client.destroy();
  }
}

/** One output of a deployed stack; missing means the stack predates it or the feature is off. */
export function stackOutput(stack: DeployedStack, key: string, command: string): string {
  const value = stack.outputs[key];
  if (value === undefined) {
    throw new CliError(
      `${command}: stack ${stack.name} has no output ${key}; deploy the current version (\`npx cdk deploy ${stack.name}\`)`,
      EXIT.aws,
    );
  }
  return value;
}
