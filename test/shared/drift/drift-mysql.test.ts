/**
 * Schema drift on the local MariaDB (see drift-suite.ts).
 */
import { engineAvailable } from '../../helpers/databases.ts';
import { describeSchemaDrift } from './drift-suite.ts';

describeSchemaDrift('mysql', await engineAvailable('mysql'));
