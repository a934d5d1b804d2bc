/**
 * How tessera's routes answer an error: always `{statusCode, error, message, code}` (and `reason`
 * for a revoked token), whatever error handler the application set for its own routes (tessera's
 * routes live in a scope of their own with this handler). Headers set before the error
 * (`WWW-Authenticate`, `Retry-After`), or carried by it as `headers`, are sent.
 *
 * `code` comes from the error when it carries one of tessera's (`ApiError`, `AuthenticationError`,
 * …); Fastify's own errors are given theirs here, so that no `FST_ERR_*` ever reaches a client.
 */
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/errors.js'
import { isErrorCode, type ErrorCode } from '../error-codes.js'
import { AuthenticationError } from '../tokens/failures.js'

/** Fastify's errors (and @fastify/formbody's, which uses them) by their code. */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_EMPTY_JSON_BODY: 'VALIDATION_FAILED',
  FST_ERR_CTP_INVALID_JSON_BODY: 'VALIDATION_FAILED',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
  FST_ERR_VALIDATION: 'VALIDATION_FAILED',
  FST_ERR_BAD_URL: 'VALIDATION_FAILED',
  FST_ERR_INVALID_URL: 'VALIDATION_FAILED',
  FST_ERR_MAX_PARAM_LENGTH: 'VALIDATION_FAILED',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_NOT_FOUND: 'NOT_FOUND'
}

/** Any other error, by its status. */
const STATUS_CODE_NAMES: Readonly<Record<number, ErrorCode>> = {
  400: 'VALIDATION_FAILED',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'SERVER_BUSY'
}

function statusOf (error: FastifyError): number {
  const status = error.statusCode
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500
}

/** The code of an error that carries none of tessera's, by its status. */
function codeOfStatus (status: number): ErrorCode {
  return STATUS_CODE_NAMES[status] ?? (status >= 500 ? 'INTERNAL_ERROR' : 'REQUEST_REFUSED')
}

/** The code of an error with this status (see the table in error-codes.ts). */
export function codeOf (error: FastifyError, status: number): ErrorCode {
  if (isErrorCode(error.code)) return error.code
  if (error.validation !== undefined) return 'VALIDATION_FAILED'
  return FASTIFY_CODES[error.code] ?? codeOfStatus(status)
}

/** The body of an error answer. */
export function errorBody (statusCode: number, code: ErrorCode, message: string): { statusCode: number, error: string, message: string, code: ErrorCode } {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, code }
}

export async function answerError (error: FastifyError, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (isDatabaseUnavailable(error)) {
    request.log.error({ err: error }, 'database unavailable')
    await reply.code(503).send(errorBody(503, 'DATABASE_UNAVAILABLE', DATABASE_UNAVAILABLE_MESSAGE))
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
  const body = errorBody(statusCode, explained ? codeOf(error, statusCode) : 'INTERNAL_ERROR', explained ? error.message : 'Internal Server Error')
  const reason = error instanceof AuthenticationError ? error.reason : undefined
  await reply.code(statusCode).send(reason === undefined ? body : { ...body, reason })
}

/**
 * The service's answer to a request that Node's HTTP parser refused before Fastify saw it (bad
 * bytes, headers over 16 KiB, a timeout): Fastify's own answer (`clientErrorHandler`), in
 * tessera's shape.
 */
export function answerClientError (error: Error & { code?: string }, socket: Duplex): void {
  // A reset connection has nobody left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const [status, message] = error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? [408, 'Client Timeout']
    : error.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Exceeded maximum allowed HTTP header size'] : [400, 'Client Error']
  const body = JSON.stringify(errorBody(status, codeOfStatus(status), message))
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\n\r\n${body}`)
  }
  socket.destroy(error)
}

/**
 * The service's answer to a request no route matches: `404 NOT_FOUND` in tessera's shape (the
 * path only, never the query string, which may hold anything).
 */
export async function answerNotFound (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const path = request.url.split('?', 1)[0]
  await reply.code(404).send(errorBody(404, 'NOT_FOUND', `Route ${request.method}:${path} not found`))
}
