/**
 * The stable codes of file-drop rejections. They appear in the quarantine reason document
 * (`quarantine/<stream>/….reason.json`), in logs and in metrics; operators and tooling match on
 * them, so a code is never renamed or reused for another meaning.
 */

/** Every code, with the one-line description used in the operator documentation. */
export const FILE_ERROR_CODES = {
  INVALID_KEY:
    'The object key is not inbound/<stream>/<file name>, or contains "..", empty segments, control or unsupported characters, or is longer than 1024 bytes.',
  UNKNOWN_STREAM: 'The <stream> part of the key is not one of the streams agreed with you.',
  EMPTY_FILE: 'The object has no content (zero bytes, or no data after decompression).',
  FILE_TOO_LARGE: 'The object, or its content after decompression, is larger than the agreed maximum file size.',
  TOO_MANY_ROWS:
    'The file holds more than 1,000,000,000 rows, the most one delivery may hold (rows are numbered within it); split it.',
  CORRUPT_GZIP: 'The object starts like gzip but is truncated or damaged (bad header, checksum or length).',
  DECOMPRESSION_LIMIT:
    'The gzip content expands beyond the allowed ratio or size (a decompression bomb, or a file to split).',
  UNSUPPORTED_COMPRESSION: 'The object is a zip, bzip2, xz or zstd archive; only plain files and gzip are accepted.',
  WRONG_FORMAT: "The content is not in the stream's agreed format (e.g. a Parquet file where CSV is agreed).",
  INVALID_ENCODING: 'The text is not valid in the agreed encoding, or contains NUL characters.',
  LINE_TOO_LONG: 'One record (CSV) or line (JSON Lines) is longer than the allowed maximum record size.',
  INVALID_CSV: 'The CSV cannot be parsed (a quote that is never closed, text after a closing quote).',
  MISSING_COLUMN: "A column of the stream's agreed column list is not in the file.",
  UNEXPECTED_COLUMN:
    "The file has a column that is not in the stream's agreed column list (extra columns are refused).",
  DUPLICATE_COLUMN: 'Two columns of the file have the same name.',
  SCHEMA_MISMATCH:
    'A Parquet column has a type that cannot hold the agreed field (e.g. text where an amount is agreed).',
  CORRUPT_PARQUET: 'The Parquet file cannot be read (no PAR1 magic, damaged footer or pages).',
  FIELD_COUNT: 'A CSV row has a different number of fields than the header.',
  INVALID_JSON: 'A JSON Lines line is not one valid JSON object.',
  INVALID_VALUE:
    'A value cannot be read exactly as the agreed type (bad number, date, time or boolean, or empty where a value is required).',
} as const;

/** A stable file-drop rejection code. */
export type FileErrorCode = keyof typeof FILE_ERROR_CODES;

/** The codes as a list, in documentation order. */
export const FILE_ERROR_CODE_LIST = Object.keys(FILE_ERROR_CODES) as FileErrorCode[];

/** The operator-facing reference of the codes, as a Markdown table. */
export function fileErrorCodesMarkdown(): string {
  const lines = ['| code | meaning |', '| --- | --- |'];
  for (const code of FILE_ERROR_CODE_LIST) lines.push(`| \`${code}\` | ${FILE_ERROR_CODES[code]} |`);
  return `${lines.join('\n')}\n`;
}
