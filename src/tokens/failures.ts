/**
 * Why a token is refused. Each reason has its own message; the HTTP layer answers every one with
 * a 401 and `WWW-Authenticate: Token`, and `tokens.verify` with `null`.
 */
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

export class AuthenticationError extends Error {
  readonly statusCode = 401
  constructor (readonly reason: AuthFailure) {
    super(AUTH_FAILURES[reason])
    this.name = 'AuthenticationError'
  }
}
