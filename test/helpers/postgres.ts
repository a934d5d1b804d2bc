/**
 * Fresh PostgreSQL schemas for tests: one per test, created before the app opens it and dropped
 * (with everything in it) when the test ends, so test files can run in parallel on one server.
 *
 * `freshDatabaseUrl` is synchronous (tests call it inline, as they make a SQLite file), so the
 * `CREATE SCHEMA` runs on a worker thread with its own connection while this thread waits on a
 * shared flag: a millisecond or two per schema, without an external `psql`.
 */
import { randomBytes } from 'node:crypto'
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads'

/** The server the PostgreSQL run uses (`.ci/run` makes sure it is up). */
export const TEST_POSTGRES_URL = process.env.TESSERA_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Longer than any DDL on a healthy server; past it the test fails instead of hanging. */
const ADMIN_TIMEOUT_MS = 30_000

interface Admin {
  worker: Worker
  signal: Int32Array
  replies: MessagePort
}

let admin: Admin | undefined

function startAdmin (): Admin {
  const { port1: replies, port2 } = new MessageChannel()
  const signal = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(new URL('./postgres-admin-worker.mjs', import.meta.url), {
    workerData: { url: TEST_POSTGRES_URL, signal, replies: port2 },
    transferList: [port2],
    // Plain JavaScript: no need for the TypeScript loader the test runner put on this process.
    execArgv: []
  })
  // The worker (and its connection) must not keep a finished test process alive.
  worker.unref()
  replies.unref()
  return { worker, signal, replies }
}

/** Runs one statement on the test server and waits for it, synchronously. */
export function runSync (statement: string): void {
  admin ??= startAdmin()
  Atomics.store(admin.signal, 0, 0)
  admin.worker.postMessage(statement)
  if (Atomics.wait(admin.signal, 0, 0, ADMIN_TIMEOUT_MS) === 'timed-out') {
    throw new Error(`${TEST_POSTGRES_URL} did not answer \`${statement}\` within ${ADMIN_TIMEOUT_MS} ms`)
  }
  const reply = receiveMessageOnPort(admin.replies)?.message as { ok: boolean, message?: string } | undefined
  if (reply?.ok !== true) {
    throw new Error(`\`${statement}\` failed on ${TEST_POSTGRES_URL}: ${reply?.message ?? 'no reply'}`)
  }
}

/**
 * Creates an empty schema and returns a URL whose connections use it (and only it) through
 * `search_path`, and carry its name as `application_name`; `drop` removes the schema and every
 * table in it.
 */
export function createTestSchema (): { url: string, schema: string, drop: () => void } {
  const schema = `tessera_test_${process.pid}_${randomBytes(4).toString('hex')}`
  runSync(`CREATE SCHEMA ${schema}`)
  const url = new URL(TEST_POSTGRES_URL)
  url.searchParams.set('options', `-c search_path=${schema}`)
  // Named after the schema, so that a test can find (and cut) its own app's connections.
  url.searchParams.set('application_name', schema)
  return { url: url.toString(), schema, drop: () => runSync(`DROP SCHEMA IF EXISTS ${schema} CASCADE`) }
}
