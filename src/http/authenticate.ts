/**
 * The request path, top to bottom:
 * `Authorization` header → scheme and credentials (here) → prefix and checksum → SHA-256 digest →
 * one indexed lookup → expiry → the user store → `request.user` (`TokenService.resolve`).
 *
 * Every refusal is a 401 with a code and a message of its own, and a `WWW-Authenticate`
 * challenge (`refusalChallenge`). A refusal has no side effect on stored data, except that an
 * expired token which is presented is deleted (leaving its tombstone).
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { DatabaseUnavailableError, isDatabaseUnavailable } from '../db/errors.js'
import type { AppUser } from '../index.js'
import { AuthenticationError } from '../tokens/failures.js'
import type { AuthToken, TokenService } from '../tokens/service.js'

const SPACE = 32
const TILDE = 126

/**
 * Extracts the token from an `Authorization` header.
 * Node hands header bytes over as latin1, so bytes of invalid UTF-8 show up as characters above
 * `~`, and control characters as characters below the space: both are refused here.
 * @throws {AuthenticationError} naming what is wrong with the header.
 */
export function readToken (header: string | undefined): string {
  if (header === undefined || header === '') throw new AuthenticationError('missing')
  for (let i = 0; i < header.length; i++) {
    const c = header.charCodeAt(i)
    if (c < SPACE || c > TILDE) throw new AuthenticationError('characters')
  }
  const space = header.indexOf(' ')
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase()
  if (scheme !== 'token' && scheme !== 'bearer') throw new AuthenticationError('scheme')
  const credentials = space === -1 ? '' : header.slice(space + 1).trim()
  if (credentials === '') throw new AuthenticationError('noCredentials')
  if (credentials.includes(' ')) throw new AuthenticationError('spaces')
  return credentials
}

/**
 * The challenge of a 401. Without a token (none sent, or in another scheme), RFC 6750 3 asks for
 * the scheme alone: `Token`. A token that was sent and refused is `invalid_token`, with the reason
 * in words: `Token error="invalid_token", error_description="Token has expired: log in again."`.
 */
export function refusalChallenge (error: AuthenticationError): string {
  if (error.code === 'TOKEN_MISSING') return 'Token'
  // The description is a quoted string of printable ASCII without `"` or `\` (RFC 6750 3).
  return `Token error="invalid_token", error_description="${error.message.replace(/["\\]/g, "'")}"`
}

/** The request decorators the hook sets: `user` (renamable with `decoratorName`) and `authToken`. */
interface AuthenticatedRequest {
  authToken: AuthToken | null
}

/** Builds the `preHandler` that protects a route and sets the request's user and `request.authToken`. */
export function createAuthenticate (tokens: TokenService<AppUser>, userDecorator: string) {
  return async function authenticate (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    let resolved
    try {
      // The address the rate limits see (through TESSERA_TRUST_PROXY), recorded as the session's last.
      resolved = await tokens.resolve(readToken(request.headers.authorization), { address: request.ip })
    } catch (error) {
      if (error instanceof AuthenticationError) reply.header('www-authenticate', refusalChallenge(error))
      else if (isDatabaseUnavailable(error)) throw new DatabaseUnavailableError(error)
      throw error
    }
    (request as unknown as Record<string, unknown>)[userDecorator] = resolved.user;
    (request as unknown as AuthenticatedRequest).authToken = resolved.token
  }
}
