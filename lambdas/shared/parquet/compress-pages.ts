/**
 * zstd compression of encoded row groups with Node's own zstd (native libzstd), after the encoder
 * wrote their pages uncompressed.
 *
 * Why: parquet-wasm compresses with zstd compiled to WebAssembly, which was more than half of its
 * encoding time (bench/RESULTS.md, "Native zstd"); Node's zlib runs the same algorithm natively
 * for about a fifth of that. The encoder still decides everything else (page boundaries,
 * encodings, dictionaries, statistics, page indexes), since none of it depends on the codec: page
 * and dictionary limits are counted in uncompressed bytes. So the values, types and statistics of
 * the result are the encoder's; only the page bodies and the sizes and positions that follow from
 * them change, as parquet-rs would have written them with `Compression::ZSTD`:
 *
 * - each page's body is compressed on its own (Parquet compresses pages independently) and its
 *   header's `compressed_page_size` set; `uncompressed_page_size` stays;
 * - each column chunk's `codec` becomes ZSTD, its `total_compressed_size` the new size, its
 *   `total_uncompressed_size` the page sizes plus the new headers (a header holds the compressed
 *   size, so its length changes), and its `dictionary_page_offset` / `data_page_offset` the new
 *   positions;
 * - each row group's `file_offset`, `total_compressed_size` and `total_byte_size` (the sum of its
 *   chunks' uncompressed sizes, as parquet-rs counts it) follow;
 * - the offset index's page locations get the new offsets and sizes (header included).
 *
 * Only what parquet-rs writes with the part writer's settings is accepted: data pages v1 and
 * dictionary pages, no page CRC. Anything else is refused with a {@link ParquetWriteError}.
 */
import { constants, zstdCompressSync } from 'node:zlib';
import { ParquetWriteError } from './errors.ts';
import {
  CC_META,
  CM_CODEC,
  CM_DATA_PAGE_OFFSET,
  CM_DICTIONARY_PAGE_OFFSET,
  CM_INDEX_PAGE_OFFSET,
  CM_TOTAL_COMPRESSED,
  CM_TOTAL_UNCOMPRESSED,
  CODEC_UNCOMPRESSED,
  CODEC_ZSTD,
  OI_PAGE_LOCATIONS,
  PAGE_DATA,
  PAGE_DICTIONARY,
  PH_COMPRESSED_SIZE,
  PH_CRC,
  PH_TYPE,
  PH_UNCOMPRESSED_SIZE,
  PL_COMPRESSED_SIZE,
  PL_OFFSET,
  RG_COLUMNS,
  RG_FILE_OFFSET,
  RG_TOTAL_BYTE_SIZE,
  RG_TOTAL_COMPRESSED,
} from './format-ids.ts';
import type { EncodedRowGroups } from './row-groups.ts';
import {
  field,
  intAt,
  listAt,
  readStruct,
  setInt,
  structAt,
  type ThriftStruct,
  writeStruct,
} from './thrift-compact.ts';

/** The zstd level parquet-rs uses by default (`ZstdLevel::default()`). */
export const ZSTD_LEVEL = 1;

/** Whether this Node.js has native zstd (22.15 and later); without it the encoder compresses itself. */
export const NATIVE_ZSTD = typeof zstdCompressSync === 'function';

function num(v: bigint | undefined, what: string): number {
  if (v === undefined || v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ParquetWriteError(`the encoded Parquet row groups have no valid ${what}`);
  }
  return Number(v);
}

function compress(page: Uint8Array, level: number): Buffer {
  return zstdCompressSync(page, { params: { [constants.ZSTD_c_compressionLevel]: level } });
}

/**
 * The same row groups with every page compressed with zstd (see the module documentation). The
 * input must have been encoded uncompressed; it is not changed.
 * @throws ParquetWriteError
 */
export function compressPages(groups: EncodedRowGroups, level: number = ZSTD_LEVEL): EncodedRowGroups {
  const { body } = groups;
  const { rowGroups, offsetIndexes } = structuredClone({
    rowGroups: groups.rowGroups,
    offsetIndexes: groups.offsetIndexes,
  });
  const out: Uint8Array[] = [];
  let written = 0;
  let read = 0;
  let chunkIndex = 0;
  for (const rowGroup of rowGroups) {
    let groupStart: number | undefined;
    let groupUncompressed = 0;
    for (const chunk of listAt(rowGroup, RG_COLUMNS).items as ThriftStruct[]) {
      const meta = structAt(chunk, CC_META);
      if (intAt(meta, CM_CODEC) !== CODEC_UNCOMPRESSED) {
        throw new ParquetWriteError('only row groups encoded uncompressed can be compressed afterwards');
      }
      if (field(meta, CM_INDEX_PAGE_OFFSET)) throw new ParquetWriteError('index pages are not supported');
      const dictionaryAt = intAt(meta, CM_DICTIONARY_PAGE_OFFSET);
      const start = num(dictionaryAt ?? intAt(meta, CM_DATA_PAGE_OFFSET), 'column chunk offset');
      const size = num(intAt(meta, CM_TOTAL_COMPRESSED), 'column chunk size');
      if (start !== read || size !== num(intAt(meta, CM_TOTAL_UNCOMPRESSED), 'column chunk size')) {
        throw new ParquetWriteError('the encoded column chunks are not laid out one after another, uncompressed');
      }
      const chunkStart = written;
      groupStart ??= chunkStart;
      /** Old page offset → [new offset, new size with header]. */
      const moved = new Map<number, [number, number]>();
      let firstDataPage: number | undefined;
      let uncompressed = 0;
      const end = start + size;
      while (read < end) {
        const { struct: header, end: headerEnd } = readStruct(body, read);
        const type = intAt(header, PH_TYPE);
        if (type !== PAGE_DATA && type !== PAGE_DICTIONARY) {
          throw new ParquetWriteError('only data pages v1 and dictionary pages can be compressed afterwards');
        }
        if (field(header, PH_CRC)) throw new ParquetWriteError('pages with a CRC cannot be compressed afterwards');
        const length = num(intAt(header, PH_COMPRESSED_SIZE), 'page size');
        if (length !== num(intAt(header, PH_UNCOMPRESSED_SIZE), 'page size') || headerEnd + length > end) {
          throw new ParquetWriteError('an encoded page is not uncompressed or runs past its column chunk');
        }
        const page = compress(body.subarray(headerEnd, headerEnd + length), level);
        setInt(header, PH_COMPRESSED_SIZE, BigInt(page.byteLength));
        const headerBytes = writeStruct(header);
        if (type === PAGE_DATA) firstDataPage ??= written;
        moved.set(read, [written, headerBytes.byteLength + page.byteLength]);
        uncompressed += headerBytes.byteLength + length;
        out.push(headerBytes, page);
        written += headerBytes.byteLength + page.byteLength;
        read = headerEnd + length;
      }
      if (read !== end || firstDataPage === undefined) {
        throw new ParquetWriteError('an encoded column chunk does not end at a page boundary or has no data page');
      }
      setInt(meta, CM_CODEC, CODEC_ZSTD);
      setInt(meta, CM_TOTAL_COMPRESSED, BigInt(written - chunkStart));
      setInt(meta, CM_TOTAL_UNCOMPRESSED, BigInt(uncompressed));
      groupUncompressed += uncompressed;
      setInt(meta, CM_DATA_PAGE_OFFSET, BigInt(firstDataPage));
      if (dictionaryAt !== undefined) setInt(meta, CM_DICTIONARY_PAGE_OFFSET, BigInt(chunkStart));
      const index = offsetIndexes[chunkIndex++];
      for (const location of index ? (listAt(index, OI_PAGE_LOCATIONS).items as ThriftStruct[]) : []) {
        const at = moved.get(num(intAt(location, PL_OFFSET), 'page location'));
        if (!at) throw new ParquetWriteError('an offset index names a position that is not a page');
        setInt(location, PL_OFFSET, BigInt(at[0]));
        setInt(location, PL_COMPRESSED_SIZE, BigInt(at[1]));
      }
    }
    if (groupStart === undefined) throw new ParquetWriteError('an encoded row group has no column chunk');
    if (field(rowGroup, RG_FILE_OFFSET)) setInt(rowGroup, RG_FILE_OFFSET, BigInt(groupStart));
    if (field(rowGroup, RG_TOTAL_COMPRESSED)) setInt(rowGroup, RG_TOTAL_COMPRESSED, BigInt(written - groupStart));
    setInt(rowGroup, RG_TOTAL_BYTE_SIZE, BigInt(groupUncompressed));
  }
  if (read !== body.byteLength) throw new ParquetWriteError('the encoded row groups hold bytes outside their pages');
  // An own buffer (never Node's shared pool): the body may be transferred to another thread.
  const compressed = new Uint8Array(written);
  let at = 0;
  for (const piece of out) {
    compressed.set(piece, at);
    at += piece.byteLength;
  }
  return {
    rows: groups.rows,
    body: compressed,
    template: groups.template,
    rowGroups,
    columnIndexes: groups.columnIndexes,
    offsetIndexes,
  };
}
