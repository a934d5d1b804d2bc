/**
 * The request path, top to bottom:
 * `Authorization` header → scheme and credentials → prefix and checksum → SHA-256 digest →
 * one indexed lookup joined to the user → expiry and active checks → `request.user`.
 *
 * Every refusal is a 401 with `WWW-Authenticate: Token` and a message of its own. A refusal has
 * no side effect on stored data, except that an expired token which is presented is deleted.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Credential, CredentialStore } from '../tokens/lookup.js'
import { DatabaseUnavailableError, isDatabaseUnavailable } from '../db/errors.js'
import type { Accounts } from '../tokens/service.js'
import { tokenDigest, type TokenFormat } from '../tokens/format.js'

/** The token a request was authenticated with (never its secret). */
export interface AuthToken {
  id: string
  createdAt: number
  expiresAt: number | null
}

export const AUTH_FAILURES = {
  missing: 'Authentication credentials were not provided: send "Authorization: Token <token>".',
  scheme: 'Unsupported authorization scheme: use "Authorization: Token <token>" (or "Bearer <token>").',
  noCredentials: 'Invalid token header: no credentials provided after the scheme.',
  spaces: 'Invalid token header: the token must not contain spaces.',
  characters: 'Invalid token header: the header holds characters that are not printable ASCII.',
  malformed: 'Invalid token: it is not a well-formed token (mistyped or truncated?).',
  unknown: 'Invalid token: unknown or revoked.',
  expired: 'Token has expired: log in again.',
  inactive: 'User inactive or deleted.'
} as const

export type AuthFailure = keyof typeof AUTH_FAILURES

/** Thrown by the hook; the error handler answers 401 with `WWW-Authenticate: Token`. */
export class AuthenticationError extends Error {
  readonly statusCode = 401
  constructor (readonly reason: AuthFailure) {
    super(AUTH_FAILURES[reason])
    this.name = 'AuthenticationError'
  }
}

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

export interface AuthenticatorDeps {
  format: TokenFormat
  credentials: CredentialStore
  accounts: Accounts
}

/** Builds the `preHandler` that protects a route and sets `request.user` and `request.authToken`. */
export function createAuthenticate ({ format, credentials, accounts }: AuthenticatorDeps) {
  async function resolve (header: string | undefined): Promise<Credential> {
    const token = readToken(header)
    if (!format.isWellFormed(token)) throw new AuthenticationError('malformed')

    const credential = await credentials.find(tokenDigest(token))
    if (credential === undefined) throw new AuthenticationError('unknown')

    const now = Date.now()
    if (credential.expiresAt !== null && credential.expiresAt <= now) {
      await accounts.expire(credential)
      throw new AuthenticationError('expired')
    }
    if (credential.deactivatedAt !== null) throw new AuthenticationError('inactive')
    if (accounts.isTouchDue(credential, now)) await accounts.touch(credential, now)
    return credential
  }

  return async function authenticate (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    let credential: Credential
    try {
      credential = await resolve(request.headers.authorization)
    } catch (error) {
      if (error instanceof AuthenticationError) reply.header('www-authenticate', 'Token')
      else if (isDatabaseUnavailable(error)) throw new DatabaseUnavailableError(error)
      throw error
    }
    // A copy: the credential may be cached and shared, and a handler may add to its request's user.
    request.user = { ...credential.user }
    request.authToken = { id: credential.tokenId, createdAt: credential.tokenCreatedAt, expiresAt: credential.expiresAt }
  }
}
