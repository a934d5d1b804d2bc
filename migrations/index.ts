/**
 * Every migration, in order. Listed here rather than read from the folder at run time, so that
 * the compiled service and the TypeScript tests run exactly the same set.
 */
import type { Migration } from 'kysely'
import * as m0001 from './0001_create_users_and_auth_tokens.js'

export const migrations: Record<string, Migration> = {
  '0001_create_users_and_auth_tokens': m0001
}
