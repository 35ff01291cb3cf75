import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CANONICAL_STREAMS, type StreamName } from '#shared/canonical';
import { servingColumns, servingLayout } from '#shared/serving/tables';
import { ATHENA_ENGINE_VERSION, PUBLISH_STATES } from '../../../lib/constructs/serving.ts';
import { exampleConfig, type SynthesizedStack, synthesize } from '../helpers.ts';

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);

function logicalId(construct: IConstruct): string {
  return Stack.of(construct).getLogicalId((construct.node.defaultChild ?? construct) as never);
}

describe('Serving', () => {
  let acme: SynthesizedStack;
  let lucky: SynthesizedStack;
  beforeAll(() => {
    acme = synthesize(exampleConfig('acme-casino'));
    lucky = synthesize(exampleConfig('lucky-files'));
  });

  it('creates one Iceberg v2 table per stream with the serving schema, key, partition spec and location', () => {
    for (const s of [acme, lucky]) {
      const { config } = s.stack;
      const bucket = { Ref: logicalId(s.stack.landingZone.bucket) };
      const iceberg = Object.values(s.template.findResources('AWS::Glue::Table'))
        .map((r) => (r as Json).Properties)
        .filter((p) => p.OpenTableFormatInput);
      const streams = Object.keys(config.streams) as StreamName[];
      expect(iceberg.map((p) => p.TableInput.Name).sort()).toEqual([...streams].sort());
      for (const stream of streams) {
        const p = iceberg.find((t) => t.TableInput.Name === stream);
        expect(p.DatabaseName).toBe(s.stack.dataCatalog.databaseName);
        const input = p.OpenTableFormatInput.IcebergInput;
        expect(input.MetadataOperation).toBe('CREATE');
        expect(input.Version).toBe('2');
        const t = input.IcebergTableInput;
        expect(t.Location).toEqual({ 'Fn::Join': ['', ['s3://', bucket, `/lake/${stream}/`]] });
        const columns = servingColumns(config, stream);
        expect(t.Schema.Fields.map((f: Json) => [f.Id, f.Name, f.Type, f.Required])).toEqual(
          columns.map((c) => [c.id, c.name, c.icebergType, !c.nullable]),
        );
        const key = columns.find((c) => c.name === CANONICAL_STREAMS[stream].primaryKey)!;
        expect(t.Schema.IdentifierFieldIds).toEqual([key.id]);
        // Money keeps the operator's precision and scale; nothing is a double.
        for (const f of t.Schema.Fields) expect(f.Type).not.toMatch(/double|float/);
        const layout = servingLayout(config, stream).partition;
        const source = columns.find((c) => c.name === layout.column)!;
        expect(t.PartitionSpec.Fields).toEqual([
          expect.objectContaining({
            SourceId: source.id,
            Transform: layout.transform === 'day' ? 'day' : `bucket[${layout.buckets}]`,
          }),
        ]);
        expect(t.Properties['write.parquet.compression-codec']).toBe('zstd');
      }
    }
    const payments = Object.values(acme.template.findResources('AWS::Glue::Table'))
      .map((r) => (r as Json).Properties)
      .find((p) => p.TableInput.Name === 'payments');
    expect(payments.OpenTableFormatInput.IcebergInput.IcebergTableInput.Schema.Fields).toContainEqual(
      expect.objectContaining({ Name: 'amount', Type: 'decimal(18,2)' }),
    );
  });

  it('maintains every table with compaction, snapshot retention and orphan-file deletion', () => {
    const { config } = acme.stack;
    const optimizers = Object.values(acme.template.findResources('AWS::Glue::TableOptimizer')).map(
      (r) => (r as Json).Properties,
    );
    const streams = Object.keys(config.streams);
    expect(optimizers).toHaveLength(streams.length * 3);
    const roleArn = { 'Fn::GetAtt': [logicalId(acme.stack.serving.optimizerRole), 'Arn'] };
    for (const stream of streams) {
      const of = (type: string) => optimizers.find((o) => o.TableName === stream && o.Type === type);
      expect(of('compaction').TableOptimizerConfiguration).toEqual({ Enabled: true, RoleArn: roleArn });
      expect(of('retention').TableOptimizerConfiguration.RetentionConfiguration.IcebergConfiguration).toEqual({
        SnapshotRetentionPeriodInDays: config.serving.snapshotRetentionDays,
        NumberOfSnapshotsToRetain: config.serving.snapshotsToRetain,
        CleanExpiredFiles: true,
      });
      expect(
        of('orphan_file_deletion').TableOptimizerConfiguration.OrphanFileDeletionConfiguration.IcebergConfiguration
          .OrphanFileRetentionPeriodInDays,
      ).toBe(config.serving.orphanFileRetentionDays);
    }
    // The optimizers' role touches the serving tables' locations only.
    const policy = Object.entries(acme.template.findResources('AWS::IAM::ManagedPolicy')).find(([id]) =>
      id.startsWith('ServingOptimizerPolicy'),
    )![1] as Json;
    const s3 = policy.Properties.PolicyDocument.Statement.filter((st: Json) =>
      list(st.Action).some((a) => String(a).startsWith('s3:') && a !== 's3:ListBucket'),
    );
    const resources = s3.flatMap((st: Json) => list(st.Resource)).map((r: unknown) => JSON.stringify(r));
    expect(resources).toHaveLength(streams.length);
    for (const r of resources) expect(r).toMatch(/\/lake\/[a-z_]+\/\*/);
  });

  it('runs queries in an enforced engine-v3 workgroup with encrypted, expiring results and a scan cutoff', () => {
    const wg = Object.values(acme.template.findResources('AWS::Athena::WorkGroup'))[0] as Json;
    const c = wg.Properties.WorkGroupConfiguration;
    expect(wg.Properties.Name).toBe('acme-casino-sandbox');
    expect(c.EnforceWorkGroupConfiguration).toBe(true);
    expect(c.EngineVersion.SelectedEngineVersion).toBe(ATHENA_ENGINE_VERSION);
    expect(c.PublishCloudWatchMetricsEnabled).toBe(true);
    expect(c.BytesScannedCutoffPerQuery).toBe(acme.stack.config.serving.bytesScannedCutoffGb * 1024 ** 3);
    expect(c.ResultConfiguration.EncryptionConfiguration).toEqual({
      EncryptionOption: 'SSE_KMS',
      KmsKey: { 'Fn::GetAtt': [logicalId(acme.stack.landingZone.key), 'Arn'] },
    });
    expect(JSON.stringify(c.ResultConfiguration.OutputLocation)).toContain('/_athena/');
  });

  it('gives the publish state machine exactly the Athena, Glue, S3 and KMS access its MERGEs need', () => {
    const machine = acme.template.toJSON().Resources[logicalId(acme.stack.serving.publishStateMachine)];
    const roleId = machine.Properties.RoleArn['Fn::GetAtt'][0];
    const policy = Object.values(acme.template.findResources('AWS::IAM::ManagedPolicy')).find((p) =>
      (p as Json).Properties.Roles.some((r: Json) => r.Ref === roleId),
    ) as Json;
    const statements = policy.Properties.PolicyDocument.Statement as Json[];
    const on = (action: string) =>
      statements.filter((st) => list(st.Action).includes(action)).flatMap((st) => list(st.Resource));
    expect(JSON.stringify(on('athena:StartQueryExecution'))).toContain(':workgroup/acme-casino-sandbox');
    expect(on('athena:StartQueryExecution')).toHaveLength(1);
    const tables = on('glue:UpdateTable').map((r) => JSON.stringify(r));
    expect(tables.some((t) => t.includes('/connector_acme_casino_sandbox/payments"'))).toBe(true);
    expect(tables.some((t) => t.includes('*'))).toBe(false);
    const puts = on('s3:PutObject').map((r) => JSON.stringify(r));
    expect(puts.every((r) => r.includes('/lake/*') || r.includes('/_athena/*'))).toBe(true);
    const reads = on('s3:GetObject').map((r) => JSON.stringify(r));
    expect(reads.some((r) => r.includes('/_committed/*'))).toBe(true);
    for (const st of statements) {
      const actions = list(st.Action).map(String);
      if (actions.some((a) => /^(s3|glue|athena|kms|lambda):/.test(a))) expect(st.Resource).not.toBe('*');
    }
  });

  it('lets the publish function run the wallet ledger audit and nothing more of the lake', () => {
    const fn = acme.stack.serving.publishFunction;
    const policies = Object.values(acme.template.findResources('AWS::IAM::ManagedPolicy')).filter((p) =>
      JSON.stringify((p as Json).Properties.Roles ?? []).includes(logicalId(fn.role)),
    ) as Json[];
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement as Json[]);
    const on = (action: string) =>
      statements
        .filter((st) => list(st.Action).includes(action))
        .flatMap((st) => list(st.Resource))
        .map((r) => JSON.stringify(r));
    const athena = on('athena:StartQueryExecution');
    expect(athena).toHaveLength(1);
    expect(athena[0]).toContain(':workgroup/acme-casino-sandbox');
    expect(on('athena:GetQueryResults')).toEqual(athena);
    // Reads the wallet tables only, never writes the catalog.
    const tables = on('glue:GetTable').filter((r) => r.includes(':table/'));
    expect(tables).toHaveLength(2);
    expect(tables.every((t) => t.includes('/wallet_transactions'))).toBe(true);
    expect(on('glue:UpdateTable')).toEqual([]);
    // Reads the wallet windows and table; writes query results and its reports only.
    const reads = on('s3:GetObject');
    expect(reads.every((r) => /wallet_transactions\/\*|_athena\/\*/.test(r))).toBe(true);
    const puts = on('s3:PutObject');
    expect(puts).toHaveLength(2);
    expect(puts.some((r) => r.includes('/_integrity/wallet/*'))).toBe(true);
    expect(puts.some((r) => r.includes('/_athena/*'))).toBe(true);
    expect(on('s3:DeleteObject')).toEqual([]);
    for (const st of statements) {
      const actions = list(st.Action).map(String);
      if (actions.some((a) => /^(s3|glue|athena):/.test(a))) expect(st.Resource).not.toBe('*');
    }
    // Without the audit, no Athena access at all.
    const off = synthesize(exampleConfig('acme-casino', [[['walletLedger', 'enabled'], false]]));
    const offFn = off.stack.serving.publishFunction;
    const offPolicies = Object.values(off.template.findResources('AWS::IAM::ManagedPolicy')).filter((p) =>
      JSON.stringify((p as Json).Properties.Roles ?? []).includes(logicalId(offFn.role)),
    );
    expect(JSON.stringify(offPolicies)).not.toContain('athena:');
  });

  it('audits the wallet ledger after End publish when wallet windows merged, without failing the publish', () => {
    const machine = acme.template.toJSON().Resources[logicalId(acme.stack.serving.publishStateMachine)];
    const definition = JSON.stringify(machine.Properties.DefinitionString);
    for (const state of [PUBLISH_STATES.walletChoice, PUBLISH_STATES.walletAudit, PUBLISH_STATES.walletAuditFailed]) {
      expect(definition).toContain(state);
    }
  });

  it('publishes dropped files on a schedule; database operators publish when their runs end', () => {
    const schedules = (s: SynthesizedStack) =>
      Object.values(s.template.findResources('AWS::Scheduler::Schedule')).map((r) => (r as Json).Properties);
    const publish = schedules(lucky).find((p) => p.Name === 'lucky-files-sandbox-publish');
    expect(publish.ScheduleExpression).toBe(lucky.stack.config.serving.publishSchedule);
    expect(publish.Target.Arn).toEqual({ Ref: logicalId(lucky.stack.serving.publishStateMachine) });
    expect(schedules(acme).find((p) => String(p.Name).endsWith('-publish'))).toBeUndefined();
    const definition = JSON.stringify(
      acme.template.toJSON().Resources[logicalId(acme.stack.pipeline!.incrementalStateMachine)].Properties
        .DefinitionString,
    );
    expect(definition).toContain('states:::states:startExecution.sync:2');
    const publishDefinition = JSON.stringify(
      acme.template.toJSON().Resources[logicalId(acme.stack.serving.publishStateMachine)].Properties.DefinitionString,
    );
    expect(publishDefinition).toContain('states:::athena:startQueryExecution.sync');
    expect(publishDefinition).toContain(PUBLISH_STATES.merge);
  });
});
