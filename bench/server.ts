/**
 * The server under test: the real tessera service (`buildApp`, configured from the environment
 * like `tessera serve`), plus two routes that share one handler, so that the only difference
 * between them is the authentication hook:
 *
 *   GET /bench/open        the handler alone: the baseline
 *   GET /bench/protected   `preHandler: app.authenticate`, then the same handler
 *
 * With `BENCH_USERS=app`, the service is instead an application embedding tessera with users of
 * its own (`bench/app-users.ts`), and the handler answers with the application user's name.
 *
 * Forked by `bench/run.ts`. It reports its address over IPC once listening, and answers
 * usage requests with its own CPU time and memory, so that the runner can charge server CPU
 * per request without trusting the load generator's clock.
 */
import { Type } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { appUserName, buildAppUsersApp } from './app-users.js'
import type { ServerUsage, UsageRequest } from './ipc.js'

const config = loadConfig(process.env)
const appUsers = process.env.BENCH_USERS === 'app'
const app = appUsers ? await buildAppUsersApp(config) : await buildApp(config)

const handler = appUsers
  ? async (request: FastifyRequest) => ({ user: request.user === null ? null : appUserName(request.user) })
  : async (request: FastifyRequest) => ({ user: request.user?.username ?? null })
const schema = { response: { 200: Type.Object({ user: Type.Union([Type.String(), Type.Null()]) }) } }
app.get('/bench/open', { schema }, handler)
app.get('/bench/protected', { schema, preHandler: app.authenticate }, handler)

const address = await app.listen({ port: 0, host: '127.0.0.1' })

process.on('message', ({ id }: UsageRequest) => {
  const cpu = process.cpuUsage()
  const usage: ServerUsage = { id, cpuMicros: cpu.user + cpu.system, peakRssBytes: process.resourceUsage().maxRSS * 1024 }
  if (process.connected) process.send?.(usage)
})
process.on('disconnect', () => { void app.close().then(() => process.exit(0)) })
process.send?.({ address })
