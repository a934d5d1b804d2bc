/**
 * Password hashing with argon2id at OWASP's minimum parameters (m = 19 MiB, t = 2, p = 1).
 * Hashing and verifying run on libuv's thread pool (@node-rs/argon2's async API), never on the
 * event loop, so a burst of logins does not stall authenticated requests.
 *
 * At most one argon2 operation per core runs at once; the rest wait their turn. More would not
 * finish sooner (each is CPU-bound), would thrash the caches with 19 MiB each, and would hold
 * all four pool threads, leaving none for the file system and DNS work the pool also does.
 */
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { hash, verify } from '@node-rs/argon2'

/** OWASP Password Storage Cheat Sheet, argon2id minimum configuration. */
export const ARGON2_OPTIONS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

export const PASSWORD_MIN_LENGTH = 8
export const PASSWORD_MAX_LENGTH = 1024

export class Passwords {
  readonly #concurrency: number
  #running = 0
  readonly #waiting: Array<() => void> = []

  constructor (concurrency = availableParallelism()) {
    this.#concurrency = Math.max(1, concurrency)
  }

  /** Runs `operation` when fewer than `concurrency` argon2 operations are running. */
  async #inTurn<T> (operation: () => Promise<T>): Promise<T> {
    if (this.#running < this.#concurrency) this.#running++
    else await new Promise<void>((resolve) => this.#waiting.push(resolve))
    try {
      return await operation()
    } finally {
      // Hand the slot straight to the next in line, or give it back.
      const next = this.#waiting.shift()
      if (next !== undefined) next()
      else this.#running--
    }
  }

  /**
   * A hash of a random password nobody knows. Logins for unknown usernames verify against it,
   * so that they take as long as a wrong password for a real user and reveal nothing.
   */
  #dummyHash?: Promise<string>

  /** Computes the dummy hash now, so that the first unknown-user login costs no more than later ones. */
  async warmUp (): Promise<void> {
    await this.#dummy()
  }

  #dummy (): Promise<string> {
    return (this.#dummyHash ??= this.hash(randomBytes(32).toString('base64')))
  }

  async hash (password: string): Promise<string> {
    return await this.#inTurn(async () => await hash(password, ARGON2_OPTIONS))
  }

  /** Whether `password` matches `passwordHash`; a malformed hash counts as a mismatch. */
  async verify (passwordHash: string, password: string): Promise<boolean> {
    try {
      return await this.#inTurn(async () => await verify(passwordHash, password))
    } catch {
      return false
    }
  }

  /** Spends exactly what `verify` spends and answers false: the unknown-user path. */
  async verifyNobody (password: string): Promise<false> {
    await this.verify(await this.#dummy(), password)
    return false
  }
}
