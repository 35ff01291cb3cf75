import { Annotations, type CfnElement, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { glueType, STREAM_NAMES } from '#shared/canonical';
import { landedColumns } from '#shared/landed-schema';
import { applyCompliancePacks } from '../../../lib/nag.ts';
import { OperatorConnectorStack, PRODUCT_TAG } from '../../../lib/stacks/operator-connector-stack.ts';
import { exampleConfig, type SynthesizedStack, synthesize, testApp } from '../helpers.ts';

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;

function logicalId(construct: IConstruct): string {
  const resource = (construct.node.defaultChild ?? construct) as CfnElement;
  return Stack.of(construct).getLogicalId(resource);
}

function resourcesOf(template: Template, type: string): [string, Json][] {
  return Object.entries(template.toJSON().Resources as Record<string, Json>).filter(([, r]) => r.Type === type);
}

function propsOf(template: Template, construct: IConstruct): Json {
  return template.toJSON().Resources[logicalId(construct)].Properties;
}

const keyArnOf = (s: SynthesizedStack) => ({ 'Fn::GetAtt': [logicalId(s.stack.landingZone.key), 'Arn'] });

/** Statements of the bucket policy attached to `bucket`. */
function bucketPolicyStatements(s: SynthesizedStack, bucket: IConstruct): Json[] {
  const policies = resourcesOf(s.template, 'AWS::S3::BucketPolicy').filter(
    ([, p]) => p.Properties.Bucket.Ref === logicalId(bucket),
  );
  expect(policies).toHaveLength(1);
  return policies[0]?.[1].Properties.PolicyDocument.Statement;
}

describe('OperatorConnectorStack', () => {
  let royal: SynthesizedStack; // mysql, production, existing network
  let acme: SynthesizedStack; // postgres, sandbox, created network, removalPolicy destroy
  let lucky: SynthesizedStack; // file drop, sandbox

  beforeAll(() => {
    royal = synthesize(exampleConfig('royal-spins'));
    acme = synthesize(exampleConfig('acme-casino'));
    lucky = synthesize(exampleConfig('lucky-files'));
  });

  it('is named <operatorId>-<stage> and targets the account and region of the config', () => {
    expect(royal.stack.stackName).toBe('royal-spins-production');
    expect(royal.stack.account).toBe('222222222222');
    expect(royal.stack.region).toBe('eu-central-1');
    expect(lucky.stack.stackName).toBe('lucky-files-sandbox');
  });

  it('fails synthesis on any warning, and on CloudFormation validation findings', () => {
    const warned = new OperatorConnectorStack(testApp(), 'lucky-files-sandbox', {
      config: exampleConfig('lucky-files'),
    });
    Annotations.of(warned.landingZone.bucket).addWarningV2('test:warning', 'something to fix');
    expect(() => Template.fromStack(warned)).toThrow(
      /warning at lucky-files-sandbox\/LandingZone\/Bucket: something to fix/,
    );
    // An SSH key longer than Transfer Family stores (config validation refuses it): CloudFormation's
    // validation of the template fails synthesis.
    const config = exampleConfig('lucky-files');
    const app = testApp();
    applyCompliancePacks(app); // as bin/app.ts does
    new OperatorConnectorStack(app, 'lucky-files-sandbox', {
      config: {
        ...config,
        fileDrop: {
          ...config.fileDrop!,
          sftp: {
            enabled: true,
            userName: 'lucky-upload',
            sshPublicKeys: [`ssh-rsa ${'A'.repeat(2100)}`],
            allowedCidrs: ['203.0.113.0/24'],
            vpcCidr: '10.60.0.0/24',
          },
        },
      },
    });
    expect(() => app.synth()).toThrow(/SshPublicKeys.0: length 2108 exceeds maximum 2048 \(CloudFormation Validate\)/);
  });

  it("grants a file-drop principal of the stack's own account without a dependency cycle or warning", () => {
    const config = exampleConfig('lucky-files');
    const app = testApp();
    applyCompliancePacks(app);
    const own = 'arn:aws:iam::333333333333:role/own-account';
    const stack = new OperatorConnectorStack(app, 'lucky-files-sandbox', {
      config: { ...config, fileDrop: { ...config.fileDrop!, principals: [own] } },
    });
    const artifact = app.synth().getStackArtifact(stack.artifactId);
    expect(artifact.messages).toEqual([]);
    const keyStatements = Object.values(artifact.template.Resources as Record<string, Json>)
      .filter((r) => r.Type === 'AWS::KMS::Key')
      .flatMap((r) => r.Properties.KeyPolicy.Statement as Json[])
      .filter((st) => JSON.stringify(st.Principal) === JSON.stringify({ AWS: own }));
    expect(keyStatements).toHaveLength(1);
    expect(keyStatements[0]!.Condition.StringLike['kms:EncryptionContext:aws:s3:arn']).toEqual([
      `arn:aws:s3:::${stack.landingZone.bucketName}`,
      `arn:aws:s3:::${stack.landingZone.bucketName}/inbound/*`,
    ]);
  });

  it("holds every function, CDK's custom-resource functions included, to the same rules", () => {
    // acme: sandbox with removalPolicy destroy (emptying buckets) and a created VPC (closing its
    // default security group): CDK adds a function for each.
    acme.template.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
    acme.template.resourceCountIs('Custom::VpcRestrictDefaultSG', 1);
    for (const s of [acme, royal, lucky]) {
      const resources = s.template.toJSON().Resources as Record<string, Json>;
      const functions = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
      expect(functions.length).toBeGreaterThan(0);
      for (const [id, fn] of functions) {
        expect(fn.Properties.ReservedConcurrentExecutions, id).toBeGreaterThan(0);
        expect(fn.Properties.Architectures, id).toEqual(['arm64']);
        const group = resources[fn.Properties.LoggingConfig?.LogGroup?.Ref];
        expect(group?.Type, id).toBe('AWS::Logs::LogGroup');
        expect(group?.Properties.KmsKeyId, id).toEqual(keyArnOf(s));
        expect(group?.Properties.RetentionInDays, id).toBeGreaterThan(0);
      }
      for (const [id, role] of Object.entries(resources).filter(([, r]) => r.Type === 'AWS::IAM::Role')) {
        expect(role.Properties.Policies, id).toBeUndefined();
        expect(role.Properties.ManagedPolicyArns ?? [], id).toEqual([]);
      }
    }
  });

  it('turns termination protection on for production stacks only', () => {
    expect(royal.stack.terminationProtection).toBe(true);
    expect(acme.stack.terminationProtection).toBe(false);
    expect(lucky.stack.terminationProtection).toBe(false);
  });

  it('tags the stack and its resources with operator, stage and product', () => {
    expect(royal.stack.tags.tagValues()).toEqual({
      operator: 'royal-spins',
      stage: 'production',
      product: PRODUCT_TAG,
    });
    const tags = propsOf(royal.template, royal.stack.landingZone.bucket).Tags;
    expect(tags).toEqual(
      expect.arrayContaining([
        { Key: 'operator', Value: 'royal-spins' },
        { Key: 'stage', Value: 'production' },
        { Key: 'product', Value: PRODUCT_TAG },
      ]),
    );
  });

  describe('KMS key', () => {
    it('is one customer-managed key with rotation and the connector alias', () => {
      royal.template.resourceCountIs('AWS::KMS::Key', 1);
      expect(propsOf(royal.template, royal.stack.landingZone.key).EnableKeyRotation).toBe(true);
      royal.template.hasResourceProperties('AWS::KMS::Alias', {
        AliasName: 'alias/connector/royal-spins-production',
        TargetKeyId: keyArnOf(royal),
      });
    });

    it('lets AWS services use it only under a condition that scopes them to this account', () => {
      const statements: Json[] = propsOf(royal.template, royal.stack.landingZone.key).KeyPolicy.Statement;
      const serviceStatements = statements.filter((s) => s.Principal?.Service);
      expect(serviceStatements.length).toBeGreaterThan(0);
      for (const s of serviceStatements) expect(s.Condition, JSON.stringify(s)).toBeDefined();
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: 'Allow',
          Principal: { Service: 'logs.eu-central-1.amazonaws.com' },
          Condition: {
            ArnLike: {
              // The partition is a literal: the region is known at synth (enablePartitionLiterals).
              'kms:EncryptionContext:aws:logs:arn':
                'arn:aws:logs:eu-central-1:222222222222:log-group:/connector/royal-spins-production/*',
            },
          },
        }),
      );
    });
  });

  describe('landing bucket', () => {
    it('is encrypted with the operator key (SSE-KMS) and a bucket key, and blocks SSE-C', () => {
      const props = propsOf(royal.template, royal.stack.landingZone.bucket);
      expect(props.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([
        {
          BucketKeyEnabled: true,
          BlockedEncryptionTypes: { EncryptionType: ['SSE-C'] },
          ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArnOf(royal) },
        },
      ]);
    });

    it('and the access-log bucket block all public access, disable ACLs and keep versions', () => {
      for (const bucket of [royal.stack.landingZone.bucket, royal.stack.landingZone.accessLogBucket]) {
        const props = propsOf(royal.template, bucket);
        expect(props.PublicAccessBlockConfiguration).toEqual({
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        });
        expect(props.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
        expect(props.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      }
    });

    it('and the access-log bucket deny every request without TLS', () => {
      for (const bucket of [royal.stack.landingZone.bucket, royal.stack.landingZone.accessLogBucket]) {
        expect(bucketPolicyStatements(royal, bucket)).toContainEqual(
          expect.objectContaining({
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        );
      }
    });

    it('denies writes that ask for another algorithm, another key, aws:kms without key id, or SSE-C', () => {
      const deny = (Condition: Json) =>
        expect.objectContaining({ Effect: 'Deny', Principal: { AWS: '*' }, Action: 's3:PutObject', Condition });
      const statements = bucketPolicyStatements(royal, royal.stack.landingZone.bucket);
      expect(statements).toContainEqual(
        deny({ StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption': 'aws:kms' } }),
      );
      expect(statements).toContainEqual(
        deny({ StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption-aws-kms-key-id': keyArnOf(royal) } }),
      );
      expect(statements).toContainEqual(
        deny({
          Null: {
            's3:x-amz-server-side-encryption': 'false',
            's3:x-amz-server-side-encryption-aws-kms-key-id': 'true',
          },
        }),
      );
      expect(statements).toContainEqual(
        deny({ Null: { 's3:x-amz-server-side-encryption-customer-algorithm': 'false' } }),
      );
      // No statement may allow anything to everyone.
      const everyone = (p: Json) => p === '*' || p?.AWS === '*';
      expect(statements.filter((s) => s.Effect === 'Allow' && everyone(s.Principal))).toEqual([]);
    });

    it('logs server access to the SSE-S3 access-log bucket, which only S3 logging of this bucket may write', () => {
      const { bucket, accessLogBucket } = royal.stack.landingZone;
      expect(propsOf(royal.template, bucket).LoggingConfiguration).toMatchObject({
        DestinationBucketName: { Ref: logicalId(accessLogBucket) },
        LogFilePrefix: 'landing/',
      });
      expect(propsOf(royal.template, accessLogBucket).BucketEncryption).toEqual({
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
      expect(bucketPolicyStatements(royal, accessLogBucket)).toContainEqual(
        expect.objectContaining({
          Effect: 'Allow',
          Principal: { Service: 'logging.s3.amazonaws.com' },
          Action: 's3:PutObject',
          Condition: {
            ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalId(bucket), 'Arn'] } },
            StringEquals: { 'aws:SourceAccount': '222222222222' },
          },
        }),
      );
    });

    it('has lifecycle rules from the retention config (raw data kept forever when rawDays is 0)', () => {
      const rules = (s: SynthesizedStack, bucket: IConstruct) =>
        (propsOf(s.template, bucket).LifecycleConfiguration.Rules as Json[]).toSorted((a, b) =>
          a.Id.localeCompare(b.Id),
        );
      expect(rules(royal, royal.stack.landingZone.bucket)).toEqual([
        {
          Id: 'abort-incomplete-multipart-uploads',
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
          Status: 'Enabled',
        },
        { Id: 'expire-archive', Prefix: 'archive/', ExpirationInDays: 90, Status: 'Enabled' },
        { Id: 'expire-athena-results', Prefix: '_athena/', ExpirationInDays: 1, Status: 'Enabled' },
        { Id: 'expire-integrity-reports', Prefix: '_integrity/wallet/', ExpirationInDays: 90, Status: 'Enabled' },
        ...STREAM_NAMES.toSorted().map((stream) => ({
          Id: `expire-lookback-digests-${stream}`,
          Prefix: `_integrity/${stream}/lookback/`,
          ExpirationInDays: 14,
          Status: 'Enabled',
        })),
        {
          Id: 'expire-noncurrent-versions',
          NoncurrentVersionExpiration: { NoncurrentDays: 35 },
          ExpiredObjectDeleteMarker: true,
          Status: 'Enabled',
        },
        { Id: 'expire-quarantine', Prefix: 'quarantine/', ExpirationInDays: 180, Status: 'Enabled' },
      ]);
      expect(rules(lucky, lucky.stack.landingZone.bucket)).toEqual([
        {
          Id: 'abort-incomplete-multipart-uploads',
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
          Status: 'Enabled',
        },
        { Id: 'expire-archive', Prefix: 'archive/', ExpirationInDays: 30, Status: 'Enabled' },
        { Id: 'expire-athena-results', Prefix: '_athena/', ExpirationInDays: 1, Status: 'Enabled' },
        { Id: 'expire-committed', Prefix: '_committed/', ExpirationInDays: 365, Status: 'Enabled' },
        { Id: 'expire-integrity-reports', Prefix: '_integrity/wallet/', ExpirationInDays: 90, Status: 'Enabled' },
        ...STREAM_NAMES.toSorted().map((stream) => ({
          Id: `expire-lookback-digests-${stream}`,
          Prefix: `_integrity/${stream}/lookback/`,
          ExpirationInDays: 14,
          Status: 'Enabled',
        })),
        { Id: 'expire-manifests', Prefix: '_manifests/', ExpirationInDays: 365, Status: 'Enabled' },
        {
          Id: 'expire-noncurrent-versions',
          NoncurrentVersionExpiration: { NoncurrentDays: 30 },
          ExpiredObjectDeleteMarker: true,
          Status: 'Enabled',
        },
        { Id: 'expire-quarantine', Prefix: 'quarantine/', ExpirationInDays: 90, Status: 'Enabled' },
        { Id: 'expire-raw', Prefix: 'raw/', ExpirationInDays: 365, Status: 'Enabled' },
      ]);
      expect(rules(royal, royal.stack.landingZone.accessLogBucket)).toEqual([
        {
          Id: 'expire-access-logs',
          ExpirationInDays: 400,
          NoncurrentVersionExpiration: { NoncurrentDays: 35 },
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
          Status: 'Enabled',
        },
      ]);
    });

    it('sends object events to EventBridge for file-drop operators only, without a notification Lambda', () => {
      expect(propsOf(lucky.template, lucky.stack.landingZone.bucket).NotificationConfiguration).toEqual({
        EventBridgeConfiguration: { EventBridgeEnabled: true },
      });
      expect(propsOf(royal.template, royal.stack.landingZone.bucket).NotificationConfiguration).toBeUndefined();
      lucky.template.resourceCountIs('Custom::S3BucketNotifications', 0);
      // The only functions are the connector's ingest, publish and landing-sweep Lambdas (no S3 notification handler).
      const handlers = Object.values(lucky.template.findResources('AWS::Lambda::Function')).map(
        (r) => (r as { Properties: { Handler: string } }).Properties.Handler,
      );
      expect(handlers.sort()).toEqual(['ingest-file.handler', 'publish.handler', 'sweep-landing.handler']);
    });
  });

  describe('source credentials', () => {
    it('are a secret encrypted with the operator key, holding only a user name and a generated placeholder password', () => {
      const secret = royal.stack.sourceCredentials?.secret;
      expect(secret).toBeDefined();
      if (!secret) return;
      const props = propsOf(royal.template, secret);
      expect(props.KmsKeyId).toEqual(keyArnOf(royal));
      expect(props.Name).toBe('connector/royal-spins-production/source');
      expect(props.GenerateSecretString.GenerateStringKey).toBe('password');
      expect(JSON.parse(props.GenerateSecretString.SecretStringTemplate)).toEqual({ username: 'CHANGE_ME' });
    });

    it('keep their generation properties when the connection settings in the config change', () => {
      // CloudFormation generates a new secret value (wiping the stored password) whenever
      // GenerateSecretString changes: connection settings must not be part of it.
      const generation = (s: SynthesizedStack) =>
        propsOf(s.template, s.stack.sourceCredentials!.secret).GenerateSecretString;
      const edited = synthesize(
        exampleConfig('royal-spins', [
          [['source', 'host'], 'new-replica.royalspins.internal'],
          [['source', 'port'], 3307],
          [['source', 'database'], 'rs_reporting'],
          [['source', 'caBundle'], 'aws-rds'],
        ]),
      );
      expect(generation(edited)).toEqual(generation(royal));
      const sandbox = (tls: string) => generation(synthesize(exampleConfig('acme-casino', [[['source', 'tls'], tls]])));
      expect(sandbox('require')).toEqual(sandbox('verify-full'));
      expect(sandbox('disable')).toEqual(generation(acme));
    });

    it('never put a secret value in the template', () => {
      for (const s of [royal, acme]) {
        for (const [, secret] of resourcesOf(s.template, 'AWS::SecretsManager::Secret')) {
          expect(secret.Properties.SecretString).toBeUndefined();
          expect(JSON.parse(secret.Properties.GenerateSecretString.SecretStringTemplate)).not.toHaveProperty(
            'password',
          );
        }
        expect(JSON.stringify(s.template.toJSON())).not.toMatch(/"password"\s*:/);
      }
    });

    it('do not exist for file-drop operators', () => {
      lucky.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
      expect(lucky.stack.sourceCredentials).toBeUndefined();
      expect(lucky.stack.network).toBeUndefined();
    });
  });

  describe('sync state', () => {
    it('is an on-demand pk/sk table with TTL, encrypted with the operator key, with point-in-time recovery', () => {
      const props = propsOf(royal.template, royal.stack.syncState.table);
      expect(props).toMatchObject({
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: keyArnOf(royal) },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      });
    });

    it('is protected from deletion in production only', () => {
      expect(propsOf(royal.template, royal.stack.syncState.table).DeletionProtectionEnabled).toBe(true);
      expect(propsOf(lucky.template, lucky.stack.syncState.table).DeletionProtectionEnabled).toBe(false);
    });
  });

  describe('alarm topic', () => {
    it('is encrypted with the operator key and refuses publishing without TLS', () => {
      expect(propsOf(royal.template, royal.stack.alarmTopic.topic).KmsMasterKeyId).toEqual(keyArnOf(royal));
      royal.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sns:Publish',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    });

    it('lets CloudWatch of this account use the key and publish', () => {
      const sameAccount = { StringEquals: { 'aws:SourceAccount': '222222222222' } };
      expect(propsOf(royal.template, royal.stack.landingZone.key).KeyPolicy.Statement).toContainEqual(
        expect.objectContaining({
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          Condition: sameAccount,
        }),
      );
      royal.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Sid: 'AllowCloudWatchAlarmsToPublish',
              Effect: 'Allow',
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: 'sns:Publish',
              Resource: { Ref: logicalId(royal.stack.alarmTopic.topic) },
              Condition: sameAccount,
            },
          ]),
        },
      });
    });

    it('subscribes every alert e-mail and HTTPS endpoint, with an encrypted dead-letter queue', () => {
      const subscriptions = resourcesOf(royal.template, 'AWS::SNS::Subscription').map(([, r]) => r.Properties);
      const dlq = { 'Fn::GetAtt': [logicalId(royal.stack.alarmTopic.deadLetterQueue), 'Arn'] };
      const topic = { Ref: logicalId(royal.stack.alarmTopic.topic) };
      expect(subscriptions).toHaveLength(3);
      for (const [Protocol, Endpoint] of [
        ['email', 'data-oncall@connector.example.com'],
        ['email', 'compliance@royalspins.example.com'],
        ['https', 'https://events.pagerduty.com/integration/royalspins0001/enqueue'],
      ]) {
        expect(subscriptions).toContainEqual({
          Protocol,
          Endpoint,
          TopicArn: topic,
          RedrivePolicy: { deadLetterTargetArn: dlq },
        });
      }
      expect(propsOf(royal.template, royal.stack.alarmTopic.deadLetterQueue).KmsMasterKeyId).toEqual(keyArnOf(royal));
      lucky.template.resourceCountIs('AWS::SNS::Subscription', 1);
    });
  });

  describe('data catalog', () => {
    it('has one database named after operator and stage', () => {
      royal.template.resourceCountIs('AWS::Glue::Database', 1);
      royal.template.hasResourceProperties('AWS::Glue::Database', {
        CatalogId: '222222222222',
        DatabaseInput: { Name: 'connector_royal_spins_production' },
      });
      expect(royal.stack.dataCatalog.databaseName).toBe('connector_royal_spins_production');
    });

    it('has one landed table per configured stream that reads only committed windows (symlink lists)', () => {
      for (const s of [royal, acme, lucky]) {
        const { config } = s.stack;
        const configured = STREAM_NAMES.filter((name) => config.streams[name]);
        const tables = resourcesOf(s.template, 'AWS::Glue::Table')
          .map(([, r]) => r.Properties)
          .filter((t) => !t.OpenTableFormatInput);
        expect(tables.map((t) => t.TableInput.Name).toSorted()).toEqual(
          configured.map((name) => `${name}_landed`).toSorted(),
        );
        const bucket = { Ref: logicalId(s.stack.landingZone.bucket) };
        for (const stream of configured) {
          const table = tables.find((t) => t.TableInput.Name === `${stream}_landed`);
          expect(table.DatabaseName).toBe(s.stack.dataCatalog.databaseName);
          const input = table.TableInput;
          expect(input.TableType).toBe('EXTERNAL_TABLE');
          expect(input.PartitionKeys).toEqual([
            expect.objectContaining({ Name: 'run_id', Type: 'string' }),
            expect.objectContaining({ Name: 'window_id', Type: 'string' }),
          ]);
          expect(input.Parameters).toEqual({
            EXTERNAL: 'TRUE',
            classification: 'parquet',
            'projection.enabled': 'true',
            'projection.run_id.type': 'injected',
            'projection.window_id.type': 'injected',
            'storage.location.template': {
              'Fn::Join': ['', ['s3://', bucket, `/_committed/${stream}/\${run_id}/\${window_id}/`]],
            },
          });
          const sd = input.StorageDescriptor;
          // Nothing under raw/ is a table location: parts are read only through committed lists.
          expect(sd.Location).toEqual({ 'Fn::Join': ['', ['s3://', bucket, `/_committed/${stream}/`]] });
          expect(sd.InputFormat).toBe('org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat');
          expect(sd.OutputFormat).toBe('org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat');
          expect(sd.SerdeInfo.SerializationLibrary).toBe('org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe');
          expect(sd.Columns.map((c: Json) => [c.Name, c.Type])).toEqual(
            landedColumns(config, stream).map((c) => [c.name, glueType(c.type)]),
          );
          // The version order's columns and the tombstone flag, as Athena reads them.
          expect(sd.Columns.slice(-3).map((c: Json) => [c.Name, c.Type])).toEqual([
            ['_cursor_us', 'bigint'],
            ['_source_seq', 'bigint'],
            ['_deleted', 'boolean'],
          ]);
        }
        const landed = tables.filter((t) => t.TableInput.Name.endsWith('_landed'));
        const locations = JSON.stringify(landed.map((t) => t.TableInput.StorageDescriptor.Location));
        expect(locations).not.toContain('/raw/');
      }
    });

    it('types money columns with the operator precision and scale', () => {
      const payments = resourcesOf(royal.template, 'AWS::Glue::Table')
        .map(([, r]) => r.Properties.TableInput)
        .find((t) => t.Name === 'payments_landed');
      expect(payments.StorageDescriptor.Columns).toContainEqual(
        expect.objectContaining({ Name: 'amount', Type: 'decimal(20,4)' }),
      );
    });
  });

  describe('removal policies', () => {
    const dataResources = (s: SynthesizedStack): IConstruct[] => [
      s.stack.landingZone.key,
      s.stack.landingZone.bucket,
      s.stack.landingZone.accessLogBucket,
      s.stack.syncState.table,
      ...(s.stack.sourceCredentials ? [s.stack.sourceCredentials.secret] : []),
    ];
    const policyOf = (s: SynthesizedStack, c: IConstruct) => {
      const r = s.template.toJSON().Resources[logicalId(c)];
      return [r.DeletionPolicy, r.UpdateReplacePolicy];
    };

    it('retain key, buckets, table and secret by default', () => {
      for (const s of [royal, lucky]) {
        for (const c of dataResources(s)) expect(policyOf(s, c), c.node.path).toEqual(['Retain', 'Retain']);
        s.template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
      }
    });

    it('destroy them, emptying the buckets, only for a sandbox that opted in', () => {
      expect(acme.stack.config.removalPolicy).toBe('destroy');
      expect(acme.stack.dataRemovalPolicy).toBe(RemovalPolicy.DESTROY);
      for (const c of dataResources(acme)) expect(policyOf(acme, c), c.node.path).toEqual(['Delete', 'Delete']);
      acme.template.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
    });

    it('refuse DESTROY for production even when the config object was not validated', () => {
      const config = { ...exampleConfig('royal-spins'), removalPolicy: 'destroy' as const };
      expect(() => new OperatorConnectorStack(testApp(), 'royal-spins-production', { config })).toThrow(
        'RemovalPolicy.DESTROY would delete operator data on `cdk destroy` and is only allowed for the sandbox stage (this is production)',
      );
    });
  });

  describe('IAM', () => {
    const DATA_PLANE = [
      /^s3:(\*|.*Object.*)$/,
      /^kms:(\*|Decrypt|Encrypt|GenerateDataKey.*|ReEncrypt.*)$/,
      /^dynamodb:(\*|.*Item|Query|Scan)$/,
      /^secretsmanager:(\*|GetSecretValue)$/,
      /^\*$/,
    ];
    const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

    /** Allow statements of every identity policy in the template (policies, managed policies, inline role policies). */
    function identityStatements(template: Template): Json[] {
      const out: Json[] = [];
      for (const [, r] of Object.entries(template.toJSON().Resources as Record<string, Json>)) {
        if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
          out.push(...list(r.Properties.PolicyDocument.Statement));
        }
        if (r.Type === 'AWS::IAM::Role') {
          for (const p of list(r.Properties.Policies) as Json[]) out.push(...list(p.PolicyDocument.Statement));
        }
      }
      return out.filter((s) => s.Effect === 'Allow');
    }

    function dataPlaneOnWildcard(template: Template): Json[] {
      return identityStatements(template).filter(
        (s) =>
          list(s.Action).some((a) => DATA_PLANE.some((re) => re.test(String(a)))) &&
          list(s.Resource).some((r) => r === '*'),
      );
    }

    let granted: Template;
    let grantedStack: OperatorConnectorStack;
    beforeAll(() => {
      grantedStack = new OperatorConnectorStack(testApp(), 'acme-casino-sandbox', {
        config: exampleConfig('acme-casino'),
      });
      const role = new iam.Role(grantedStack, 'Worker', {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      });
      const lz = grantedStack.landingZone;
      lz.grantWriteRaw(role);
      lz.grantReadRaw(role);
      lz.grantIngestInbound(role);
      lz.grantWriteQuarantine(role);
      lz.grantWriteArchive(role);
      grantedStack.sourceCredentials?.grantRead(role);
      grantedStack.syncState.grantReadWrite(role);
      grantedStack.syncState.grantRead(role);
      grantedStack.alarmTopic.grantPublish(role);
      grantedStack.dataCatalog.grantReadMetadata(role);
      granted = Template.fromStack(grantedStack);
    });

    it('no identity policy grants a data-plane action on Resource "*"', () => {
      expect(identityStatements(granted).length).toBeGreaterThan(3);
      for (const s of [royal, acme, lucky]) expect(dataPlaneOnWildcard(s.template)).toEqual([]);
      expect(dataPlaneOnWildcard(granted)).toEqual([]);
    });

    it('the landing-zone grants are scoped to their prefixes', () => {
      const bucketArn = { 'Fn::GetAtt': [logicalId(grantedStack.landingZone.bucket), 'Arn'] };
      const objects = (prefix: string) => ({ 'Fn::Join': ['', [bucketArn, `/${prefix}*`]] });
      const statements = identityStatements(granted);
      const digestPrefixes = Object.keys(grantedStack.config.streams).map((stream) => `_integrity/${stream}/lookback/`);
      const puts = statements.filter((s) => list(s.Action).includes('s3:PutObject'));
      expect(puts.flatMap((s) => list(s.Resource))).toEqual(
        expect.arrayContaining([
          objects('raw/'),
          objects('_manifests/'),
          objects('_committed/'),
          objects('quarantine/'),
          objects('archive/'),
          ...digestPrefixes.map(objects),
          objects('_integrity/wallet/'),
        ]),
      );
      for (const r of puts.flatMap((s) => list(s.Resource))) {
        expect(r).not.toEqual(objects(''));
        // Integrity data is granted per purpose (lookback digests per stream, wallet reports), never as a whole.
        expect(r).not.toEqual(objects('_integrity/'));
      }
      const deletes = statements.filter((s) => list(s.Action).some((a) => String(a).startsWith('s3:DeleteObject')));
      // Dropped originals once processed; parts and manifests of attempts at a window that did not
      // commit; Iceberg files of the serving tables (Athena's writes, the optimizers per table) and
      // Athena's query results; lookback digests once a run read past them. Committed lists are never deleted.
      const deleted = new Set(deletes.flatMap((s) => list(s.Resource)).map((r) => JSON.stringify(r)));
      const servingTables = Object.keys(grantedStack.dataCatalog.servingTables);
      expect([...deleted].sort()).toEqual(
        [
          objects('inbound/'),
          objects('raw/'),
          objects('_manifests/'),
          objects('lake/'),
          objects('_athena/'),
          ...digestPrefixes.map(objects),
          ...servingTables.map((t) => objects(`lake/${t}/`)),
        ]
          .map((o) => JSON.stringify(o))
          .sort(),
      );
      expect([...deleted].some((r) => r.includes('_committed/'))).toBe(false);
    });
  });

  describe('outputs', () => {
    it('name the bucket, inbound prefix, secret, key, Glue database and alarm topic', () => {
      const lz = royal.stack.landingZone;
      royal.template.hasOutput('LandingBucketName', { Value: { Ref: logicalId(lz.bucket) } });
      royal.template.hasOutput('InboundPrefix', { Value: 'inbound/' });
      royal.template.hasOutput('KmsKeyArn', { Value: keyArnOf(royal) });
      royal.template.hasOutput('GlueDatabaseName', { Value: 'connector_royal_spins_production' });
      royal.template.hasOutput('AlarmTopicArn', { Value: { Ref: logicalId(royal.stack.alarmTopic.topic) } });
      const secret = royal.stack.sourceCredentials?.secret;
      expect(secret).toBeDefined();
      if (secret) royal.template.hasOutput('SourceSecretArn', { Value: { Ref: logicalId(secret) } });
    });

    it('show the egress IP only for a created network, and no secret for file drops', () => {
      const eip = acme.stack.network?.egressIp;
      expect(eip).toBeDefined();
      if (eip) acme.template.hasOutput('EgressIp', { Value: { 'Fn::GetAtt': [logicalId(eip), 'PublicIp'] } });
      expect(Object.keys(royal.template.findOutputs('EgressIp'))).toEqual([]);
      expect(Object.keys(lucky.template.findOutputs('EgressIp'))).toEqual([]);
      expect(Object.keys(lucky.template.findOutputs('SourceSecretArn'))).toEqual([]);
      lucky.template.hasOutput('LandingBucketName', Match.anyValue());
    });
  });
});
