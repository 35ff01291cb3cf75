/**
 * Reads the row count from a Parquet footer, to check what the WebAssembly writer produced
 * against the rows it was given (parquet-wasm's streaming writer does not report write errors).
 *
 * A Parquet file ends with `<FileMetaData (Thrift compact protocol)> <u32 LE length> "PAR1"`;
 * `num_rows` is field 3 of FileMetaData. Only the structure needed to reach it is decoded.
 */

/** Bytes at the end of a Parquet file: `<footer> <length> "PAR1"`. Returns the footer's `num_rows`. */
export function footerRowCount(tail: Uint8Array): number {
  const n = tail.byteLength;
  if (n < 8 || tail[n - 4] !== 0x50 || tail[n - 3] !== 0x41 || tail[n - 2] !== 0x52 || tail[n - 1] !== 0x31) {
    throw new Error('no Parquet magic at the end of the file');
  }
  const length = new DataView(tail.buffer, tail.byteOffset + n - 8, 4).getUint32(0, true);
  if (length + 8 > n) throw new Error(`the Parquet footer (${length} bytes) is longer than the bytes kept`);
  const reader = new CompactReader(tail.subarray(n - 8 - length, n - 8));
  let fieldId = 0;
  for (;;) {
    const header = reader.byte();
    if (header === 0) break;
    const type = header & 0x0f;
    const delta = header >> 4;
    fieldId = delta === 0 ? reader.zigzag() : fieldId + delta;
    if (fieldId === 3 && type === I64) return reader.zigzag();
    reader.skip(type);
  }
  throw new Error('the Parquet footer has no num_rows');
}

const BOOL_TRUE = 1;
const BOOL_FALSE = 2;
const BYTE = 3;
const I16 = 4;
const I32 = 5;
const I64 = 6;
const DOUBLE = 7;
const BINARY = 8;
const LIST = 9;
const SET = 10;
const MAP = 11;
const STRUCT = 12;

class CompactReader {
  private pos = 0;

  constructor(private readonly bytes: Uint8Array) {}

  byte(): number {
    if (this.pos >= this.bytes.length) throw new Error('truncated Parquet footer');
    return this.bytes[this.pos++]!;
  }

  /** Unsigned LEB128; row counts and lengths stay far below 2^53. */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
  }

  zigzag(): number {
    const v = this.varint();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }

  skip(type: number): void {
    switch (type) {
      case BOOL_TRUE:
      case BOOL_FALSE:
        return;
      case BYTE:
        this.pos += 1;
        return;
      case I16:
      case I32:
      case I64:
        this.varint();
        return;
      case DOUBLE:
        this.pos += 8;
        return;
      case BINARY: {
        const length = this.varint(); // read before advancing: `pos += varint()` would use the old pos
        this.pos += length;
        return;
      }
      case LIST:
      case SET: {
        const header = this.byte();
        const size = header >> 4 === 15 ? this.varint() : header >> 4;
        const element = header & 0x0f;
        for (let i = 0; i < size; i++) this.skipElement(element);
        return;
      }
      case MAP: {
        const size = this.varint();
        if (size === 0) return;
        const types = this.byte();
        for (let i = 0; i < size; i++) {
          this.skipElement(types >> 4);
          this.skipElement(types & 0x0f);
        }
        return;
      }
      case STRUCT:
        for (;;) {
          const header = this.byte();
          if (header === 0) return;
          if (header >> 4 === 0) this.zigzag();
          this.skip(header & 0x0f);
        }
      default:
        throw new Error(`unknown Thrift compact type ${type} in the Parquet footer`);
    }
  }

  /** Collection elements: booleans take a byte there, unlike in struct fields. */
  private skipElement(type: number): void {
    if (type === BOOL_TRUE || type === BOOL_FALSE) this.pos += 1;
    else this.skip(type);
  }
}
