/**
 * Response headers that keep what tessera sends where it belongs:
 * - `Cache-Control: no-store` on every response of tessera's `/auth` routes: they carry tokens,
 *   session lists and the user, which no browser, proxy or CDN cache may keep (RFC 6749 5.1 asks
 *   the same of token responses). Every response, errors included, so that no route is forgotten;
 * - `X-Content-Type-Options: nosniff` on every response of the service, so that a browser never
 *   runs a JSON body, an error or a documentation asset as something else than its declared type.
 *
 * `onSend` runs for every reply Fastify sends in the scope: routes, errors thrown by hooks, 404s.
 */
import type { FastifyInstance } from 'fastify'

/** Adds `Cache-Control: no-store` to every response of `scope` (tessera's `/auth` scope). */
export function noStore (scope: FastifyInstance): void {
  scope.addHook('onSend', async (_request, reply, payload) => {
    reply.header('cache-control', 'no-store')
    return payload
  })
}

/**
 * Adds `X-Content-Type-Options: nosniff` to every response of `app` and of the scopes registered
 * in it after this call: call it first.
 */
export function noSniff (app: FastifyInstance): void {
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff')
    return payload
  })
}
