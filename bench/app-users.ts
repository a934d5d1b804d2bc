/**
 * The server under test for the `appUsers` scenario: tessera embedded in an application that
 * owns its users, as README "Embedding in an existing app" describes. The application opens its
 * SQLite file itself, keeps its users in its own table `app_users` (seeded by `bench/seed.ts`
 * with `userTable: 'app'`), and hands tessera the connection and a user store whose `find` is
 * what a sensible application would write: one primary-key lookup through a better-sqlite3
 * statement prepared once.
 *
 * Everything else mirrors `buildApp`, so that the open route costs the same in both servers and
 * the two protected / open ratios compare: the same logger, request ids and `X-Request-Id` hook,
 * and tessera with the settings `tessera serve` reads from the environment.
 */
import SQLite from 'better-sqlite3'
import Fastify, { type FastifyInstance } from 'fastify'
import { loggerOptions, requestId } from '../src/app.js'
import type { Config } from '../src/config.js'
import { openDatabase } from '../src/db/database.js'
import type { AppUser } from '../src/index.js'
import tessera from '../src/plugin.js'
import type { UserStore } from '../src/users/store.js'

/** A row of the application's `app_users` table. */
export interface BenchAppUser {
  id: number
  email: string
  name: string
}

export async function buildAppUsersApp (config: Config): Promise<FastifyInstance> {
  if (!config.databaseUrl.startsWith('sqlite:')) throw new Error('the appUsers bench server runs on SQLite only')
  const sqlite = new SQLite(config.databaseUrl.slice('sqlite:'.length))
  const byId = sqlite.prepare<[number], BenchAppUser>('SELECT id, email, name FROM app_users WHERE id = ?')
  const users: UserStore<BenchAppUser> = {
    find: (id) => byId.get(Number(id)) ?? null,
    idOf: (user) => String(user.id),
    serialize: (user) => ({ id: user.id, email: user.email, name: user.name })
  }

  const app = Fastify({ logger: loggerOptions(config), genReqId: requestId })
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  const database = openDatabase(sqlite, { tokenCacheSize: config.tokenCacheSize })
  app.addHook('onClose', async () => {
    await database.close()
    sqlite.close()
  })
  // This compilation declares no `TesseraTypes`, so `AppUser` is the built-in user's type: the
  // store is handed over as what it is at run time, an application's store.
  await app.register(tessera, { ...config.settings, database, users: users as unknown as UserStore<AppUser> })
  return app
}

/** The name the bench handler answers with, for the application's user. */
export const appUserName = (user: unknown): string => (user as BenchAppUser).name
