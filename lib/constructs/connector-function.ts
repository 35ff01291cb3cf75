/**
 * A Lambda function with the connector's house defaults: Node.js 22 on arm64, X-Ray tracing,
 * source maps, its own KMS-encrypted log group with the configured retention, a role whose
 * permissions all live in one customer-managed policy (no inline policies), and optional VPC
 * placement.
 */
import { Duration, type RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { OperatorConfig } from '#shared/config/schema';
import { acknowledgeFindings } from '../nag.ts';
import { type HandlerName, LambdaBundle } from './lambda-bundle.ts';
import { EncryptedLogGroup } from './log-group.ts';

export interface ConnectorFunctionProps {
  /** The stack's shared code asset. */
  readonly bundle: LambdaBundle;
  /** Which handler of the bundle the function runs. */
  readonly handler: HandlerName;
  /** What the function does, shown in the console. */
  readonly description: string;
  /** The operator's customer-managed key: encrypts the log group and the environment. */
  readonly encryptionKey: kms.IKey;
  /** Log group name (under the landing zone's log-group prefix). */
  readonly logGroupName: string;
  /** Days log events are kept. */
  readonly logRetentionDays: OperatorConfig['retention']['logDays'];
  /**
   * Reserved concurrency: the most instances that can run at once. Every connector function has
   * one, so a burst can never open more sessions on the operator database than planned.
   */
  readonly reservedConcurrency: number;
  /**
   * Memory size in MB (CPU scales with it).
   * @default 1769 (one full vCPU)
   */
  readonly memorySize?: number;
  /**
   * Timeout.
   * @default Duration.minutes(15)
   */
  readonly timeout?: Duration;
  /**
   * Ephemeral storage (/tmp) in MB, 512 to 10,240.
   * @default 512
   */
  readonly ephemeralStorageSizeMb?: number;
  /** Environment variables (never secrets: those are read from Secrets Manager at run time). */
  readonly environment?: Record<string, string>;
  /**
   * Network placement; omitted for functions that only talk to AWS services.
   * @default no VPC
   */
  readonly vpc?: {
    readonly vpc: ec2.IVpc;
    readonly subnets: ec2.SubnetSelection;
    readonly securityGroups: ec2.ISecurityGroup[];
  };
  /**
   * What `cdk destroy` does to the log group.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * A principal whose `grant*()` statements go into one customer-managed policy attached to the
 * role, instead of the inline default policy CDK would create.
 */
class ManagedPolicyGrantee implements iam.IGrantable {
  public readonly grantPrincipal: iam.IPrincipal;

  constructor(role: iam.Role, policy: iam.ManagedPolicy) {
    const principal: iam.IPrincipal = {
      assumeRoleAction: role.assumeRoleAction,
      grantPrincipal: role,
      policyFragment: role.policyFragment,
      principalAccount: role.principalAccount,
      addToPrincipalPolicy: (statement) => {
        policy.addStatements(statement);
        return { statementAdded: true, policyDependable: policy };
      },
    };
    this.grantPrincipal = principal;
  }
}

/** A connector Lambda with house defaults; pass it to `grant*()` methods as `fn.grantee`. */
export class ConnectorFunction extends Construct {
  public readonly function: lambda.Function;
  public readonly role: iam.Role;
  /** The customer-managed policy holding every permission of the function. */
  public readonly policy: iam.ManagedPolicy;
  /** Grant target whose statements land in {@link policy}. */
  public readonly grantee: iam.IGrantable;
  public readonly logGroup: EncryptedLogGroup;

  constructor(scope: Construct, id: string, props: ConnectorFunctionProps) {
    super(scope, id);
    this.logGroup = new EncryptedLogGroup(this, 'Logs', {
      logGroupName: props.logGroupName,
      encryptionKey: props.encryptionKey,
      retentionDays: props.logRetentionDays,
      ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: props.description,
    });
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      roles: [this.role],
      description: `Permissions of ${props.handler}`,
    });
    this.grantee = new ManagedPolicyGrantee(this.role, this.policy);

    this.policy.addStatements(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroup.logGroupArn],
      }),
      new iam.PolicyStatement({
        actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
        resources: ['*'],
      }),
    );
    const wildcardReasons = [
      'X-Ray PutTraceSegments and PutTelemetryRecords do not support resource-level permissions; the role can only send traces.',
    ];
    if (props.vpc) {
      this.policy.addStatements(
        new iam.PolicyStatement({
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      );
      wildcardReasons.push(
        'The EC2 network-interface actions Lambda needs to attach to the VPC do not support resource-level permissions for Describe/Create on new interfaces (same as the AWSLambdaVPCAccessExecutionRole managed policy, which is not used so that no AWS-managed policy is attached).',
      );
    }
    acknowledgeFindings(this.policy, ['AwsSolutions-IAM5[Resource::*]'], wildcardReasons.join(' '));

    this.function = new lambda.Function(this, 'Function', {
      code: props.bundle.code,
      handler: LambdaBundle.handler(props.handler),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      description: props.description,
      memorySize: props.memorySize ?? 1769,
      timeout: props.timeout ?? Duration.minutes(15),
      reservedConcurrentExecutions: props.reservedConcurrency,
      ...(props.ephemeralStorageSizeMb ? { ephemeralStorageSize: Size.mebibytes(props.ephemeralStorageSizeMb) } : {}),
      // Immutable view: the function's own grants (tracing, VPC access, environment key) would
      // become an inline policy or an AWS-managed one; the managed policy above holds them instead.
      role: this.role.withoutPolicyUpdates(),
      logGroup: this.logGroup.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: lambda.Tracing.ACTIVE,
      environmentEncryption: props.encryptionKey,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      ...(props.vpc
        ? { vpc: props.vpc.vpc, vpcSubnets: props.vpc.subnets, securityGroups: props.vpc.securityGroups }
        : {}),
    });
    this.function.node.addDependency(this.policy);
    props.encryptionKey.grantDecrypt(this.grantee);
    acknowledgeFindings(
      this.function,
      ['AwsSolutions-L1', 'Serverless-LambdaLatestVersion'],
      'Connector functions run Node.js 22, the runtime the bundle is built for (esbuild target node22) and the whole test suite runs on (the node 22.x toolchain pinned in package.json); moving to a newer runtime is a deliberate, tested change of that pin.',
    );
    acknowledgeFindings(
      this.function,
      ['Serverless-LambdaDLQ', 'NIST.800.53.R5-LambdaDLQ'],
      'Connector functions are invoked synchronously (by Step Functions or SQS event source mappings, which have their own dead-letter queues); a Lambda dead-letter queue only receives failed asynchronous invocations, which never happen here. Failures are retried by the state machine, end in a Fail state and raise the failed-sync alarms.',
    );
  }

  /**
   * Acknowledges AwsSolutions-IAM5 wildcard findings of this function's policy, one finding each
   * (e.g. `Resource::<LandingZoneBucketE9F55564.Arn>/raw/*`), with the reason they are needed.
   */
  public acknowledgeWildcards(findings: readonly string[], reason: string): void {
    acknowledgeFindings(
      this.policy,
      findings.map((f) => `AwsSolutions-IAM5[${f}]`),
      reason,
    );
  }
}
