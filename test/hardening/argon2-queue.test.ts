/**
 * argon2 work is bounded (audit item 7): past `argon2QueueLimit` waiting operations a login answers
 * 503 with `Retry-After` at once instead of queueing without end, and one address flooding the
 * queue does not lock other clients out.
 */
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { PASSWORD, buildTestApp, register, uniqueName } from '../helpers/app.js'

interface Timed {
  response: LightMyRequestResponse
  ms: number
}

const timed = async (request: Promise<LightMyRequestResponse>): Promise<Timed> => {
  const start = performance.now()
  const response = await request
  return { response, ms: performance.now() - start }
}

t.test('a flood of logins from one address: 503 at once past the bound, and another address still logs in', async (t) => {
  const queueLimit = 4
  const { app } = await buildTestApp(t, { argon2QueueLimit: queueLimit })
  const username = uniqueName('patient')
  await register(app, username)

  const flood = Array.from({ length: 200 }, async () => await timed(app.inject({
    method: 'POST', url: '/auth/login', remoteAddress: '10.7.0.1', payload: { username: uniqueName('flood'), password: 'wrong password' }
  })))
  // Started last: it reaches the argon2 queue when the flood has filled it.
  const patient = timed(app.inject({ method: 'POST', url: '/auth/login', remoteAddress: '10.7.1.1', payload: { username, password: PASSWORD } }))
  const floodResults = await Promise.all(flood)
  const patientResult = await patient

  const byStatus = (status: number): Timed[] => floodResults.filter(({ response }) => response.statusCode === status)
  const served = byStatus(401)
  const refused = byStatus(503)
  t.equal(served.length + refused.length, floodResults.length, 'every flood login answered 401 or 503, none 500')
  t.ok(served.length >= 1 && refused.length >= 1, `${served.length} served, ${refused.length} refused`)
  for (const { response } of refused) {
    t.same(response.json(), { statusCode: 503, error: 'Service Unavailable', message: response.json().message, code: 'SERVER_BUSY' })
    t.equal(response.headers['retry-after'], '1')
  }
  t.match(refused[0]?.response.json().message, /^Too many password checks are waiting; retry in 1 s\.$/)
  // A refusal happens only when the queue is full, and the operations then waiting finish later.
  const slowest = (results: Timed[]): number => Math.max(...results.map(({ ms }) => ms))
  t.ok(slowest(refused) < slowest(served), `refused without waiting for the queue: 503s within ${slowest(refused).toFixed(0)} ms, ` +
    `the last 401 after ${slowest(served).toFixed(0)} ms`)

  t.equal(patientResult.response.statusCode, 200, 'a client at another address gets its turn')
  t.ok(patientResult.ms < 5000, `in ${patientResult.ms.toFixed(0)} ms`)
})

t.test('the bound is argon2QueueLimit: with room for the whole flood, nothing is refused', async (t) => {
  const { app } = await buildTestApp(t, { argon2QueueLimit: 100 })
  const codes = await Promise.all(Array.from({ length: 60 }, async () => (await app.inject({
    method: 'POST', url: '/auth/login', remoteAddress: '10.7.0.1', payload: { username: uniqueName('flood'), password: 'wrong password' }
  })).statusCode))
  t.same(new Set(codes), new Set([401]))
})

t.test('the queue takes turns between clients and, when full, refuses the busiest one', async (t) => {
  const started: string[] = []
  const releases: Array<() => void> = []
  const { Passwords, PasswordQueueFullError, onBehalfOf } = await t.mockImport<typeof import('../../src/users/builtin/passwords.js')>(
    '../../src/users/builtin/passwords.js', {
    '@node-rs/argon2': {
      hash: async () => '$argon2id$stand-in',
      // Each verification runs until the test releases it, and records whose it was.
      verify: async (_hash: string, password: string) => {
        started.push(password)
        await new Promise<void>((resolve) => releases.push(resolve))
        return false
      }
    }
  })
  const passwords = new Passwords({ concurrency: 1, queueLimit: 4 })
  const check = (client: string, label: string): Promise<string> =>
    onBehalfOf(client, () => passwords.verify('a hash', label)).then(() => `${label} done`, (error: unknown) =>
      error instanceof PasswordQueueFullError ? `${label} refused` : `${label} failed`)
  const flush = async (): Promise<void> => await new Promise((resolve) => setImmediate(resolve))

  const outcomes = [check('a', 'a1'), check('a', 'a2'), check('a', 'a3'), check('a', 'a4'), check('a', 'a5')]
  await flush()
  t.same(started, ['a1'], 'one runs, four wait: the queue is full')
  t.equal(await check('a', 'a6'), 'a6 refused', 'the busiest client is refused at once')
  const settled = async (outcome: Promise<string> | undefined): Promise<string> =>
    await Promise.race([outcome ?? Promise.resolve('missing'), flush().then(() => 'waiting')])
  outcomes.push(check('b', 'b1'))
  t.equal(await settled(outcomes[4]), 'a5 refused', "a newcomer takes the place of the busiest client's newest")
  t.equal(await settled(outcomes[3]), 'waiting')
  outcomes.push(check('c', 'c1'))
  t.equal(await settled(outcomes[3]), 'a4 refused')

  for (let i = 0; i < 5; i++) {
    releases.shift()?.()
    await flush()
  }
  t.same(started, ['a1', 'a2', 'b1', 'c1', 'a3'], 'then the clients take turns')
  t.same(await Promise.all(outcomes), ['a1 done', 'a2 done', 'a3 done', 'a4 refused', 'a5 refused', 'b1 done', 'c1 done'])
})
