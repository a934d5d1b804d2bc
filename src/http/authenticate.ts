/**
 * The request path, top to bottom:
 * `Authorization` header → scheme and credentials (here) → prefix and checksum → SHA-256 digest →
 * one indexed lookup → expiry → the user store → `request.user` (`TokenService.resolve`).
 *
 * Every refusal is a 401 with `WWW-Authenticate: Token` and a message of its own. A refusal has
 * no side effect on stored data, except that an expired token which is presented is deleted.
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
      if (error instanceof AuthenticationError) reply.header('www-authenticate', 'Token')
      else if (isDatabaseUnavailable(error)) throw new DatabaseUnavailableError(error)
      throw error
    }
    (request as unknown as Record<string, unknown>)[userDecorator] = resolved.user;
    (request as unknown as AuthenticatedRequest).authToken = resolved.token
  }
}
