/**
 * Why a token is refused. Each failure has its own message and code; the HTTP layer answers every
 * one with a 401 and a `WWW-Authenticate` challenge, and `tokens.verify` with `null`. A revoked
 * token also says how it was revoked (`reason`), from the tombstone its revocation left.
 */
import type { ErrorCode } from '../error-codes.js'

export const AUTH_FAILURES = {
  missing: 'Authentication credentials were not provided: send "Authorization: Token <token>".',
  scheme: 'Unsupported authorization scheme: use "Authorization: Token <token>" (or "Bearer <token>").',
  noCredentials: 'Invalid token header: no credentials provided after the scheme.',
  spaces: 'Invalid token header: the token must not contain spaces.',
  characters: 'Invalid token header: the header holds characters that are not printable ASCII.',
  malformed: 'Invalid token: it is not a well-formed token (mistyped or truncated?).',
  unknown: 'Invalid token: it was never issued here, or it ended too long ago to be remembered.',
  revoked: 'Token has been revoked: log in again.',
  expired: 'Token has expired: log in again.',
  inactive: 'User inactive or deleted.'
} as const

export type AuthFailure = keyof typeof AUTH_FAILURES

/** The code each failure answers with. */
export const AUTH_FAILURE_CODES = {
  missing: 'TOKEN_MISSING',
  scheme: 'TOKEN_MISSING',
  noCredentials: 'TOKEN_MISSING',
  spaces: 'TOKEN_MALFORMED',
  characters: 'TOKEN_MALFORMED',
  malformed: 'TOKEN_MALFORMED',
  unknown: 'TOKEN_INVALID',
  revoked: 'TOKEN_REVOKED',
  expired: 'TOKEN_EXPIRED',
  inactive: 'USER_INACTIVE'
} as const satisfies Record<AuthFailure, ErrorCode>

/** How a token was revoked: the `reason` of a `TOKEN_REVOKED`, with the message it answers with. */
export const REVOCATION_REASONS = {
  logout: 'Token has been revoked: it was logged out.',
  logout_all: 'Token has been revoked: its user logged out everywhere.',
  logout_others: 'Token has been revoked: its user logged out of every other device.',
  revoked: 'Token has been revoked: its session was ended by its user or an administrator.',
  password_changed: "Token has been revoked: its user's password was changed.",
  evicted: 'Token has been revoked: a newer session took its place (the token limit).',
  user_deactivated: 'Token has been revoked: its user was deactivated.'
} as const

export type RevocationReason = keyof typeof REVOCATION_REASONS

/** Every reason, in the table's order (for the `enum` of the error schema). */
export const REVOCATION_REASON_LIST = Object.keys(REVOCATION_REASONS) as RevocationReason[]

export function isRevocationReason (value: unknown): value is RevocationReason {
  return typeof value === 'string' && Object.hasOwn(REVOCATION_REASONS, value)
}

export class AuthenticationError extends Error {
  readonly statusCode = 401
  readonly code: ErrorCode
  /** How the token was revoked, for `revoked` alone. */
  readonly reason: RevocationReason | undefined

  constructor (readonly failure: AuthFailure, reason?: RevocationReason) {
    super(reason === undefined ? AUTH_FAILURES[failure] : REVOCATION_REASONS[reason])
    this.name = 'AuthenticationError'
    this.code = AUTH_FAILURE_CODES[failure]
    this.reason = reason
  }
}
