/**
 * The service's request log: one line per completed request, which is what operators read —
 *
 *   {"level":30,"time":…,"pid":…,"hostname":…,"reqId":"…","method":"GET","route":"/auth/me",
 *    "statusCode":200,"responseTime":0.41,"msg":"request completed"}
 *
 * — instead of Fastify's two (`incoming request` with the request, `request completed` with the
 * reply), and a third for a 404. At `debug`, Fastify's `incoming request` and `Route … not found`
 * lines come back, for following a request that has not finished yet (they name the URL).
 *
 * Why not Fastify's lines: the service's logger redacts secrets (`REDACTED_PATHS`), and pino runs
 * its redaction on every top-level value of every line (the `*.` paths), which made logging the
 * most expensive part of a request, ahead of authentication. So the two things done per request
 * avoid it where it cannot change anything, and nothing else does:
 * - the completed line is made only of values that cannot carry a secret — the method, the
 *   route's *pattern* (never the URL, whose query string could), the status, the time and the
 *   request id (a UUID or a sanitised `X-Request-Id`) — and is written by a sibling logger with no
 *   redaction, on the same destination, when `request.log` has `info` enabled;
 * - `request.log` (where handlers and errors log) keeps redaction: it is the service logger's child
 *   with the request id appended to its bindings directly, which is what pino's own `child` would
 *   produce after running the redaction over a request id that holds no secret.
 */
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { pino, type Logger } from 'pino'

const { chindingsSym } = pino.symbols

/** The label of the request id in every line of a request (Fastify's default). */
export const REQUEST_ID_LABEL = 'reqId'

/** Whether `logger` is a pino logger (tests may build the app with `logger: false`). */
function isPino (logger: FastifyBaseLogger): logger is FastifyBaseLogger & Logger {
  return typeof (logger as Partial<Logger>).bindings === 'function' && chindingsSym in logger
}

/** Whether `logger` writes lines of `level` (Fastify's logger for `logger: false` writes none). */
function enabled (logger: FastifyBaseLogger, level: 'debug' | 'info'): boolean {
  return isPino(logger) && logger.isLevelEnabled(level)
}

function unredacted (logger: FastifyBaseLogger): FastifyBaseLogger {
  return isPino(logger) ? logger.child({}, { redact: { paths: [] } }) : logger
}

/** One line per completed request; Fastify's `incoming request` line only at `debug`. */
export class RequestLog extends LogController {
  /**
   * Writes the completed lines: the service's logger without redaction (see the file's comment),
   * made on the first line, from the logger the app was built with.
   */
  #lines: FastifyBaseLogger | undefined

  constructor () {
    super({ requestIdLogLabel: REQUEST_ID_LABEL })
  }

  override incomingRequest (request: FastifyRequest, reply: FastifyReply): void {
    if (enabled(request.log, 'debug')) super.incomingRequest(request, reply)
  }

  /** Fastify's `Route GET:/… not found` names the URL, query string included: only at `debug`, like the incoming line. */
  override routeNotFound (request: FastifyRequest, reply: FastifyReply): void {
    if (enabled(request.log, 'debug')) super.routeNotFound(request, reply)
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    // An error here is the response stream's, after the status was sent: Fastify's line, redacted.
    if (error !== null && error !== undefined) return super.requestCompleted(error, request, reply)
    if (!enabled(request.log, 'info')) return
    this.#lines ??= unredacted(request.server.log)
    this.#lines.info({
      [REQUEST_ID_LABEL]: request.id,
      method: request.method,
      route: request.routeOptions.url ?? null,
      statusCode: reply.statusCode,
      responseTime: reply.elapsedTime
    }, 'request completed')
  }
}

/**
 * `request.log`: the service logger's child carrying the request id, made without running the
 * redaction over the id (see the file's comment). Route-level log options fall back to pino's
 * `child`.
 */
export const requestLogger: NonNullable<FastifyServerOptions['childLoggerFactory']> = function (logger, bindings, options) {
  const id = bindings[REQUEST_ID_LABEL]
  if (!isPino(logger) || typeof id !== 'string' || Object.keys(options).length > 0 || Object.keys(bindings).length !== 1) {
    return logger.child(bindings, options)
  }
  const child = logger.child({})
  const parent = (logger as unknown as Record<symbol, string>)[chindingsSym]
  ;(child as unknown as Record<symbol, string>)[chindingsSym] = `${parent},${JSON.stringify(REQUEST_ID_LABEL)}:${JSON.stringify(id)}`
  return child
}
