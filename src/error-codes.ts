/**
 * The `code` of every error tessera's routes answer: a stable, machine-readable string for a
 * client to act on (the `message` beside it is for people, and may change). One table: each code,
 * the status it comes with, and what it means (the README and the OpenAPI document say the same).
 *
 * ```ts
 * if (body.code === 'TOKEN_EXPIRED') await refreshLogin()
 * ```
 */
export const ERROR_CODES = {
  TOKEN_MISSING: { status: 401, meaning: 'No token was sent: no `Authorization` header, another scheme than `Token` or `Bearer`, or a scheme without a token' },
  TOKEN_MALFORMED: { status: 401, meaning: 'What was sent is not a token: spaces or characters that are not printable ASCII in the header, a wrong prefix, length or checksum (mistyped, truncated)' },
  TOKEN_INVALID: { status: 401, meaning: 'A well-formed token that this service never issued, or one that ended longer ago than it remembers (`TESSERA_REVOCATION_MEMORY`)' },
  TOKEN_EXPIRED: { status: 401, meaning: 'The token has expired: log in again' },
  TOKEN_REVOKED: { status: 401, meaning: 'The token was revoked; `reason` says how (logout, logout_all, logout_others, revoked, password_changed, evicted, user_deactivated)' },
  USER_INACTIVE: { status: 401, meaning: "The token's user is deactivated or gone; at login: the right password of a deactivated user" },
  INSUFFICIENT_SCOPE: { status: 403, meaning: 'The token lacks a scope the route needs (or a scope it tried to grant)' },
  BAD_CREDENTIALS: { status: 401, meaning: 'Login: unknown user or wrong password (or none given); 403 on a password change: the current password is wrong' },
  TOKEN_LIMIT_REACHED: { status: 403, meaning: 'The user holds as many live tokens as `TESSERA_TOKEN_LIMIT_PER_USER` allows: log out of another device first' },
  USERNAME_TAKEN: { status: 409, meaning: 'Registration: a user with that username (compared case-insensitively) exists' },
  REGISTRATION_CLOSED: { status: 403, meaning: 'Registration is closed (`TESSERA_REGISTRATION=closed`)' },
  RATE_LIMITED: { status: 429, meaning: 'Too many requests: retry after `Retry-After` seconds' },
  VALIDATION_FAILED: { status: 400, meaning: 'The request is not valid: its body, parameters or query (an empty or invalid JSON body included)' },
  PAYLOAD_TOO_LARGE: { status: 413, meaning: 'The body is over the size limit (16 KiB)' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, meaning: 'The body is not JSON (or, for introspection, a form)' },
  NOT_FOUND: { status: 404, meaning: 'No such route, or no such session of yours' },
  DATABASE_UNAVAILABLE: { status: 503, meaning: 'The database cannot serve right now: retry shortly' },
  SERVER_BUSY: { status: 503, meaning: 'Too much work is waiting (password checks): retry after `Retry-After` seconds' },
  REQUEST_REFUSED: { status: 400, meaning: 'Any other refusal (4xx) not made by tessera itself, e.g. by a hook of the embedding application' },
  INTERNAL_ERROR: { status: 500, meaning: 'A bug: the server logged it' }
} as const satisfies Record<string, { status: number, meaning: string }>

export type ErrorCode = keyof typeof ERROR_CODES

/** Every code, in the table's order (for the `enum` of the error schema). */
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[]

export function isErrorCode (value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value)
}

/**
 * An error a route answers on purpose: its `code`, the status that code comes with (or
 * `options.status`), a message for people, and optionally headers to send with it.
 *
 * ```ts
 * throw new ApiError('USERNAME_TAKEN', 'A user with that username already exists.')
 * ```
 */
export class ApiError extends Error {
  readonly statusCode: number
  readonly headers: Record<string, string> | undefined

  constructor (readonly code: ErrorCode, message: string, options: { status?: number, headers?: Record<string, string> } = {}) {
    super(message)
    this.name = 'ApiError'
    this.statusCode = options.status ?? ERROR_CODES[code].status
    this.headers = options.headers
  }
}
