/**
 * Fills a fresh database for a scenario (a SQLite file, or an empty PostgreSQL schema the scenario
 * made), directly through the database layer (the
 * service's own `openDatabase`, migrations and tables), not through logins: a million argon2
 * logins would take hours. Users share one password hash, computed once. Tokens are live rows
 * shaped exactly like the ones the service issues; the scenario receives the secrets of
 * `knownTokens` of them (spread over the table) and the rest exist only as digests.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { join } from 'node:path'
import { Passwords } from '../src/users/builtin/passwords.js'
import { TOKEN_FORMAT_VERSION, TokenFormat, digestBytes, tokenDigest } from '../src/tokens/format.js'
import { openDatabase } from '../src/db/database.js'
import { migrateToLatest } from '../src/db/migrate.js'
import type { NewTokenRow, NewUserRow } from '../src/db/schema.js'
import { usernameKey } from '../src/users/builtin/repository.js'
import { DEFAULT_SETTINGS } from '../src/settings.js'

export const BENCH_PASSWORD = 'correct horse battery staple'

export interface SeedOptions {
  /** Live tokens in the table. */
  tokens: number
  /** How many of them the scenario can present (their secrets are returned). */
  knownTokens: number
  /** Users the tokens are spread over, round robin (all with `BENCH_PASSWORD`). */
  users: number
  /**
   * Whose users they are: tessera's built-in ones (default), or rows 1…N of an application's own
   * table `app_users` (id, email, name) in the same file, as `bench/app-users.ts` reads them.
   */
  userTable?: 'tessera' | 'app'
  /** An empty database to fill instead of a new SQLite file in the directory (a PostgreSQL schema, `bench/postgres.ts`). */
  databaseUrl?: string
}

export interface Seeded {
  databaseUrl: string
  /** The secrets of the known tokens, in insertion order. */
  tokens: string[]
  /** Usernames `user1`…`userN`; user k holds tokens k-1, k-1+N, … */
  usernames: string[]
}

/** Rows per INSERT: 9 columns × 2 000 stays under SQLite's 32 766 bound parameters (and PostgreSQL's 65 535). */
const BATCH = 2000

export async function seed (directory: string, name: string, options: SeedOptions): Promise<Seeded> {
  const databaseUrl = options.databaseUrl ?? `sqlite:${join(directory, `${name}.db`)}`
  const database = openDatabase(databaseUrl)
  try {
    await migrateToLatest(database.kysely)
    const now = Date.now()
    const passwordHash = await new Passwords().hash(BENCH_PASSWORD)
    const usernames = Array.from({ length: options.users }, (_, i) => `user${i + 1}`)
    const format = new TokenFormat(DEFAULT_SETTINGS.tokenPrefix)
    const known: string[] = []
    // Known tokens are spread evenly over the table, so that lookups touch all of it.
    const knownEvery = Math.max(1, Math.floor(options.tokens / Math.max(1, options.knownTokens)))

    await database.kysely.transaction().execute(async (trx) => {
      if (options.userTable === 'app') {
        await sql`CREATE TABLE app_users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL)`.execute(trx)
        for (let id = 1; id <= options.users; id++) {
          await sql`INSERT INTO app_users (id, email, name) VALUES (${id}, ${`user${id}@example.com`}, ${`User ${id}`})`.execute(trx)
        }
      }
      for (let from = 0; from < usernames.length && options.userTable !== 'app'; from += BATCH) {
        const users: NewUserRow[] = usernames.slice(from, from + BATCH).map((username) => ({
          username,
          username_key: usernameKey(username),
          email: null,
          password_hash: passwordHash,
          created_at: now,
          deactivated_at: null,
          last_login_at: null
        }))
        await trx.insertInto('tessera_users').values(users).execute()
      }
      for (let from = 0; from < options.tokens; from += BATCH) {
        const rows: NewTokenRow[] = []
        for (let i = from; i < Math.min(from + BATCH, options.tokens); i++) {
          let digest: Buffer
          if (i % knownEvery === 0 && known.length < options.knownTokens) {
            const token = format.generate()
            known.push(token)
            digest = digestBytes(tokenDigest(token))
          } else {
            digest = randomBytes(32)
          }
          rows.push({
            id: randomUUID(),
            digest,
            format: TOKEN_FORMAT_VERSION,
            subject: String((i % options.users) + 1),
            device: 'bench',
            created_at: now,
            expires_at: now + 24 * 3_600_000,
            last_used_at: now
          })
        }
        await trx.insertInto('tessera_tokens').values(rows).execute()
      }
    })
    return { databaseUrl, tokens: known, usernames }
  } finally {
    await database.close()
  }
}
