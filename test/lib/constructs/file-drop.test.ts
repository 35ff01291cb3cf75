import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CfnResource, Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyCompliancePacks } from '../../../lib/nag.ts';
import { OperatorConnectorStack, operatorStackName } from '../../../lib/stacks/operator-connector-stack.ts';
import { exampleConfig, type SynthesizedStack, synthesize, testApp } from '../helpers.ts';

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = Record<string, any>;
const OPERATOR_ROLE = 'arn:aws:iam::444444444444:role/lucky-data-export';
const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9wZXJhdG9yLWtleQ ops@lucky';

const logicalId = (stack: Stack, c: IConstruct) => stack.getLogicalId(c.node.defaultChild as CfnResource);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);
function resources(template: Template, type: string): Json[] {
  return Object.values(template.findResources(type)) as Json[];
}
/** Every statement of every resource and identity policy of a type. */
function statements(template: Template, type: string, doc = 'PolicyDocument'): Json[] {
  return resources(template, type).flatMap((r) => r.Properties[doc]?.Statement ?? []);
}

const variant = () =>
  exampleConfig('lucky-files', [
    [['fileDrop', 'assumeRole'], true],
    [
      ['fileDrop', 'sftp'],
      { enabled: true, userName: 'lucky-upload', sshPublicKeys: [SSH_KEY], allowedCidrs: ['203.0.113.0/24'] },
    ],
  ]);

describe('FileDrop', () => {
  let lucky: SynthesizedStack;
  let full: SynthesizedStack;
  beforeAll(() => {
    lucky = synthesize(exampleConfig('lucky-files'));
    full = synthesize(variant());
  });

  it('lets the operator principals only put objects under inbound/ and read the reasons of their quarantined files', () => {
    const { stack, template } = lucky;
    const bucket = logicalId(stack, stack.landingZone.bucket);
    const bucketPolicy = statements(template, 'AWS::S3::BucketPolicy');
    const forOperator = bucketPolicy.filter((s) => JSON.stringify(s.Principal ?? {}).includes('444444444444'));
    expect(forOperator).toEqual([
      {
        Effect: 'Allow',
        Principal: { AWS: OPERATOR_ROLE },
        Action: 's3:PutObject',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, '/inbound/*']] },
      },
      {
        Effect: 'Allow',
        Principal: { AWS: OPERATOR_ROLE },
        Action: 's3:GetObject',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, '/quarantine/*.reason.json']] },
      },
    ]);
    // TLS and the operator key are enforced for everyone, the operator included.
    const denies = bucketPolicy.filter((s) => s.Effect === 'Deny');
    expect(denies.map((s) => s.Sid ?? s.Condition)).toEqual(
      expect.arrayContaining(['DenyEncryptionOtherThanKms', 'DenyKmsKeyOtherThanOperatorKey', 'DenyKmsWithoutKeyId']),
    );
    expect(denies.some((s) => s.Condition?.Bool?.['aws:SecureTransport'] === 'false')).toBe(true);
    for (const s of denies) expect(s.Principal).toEqual({ AWS: '*' });
  });

  it('lets the operator principals use the key only through S3 in this region, from their account, for this bucket', () => {
    const { template, stack } = lucky;
    const bucket = `arn:aws:s3:::${stack.landingZone.bucketName}`;
    expect(stack.landingZone.bucketName).toMatch(/^connector-lucky-files-sandbox-[0-9a-f]{8}$/);
    template.hasResourceProperties('AWS::S3::Bucket', { BucketName: stack.landingZone.bucketName });
    const keyPolicy = statements(template, 'AWS::KMS::Key', 'KeyPolicy');
    const forOperator = keyPolicy.filter((s) => JSON.stringify(s.Principal ?? {}).includes('444444444444'));
    expect(forOperator).toEqual([
      {
        Effect: 'Allow',
        Principal: { AWS: OPERATOR_ROLE },
        // No kms:Encrypt: S3 encrypts with a generated data key.
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: '*',
        Condition: {
          StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com', 'kms:CallerAccount': '444444444444' },
          StringLike: { 'kms:EncryptionContext:aws:s3:arn': [bucket, `${bucket}/inbound/*`] },
        },
      },
    ]);
  });

  it('routes Object Created events under inbound/ through EventBridge to an encrypted queue with a DLQ', () => {
    const { stack, template } = lucky;
    const drop = stack.fileDrop!;
    const key = { 'Fn::GetAtt': [logicalId(stack, stack.landingZone.key), 'Arn'] };
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: {
          bucket: { name: [{ Ref: logicalId(stack, stack.landingZone.bucket) }] },
          object: { key: [{ prefix: 'inbound/' }] },
        },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalId(stack, drop.queue), 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(stack, drop.deadLetterQueue), 'Arn'] } },
        }),
      ],
    });
    const queues = template.toJSON().Resources;
    const queue = queues[logicalId(stack, drop.queue)].Properties;
    expect(queue.KmsMasterKeyId).toEqual(key);
    expect(queue.VisibilityTimeout).toBe(6 * 15 * 60);
    expect(queue.RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(stack, drop.deadLetterQueue), 'Arn'] },
      maxReceiveCount: 5,
    });
    expect(queues[logicalId(stack, drop.deadLetterQueue)].Properties.KmsMasterKeyId).toEqual(key);
    for (const q of [drop.queue, drop.deadLetterQueue]) {
      const own = resources(template, 'AWS::SQS::QueuePolicy').filter(
        (p) => JSON.stringify(p.Properties.Queues) === JSON.stringify([{ Ref: logicalId(stack, q) }]),
      );
      const tlsDenies = own
        .flatMap((p) => p.Properties.PolicyDocument.Statement as Json[])
        .filter((s) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false');
      expect(tlsDenies, q.node.path).toHaveLength(1);
    }
  });

  it('lets EventBridge send to the queues and use the key only for this account and this one rule', () => {
    const { template } = lucky;
    const ruleArn = 'arn:aws:events:eu-west-1:333333333333:rule/lucky-files-sandbox-file-drop';
    template.hasResourceProperties('AWS::Events::Rule', { Name: 'lucky-files-sandbox-file-drop' });
    const source = { StringEquals: { 'aws:SourceAccount': '333333333333' }, ArnEquals: { 'aws:SourceArn': ruleArn } };
    const fromEvents = (type: string, doc?: string) =>
      statements(template, type, doc).filter((s) => JSON.stringify(s.Principal ?? {}).includes('events.amazonaws.com'));
    const queueStatements = fromEvents('AWS::SQS::QueuePolicy');
    const keyStatements = fromEvents('AWS::KMS::Key', 'KeyPolicy');
    expect(queueStatements).toHaveLength(2); // the queue and the dead-letter queue
    for (const s of queueStatements) {
      expect(s).toMatchObject({ Effect: 'Allow', Action: 'sqs:SendMessage', Condition: source });
    }
    expect(keyStatements).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: '*',
        Condition: source,
      }),
    ]);
  });

  it('runs ingest-file from the queue with partial batch failures, one file at a time', () => {
    const { stack, template } = lucky;
    const fn = stack.fileDrop!.ingestFunction;
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'ingest-file.handler',
      Runtime: 'nodejs22.x',
      Timeout: 900,
      ReservedConcurrentExecutions: 5,
      // Two vCPUs: CSV files are read on a pool of two worker threads.
      MemorySize: 3538,
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(stack, fn.function) },
      EventSourceArn: { 'Fn::GetAtt': [logicalId(stack, stack.fileDrop!.queue), 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 5 },
    });
    const policy = template.toJSON().Resources[logicalId(stack, fn.policy)].Properties.PolicyDocument
      .Statement as Json[];
    const actions = policy.flatMap((s) => list(s.Action));
    expect(actions).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'dynamodb:PutItem']));
    const objects = (prefix: string) => JSON.stringify(`/${prefix}*`);
    const puts = policy.filter((s) => list(s.Action).includes('s3:PutObject')).flatMap((s) => list(s.Resource));
    for (const prefix of ['raw/', '_manifests/', 'quarantine/', 'archive/']) {
      expect(JSON.stringify(puts)).toContain(objects(prefix));
    }
    expect(JSON.stringify(puts)).not.toContain(objects('inbound/'));
  });

  it('gives ingest-file object actions on inbound/ only: no listing or bucket-level action there', () => {
    const { stack, template } = lucky;
    const fn = stack.fileDrop!.ingestFunction;
    const policy = template.toJSON().Resources[logicalId(stack, fn.policy)].Properties.PolicyDocument
      .Statement as Json[];
    const inbound = JSON.stringify('/inbound/*');
    const onInbound = policy.filter((s) => JSON.stringify(s.Resource).includes(inbound));
    expect(onInbound.flatMap((s) => list(s.Action)).sort()).toEqual([
      's3:DeleteObject',
      's3:DeleteObjectVersion',
      's3:GetObject',
      's3:GetObjectVersion',
    ]);
    const actions = policy.flatMap((s) => list(s.Action) as string[]);
    for (const wide of ['s3:List*', 's3:GetBucket*', 's3:GetObject*', 's3:DeleteObject*']) {
      expect(actions).not.toContain(wide);
    }
    // Listing only under raw/ and _manifests/ (the commit of a window), by condition.
    const lists = policy.filter((s) => list(s.Action).includes('s3:ListBucket'));
    expect(lists.map((s) => s.Condition)).toEqual([{ StringLike: { 's3:prefix': ['raw/*', '_manifests/*'] } }]);
  });

  it("sizes the ingest function's ephemeral storage from maxFileSizeMb (Parquet drops are spooled to /tmp)", () => {
    const storage = (maxFileSizeMb: number) => {
      const { template } = synthesize(exampleConfig('lucky-files', [[['fileDrop', 'maxFileSizeMb'], maxFileSizeMb]]));
      const fns = Object.values(
        template.findResources('AWS::Lambda::Function', {
          Properties: { Handler: 'ingest-file.handler' },
        }),
      ) as Json[];
      return fns[0]?.Properties.EphemeralStorage;
    };
    expect(
      lucky.template.toJSON().Resources[logicalId(lucky.stack, lucky.stack.fileDrop!.ingestFunction.function)]
        .Properties.EphemeralStorage,
    ).toEqual({ Size: 2048 + 512 });
    expect(storage(1)).toEqual({ Size: 513 });
    expect(storage(9728)).toEqual({ Size: 10240 });
  });

  it('has no upload role or SFTP server unless configured', () => {
    lucky.template.resourceCountIs('AWS::Transfer::Server', 0);
    expect(Object.keys(lucky.template.findOutputs('FileDropExternalId'))).toEqual([]);
    expect(lucky.stack.fileDrop?.uploadRole).toBeUndefined();
  });

  it('creates an upload role trusted by the operator principals with a per-operator ExternalId (in the outputs)', () => {
    const { stack, template } = full;
    const drop = stack.fileDrop!;
    expect(drop.externalId).toMatch(/^connector-lucky-files-[0-9a-f]{24}$/);
    // Deterministic per stack, different for another operator or stage.
    expect(synthesize(variant()).stack.fileDrop!.externalId).toBe(drop.externalId);
    template.hasOutput('FileDropExternalId', { Value: drop.externalId });
    template.hasOutput('FileDropUploadRoleArn', {
      Value: { 'Fn::GetAtt': [logicalId(stack, drop.uploadRole!), 'Arn'] },
    });
    const role = template.toJSON().Resources[logicalId(stack, drop.uploadRole!)].Properties;
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { AWS: OPERATOR_ROLE },
        Condition: { StringEquals: { 'sts:ExternalId': drop.externalId } },
      },
    ]);
    const policies = resources(template, 'AWS::IAM::ManagedPolicy').filter((p) =>
      JSON.stringify(p.Properties.Roles).includes(logicalId(stack, drop.uploadRole!)),
    );
    expect(policies).toHaveLength(1);
    const granted = (policies[0]!.Properties.PolicyDocument.Statement as Json[]).map((s) => [
      list(s.Action).sort(),
      s.Condition ?? null,
    ]);
    expect(granted).toEqual([
      [['s3:PutObject'], null],
      [['kms:Decrypt', 'kms:GenerateDataKey'], expect.objectContaining({ StringLike: expect.anything() })],
      [['s3:GetObject'], null],
    ]);
    const read = (policies[0]!.Properties.PolicyDocument.Statement as Json[]).find((x) => x.Action === 's3:GetObject');
    expect(JSON.stringify(read?.Resource)).toContain('/quarantine/*.reason.json');
  });

  it('creates an SFTP server with modern ciphers, logging, and the operator user at inbound/', () => {
    const { stack, template } = full;
    const drop = stack.fileDrop!;
    template.hasResourceProperties('AWS::Transfer::Server', {
      Protocols: ['SFTP'],
      IdentityProviderType: 'SERVICE_MANAGED',
      SecurityPolicyName: 'TransferSecurityPolicy-2024-01',
      LoggingRole: Match.anyValue(),
      StructuredLogDestinations: [Match.anyValue()],
    });
    template.hasResourceProperties('AWS::Transfer::User', {
      UserName: 'lucky-upload',
      ServerId: { 'Fn::GetAtt': [stack.getLogicalId(drop.sftpServer!), 'ServerId'] },
      Role: { 'Fn::GetAtt': [logicalId(stack, drop.sftpRole!), 'Arn'] },
      HomeDirectoryType: 'LOGICAL',
      HomeDirectoryMappings: [
        {
          Entry: '/',
          Target: { 'Fn::Join': ['', ['/', { Ref: logicalId(stack, stack.landingZone.bucket) }, '/inbound']] },
        },
      ],
      SshPublicKeys: [SSH_KEY],
    });
    const policies = resources(template, 'AWS::IAM::ManagedPolicy').filter((p) =>
      JSON.stringify(p.Properties.Roles).includes(logicalId(stack, drop.sftpRole!)),
    );
    const actions = policies.flatMap((p) =>
      (p.Properties.PolicyDocument.Statement as Json[]).flatMap((s) => list(s.Action)),
    );
    expect(actions.sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey', 's3:PutObject']);
    template.hasOutput('FileDropSftpEndpoint', Match.anyValue());
  });

  it("places the SFTP endpoint in a VPC of its own, reachable on Elastic IPs from the operator's CIDRs only", () => {
    const { stack, template } = full;
    const drop = stack.fileDrop!;
    const server = template.toJSON().Resources[stack.getLogicalId(drop.sftpServer!)].Properties;
    expect(server.EndpointType).toBe('VPC');
    expect(server.EndpointDetails.SubnetIds).toHaveLength(2);
    expect(server.EndpointDetails.AddressAllocationIds).toHaveLength(2);
    const [groupRef] = server.EndpointDetails.SecurityGroupIds as Json[];
    const group = template.toJSON().Resources[groupRef!['Fn::GetAtt'][0]].Properties;
    expect(group.SecurityGroupIngress).toEqual([
      expect.objectContaining({ CidrIp: '203.0.113.0/24', IpProtocol: 'tcp', FromPort: 22, ToPort: 22 }),
    ]);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL', LogDestinationType: 'cloud-watch-logs' });
    template.hasOutput('FileDropSftpAddresses', Match.anyValue());
  });

  it('refuses an upload role nobody could assume', () => {
    const config = exampleConfig('lucky-files', [
      [['fileDrop', 'assumeRole'], true],
      [['fileDrop', 'principals'], []],
    ]);
    expect(() => new OperatorConnectorStack(testApp(), operatorStackName(config), { config })).toThrow(
      'lucky-files: fileDrop.assumeRole needs fileDrop.principals',
    );
  });

  describe('compliance packs', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'file-drop-nag-'));
    afterAll(() => rmSync(outdir, { recursive: true, force: true }));

    it('report no unacknowledged finding with the upload role and SFTP enabled', () => {
      const app = testApp({ outdir, context: { '@aws-cdk/core:appMode': 'inmemory' } });
      const packs = applyCompliancePacks(app);
      new OperatorConnectorStack(app, 'lucky-files-sandbox', { config: variant() });
      const found = packs.flatMap((p) =>
        p
          .validateScope(app)
          .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`)),
      );
      expect(found).toEqual([]);
    });
  });
});
