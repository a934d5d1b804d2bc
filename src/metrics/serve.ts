/**
 * The service's `GET /metrics` (`TESSERA_METRICS=true`): Prometheus's text format, not behind
 * tessera's auth, on the service's port, or with `TESSERA_METRICS_PORT` on a port of its own (and
 * then not on the service's). It also times every request (by route pattern) and counts the
 * database errors requests meet. `buildApp` loads this module only when metrics are on: off, not
 * even prom-client is loaded.
 */
import { Type } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import type { AddressInfo } from 'node:net'
import type { PrometheusMetrics } from './prometheus.js'

export const METRICS_PATH = '/metrics'

export interface ServeMetricsOptions {
  metrics: PrometheusMetrics
  /** A port of its own, on `host`; `null`: the service's port. */
  port: number | null
  host: string
}

const route = {
  schema: {
    // An operator's endpoint, not part of the API: kept out of the OpenAPI document.
    hide: true,
    response: { 200: Type.String({ description: 'Prometheus text exposition format' }) }
  }
}

async function serveMetrics (app: FastifyInstance, { metrics, port, host }: ServeMetricsOptions): Promise<void> {
  const scrape = async (_request: unknown, reply: FastifyReply): Promise<string> => {
    reply.type(metrics.registry.contentType)
    return await metrics.registry.metrics()
  }

  // Synchronous hooks: no promise per request. Scrapes are not timed.
  app.addHook('onResponse', (request, reply, done) => {
    const pattern = request.routeOptions.url
    if (pattern !== METRICS_PATH) {
      metrics.httpDuration.observe({ method: request.method, route: pattern ?? 'unmatched', status_code: reply.statusCode }, reply.elapsedTime / 1000)
    }
    done()
  })
  app.addHook('onError', (_request, _reply, error, done) => {
    metrics.databaseError(error)
    done()
  })

  if (port === null) {
    app.get(METRICS_PATH, route, scrape)
    return
  }
  const server = Fastify({ logger: false })
  server.get(METRICS_PATH, route, scrape)
  // Bound as the service gets ready to listen, so that a port already taken stops it from starting.
  app.addHook('onReady', async () => {
    try {
      await server.listen({ port, host })
    } catch (error) {
      throw new Error(`cannot serve the metrics on ${host}:${port}: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
    }
    const { address, port: bound, family } = server.server.address() as AddressInfo
    const url = `http://${family === 'IPv6' ? `[${address}]` : address}:${bound}${METRICS_PATH}`
    app.log.info({ url }, `metrics served at ${url}`)
  })
  app.addHook('onClose', async () => await server.close())
}

export default fp(serveMetrics, { fastify: '5.x', name: 'tessera-metrics' })
