/**
 * Every migration, in order. Listed here rather than read from the folder at run time, so that
 * the compiled service and the TypeScript tests run exactly the same set. Applied migrations are
 * recorded in `tessera_migrations` (see src/db/migrate.ts).
 */
import type { Kysely } from 'kysely'
import * as m0001 from './0001_create_tessera_tables.js'
import * as m0002 from './0002_adopt_tables_of_0_1.js'
import * as m0003 from './0003_token_lifetimes.js'
import * as m0004 from './0004_username_keys.js'
import * as m0005 from './0005_token_scopes.js'
import * as m0006 from './0006_rate_limit_windows.js'
import * as m0007 from './0007_token_tombstones.js'
import * as m0008 from './0008_session_clients.js'
import * as m0009 from './0009_activity_log.js'

export interface Migration {
  /** Applies the change; may return warnings for the operator (printed by `tessera migrate`, logged at startup). */
  up: (db: Kysely<any>) => Promise<void | string[]>
}

export const migrations: ReadonlyArray<readonly [name: string, migration: Migration]> = [
  ['0001_create_tessera_tables', m0001],
  ['0002_adopt_tables_of_0_1', m0002],
  ['0003_token_lifetimes', m0003],
  ['0004_username_keys', m0004],
  ['0005_token_scopes', m0005],
  ['0006_rate_limit_windows', m0006],
  ['0007_token_tombstones', m0007],
  ['0008_session_clients', m0008],
  ['0009_activity_log', m0009]
]
