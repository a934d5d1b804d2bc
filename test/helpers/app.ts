/**
 * Builds the real service app for a test, on a fresh database, and closes it after the test.
 * The whole suite runs once per dialect (`npm run test:sqlite`, `npm run test:postgres`):
 * - SQLite (the default): a temporary file, so that a second connection (the CLI's, another
 *   process's) can open it too;
 * - PostgreSQL, with `TESSERA_TEST_DATABASE=postgres`: a fresh schema on the server at
 *   `TESSERA_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`), dropped after.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import type { Dialect } from '../../src/db/database.js'
import type { TesseraSettings } from '../../src/settings.js'
import { createTestSchema } from './postgres.js'

export interface TestContext {
  teardown: (fn: () => unknown) => void
}

export interface TestApp {
  app: FastifyInstance
  config: Config
  /** The SQLite file the app uses (undefined on PostgreSQL). */
  sqlitePath: string | undefined
}

function testDialect (): Dialect {
  const chosen = process.env.TESSERA_TEST_DATABASE ?? 'sqlite'
  if (chosen !== 'sqlite' && chosen !== 'postgres') {
    throw new Error(`TESSERA_TEST_DATABASE=${JSON.stringify(chosen)}: expected sqlite or postgres`)
  }
  return chosen
}

/** The database this run of the suite uses. Tests that only make sense on one dialect check it. */
export const TEST_DIALECT: Dialect = testDialect()

/** A fresh database URL for one test, removed after it. */
export function freshDatabaseUrl (t: TestContext): { url: string, sqlitePath: string | undefined } {
  if (TEST_DIALECT === 'postgres') {
    const { url, drop } = createTestSchema()
    t.teardown(drop)
    return { url, sqlitePath: undefined }
  }
  const dir = mkdtempSync(join(tmpdir(), 'tessera-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const sqlitePath = join(dir, 'tessera.db')
  return { url: `sqlite:${sqlitePath}`, sqlitePath }
}

/** Settings of a test app, and the plugin's `clock` (a `testClock()`'s `now`) for a test that moves time itself. */
export type TestSettings = Partial<TesseraSettings> & { clock?: () => number }

export async function buildTestApp (
  t: TestContext,
  { clock, ...settings }: TestSettings = {},
  env: Record<string, string> = {}
): Promise<TestApp> {
  // A test that passes its own DATABASE_URL (several apps on one database) gets no fresh one.
  const { url, sqlitePath } = env.DATABASE_URL === undefined
    ? freshDatabaseUrl(t)
    : { url: env.DATABASE_URL, sqlitePath: env.DATABASE_URL.startsWith('sqlite:') ? env.DATABASE_URL.slice('sqlite:'.length) : undefined }
  const base = loadConfig({ DATABASE_URL: url, TESSERA_LOGIN_RATE_LIMIT: 'off', TESSERA_TOKEN_RATE_LIMIT: 'off', TESSERA_SWEEP_INTERVAL: 'none', ...env })
  const config: Config = { ...base, settings: { ...base.settings, ...settings } }
  const app = await buildApp(config, { logger: false, clock })
  t.teardown(() => app.close())
  return { app, config, sqlitePath }
}

export interface Issued {
  token: string
  tokenId: string
  expiry: string | null
  user: { id: number, username: string, email: string | null, createdAt: string }
}

let counter = 0
/** A username no other test in this process uses. */
export function uniqueName (base = 'user'): string {
  counter += 1
  return `${base}${process.pid}_${counter}`
}

export const PASSWORD = 'correct horse battery'

export async function register (app: FastifyInstance, username = uniqueName(), password = PASSWORD): Promise<Issued> {
  const response = await app.inject({ method: 'POST', url: '/auth/register', payload: { username, password } })
  if (response.statusCode !== 201) throw new Error(`register failed: ${response.statusCode} ${response.body}`)
  return response.json<Issued>()
}

export async function login (app: FastifyInstance, username: string, password = PASSWORD, device?: string): Promise<Issued> {
  const response = await app.inject({ method: 'POST', url: '/auth/login', payload: { username, password, device } })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`)
  return response.json<Issued>()
}

export function auth (token: string): { authorization: string } {
  return { authorization: `Token ${token}` }
}

export async function me (app: FastifyInstance, token: string): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'GET', url: '/auth/me', headers: auth(token) })
}
