/**
 * Password hashing with argon2id at OWASP's minimum parameters (m = 19 MiB, t = 2, p = 1).
 * Hashing and verifying run on libuv's thread pool (@node-rs/argon2's async API), never on the
 * event loop, so a burst of logins does not stall authenticated requests.
 */
import { randomBytes } from 'node:crypto'
import { hash, verify } from '@node-rs/argon2'

/** OWASP Password Storage Cheat Sheet, argon2id minimum configuration. */
export const ARGON2_OPTIONS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

export const PASSWORD_MIN_LENGTH = 8
export const PASSWORD_MAX_LENGTH = 1024

export class Passwords {
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

  hash (password: string): Promise<string> {
    return hash(password, ARGON2_OPTIONS)
  }

  /** Whether `password` matches `passwordHash`; a malformed hash counts as a mismatch. */
  async verify (passwordHash: string, password: string): Promise<boolean> {
    try {
      return await verify(passwordHash, password)
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
