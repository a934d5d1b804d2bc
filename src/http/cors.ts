/**
 * CORS for tessera's routes, for apps that run in a browser or a web view (Capacitor, Ionic,
 * Cordova, a single-page app on another origin): `corsOrigins` (`TESSERA_CORS_ORIGINS`) lists the
 * origins whose pages may call them; with none (the default) tessera sends no CORS header at all.
 *
 * An allowed origin is echoed in `Access-Control-Allow-Origin` (never `*`), with `Vary: Origin`;
 * a preflight is answered 204 with `Authorization` and `Content-Type` allowed. Credentials mode is
 * never allowed: a token travels in `Authorization`, set by the page's own code, so no cookie or
 * browser-kept credential is ever needed. A refused origin (or a request without one) gets no CORS
 * header, and its preflight a 404, as if CORS were off.
 */
import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'

/** How long a browser may keep a preflight's answer, in seconds. */
const PREFLIGHT_MAX_AGE_S = 600

/** Adds CORS to the routes of `scope` (tessera's), for `origins`; nothing when there are none. */
export async function allowOrigins (scope: FastifyInstance, origins: readonly string[]): Promise<void> {
  if (origins.length === 0) return
  const allowed = new Set(origins)
  await scope.register(cors, {
    // A function rather than the list: a refused origin then gets no CORS header at all, and its
    // preflight no answer but the 404 of a route that is not there (the list would answer it 204).
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin) ? origin : false),
    methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type'],
    // What a page needs to read of an answer: why a token was refused, when to retry, the request's id.
    exposedHeaders: ['WWW-Authenticate', 'Retry-After', 'X-Request-Id'],
    credentials: false,
    maxAge: PREFLIGHT_MAX_AGE_S
  })
}
