/**
 * The seam between tokens and users. The token service knows only subjects (opaque string ids);
 * a user store turns a subject back into a user. tessera's built-in users (`users/builtin/`) are
 * one such store; an application plugs in its own users through this same interface:
 *
 * ```ts
 * await app.register(tessera, {
 *   databaseUrl,
 *   users: {
 *     find: async (id) => await myUsers.byId(Number(id)),   // null: gone, or may not sign in
 *     idOf: (user) => String(user.id),
 *     verifyCredentials: async (username, password) => await myUsers.check(username, password),
 *     serialize: (user) => ({ id: user.id, email: user.email })
 *   }
 * })
 * ```
 */
import type { ClientContext } from '../tokens/service.js'

export interface UserStore<User> {
  /**
   * The user a token's subject names, or `null` when that user is gone or may not sign in (the
   * token is then refused with a 401 `USER_INACTIVE`). Called once per authenticated request: keep
   * it cheap (an indexed lookup, or a short cache of your own).
   */
  find: (id: string) => Promise<User | null | undefined> | User | null | undefined
  /** The subject for a user: its id as a string, whatever its type. */
  idOf: (user: User) => string
  /**
   * The user with this username and password, or `null` (401 `BAD_CREDENTIALS`). Enables
   * `POST /auth/login`; without it the application issues tokens itself
   * (`app.tessera.tokens.issue`). Make unknown usernames cost as much as wrong passwords. For the
   * right password of a user who may not sign in, throw `new AuthenticationError('inactive')`
   * (exported by `tessera-auth`): the login answers 401 `USER_INACTIVE`. `client` says where the
   * attempt came from (its address and User-Agent), for a store that keeps its own record of
   * failed attempts.
   */
  verifyCredentials?: (username: string, password: string, client: ClientContext) => Promise<User | null | undefined>
  /** What tessera's responses show of a user (knox's USER_SERIALIZER); default `{ id }`. */
  serialize?: (user: User) => object
}
