/**
 * Events an embedding application can subscribe to, as django-rest-knox sends signals:
 *
 * ```ts
 * app.tessera.events.on('login', ({ subject, device }) => audit.log(subject, device))
 * ```
 *
 * Listeners run after the change is committed. One that throws, or an `async` one that rejects,
 * is logged and fails nothing: the request it followed is answered as if it had not been there.
 */
import { EventEmitter } from 'node:events'
import type { FastifyBaseLogger } from 'fastify'
import type { AppUser } from './index.js'
import type { RevocationReason } from './tokens/failures.js'
import type { TesseraUser } from './users/builtin/user.js'

export interface TesseraEvents {
  /** A built-in user was created, through `POST /auth/register` or the CLI. */
  userCreated: [{ user: TesseraUser }]
  /** A token was issued: a login, a registration, `tokens.issue`, or the CLI's `token create`. */
  login: [{ user: AppUser, subject: string, tokenId: string, device: string }]
  /** The presented token was revoked by `POST /auth/logout`. */
  logout: [{ subject: string, tokenId: string }]
  /** Every token of the subject was revoked (`POST /auth/logoutall`, `tokens.revokeAll`, CLI `token revoke-all`). */
  logoutAll: [{ subject: string, revoked: number }]
  /** Every token of the subject but the presented one was revoked (`POST /auth/logoutothers`). */
  logoutOthers: [{ subject: string, keptTokenId: string, revoked: number }]
  /**
   * One session was revoked by id: by its owner or the CLI (`revoked`), evicted to make room under
   * the token limit (`evicted`), or by the application with a reason of its own (`tokens.revoke`).
   */
  sessionRevoked: [{ subject: string, tokenId: string, reason: RevocationReason }]
  /** A session was given a new device label by its owner (`PATCH /auth/tokens/:id`, `tokens.rename`). */
  sessionRenamed: [{ subject: string, tokenId: string, device: string }]
  /** An expired token was presented and deleted. (The periodic sweep does not emit one per row.) */
  tokenExpired: [{ subject: string, tokenId: string }]
  /**
   * A built-in user's password was changed: by the user (`POST /auth/password`: every other token
   * was revoked) or by an operator (`tessera user set-password`: every token, unless `--keep-sessions`).
   */
  passwordChanged: [{ subject: string, revoked: number }]
}

export type TesseraEventName = keyof TesseraEvents

export class TesseraEmitter extends EventEmitter<TesseraEvents> {}

/**
 * Calls every listener of `event`, each on its own: a throw or a rejected promise is logged, and
 * neither stops the other listeners nor reaches the caller.
 */
export function emitSafely<E extends TesseraEventName> (events: TesseraEmitter, log: FastifyBaseLogger, event: E, ...payload: TesseraEvents[E]): void {
  const failed = (error: unknown): void => log.error({ err: error, event }, 'a tessera event listener failed')
  for (const listener of events.rawListeners(event) as Array<(...args: TesseraEvents[E]) => unknown>) {
    try {
      const result = listener.apply(events, payload)
      if (result instanceof Promise) result.catch(failed)
    } catch (error) {
      failed(error)
    }
  }
}
