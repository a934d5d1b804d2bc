// @ts-check
/**
 * An application that already has users — its own table, its own migrations, its own password
 * hashes and sign-up — and lets tessera issue and check their tokens. tessera shares the app's
 * database connection (one SQLite file, or one PostgreSQL pool), keeps its tables apart
 * (`tessera_*`, with its own migration bookkeeping), and asks the app for its users through
 * `users`.
 *
 * ```js
 * const app = await buildApp({ databaseUrl: 'sqlite:./data/app.db' })   // or postgres://…
 * ```
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import Fastify from 'fastify'
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely'
import pg from 'pg'
import tessera, { openDatabase } from 'tessera-auth'

/** @typedef {import('./types.js').AppTables} AppTables */
/** @typedef {import('./types.js').AppUser} AppUser */
/** @typedef {import('kysely').Migration} Migration */

/**
 * The app's own migrations, in Kysely's default bookkeeping (`kysely_migration`). tessera's
 * migrations run separately, when the plugin is registered, and are recorded in its own tables.
 *
 * @param {'sqlite' | 'postgres'} dialect
 * @returns {Record<string, Migration>}
 */
function appMigrations (dialect) {
  const id = dialect === 'postgres' ? 'serial' : 'integer'
  return {
    '0001_users': {
      up: async (db) => {
        await db.schema.createTable('users')
          .addColumn('id', id, (column) => column.primaryKey())
          .addColumn('email', 'text', (column) => column.notNull().unique())
          .addColumn('name', 'text', (column) => column.notNull())
          .addColumn('password_hash', 'text', (column) => column.notNull())
          .addColumn('created_at', 'text', (column) => column.notNull())
          .execute()
      }
    },
    '0002_orders': {
      up: async (db) => {
        await db.schema.createTable('orders')
          .addColumn('id', id, (column) => column.primaryKey())
          .addColumn('user_id', 'integer', (column) => column.notNull().references('users.id'))
          .addColumn('item', 'text', (column) => column.notNull())
          .execute()
      }
    }
  }
}

/**
 * Opens the app's database, `sqlite:<path>` (a better-sqlite3 file) or `postgres://…` (a pg
 * pool), and hands the same connection to tessera: one file, or one pool, for both.
 *
 * @param {string} databaseUrl
 * @returns {{ dialect: 'sqlite' | 'postgres', db: Kysely<AppTables>, tesseraDatabase: ReturnType<typeof openDatabase> }}
 */
function openAppDatabase (databaseUrl) {
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const pool = new pg.Pool({ connectionString: databaseUrl })
    return { dialect: 'postgres', db: new Kysely({ dialect: new PostgresDialect({ pool }) }), tesseraDatabase: openDatabase(pool) }
  }
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length)
    mkdirSync(dirname(path), { recursive: true })
    const sqlite = new SQLite(path)
    sqlite.pragma('journal_mode = WAL')
    sqlite.pragma('foreign_keys = ON')
    return { dialect: 'sqlite', db: new Kysely({ dialect: new SqliteDialect({ database: sqlite }) }), tesseraDatabase: openDatabase(sqlite) }
  }
  throw new Error(`DATABASE_URL must be sqlite:<path> or postgres://…, not ${JSON.stringify(databaseUrl)}`)
}

/**
 * The app's password hashes: scrypt from node:crypto, stored as `scrypt$<salt>$<hash>` (base64).
 * Nothing to do with tessera, which never sees them: it calls `verifyCredentials`.
 *
 * @param {string} password
 * @param {Buffer} salt
 * @returns {Promise<Buffer>}
 */
function scryptHash (password, salt) {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, 32, (error, hash) => { if (error === null) resolve(hash); else reject(error) })
  })
}

/** @param {string} password */
async function hashPassword (password) {
  const salt = randomBytes(16)
  return `scrypt$${salt.toString('base64')}$${(await scryptHash(password, salt)).toString('base64')}`
}

/**
 * @param {string} password
 * @param {string} stored
 */
async function passwordMatches (password, stored) {
  const [, salt = '', expected = ''] = stored.split('$')
  const hash = await scryptHash(password, Buffer.from(salt, 'base64'))
  const wanted = Buffer.from(expected, 'base64')
  return hash.length === wanted.length && timingSafeEqual(hash, wanted)
}

/** Checked against when the email is unknown, so that an unknown user costs as much as a wrong password. */
const DUMMY_HASH = await hashPassword(randomBytes(16).toString('hex'))

const USER_COLUMNS = /** @type {const} */ (['id', 'email', 'name', 'created_at'])

/**
 * @param {{ id: number, email: string, name: string, created_at: string }} row
 * @returns {AppUser}
 */
const toUser = (row) => ({ id: row.id, email: row.email, name: row.name, createdAt: row.created_at })

/** @param {unknown} error */
const isUniqueViolation = (error) =>
  error instanceof Error && 'code' in error && (error.code === 'SQLITE_CONSTRAINT_UNIQUE' || error.code === '23505')

/**
 * @param {{ databaseUrl: string, logger?: boolean }} options
 */
export async function buildApp ({ databaseUrl, logger = false }) {
  const { dialect, db, tesseraDatabase } = openAppDatabase(databaseUrl)

  // 1. The app's own schema, through its own migrations.
  // On PostgreSQL, name the schema: Kysely's Migrator otherwise looks for its bookkeeping tables in
  // every schema of the database, and may find another application's.
  const schema = dialect === 'postgres'
    ? /** @type {{ s: string }} */ ((await sql`SELECT current_schema() AS s`.execute(db)).rows[0]).s
    : undefined
  const migrator = new Migrator({
    db,
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
    provider: { getMigrations: async () => appMigrations(dialect) }
  })
  const { error } = await migrator.migrateToLatest()
  if (error !== undefined) throw error

  const app = Fastify({ logger })
  // The app owns its connection, and closes it. tessera's `close()` releases only what tessera
  // opened itself (on SQLite, its own connection to the same file); it never closes the app's.
  app.addHook('onClose', async () => {
    await tesseraDatabase.close()
    await db.destroy()
  })

  // 2. tessera, on the same connection, with the app's users.
  await app.register(tessera, {
    database: tesseraDatabase,
    users: {
      /** The user a token belongs to; `null` (deleted) refuses the token with a 401. */
      find: async (id) => {
        const row = await db.selectFrom('users').select(USER_COLUMNS).where('id', '=', Number(id)).executeTakeFirst()
        return row === undefined ? null : toUser(row)
      },
      idOf: (user) => String(user.id),
      /** Enables `POST /auth/login`: the email and the app's own password. */
      verifyCredentials: async (email, password) => {
        const row = await db.selectFrom('users').select([...USER_COLUMNS, 'password_hash'])
          .where('email', '=', email.toLowerCase()).executeTakeFirst()
        const matches = await passwordMatches(password, row?.password_hash ?? DUMMY_HASH)
        return row !== undefined && matches ? toUser(row) : null
      },
      /** What tessera's responses (`/auth/login`, `/auth/me`) show of a user. */
      serialize: (user) => ({ id: user.id, email: user.email, name: user.name })
    }
  })

  // 3. The app's own sign-up, which ends by issuing the new user's first token.
  app.post('/signup', {
    schema: {
      body: {
        type: 'object',
        required: ['email', 'name', 'password'],
        properties: {
          email: { type: 'string', pattern: '^[^@\\s]+@[^@\\s]+$', maxLength: 254 },
          name: { type: 'string', minLength: 1, maxLength: 100 },
          password: { type: 'string', minLength: 8, maxLength: 1024 },
          device: { type: 'string', minLength: 1, maxLength: 128 }
        }
      }
    }
  }, async (request, reply) => {
    const { email, name, password, device } = /** @type {{ email: string, name: string, password: string, device?: string }} */ (request.body)
    let user
    try {
      const row = await db.insertInto('users')
        .values({ email: email.toLowerCase(), name, password_hash: await hashPassword(password), created_at: new Date().toISOString() })
        .returning(USER_COLUMNS)
        .executeTakeFirstOrThrow()
      user = toUser(row)
    } catch (error) {
      if (isUniqueViolation(error)) return await reply.code(409).send({ message: 'That email already has an account.' })
      throw error
    }
    const { token } = await app.tessera.tokens.issue(user, { device: device ?? 'signup' })
    return await reply.code(201).send({ user: { id: user.id, email: user.email, name: user.name }, token })
  })

  // 4. A protected route of the app: `request.user` is the AppUser that `users.find` returned.
  app.get('/orders', { preHandler: app.authenticate }, async (request) => {
    const user = /** @type {AppUser} */ (request.user)
    const orders = await db.selectFrom('orders').select(['id', 'item']).where('user_id', '=', user.id).execute()
    return { userId: user.id, orders }
  })

  return app
}
