/**
 * The Glue database and one table per landed stream, so Athena reads the landing zone directly.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { glueType, PARTITION_COLUMN, STREAM_NAMES, type StreamName } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { landedColumns } from '#shared/landed-schema';
import { rawStreamPrefix } from '#shared/layout';

/** First partition date Athena's partition projection considers; older data is not expected. */
export const PROJECTION_START_DATE = '2015-01-01';

/** Glue allows at most 255 characters in a column comment. */
const MAX_COMMENT = 255;

/** `connector_<operatorId with - as _>_<stage>`: Glue and Athena names take no hyphens. */
export function glueDatabaseName(operatorId: string, stage: OperatorConfig['stage']): string {
  return `connector_${operatorId.replaceAll('-', '_')}_${stage}`;
}

export interface DataCatalogProps {
  /** The operator config: its configured streams and mappings decide the tables and their columns. */
  readonly config: OperatorConfig;
  /** The landing bucket whose `raw/<stream>/` prefixes the tables point at. */
  readonly bucket: s3.IBucket;
  /**
   * Name of the Glue database.
   * @default glueDatabaseName(config.operatorId, config.stage)
   */
  readonly databaseName?: string;
}

/**
 * A Glue database and, per configured stream, an external Parquet table over `raw/<stream>/` with
 * the columns of {@link landedColumns}, partitioned by `dt` with partition projection (no crawler and
 * no partition maintenance). Encryption of the Data Catalog is an account-level setting, not set here.
 */
export class DataCatalog extends Construct {
  /** The Glue database. */
  public readonly database: glue.CfnDatabase;
  /** Name of the Glue database. */
  public readonly databaseName: string;
  /** The Glue table of each configured stream; its name is the stream name. */
  public readonly tables: Readonly<Partial<Record<StreamName, glue.CfnTable>>>;
  /** ARN of the account's Data Catalog. */
  public readonly catalogArn: string;
  /** ARN of the Glue database. */
  public readonly databaseArn: string;

  constructor(scope: Construct, id: string, props: DataCatalogProps) {
    super(scope, id);
    const { config, bucket } = props;
    const stack = Stack.of(this);
    this.databaseName = props.databaseName ?? glueDatabaseName(config.operatorId, config.stage);
    this.catalogArn = stack.formatArn({ service: 'glue', resource: 'catalog' });
    this.databaseArn = stack.formatArn({
      service: 'glue',
      resource: 'database',
      resourceName: this.databaseName,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });

    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: {
        name: this.databaseName,
        description: `Landed data of ${config.displayName} (${config.stage}), canonical iGaming model`,
      },
    });

    const tables: Partial<Record<StreamName, glue.CfnTable>> = {};
    for (const stream of STREAM_NAMES) {
      if (!config.streams[stream]) continue;
      const location = `s3://${bucket.bucketName}/${rawStreamPrefix(stream)}`;
      const table = new glue.CfnTable(this, `Table-${stream}`, {
        catalogId: stack.account,
        databaseName: this.databaseName,
        tableInput: {
          name: stream,
          description: `${config.displayName}: canonical ${stream} stream (Parquet, partitioned by the UTC date of the cursor)`,
          tableType: 'EXTERNAL_TABLE',
          parameters: {
            EXTERNAL: 'TRUE',
            classification: 'parquet',
            'projection.enabled': 'true',
            [`projection.${PARTITION_COLUMN}.type`]: 'date',
            [`projection.${PARTITION_COLUMN}.format`]: 'yyyy-MM-dd',
            [`projection.${PARTITION_COLUMN}.range`]: `${PROJECTION_START_DATE},NOW`,
            [`projection.${PARTITION_COLUMN}.interval`]: '1',
            [`projection.${PARTITION_COLUMN}.interval.unit`]: 'DAYS',
            'storage.location.template': `${location}${PARTITION_COLUMN}=\${${PARTITION_COLUMN}}/`,
          },
          partitionKeys: [{ name: PARTITION_COLUMN, type: 'string', comment: 'UTC date of the row cursor' }],
          storageDescriptor: {
            location,
            columns: landedColumns(config, stream).map((c) => ({
              name: c.name,
              type: glueType(c.type),
              comment:
                c.description.length > MAX_COMMENT ? `${c.description.slice(0, MAX_COMMENT - 1)}…` : c.description,
            })),
            inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
            outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
            serdeInfo: {
              serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
              parameters: { 'serialization.format': '1' },
            },
            compressed: false,
            storedAsSubDirectories: false,
          },
        },
      });
      table.addResourceDependency(this.database);
      tables[stream] = table;
    }
    this.tables = tables;
  }

  /** ARN of the Glue table of a stream. */
  public tableArn(stream: StreamName): string {
    return Stack.of(this).formatArn({
      service: 'glue',
      resource: 'table',
      resourceName: `${this.databaseName}/${stream}`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
  }

  /** Lets `grantee` read the database and table definitions (what Athena needs from Glue). */
  public grantReadMetadata(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions'],
      resourceArns: [
        this.catalogArn,
        this.databaseArn,
        Stack.of(this).formatArn({
          service: 'glue',
          resource: 'table',
          resourceName: `${this.databaseName}/*`,
          arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
        }),
      ],
    });
  }
}
