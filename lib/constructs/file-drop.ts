/**
 * The operator file drop: who may upload into `inbound/` (the operator's AWS principals, an
 * optional role they assume with an ExternalId, an optional SFTP endpoint), and the ingestion path
 * from the bucket's Object Created events through EventBridge and an SQS queue (with a
 * dead-letter queue) to the ingest-file function.
 */
import { createHash } from 'node:crypto';
import { CfnOutput, type CfnResource, Duration, Fn, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as transfer from 'aws-cdk-lib/aws-transfer';
import { Construct } from 'constructs';
import { EPHEMERAL_HEADROOM_MB, LAMBDA_MAX_EPHEMERAL_MB, type OperatorConfig } from '#shared/config/schema';
import { PREFIX } from '#shared/layout';
import { acknowledgeFindings } from '../nag.ts';
import { ConnectorFunction } from './connector-function.ts';
import { acknowledgeLandingWildcards, connectorEnvironment } from './extractors.ts';
import type { LambdaBundle } from './lambda-bundle.ts';
import type { LandingZone } from './landing-zone.ts';
import { EncryptedLogGroup } from './log-group.ts';
import { addEncryptedFlowLog } from './network.ts';
import type { SyncState } from './sync-state.ts';

/**
 * Memory of the ingest-file function: 2 vCPUs, so CSV and JSON Lines files are read, mapped and encoded on a
 * worker pool of two threads (bench/RESULTS.md, "File drops on the worker pool").
 */
export const INGEST_FILE_MEMORY_MB = 3538;

/** SFTP security policy: only modern key exchanges, ciphers and MACs (no CBC, no SHA-1). */
export const SFTP_SECURITY_POLICY = 'TransferSecurityPolicy-2024-01';

export interface FileDropProps {
  /** The validated config; `fileDrop` must be set. */
  readonly config: OperatorConfig;
  /** The stack's shared code asset. */
  readonly bundle: LambdaBundle;
  readonly landingZone: LandingZone;
  readonly syncState: SyncState;
  /**
   * Messages (files) per invocation. Files are processed one after the other, so each may need
   * most of the function's time: keep it small.
   * @default 1
   */
  readonly batchSize?: number;
  /**
   * Files ingested at once (reserved concurrency of the function and maximum concurrency of the
   * event source, which must agree so SQS never polls messages the function cannot take).
   * @default 5
   */
  readonly maxConcurrency?: number;
  /**
   * Timeout of the ingest function; the queue's visibility timeout is six times it.
   * @default Duration.minutes(15)
   */
  readonly timeout?: Duration;
  /**
   * Deliveries of a message before it moves to the dead-letter queue.
   * @default 5
   */
  readonly maxReceiveCount?: number;
  /**
   * What `cdk destroy` does to the log groups.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** A grant target whose identity statements go into one customer-managed policy (no inline policies). */
class PolicyGrantee implements iam.IGrantable {
  public readonly grantPrincipal: iam.IPrincipal;

  constructor(role: iam.Role, policy: iam.ManagedPolicy) {
    this.grantPrincipal = {
      assumeRoleAction: role.assumeRoleAction,
      grantPrincipal: role,
      policyFragment: role.policyFragment,
      principalAccount: role.principalAccount,
      addToPrincipalPolicy: (statement) => {
        policy.addStatements(statement);
        return { statementAdded: true, policyDependable: policy };
      },
    };
  }
}

/**
 * Ephemeral storage (/tmp) of the ingest function for a `maxFileSizeMb`: the largest file plus
 * headroom, within Lambda's 512-10,240 MB (config validation caps the file size accordingly).
 */
export function ingestEphemeralStorageMb(maxFileSizeMb: number): number {
  return Math.min(LAMBDA_MAX_EPHEMERAL_MB, Math.max(512, maxFileSizeMb + EPHEMERAL_HEADROOM_MB));
}

/** What {@link ScopedQueueTarget} delivers to, and from which rule. */
interface ScopedQueueTargetProps {
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  /** The key both queues are encrypted with. */
  readonly key: kms.IKey;
  /** ARN of the one rule allowed to send (written without a reference to the rule). */
  readonly ruleArn: string;
  readonly retryAttempts: number;
  readonly maxEventAge: Duration;
}

/**
 * An EventBridge target for KMS-encrypted queues whose queue and key policies admit
 * events.amazonaws.com only for this account and this one rule (`aws:SourceAccount` and
 * `aws:SourceArn`). The stock SQS target leaves the key statement without a source condition.
 */
class ScopedQueueTarget implements events.IRuleTarget {
  constructor(private readonly props: ScopedQueueTargetProps) {}

  bind(rule: events.IRule): events.RuleTargetConfig {
    const { queue, deadLetterQueue, key, ruleArn } = this.props;
    const account = Stack.of(rule).account;
    const eventsService = new iam.ServicePrincipal('events.amazonaws.com');
    const source = { StringEquals: { 'aws:SourceAccount': account }, ArnEquals: { 'aws:SourceArn': ruleArn } };
    for (const target of [queue, deadLetterQueue]) {
      target.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowFileDropRule',
          principals: [eventsService],
          actions: ['sqs:SendMessage'],
          resources: [target.queueArn],
          conditions: source,
        }),
      );
    }
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowFileDropRuleToEncryptQueueMessages',
        principals: [eventsService],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: source,
      }),
    );
    return {
      arn: queue.queueArn,
      targetResource: queue,
      deadLetterConfig: { arn: deadLetterQueue.queueArn },
      retryPolicy: {
        maximumRetryAttempts: this.props.retryAttempts,
        maximumEventAgeInSeconds: this.props.maxEventAge.toSeconds(),
      },
    };
  }
}

/**
 * The ExternalId of the upload role: derived from account, region, stack and operator (and this
 * construct's path), so it is stable across deployments and unique per operator stack.
 */
export function uploadExternalId(scope: Construct, operatorId: string): string {
  const stack = Stack.of(scope);
  const seed = [stack.account, stack.region, stack.stackName, operatorId, scope.node.addr].join('/');
  return `connector-${operatorId}-${createHash('sha256').update(seed).digest('hex').slice(0, 24)}`;
}

/** Access, trigger, queue and ingest function of an operator's file drop. */
export class FileDrop extends Construct {
  /** The ingest-file function. */
  public readonly ingestFunction: ConnectorFunction;
  /** Object Created events of `inbound/` waiting to be ingested. */
  public readonly queue: sqs.Queue;
  /** Events that failed `maxReceiveCount` times (and events EventBridge could not deliver). */
  public readonly deadLetterQueue: sqs.Queue;
  /** EventBridge rule: Object Created in the landing bucket under `inbound/`. */
  public readonly rule: events.Rule;
  /** Role the operator assumes to upload (`fileDrop.assumeRole`). */
  public readonly uploadRole?: iam.Role;
  /** ExternalId the operator must pass when assuming {@link uploadRole}. */
  public readonly externalId?: string;
  /** SFTP server (`fileDrop.sftp.enabled`). */
  public readonly sftpServer?: transfer.CfnServer;
  /** The operator's SFTP user. */
  public readonly sftpUser?: transfer.CfnUser;
  /** Role the SFTP user writes to S3 with. */
  public readonly sftpRole?: iam.Role;

  constructor(scope: Construct, id: string, props: FileDropProps) {
    super(scope, id);
    const { config, landingZone, syncState } = props;
    const drop = config.fileDrop;
    if (!drop) {
      throw new Error(
        `${config.operatorId}: FileDrop needs the fileDrop section of the operator config (e.g. fileDrop: { principals: [arn:aws:iam::210987654321:role/casino-data-export] })`,
      );
    }
    if (drop.assumeRole && drop.principals.length === 0) {
      throw new Error(
        `${config.operatorId}: fileDrop.assumeRole needs fileDrop.principals: the upload role trusts only those principals (with its ExternalId); add the operator's role ARN, e.g. principals: [arn:aws:iam::210987654321:role/casino-data-export]`,
      );
    }
    const stack = Stack.of(this);
    const name = `${config.operatorId}-${config.stage}`;
    const key = landingZone.key;
    const bucket = landingZone.bucket;
    const bucketId = stack.getLogicalId(bucket.node.defaultChild as CfnResource);
    const inboundWildcard = `Resource::<${bucketId}.Arn>/inbound/*`;
    const timeout = props.timeout ?? Duration.minutes(15);
    const maxConcurrency = props.maxConcurrency ?? 5;

    // --- who may upload
    for (const arn of drop.principals) {
      landingZone.grantDropInbound(new iam.ArnPrincipal(arn));
      landingZone.grantReadQuarantineReasons(new iam.ArnPrincipal(arn));
    }

    if (drop.assumeRole) {
      this.externalId = uploadExternalId(this, config.operatorId);
      this.uploadRole = new iam.Role(this, 'UploadRole', {
        assumedBy: new iam.CompositePrincipal(...drop.principals.map((arn) => new iam.ArnPrincipal(arn))),
        externalIds: [this.externalId],
        maxSessionDuration: Duration.hours(1),
        description: `${name}: the operator uploads files under inbound/ (PutObject only)`,
      });
      const policy = new iam.ManagedPolicy(this, 'UploadPolicy', {
        roles: [this.uploadRole],
        description: `${name}: drop files under inbound/ of the landing bucket`,
      });
      landingZone.grantDropInbound(new PolicyGrantee(this.uploadRole, policy));
      landingZone.grantReadQuarantineReasons(new PolicyGrantee(this.uploadRole, policy));
      acknowledgeFindings(
        policy,
        [`AwsSolutions-IAM5[${inboundWildcard}]`],
        'The operator names its own files; the role may only put objects under inbound/ of this one bucket (no read, list or delete), encrypted with this operator key through S3.',
      );
      acknowledgeFindings(
        policy,
        [`AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/quarantine/*.reason.json]`],
        'The reason document of a refused file is named after the file the operator chose; the role may read only those documents (not the quarantined files, no listing) to learn why a file was refused.',
      );
      new CfnOutput(stack, 'FileDropUploadRoleArn', {
        description: 'Role the operator assumes to upload files (with the ExternalId)',
        value: this.uploadRole.roleArn,
      });
      new CfnOutput(stack, 'FileDropExternalId', {
        description: 'ExternalId to pass when assuming the upload role (aws sts assume-role --external-id)',
        value: this.externalId,
      });
    }

    if (drop.sftp?.enabled) {
      const sftp = this.createSftp(props, name, inboundWildcard);
      this.sftpServer = sftp.server;
      this.sftpUser = sftp.user;
      this.sftpRole = sftp.role;
    }

    // --- trigger: EventBridge → SQS (→ DLQ) → Lambda
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: key,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(timeout.toSeconds() * 6),
      retentionPeriod: Duration.days(14),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
    });
    // Named, so its ARN can be written into the key policy without a reference (the key cannot
    // depend on the rule: rule → queue → key).
    const ruleName = `${name}-file-drop`;
    this.rule = new events.Rule(this, 'ObjectCreated', {
      ruleName,
      description: `${name}: files dropped under inbound/ of the landing bucket`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [bucket.bucketName] },
          object: { key: [{ prefix: PREFIX.inbound }] },
        },
      },
    });
    this.rule.addTarget(
      new ScopedQueueTarget({
        queue: this.queue,
        deadLetterQueue: this.deadLetterQueue,
        key,
        ruleArn: stack.formatArn({ service: 'events', resource: 'rule', resourceName: ruleName }),
        retryAttempts: 185,
        maxEventAge: Duration.hours(24),
      }),
    );

    this.ingestFunction = new ConnectorFunction(this, 'Ingest', {
      bundle: props.bundle,
      handler: 'ingest-file',
      description: `${name}: validates dropped files and lands them as Parquet, or quarantines them`,
      encryptionKey: key,
      logGroupName: `${landingZone.logGroupNamePrefix}ingest-file`,
      logRetentionDays: config.retention.logDays,
      reservedConcurrency: maxConcurrency,
      timeout,
      memorySize: INGEST_FILE_MEMORY_MB,
      // Parquet drops are spooled to /tmp before they are read: room for the largest file allowed.
      ephemeralStorageSizeMb: ingestEphemeralStorageMb(drop.maxFileSizeMb),
      environment: connectorEnvironment(config, landingZone, syncState),
      ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
    });
    const fn = this.ingestFunction;
    // The function's role is immutable (its permissions live in one managed policy): grant there.
    this.queue.grantConsumeMessages(fn.grantee);
    fn.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: props.batchSize ?? 1,
        reportBatchItemFailures: true,
        maxConcurrency,
      }),
    );
    const mapping = fn.function.node.children.find((c) => c instanceof lambda.EventSourceMapping);
    if (mapping) {
      acknowledgeFindings(
        mapping,
        ['Serverless-LambdaEventSourceMappingDestination'],
        "On-failure destinations of event source mappings exist for stream and Kafka sources only; for this SQS source a message that keeps failing moves to the queue's dead-letter queue after maxReceiveCount deliveries.",
      );
    }
    acknowledgeFindings(
      this.deadLetterQueue,
      ['Serverless-SQSRedrivePolicy'],
      'This queue is the dead-letter queue (of the ingest queue and of the event rule); a dead-letter queue of its own would only move the same messages once more. Messages are kept 14 days for inspection and redrive.',
    );
    landingZone.grantIngestInbound(fn.grantee);
    landingZone.grantWriteQuarantine(fn.grantee);
    landingZone.grantWriteArchive(fn.grantee);
    landingZone.grantLandRaw(fn.grantee);
    syncState.grantReadWrite(fn.grantee);
    acknowledgeLandingWildcards(fn, landingZone);
    fn.acknowledgeWildcards(
      [inboundWildcard, `Resource::<${bucketId}.Arn>/quarantine/*`, `Resource::<${bucketId}.Arn>/archive/*`],
      'Dropped files have names the operator chooses: the function reads and deletes exact versions of originals under inbound/ and copies them under quarantine/ or archive/ of this one bucket (object actions only, no listing outside raw/).',
    );
    acknowledgeFindings(
      fn.function,
      ['NIST.800.53.R5-LambdaInsideVPC', 'PCI.DSS.321-LambdaInsideVPC'],
      'The ingest function only calls AWS services (S3, DynamoDB, KMS) over TLS with IAM authorization; it connects to no network resource, and a file-drop operator has no VPC in this stack.',
    );
  }

  private createSftp(
    props: FileDropProps,
    name: string,
    inboundWildcard: string,
  ): { server: transfer.CfnServer; user: transfer.CfnUser; role: iam.Role } {
    const { config, landingZone } = props;
    const sftp = props.config.fileDrop?.sftp;
    if (!sftp?.userName || sftp.sshPublicKeys.length === 0) {
      throw new Error(
        `${config.operatorId}: fileDrop.sftp needs userName and at least one of sshPublicKeys when enabled (e.g. userName: acme-upload, sshPublicKeys: [ssh-ed25519 AAAA... ops@acme])`,
      );
    }
    const logs = new EncryptedLogGroup(this, 'SftpLogs', {
      logGroupName: `${landingZone.logGroupNamePrefix}sftp`,
      encryptionKey: landingZone.key,
      retentionDays: config.retention.logDays,
      ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
    });
    const loggingRole = new iam.Role(this, 'SftpLoggingRole', {
      assumedBy: new iam.ServicePrincipal('transfer.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: `${name}: SFTP server logging`,
    });
    const loggingPolicy = new iam.ManagedPolicy(this, 'SftpLoggingPolicy', {
      roles: [loggingRole],
      statements: [
        new iam.PolicyStatement({
          actions: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
          resources: [logs.logGroup.logGroupArn, `${logs.logGroup.logGroupArn}:log-stream:*`],
        }),
      ],
    });
    acknowledgeFindings(
      loggingPolicy,
      [
        `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(logs.logGroup.node.defaultChild as CfnResource)}.Arn>:log-stream:*]`,
      ],
      'The SFTP server names a log stream per session; the role may only write streams of this one log group.',
    );

    const network = this.createSftpNetwork(props, sftp.vpcCidr, sftp.allowedCidrs);
    const server = new transfer.CfnServer(this, 'SftpServer', {
      protocols: ['SFTP'],
      domain: 'S3',
      // An internet-facing VPC endpoint: reachable on its Elastic IPs, and only from the operator's
      // addresses (security group), where a PUBLIC endpoint admits the whole internet.
      endpointType: 'VPC',
      endpointDetails: {
        vpcId: network.vpc.vpcId,
        subnetIds: network.vpc.publicSubnets.map((subnet) => subnet.subnetId),
        securityGroupIds: [network.securityGroup.securityGroupId],
        addressAllocationIds: network.addresses.map((eip) => eip.attrAllocationId),
      },
      identityProviderType: 'SERVICE_MANAGED',
      securityPolicyName: SFTP_SECURITY_POLICY,
      loggingRole: loggingRole.roleArn,
      structuredLogDestinations: [logs.logGroup.logGroupArn],
    });
    const role = new iam.Role(this, 'SftpUserRole', {
      assumedBy: new iam.ServicePrincipal('transfer.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
          ArnLike: { 'aws:SourceArn': server.attrArn },
        },
      }),
      description: `${name}: the operator's SFTP user writes under inbound/ (PutObject only)`,
    });
    const userPolicy = new iam.ManagedPolicy(this, 'SftpUserPolicy', {
      roles: [role],
      description: `${name}: SFTP uploads under inbound/`,
    });
    landingZone.grantDropInbound(new PolicyGrantee(role, userPolicy));
    acknowledgeFindings(
      userPolicy,
      [`AwsSolutions-IAM5[${inboundWildcard}]`],
      'The operator names its own files; the SFTP user may only put objects under inbound/ of this one bucket (its logical home directory), encrypted with this operator key through S3.',
    );
    const user = new transfer.CfnUser(this, 'SftpUser', {
      serverId: server.attrServerId,
      userName: sftp.userName,
      role: role.roleArn,
      homeDirectoryType: 'LOGICAL',
      homeDirectoryMappings: [
        { entry: '/', target: `/${landingZone.bucket.bucketName}/${PREFIX.inbound.slice(0, -1)}` },
      ],
      sshPublicKeys: sftp.sshPublicKeys,
    });
    const stack = Stack.of(this);
    new CfnOutput(stack, 'FileDropSftpEndpoint', {
      description: 'SFTP endpoint (sftp -i <key> <user>@<endpoint>; files go under inbound/)',
      value: `${server.attrServerId}.server.transfer.${stack.region}.amazonaws.com`,
    });
    new CfnOutput(stack, 'FileDropSftpUser', { description: 'SFTP user of the operator', value: sftp.userName });
    new CfnOutput(stack, 'FileDropSftpAddresses', {
      description: 'Public addresses of the SFTP endpoint (for the operator firewall)',
      value: Fn.join(
        ', ',
        network.addresses.map((eip) => eip.attrPublicIp),
      ),
    });
    return { server, user, role };
  }

  /**
   * The SFTP endpoint's network: a small VPC of public subnets only (no NAT, nothing else runs in
   * it), one Elastic IP per subnet for the endpoint, flow logs, and a security group that admits
   * SSH from the operator's CIDRs only.
   */
  private createSftpNetwork(
    props: FileDropProps,
    cidr: string,
    allowedCidrs: readonly string[],
  ): { vpc: ec2.Vpc; securityGroup: ec2.SecurityGroup; addresses: ec2.CfnEIP[] } {
    const { config, landingZone } = props;
    if (allowedCidrs.length === 0) {
      throw new Error(
        `${config.operatorId}: fileDrop.sftp needs allowedCidrs, the operator's source addresses (e.g. allowedCidrs: [203.0.113.0/24])`,
      );
    }
    const prefix = Number(cidr.split('/')[1]);
    const vpc = new ec2.Vpc(this, 'SftpVpc', {
      ipAddresses: ec2.IpAddresses.cidr(cidr),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [
        {
          name: 'Sftp',
          subnetType: ec2.SubnetType.PUBLIC,
          cidrMask: Math.min(28, prefix + 2),
          mapPublicIpOnLaunch: false,
        },
      ],
      restrictDefaultSecurityGroup: true,
    });
    addEncryptedFlowLog(new Construct(this, 'SftpFlowLogs'), vpc, {
      logGroupName: `${landingZone.logGroupNamePrefix}sftp-vpc-flow-logs`,
      encryptionKey: landingZone.key,
      retentionDays: config.retention.logDays,
      ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
    });
    for (const subnet of vpc.publicSubnets) {
      const route = subnet.node.tryFindChild('DefaultRoute');
      if (route) {
        acknowledgeFindings(
          route,
          ['PCI.DSS.321-VPCNoUnrestrictedRouteToIGW', 'NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW'],
          "The SFTP endpoint's subnet routes to the internet gateway so the operator can reach the endpoint's Elastic IPs; nothing else runs in this VPC and its security group admits SSH from the operator's CIDRs only.",
        );
      }
    }
    const securityGroup = new ec2.SecurityGroup(this, 'SftpSecurityGroup', {
      vpc,
      description: `${config.operatorId}-${config.stage}: SFTP from the operator addresses only`,
      allowAllOutbound: false,
    });
    for (const allowed of allowedCidrs) {
      securityGroup.addIngressRule(ec2.Peer.ipv4(allowed), ec2.Port.tcp(22), 'SFTP from the operator');
    }
    const addresses = vpc.publicSubnets.map((_, i) => new ec2.CfnEIP(this, `SftpAddress${i + 1}`, { domain: 'vpc' }));
    return { vpc, securityGroup, addresses };
  }
}
