/** The source reader suite (reader-suite.ts) on PostgreSQL. */
import { defineReaderSuite } from './reader-suite.ts';

await defineReaderSuite('postgres');
