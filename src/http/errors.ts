/**
 * How tessera's routes answer an error: always `{statusCode, error, message}`, whatever error
 * handler the application set for its own routes (tessera's routes live in a scope of their own
 * with this handler). Headers set before the error (`WWW-Authenticate`, `Retry-After`), or carried
 * by it as `headers`, are sent.
 */
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/errors.js'

function statusOf (error: FastifyError): number {
  const status = error.statusCode
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500
}

export async function answerError (error: FastifyError, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (isDatabaseUnavailable(error)) {
    request.log.error({ err: error }, 'database unavailable')
    await reply.code(503).send({ statusCode: 503, error: STATUS_CODES[503], message: DATABASE_UNAVAILABLE_MESSAGE })
    return
  }
  const statusCode = statusOf(error)
  // As Fastify's own handler does: an error may carry the headers of its answer (`Retry-After`).
  const headers = (error as { headers?: unknown }).headers
  if (typeof headers === 'object' && headers !== null) reply.headers(headers as Record<string, string>)
  // An error that says what it is (an HTTP error, a validation error) tells the client; anything
  // else is a bug, logged in full and answered without its details.
  const explained = error.statusCode !== undefined
  if (statusCode >= 500) request.log.error({ err: error }, explained ? error.message : 'unexpected error')
  await reply.code(statusCode).send({
    statusCode,
    error: STATUS_CODES[statusCode] ?? 'Error',
    message: explained ? error.message : 'Internal Server Error'
  })
}
