/** The source reader suite (reader-suite.ts) on MySQL/MariaDB. */
import { defineReaderSuite } from './reader-suite.ts';

await defineReaderSuite('mysql');
