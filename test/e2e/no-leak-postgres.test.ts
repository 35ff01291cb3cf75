/**
 * A failing run on PostgreSQL leaks no row value or password (see no-leak-suite.ts).
 */
import { describeNoLeak } from './no-leak-suite.ts';

describeNoLeak('postgres');
