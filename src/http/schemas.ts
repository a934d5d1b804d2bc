/**
 * The TypeBox schemas of tessera's HTTP API. Each route declares its body, params and every
 * response code with these: requests are validated strictly (no type coercion), responses are
 * serialised fast and stripped of anything not declared, and @fastify/swagger documents them.
 *
 * The shapes a client meets again and again (`User`, `Session`, `Error`, `IssuedToken`, …) carry
 * an `$id`: the OpenAPI document names them as components and refers to them, so that code
 * generators emit one named type each (`openapi.ts`). A response whose whole body is such a
 * shape is declared with `answer`, which also documents its headers.
 */
import { Type, type Static, type TSchema } from '@fastify/type-provider-typebox'
import { ACTIVITY_PAGE_DEFAULT, ACTIVITY_PAGE_MAX, ACTIVITY_TYPES } from '../activity/log.js'
import { Value } from 'typebox/value'
import { DEVICE_MAX_LENGTH, UNPRINTABLE_CLASS } from './device.js'
import { ERROR_CODES, ERROR_CODE_LIST } from '../error-codes.js'
import { REVOCATION_REASONS, REVOCATION_REASON_LIST } from '../tokens/failures.js'
import { MAX_SCOPES, SCOPE_SCHEMA_PATTERN } from '../tokens/scopes.js'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../users/builtin/passwords.js'

export const USERNAME_MAX_LENGTH = 150

/** The shape of every error (see `answerError`). */
export const ErrorResponse = Type.Object({
  statusCode: Type.Integer({ minimum: 400, maximum: 599 }),
  error: Type.String(),
  message: Type.String({ description: 'What went wrong, for people (may change)' }),
  code: Type.Enum(ERROR_CODE_LIST, {
    description: 'What went wrong, for programs: stable. ' + ERROR_CODE_LIST.map((code) => `${code}: ${ERROR_CODES[code].meaning}.`).join(' ')
  }),
  reason: Type.Optional(Type.Enum(REVOCATION_REASON_LIST, {
    description: 'With TOKEN_REVOKED: how the token was revoked. ' + REVOCATION_REASON_LIST.map((reason) => `${reason}: ${REVOCATION_REASONS[reason]}`).join(' ')
  }))
}, { $id: 'Error', description: 'An error: the HTTP status, its name, what went wrong, and its code' })

/**
 * Letters, digits and `@ . + - _`. Format characters (bidirectional controls, zero-width spaces
 * and joiners) are not letters (they are Cf), so they never pass; the four letters that print as
 * nothing (the Hangul fillers U+115F, U+1160, U+3164, U+FFA0, default-ignorable) are refused too,
 * so that `admin` followed by a filler cannot pass for `admin` in a user list.
 */
export const Username = Type.String({
  minLength: 1,
  maxLength: USERNAME_MAX_LENGTH,
  pattern: '^(?:(?!\\p{Default_Ignorable_Code_Point})[\\p{L}\\p{N}@.+_-])+$',
  description: '1-150 letters, digits and @ . + - _; unique regardless of case'
})

export const Password = Type.String({
  minLength: PASSWORD_MIN_LENGTH,
  maxLength: PASSWORD_MAX_LENGTH,
  description: `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`
})

/**
 * Free text that is stored and shown back (device labels, email addresses) holds no control,
 * format or separator characters (see `UNPRINTABLE_CLASS`): PostgreSQL refuses NUL in any text
 * value, and a label is printed in session lists and terminals, where a bidirectional override
 * would make it lie about itself.
 */
const PRINTABLE_TEXT = `^[^${UNPRINTABLE_CLASS}]*$`

export const Device = Type.String({
  minLength: 1,
  maxLength: DEVICE_MAX_LENGTH,
  pattern: PRINTABLE_TEXT,
  description: 'A label for the session, e.g. "Pixel 8", without control, bidirectional or invisible characters'
})

/** What is wrong with a device label, in words, or `undefined`: the routes' own check, for the CLI and `tokens.rename`. */
export function deviceProblem (text: string): string | undefined {
  return Value.Check(Device, text) ? undefined : `expected 1 to ${DEVICE_MAX_LENGTH} characters, without control, bidirectional or invisible characters`
}

/**
 * The device of a login or a registration. Empty (or blank) counts as absent, as Dio and shared
 * request builders send it: the label is then derived from the User-Agent.
 */
const NewSessionDevice = Type.String({
  maxLength: DEVICE_MAX_LENGTH,
  pattern: PRINTABLE_TEXT,
  description: 'A label for this session, e.g. "Pixel 8", without control, bidirectional or invisible characters; ' +
    'derived from the User-Agent when absent or empty'
})

export const User = Type.Object({
  id: Type.Integer(),
  username: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' })
}, { $id: 'User', description: 'A user' })

const Expiry = Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
  description: 'When the token expires (ISO-8601, UTC), or null if it never does'
})

/**
 * The user as an application's own store shows it (`users.serialize`): whatever object it returns.
 * @fastify/swagger documents it as an object; the serializer writes every property it holds.
 */
export const SerializedUser = Type.Object({}, {
  $id: 'User',
  additionalProperties: true,
  description: "The user, as the application's `serialize` shows it (default `{ id }`)"
})

/**
 * The schemas that show a user: the built-in user, or an application's serialized one (an
 * application's tessera has one or the other, so each name stands for one shape).
 */
export function userSchemas<U extends TSchema> (user: U) {
  return {
    MeResponse: Type.Object({ user, session: CurrentSession }, { description: 'The user the token belongs to, and the token\'s own session' }),
    IssuedToken: Type.Object({
      user,
      token: Type.String({ description: 'The token: shown this once, stored only as a digest' }),
      tokenId: Type.String({ format: 'uuid', description: 'The public id of the token, for the sessions API' }),
      expiry: Expiry,
      scopes: Scopes
    }, { $id: 'IssuedToken', description: 'A token just issued to a user, with the user: the only time its secret is shown' })
  }
}

export const RegisterBody = Type.Object({
  username: Username,
  password: Password,
  email: Type.Optional(Type.String({ format: 'email', maxLength: 254, pattern: PRINTABLE_TEXT })),
  device: Type.Optional(NewSessionDevice)
})
// eslint-disable-next-line @typescript-eslint/no-redeclare -- TypeBox's idiom: the schema and its static type share one name
export type RegisterBody = Static<typeof RegisterBody>

/** Login takes these or HTTP Basic credentials; lengths are loose so that a bad guess is a 401. */
export const LoginBody = Type.Object({
  username: Type.Optional(Type.String({ minLength: 1, maxLength: USERNAME_MAX_LENGTH })),
  password: Type.Optional(Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH })),
  device: Type.Optional(NewSessionDevice)
})
// eslint-disable-next-line @typescript-eslint/no-redeclare -- TypeBox's idiom: the schema and its static type share one name
export type LoginBody = Static<typeof LoginBody>

export const Scope = Type.String({
  pattern: SCOPE_SCHEMA_PATTERN,
  description: 'A scope: 1-64 characters of a-z 0-9 _ . : -, or * (every scope)'
})

export const Scopes = Type.Array(Scope, { minItems: 1, maxItems: MAX_SCOPES, description: 'What the token may do, sorted; ["*"]: everything' })

const LastUsedAt = Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
  description: 'Its last recorded use (recorded at most once per TESSERA_MIN_REFRESH_INTERVAL), or null if never'
})

/** What `GET /auth/me` shows of the session (the token) making the request. */
export const CurrentSession = Type.Object({
  id: Type.String({ format: 'uuid', description: 'The token\'s public id, as GET /auth/tokens shows it' }),
  device: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  expiry: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'When the token expires (ISO-8601, UTC) as this request left it (slid, with auto-refresh), or null if it never does'
  }),
  lastUsedAt: LastUsedAt,
  scopes: Scopes
}, { $id: 'CurrentSession', description: 'The session of the token making this request' })

const UnknownOr = (description: string) => Type.Union([Type.String(), Type.Null()], { description })

export const Session = Type.Object({
  id: Type.String({ format: 'uuid' }),
  device: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  expiry: Expiry,
  lastUsedAt: LastUsedAt,
  scopes: Scopes,
  createdIp: UnknownOr('The client address the token was issued to; null when unknown (made by the CLI, or before addresses were recorded)'),
  lastUsedIp: UnknownOr('The client address of its last recorded use; null when unknown or never used'),
  userAgent: UnknownOr('The User-Agent it was issued to (at most 512 characters); null when unknown'),
  current: Type.Boolean({ description: 'Whether this is the token the request was made with' })
}, { $id: 'Session', description: "One of the user's live tokens (one per device), without its secret" })

export const RenameTokenBody = Type.Object({
  device: Device
})

export const CreateTokenBody = Type.Object({
  device: Device,
  scopes: Scopes,
  ttl: Type.Optional(Type.String({
    pattern: '^(none|\\d{1,15}(ms|s|m|h|d))$',
    description: 'How long it lives: <n>ms, <n>s, <n>m, <n>h, <n>d, or none; default TESSERA_TOKEN_TTL'
  }))
})

export const CreatedToken = Type.Object({
  token: Type.String({ description: 'The token: shown this once, stored only as a digest' }),
  tokenId: Type.String({ format: 'uuid' }),
  expiry: Expiry,
  scopes: Scopes,
  device: Type.String()
}, { $id: 'CreatedToken', description: 'A personal access token just minted: the only time its secret is shown' })

export const IntrospectBody = Type.Object({
  token: Type.String({ maxLength: 1024, description: 'The token to inspect' }),
  token_type_hint: Type.Optional(Type.String({ maxLength: 64 }))
})

/** RFC 7662 2.2: `{active: false}` alone for anything but a live token. */
export const Introspection = Type.Object({
  active: Type.Boolean(),
  sub: Type.Optional(Type.String({ description: "The user's id, as a string" })),
  username: Type.Optional(Type.String()),
  scope: Type.Optional(Type.String({ description: 'The scopes, space-separated' })),
  exp: Type.Optional(Type.Integer({ description: 'Expiry, epoch seconds; absent for a token that never expires' })),
  iat: Type.Optional(Type.Integer({ description: 'Issued at, epoch seconds' })),
  token_type: Type.Optional(Type.Literal('Token')),
  token_id: Type.Optional(Type.String({ format: 'uuid' })),
  device: Type.Optional(Type.String())
}, { $id: 'Introspection', description: 'RFC 7662 introspection: a live token, or {"active": false} alone' })

export const VerifyQuery = Type.Object({
  scope: Type.Optional(Type.Union([Scope, Type.Array(Scope, { maxItems: MAX_SCOPES })], {
    description: 'Scopes the token must hold (repeatable: ?scope=a&scope=b)'
  }))
})

export const TokenIdParams = Type.Object({
  id: Type.String({ format: 'uuid', description: 'A session id from GET /auth/tokens' })
})

export const ChangePasswordBody = Type.Object({
  currentPassword: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }),
  newPassword: Password
})

export const ActivityQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: ACTIVITY_PAGE_MAX, default: ACTIVITY_PAGE_DEFAULT, description: `Entries per page (1-${ACTIVITY_PAGE_MAX})` })),
  before: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,15}$', description: 'The `next` cursor of the previous page: entries older than it' }))
}, { additionalProperties: false })

export const ActivityEvent = Type.Object({
  id: Type.String({ description: 'Opaque; a newer entry has a greater id' }),
  type: Type.Enum(ACTIVITY_TYPES),
  at: Type.String({ format: 'date-time' }),
  tokenId: Type.Union([Type.String(), Type.Null()], { description: 'The session concerned, when one is' }),
  device: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()], { description: 'The client address, where the change came over HTTP' }),
  userAgent: Type.Union([Type.String(), Type.Null()])
}, { $id: 'ActivityEvent', description: 'One entry of a user\'s activity log' })

export const ActivityPage = Type.Object({
  events: Type.Array(ActivityEvent, { description: 'Newest first' }),
  next: Type.Union([Type.String(), Type.Null()], { description: 'The cursor of the next (older) page, for `before`; null on the last page' })
}, { $id: 'ActivityPage', description: "A page of the user's activity log" })

/** Response headers, by name, as the OpenAPI document shows them (not checked at run time). */
export type ResponseHeaders = Record<string, TSchema>

/**
 * A response whose body is a named shape (one with an `$id`), with this response's own description
 * and headers. Serialised as the shape itself; in the OpenAPI document, a reference to the shape's
 * component (a shape at the top of a response would otherwise be written out in full there).
 */
export function answer<T extends TSchema> (shape: T, description: string, headers?: ResponseHeaders) {
  return Type.Intersect([shape], { description, ...(headers === undefined ? {} : { headers }) })
}

/** An answer without a body, with its headers. */
export function noContent (description = 'No content', headers?: ResponseHeaders) {
  return Type.Null({ description, ...(headers === undefined ? {} : { headers }) })
}

export const NoContent = noContent()

const RETRY_AFTER: ResponseHeaders = {
  'Retry-After': Type.Integer({ minimum: 1, description: 'Seconds to wait before trying again' })
}

/** An error answer: the error shape, with what this status means here. */
export function errorAnswer (description: string, headers?: ResponseHeaders) {
  return answer(ErrorResponse, description, headers)
}

export const BadRequest = errorAnswer('The request does not match the schema: malformed JSON, a missing or invalid field, parameter or query')
export const PayloadTooLarge = errorAnswer('The body is too large (over 16 KiB)')
export const UnsupportedMediaType = errorAnswer('The body is not of a media type this operation takes')
export const NotFound = errorAnswer('No such resource')
export const RateLimited = errorAnswer('Too many requests: try again after `Retry-After` seconds', RETRY_AFTER)
export const Unavailable = errorAnswer('The database is not available right now; try again shortly')
/** Login, registration and password change check a password: the argon2 queue may be full too. */
export const PasswordCheckUnavailable = errorAnswer(
  'Too many password checks are waiting (then with `Retry-After`), or the database is not available right now', RETRY_AFTER)

/** Token-protected routes: a 401 says how to authenticate. */
export const Unauthorized = errorAnswer('No token, or not a valid one: malformed, unknown, revoked or expired, or its user is inactive', {
  'WWW-Authenticate': Type.String({
    description: '`Token` when no token was sent; else `Token error="invalid_token", error_description="<why>"`'
  })
})

const MISSING_SCOPE = 'the token does not hold every scope this operation needs'
const INSUFFICIENT_SCOPE: ResponseHeaders = {
  'WWW-Authenticate': Type.String({ description: 'With a missing scope: `Token error="insufficient_scope", scope="<the scopes needed>"`' })
}

/** A route that needs scopes: a 403 names them. */
export const MissingScope = errorAnswer(`Forbidden: ${MISSING_SCOPE}`, INSUFFICIENT_SCOPE)

/** The 403 of a route that needs scopes and refuses for another reason too. */
export function forbiddenOrMissingScope (reason: string) {
  return errorAnswer(`${reason}; or ${MISSING_SCOPE}`, INSUFFICIENT_SCOPE)
}

/**
 * What any route that takes a request body can answer once its body is read: Fastify reads a body
 * (and refuses a bad one) on every POST, PUT, PATCH and DELETE, whether or not the route uses it.
 */
export const bodyErrors = { 400: BadRequest, 413: PayloadTooLarge, 415: UnsupportedMediaType }

/** The errors every token-protected route can answer with. */
export const authErrors = {
  401: Unauthorized,
  429: RateLimited,
  503: Unavailable
}

/** …and those of a route that needs a scope. */
export const scopedErrors = { ...authErrors, 403: MissingScope }

/**
 * Marks an operation whose body may be absent (login: HTTP Basic sends none). @fastify/swagger
 * marks every body required; `openapi.ts` reads this mark and removes it.
 */
export const OPTIONAL_BODY = 'x-optional-body'
