/**
 * The ceiling: bare Fastify 5 with one hello route and nothing else (no logger, no hooks, no
 * schema), as every Fastify benchmark measures it. Forked by `bench/target.ts` (`startHello`); it
 * speaks the same IPC as `bench/server.ts`: its address once listening, its CPU time on request.
 */
import Fastify from 'fastify'
import type { ServerUsage, UsageRequest } from './ipc.js'

const app = Fastify()
app.get('/', () => ({ hello: 'world' }))
const address = await app.listen({ port: 0, host: '127.0.0.1' })

process.on('message', ({ id }: UsageRequest) => {
  const cpu = process.cpuUsage()
  const usage: ServerUsage = { id, cpuMicros: cpu.user + cpu.system, peakRssBytes: process.resourceUsage().maxRSS * 1024 }
  if (process.connected) process.send?.(usage)
})
process.on('disconnect', () => { void app.close().then(() => process.exit(0)) })
process.send?.({ address })
