// The worker behind `test/helpers/postgres.ts`: runs one SQL statement at a time on the test
// server for the main thread, which blocks on `signal` until the reply is posted. Plain
// JavaScript, so that it loads without the test runner's TypeScript loader.
import { parentPort, workerData } from 'node:worker_threads'
import pg from 'pg'

const { url, signal, replies } = workerData
let client

async function connection () {
  if (client === undefined) {
    const fresh = new pg.Client({ connectionString: url, application_name: 'tessera-tests' })
    // A connection the server drops is replaced on the next statement.
    fresh.on('error', () => { if (client === fresh) client = undefined })
    await fresh.connect()
    client = fresh
  }
  return client
}

parentPort.on('message', async (statement) => {
  let reply
  try {
    await (await connection()).query(statement)
    reply = { ok: true }
  } catch (error) {
    reply = { ok: false, message: error instanceof Error ? error.message : String(error) }
  }
  replies.postMessage(reply)
  Atomics.store(signal, 0, 1)
  Atomics.notify(signal, 0)
})
