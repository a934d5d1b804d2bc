/**
 * Events an embedding application can subscribe to, as django-rest-knox sends signals:
 *
 * ```ts
 * app.tessera.events.on('login', ({ user, tokenId, device }) => audit.log(user.id, device))
 * ```
 *
 * Listeners run synchronously after the change is committed; an exception thrown by one is logged
 * and does not fail the request.
 */
import { EventEmitter } from 'node:events'
import type { TesseraUser } from './users/builtin/user.js'

export interface TesseraEvents {
  /** A user was created, through `POST /auth/register` or the CLI. */
  userCreated: [{ user: TesseraUser }]
  /** A token was issued: a login, a registration, or the CLI's `token create`. */
  login: [{ user: TesseraUser, tokenId: string, device: string }]
  /** The presented token was revoked by `POST /auth/logout`. */
  logout: [{ userId: number, tokenId: string }]
  /** Every token of the user was revoked (`POST /auth/logoutall`, CLI `token revoke-all`). */
  logoutAll: [{ userId: number, revoked: number }]
  /** Every token of the user but the presented one was revoked (`POST /auth/logoutothers`). */
  logoutOthers: [{ userId: number, keptTokenId: string, revoked: number }]
  /** One session was revoked by id: by its owner, by the CLI, or evicted to make room under the token limit. */
  sessionRevoked: [{ userId: number | null, tokenId: string, reason: 'revoked' | 'evicted' }]
  /** An expired token was presented and deleted. (The periodic sweep does not emit one per row.) */
  tokenExpired: [{ userId: number, tokenId: string }]
  /** The password was changed; every other token of the user was revoked. */
  passwordChanged: [{ userId: number, revoked: number }]
}

export type TesseraEventName = keyof TesseraEvents

export class TesseraEmitter extends EventEmitter<TesseraEvents> {}
