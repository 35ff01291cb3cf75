/**
 * Schema drift on the local PostgreSQL (see drift-suite.ts).
 */
import { engineAvailable } from '../../helpers/databases.ts';
import { describeSchemaDrift } from './drift-suite.ts';

describeSchemaDrift('postgres', await engineAvailable('postgres'));
