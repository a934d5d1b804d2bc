/** tessera as a library: the Fastify plugin, its types, and the pieces an embedder may need. */
import type { TesseraUser } from './users/builtin/user.js'

export { default, default as tessera } from './plugin.js'
export type { AuthenticateHook, TesseraOptions } from './plugin.js'
export type { Tessera } from './tessera.js'
export type { Clock } from './time.js'
export { AUTH_FAILURES, AuthenticationError, REVOCATION_REASONS, type AuthFailure, type RevocationReason } from './tokens/failures.js'
export { ERROR_CODES, type ErrorCode } from './error-codes.js'
export {
  TokenLimitError, TokenService, type AuthToken, type IssueOptions, type IssuedToken, type RevokeOptions, type Session, type Transaction
} from './tokens/service.js'
export type { UserStore } from './users/store.js'
export type { TesseraUser } from './users/builtin/user.js'
export type { BuiltinUsers, NewUser } from './users/builtin/store.js'
export { TesseraEmitter, type TesseraEvents, type TesseraEventName } from './events.js'
export type { CacheCounts, MeteredParts, MetricsSink } from './metrics/sink.js'
export type { LimitName } from './http/rate-limits.js'
export { openDatabase, type Database, type DatabaseOptions } from './db/database.js'
export { migrateToLatest, pendingMigrations } from './db/migrate.js'
export { DEFAULT_SETTINGS, parseDuration, type TesseraSettings } from './settings.js'
export { buildApp } from './app.js'
export { loadConfig, ConfigError, type Config } from './config.js'
export {
  default as openapi, BEARER_SECURITY_SCHEME, NAMED_COMPONENTS, SECURITY_SCHEMES, TOKEN_SECURITY_SCHEME, shapeDocument, type OpenApiOptions
} from './openapi.js'

/**
 * Declaration merging, in the style of @fastify/jwt: an application that brings its own users
 * declares their type once, and `request.user`, `app.tessera.tokens` and the events use it.
 *
 * ```ts
 * declare module 'tessera-auth' {
 *   interface TesseraTypes { user: MyUser }
 * }
 * ```
 */
export interface TesseraTypes {}

/** The user type in use: the application's, when declared in `TesseraTypes`, else tessera's built-in user. */
export type AppUser = TesseraTypes extends { user: infer User } ? User : TesseraUser
