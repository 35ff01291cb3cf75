/**
 * The Thrift compact protocol as a generic tree, enough to take Parquet metadata apart and put it
 * back together (parquet/row-groups.ts moves row groups from one file into another and rewrites
 * their offsets). Every field keeps its id, wire type and position, so a struct read and written
 * again without changes is the same bytes; fields not known here are carried through untouched.
 */

export const T_BOOL_TRUE = 1;
export const T_BOOL_FALSE = 2;
export const T_BYTE = 3;
export const T_I16 = 4;
export const T_I32 = 5;
export const T_I64 = 6;
export const T_DOUBLE = 7;
export const T_BINARY = 8;
export const T_LIST = 9;
export const T_SET = 10;
export const T_MAP = 11;
export const T_STRUCT = 12;

/**
 * A value: integers (byte, i16, i32, i64) as bigint, doubles as number, binary as bytes (an own
 * copy, never a view of the input), booleans of struct fields as boolean. Booleans inside a list
 * keep their raw byte (number), as implementations differ on its value.
 */
export type ThriftValue = boolean | bigint | number | Uint8Array | ThriftList | ThriftMap | ThriftStruct;

export interface ThriftField {
  readonly id: number;
  /** Wire type of the value (a boolean field is T_BOOL_TRUE whatever its value). */
  readonly type: number;
  value: ThriftValue;
}

export interface ThriftStruct {
  readonly kind: 'struct';
  readonly fields: ThriftField[];
}

export interface ThriftList {
  readonly kind: 'list';
  readonly set: boolean;
  readonly elementType: number;
  readonly items: ThriftValue[];
}

export interface ThriftMap {
  readonly kind: 'map';
  readonly keyType: number;
  readonly valueType: number;
  readonly entries: [ThriftValue, ThriftValue][];
}

/** Reads one struct from `bytes` at `offset`; returns it and the offset after it. */
export function readStruct(bytes: Uint8Array, offset = 0): { struct: ThriftStruct; end: number } {
  const reader = new Reader(bytes, offset);
  const struct = reader.struct();
  return { struct, end: reader.pos };
}

/** Serializes a struct. */
export function writeStruct(struct: ThriftStruct): Uint8Array {
  const writer = new Writer();
  writer.struct(struct);
  return writer.bytes();
}

/** The field with this id, or undefined. */
export function field(struct: ThriftStruct, id: number): ThriftField | undefined {
  return struct.fields.find((f) => f.id === id);
}

/** The struct value of a field; throws when absent or of another kind. */
export function structAt(struct: ThriftStruct, id: number): ThriftStruct {
  const value = field(struct, id)?.value;
  if (typeof value !== 'object' || value instanceof Uint8Array || value.kind !== 'struct') {
    throw new Error(`Thrift field ${id} is not a struct`);
  }
  return value;
}

/** The list value of a field; throws when absent or of another kind. */
export function listAt(struct: ThriftStruct, id: number): ThriftList {
  const value = field(struct, id)?.value;
  if (typeof value !== 'object' || value instanceof Uint8Array || value.kind !== 'list') {
    throw new Error(`Thrift field ${id} is not a list`);
  }
  return value;
}

/** The integer value of a field, or undefined when absent. */
export function intAt(struct: ThriftStruct, id: number): bigint | undefined {
  const value = field(struct, id)?.value;
  if (value === undefined) return undefined;
  if (typeof value !== 'bigint') throw new Error(`Thrift field ${id} is not an integer`);
  return value;
}

/** Sets the integer value of an existing field (its wire type is kept). */
export function setInt(struct: ThriftStruct, id: number, value: bigint): void {
  const f = field(struct, id);
  if (!f || typeof f.value !== 'bigint') throw new Error(`Thrift field ${id} is not an integer`);
  f.value = value;
}

class Reader {
  constructor(
    private readonly bytes: Uint8Array,
    public pos: number,
  ) {}

  private byte(): number {
    if (this.pos >= this.bytes.length) throw new Error('truncated Thrift data');
    return this.bytes[this.pos++]!;
  }

  private varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error('a Thrift varint is longer than 64 bits');
    }
  }

  private zigzag(): bigint {
    const v = this.varint();
    return (v >> 1n) ^ -(v & 1n);
  }

  private size(): number {
    const n = Number(this.varint());
    if (n > this.bytes.length - this.pos + 1) throw new Error('a Thrift length runs past the end of the data');
    return n;
  }

  struct(): ThriftStruct {
    const fields: ThriftField[] = [];
    let id = 0;
    for (;;) {
      const header = this.byte();
      if (header === 0) return { kind: 'struct', fields };
      const type = header & 0x0f;
      const delta = header >> 4;
      id = delta === 0 ? Number(this.zigzag()) : id + delta;
      if (type === T_BOOL_TRUE || type === T_BOOL_FALSE) {
        fields.push({ id, type: T_BOOL_TRUE, value: type === T_BOOL_TRUE });
      } else {
        fields.push({ id, type, value: this.value(type) });
      }
    }
  }

  private value(type: number): ThriftValue {
    switch (type) {
      case T_BOOL_TRUE:
      case T_BOOL_FALSE:
        // Only inside lists, sets and maps: one byte.
        return this.byte();
      case T_BYTE:
        return BigInt(this.byte());
      case T_I16:
      case T_I32:
      case T_I64:
        return this.zigzag();
      case T_DOUBLE: {
        if (this.pos + 8 > this.bytes.length) throw new Error('truncated Thrift data');
        const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8).getFloat64(0, true);
        this.pos += 8;
        return v;
      }
      case T_BINARY: {
        const length = this.size();
        if (this.pos + length > this.bytes.length) throw new Error('truncated Thrift data');
        const v = this.bytes.slice(this.pos, this.pos + length);
        this.pos += length;
        return v;
      }
      case T_LIST:
      case T_SET: {
        const header = this.byte();
        const size = header >> 4 === 15 ? this.size() : header >> 4;
        const elementType = header & 0x0f;
        const items: ThriftValue[] = [];
        for (let i = 0; i < size; i++) items.push(this.value(elementType));
        return { kind: 'list', set: type === T_SET, elementType, items };
      }
      case T_MAP: {
        const size = this.size();
        if (size === 0) return { kind: 'map', keyType: 0, valueType: 0, entries: [] };
        const types = this.byte();
        const keyType = types >> 4;
        const valueType = types & 0x0f;
        const entries: [ThriftValue, ThriftValue][] = [];
        for (let i = 0; i < size; i++) entries.push([this.value(keyType), this.value(valueType)]);
        return { kind: 'map', keyType, valueType, entries };
      }
      case T_STRUCT:
        return this.struct();
      default:
        throw new Error(`unknown Thrift compact type ${type}`);
    }
  }
}

class Writer {
  private buf = new Uint8Array(4096);
  private pos = 0;

  bytes(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  private byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  private varint(v: bigint): void {
    let n = BigInt.asUintN(64, v);
    for (;;) {
      const low = Number(n & 0x7fn);
      n >>= 7n;
      if (n === 0n) {
        this.byte(low);
        return;
      }
      this.byte(low | 0x80);
    }
  }

  private zigzag(v: bigint): void {
    this.varint(BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)));
  }

  struct(struct: ThriftStruct): void {
    let last = 0;
    for (const f of struct.fields) {
      const type = f.type === T_BOOL_TRUE || f.type === T_BOOL_FALSE ? (f.value ? T_BOOL_TRUE : T_BOOL_FALSE) : f.type;
      const delta = f.id - last;
      if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
      else {
        this.byte(type);
        this.zigzag(BigInt(f.id));
      }
      last = f.id;
      if (type !== T_BOOL_TRUE && type !== T_BOOL_FALSE) this.value(type, f.value);
    }
    this.byte(0);
  }

  private value(type: number, value: ThriftValue): void {
    switch (type) {
      case T_BOOL_TRUE:
      case T_BOOL_FALSE:
        this.byte(value as number);
        return;
      case T_BYTE:
        this.byte(Number(BigInt.asUintN(8, value as bigint)));
        return;
      case T_I16:
      case T_I32:
      case T_I64:
        this.zigzag(value as bigint);
        return;
      case T_DOUBLE: {
        this.room(8);
        new DataView(this.buf.buffer, this.pos, 8).setFloat64(0, value as number, true);
        this.pos += 8;
        return;
      }
      case T_BINARY: {
        const bytes = value as Uint8Array;
        this.varint(BigInt(bytes.length));
        this.room(bytes.length);
        this.buf.set(bytes, this.pos);
        this.pos += bytes.length;
        return;
      }
      case T_LIST:
      case T_SET: {
        const list = value as ThriftList;
        const n = list.items.length;
        if (n < 15) this.byte((n << 4) | list.elementType);
        else {
          this.byte(0xf0 | list.elementType);
          this.varint(BigInt(n));
        }
        for (const item of list.items) this.value(list.elementType, item);
        return;
      }
      case T_MAP: {
        const map = value as ThriftMap;
        this.varint(BigInt(map.entries.length));
        if (map.entries.length === 0) return;
        this.byte((map.keyType << 4) | map.valueType);
        for (const [k, v] of map.entries) {
          this.value(map.keyType, k);
          this.value(map.valueType, v);
        }
        return;
      }
      case T_STRUCT:
        this.struct(value as ThriftStruct);
        return;
      default:
        throw new Error(`unknown Thrift compact type ${type}`);
    }
  }
}
