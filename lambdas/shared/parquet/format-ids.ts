/**
 * Field ids and enumeration values of parquet-format's `parquet.thrift`, for the modules that read
 * and rewrite Parquet metadata with the Thrift compact reader and writer (`thrift-compact.ts`).
 */

/** FileMetaData */
export const FILE_NUM_ROWS = 3;
export const FILE_ROW_GROUPS = 4;
export const FILE_ENCRYPTION = 8;
/** RowGroup */
export const RG_COLUMNS = 1;
export const RG_TOTAL_BYTE_SIZE = 2;
export const RG_NUM_ROWS = 3;
export const RG_FILE_OFFSET = 5;
export const RG_TOTAL_COMPRESSED = 6;
export const RG_ORDINAL = 7;
/** ColumnChunk */
export const CC_FILE_PATH = 1;
export const CC_FILE_OFFSET = 2;
export const CC_META = 3;
export const CC_OFFSET_INDEX_OFFSET = 4;
export const CC_OFFSET_INDEX_LENGTH = 5;
export const CC_COLUMN_INDEX_OFFSET = 6;
export const CC_COLUMN_INDEX_LENGTH = 7;
export const CC_CRYPTO = 8;
/** ColumnMetaData */
export const CM_CODEC = 4;
export const CM_TOTAL_UNCOMPRESSED = 6;
export const CM_TOTAL_COMPRESSED = 7;
export const CM_DATA_PAGE_OFFSET = 9;
export const CM_INDEX_PAGE_OFFSET = 10;
export const CM_DICTIONARY_PAGE_OFFSET = 11;
export const CM_BLOOM_FILTER_OFFSET = 14;
/** PageHeader */
export const PH_TYPE = 1;
export const PH_UNCOMPRESSED_SIZE = 2;
export const PH_COMPRESSED_SIZE = 3;
export const PH_CRC = 4;
/** OffsetIndex and its PageLocation */
export const OI_PAGE_LOCATIONS = 1;
export const PL_OFFSET = 1;
export const PL_COMPRESSED_SIZE = 2;

/** CompressionCodec */
export const CODEC_UNCOMPRESSED = 0n;
export const CODEC_ZSTD = 6n;
/** PageType */
export const PAGE_DATA = 0n;
export const PAGE_DICTIONARY = 2n;
