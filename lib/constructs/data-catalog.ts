/**
 * The Glue database and, per stream, two tables: the serving table `<stream>` (Apache Iceberg v2,
 * the current state analysts query; see `lambdas/shared/serving/tables.ts`) and the landed table
 * `<stream>_landed` (the committed windows of the stream as landed, read by Athena through their
 * symlink lists; see `lambdas/shared/landing/window.ts`), which publishing merges from.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  CANONICAL_STREAMS,
  glueType,
  LANDED_PARTITION_COLUMNS,
  STREAM_NAMES,
  type StreamName,
} from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { landedColumns } from '#shared/landed-schema';
import { committedStreamPrefix, servingTablePrefix } from '#shared/layout';
import { icebergTransform, servingColumns, servingLayout, servingTableName } from '#shared/serving/tables';

/** Hive's input format that reads the data files named by the text files of a table location. */
export const SYMLINK_INPUT_FORMAT = 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat';

/** `<stream>_landed`: the Glue table of a stream's committed windows. */
export function landedTableName(stream: StreamName): string {
  return `${stream}_landed`;
}

/** Glue allows at most 255 characters in a column comment. */
const MAX_COMMENT = 255;

/** `connector_<operatorId with - as _>_<stage>`: Glue and Athena names take no hyphens. */
export function glueDatabaseName(operatorId: string, stage: OperatorConfig['stage']): string {
  return `connector_${operatorId.replaceAll('-', '_')}_${stage}`;
}

export interface DataCatalogProps {
  /** The operator config: its configured streams and mappings decide the tables and their columns. */
  readonly config: OperatorConfig;
  /** The landing bucket whose `_committed/<stream>/` prefixes the landed tables point at. */
  readonly bucket: s3.IBucket;
  /**
   * Name of the Glue database.
   * @default glueDatabaseName(config.operatorId, config.stage)
   */
  readonly databaseName?: string;
}

/**
 * A Glue database and, per configured stream, the landed table `<stream>_landed`: an external table
 * with the columns of {@link landedColumns} whose location is `_committed/<stream>/`, read with Hive's
 * SymlinkTextInputFormat and the Parquet SerDe. Each committed window is one partition
 * (`run_id`, `window_id`, injected partition projection: a query names the runs and windows it
 * reads), holding one symlink list that names the committed attempt's Parquet parts. Parts of
 * attempts that did not commit are under `raw/`, which no table reads, so no reader of the catalog
 * can see them. Encryption of the Data Catalog is an account-level setting, not set here.
 */
export class DataCatalog extends Construct {
  /** The Glue database. */
  public readonly database: glue.CfnDatabase;
  /** Name of the Glue database. */
  public readonly databaseName: string;
  /** The landed table of each configured stream (`<stream>_landed`). */
  public readonly tables: Readonly<Partial<Record<StreamName, glue.CfnTable>>>;
  /** The serving (Iceberg) table of each configured stream (`<stream>`). */
  public readonly servingTables: Readonly<Partial<Record<StreamName, glue.CfnTable>>>;
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
    const serving: Partial<Record<StreamName, glue.CfnTable>> = {};
    for (const stream of STREAM_NAMES) {
      if (!config.streams[stream]) continue;
      const location = `s3://${bucket.bucketName}/${committedStreamPrefix(stream)}`;
      const template = LANDED_PARTITION_COLUMNS.map((c) => `\${${c.name}}/`).join('');
      const table = new glue.CfnTable(this, `Table-${stream}`, {
        catalogId: stack.account,
        databaseName: this.databaseName,
        tableInput: {
          name: landedTableName(stream),
          description: `${config.displayName}: committed windows of the canonical ${stream} stream as landed (every version read; query with run_id and window_id)`,
          tableType: 'EXTERNAL_TABLE',
          parameters: {
            EXTERNAL: 'TRUE',
            classification: 'parquet',
            'projection.enabled': 'true',
            ...Object.fromEntries(LANDED_PARTITION_COLUMNS.map((c) => [`projection.${c.name}.type`, 'injected'])),
            'storage.location.template': `${location}${template}`,
          },
          partitionKeys: LANDED_PARTITION_COLUMNS.map((c) => ({
            name: c.name,
            type: 'string',
            comment: c.description,
          })),
          storageDescriptor: {
            location,
            columns: landedColumns(config, stream).map((c) => ({
              name: c.name,
              type: glueType(c.type),
              comment:
                c.description.length > MAX_COMMENT ? `${c.description.slice(0, MAX_COMMENT - 1)}…` : c.description,
            })),
            inputFormat: SYMLINK_INPUT_FORMAT,
            outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
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
      serving[stream] = this.servingTable(config, bucket, stream);
    }
    this.tables = tables;
    this.servingTables = serving;
  }

  /**
   * The Iceberg (format v2) table of a stream's current state: the serving columns with their
   * Iceberg field ids, the key as identifier field, the stream's partition spec, zstd Parquet data
   * files under `lake/<stream>/`.
   */
  private servingTable(config: OperatorConfig, bucket: s3.IBucket, stream: StreamName): glue.CfnTable {
    const stack = Stack.of(this);
    const columns = servingColumns(config, stream);
    const { partition } = servingLayout(config, stream);
    const key = CANONICAL_STREAMS[stream].primaryKey;
    const idOf = (name: string) => {
      const column = columns.find((c) => c.name === name);
      if (!column) throw new Error(`${config.operatorId}/${stream}: serving column ${name} is not landed`);
      return column.id;
    };
    const table = new glue.CfnTable(this, `Serving-${stream}`, {
      catalogId: stack.account,
      databaseName: this.databaseName,
      tableInput: {
        name: servingTableName(stream),
        description: `${config.displayName}: current state of the canonical ${stream} stream (one row per ${key}, latest version; Apache Iceberg)`,
      },
      openTableFormatInput: {
        icebergInput: {
          metadataOperation: 'CREATE',
          version: '2',
          icebergTableInput: {
            location: `s3://${bucket.bucketName}/${servingTablePrefix(stream)}`,
            schema: {
              schemaId: 0,
              type: 'struct',
              identifierFieldIds: [idOf(key)],
              fields: columns.map((c) => ({
                id: c.id,
                name: c.name,
                type: c.icebergType,
                required: !c.nullable,
                doc: c.description.length > MAX_COMMENT ? `${c.description.slice(0, MAX_COMMENT - 1)}…` : c.description,
              })),
            },
            partitionSpec: {
              specId: 0,
              fields: [
                {
                  sourceId: idOf(partition.column),
                  transform: icebergTransform(partition),
                  name: `${partition.column}_${partition.transform}`,
                  fieldId: 1000,
                },
              ],
            },
            properties: {
              'write.format.default': 'parquet',
              'write.parquet.compression-codec': 'zstd',
              'write.target-file-size-bytes': String(256 * 1024 * 1024),
            },
          },
        },
      },
    });
    table.addResourceDependency(this.database);
    return table;
  }

  /** ARN of the landed table of a stream. */
  public tableArn(stream: StreamName): string {
    return Stack.of(this).formatArn({
      service: 'glue',
      resource: 'table',
      resourceName: `${this.databaseName}/${landedTableName(stream)}`,
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
