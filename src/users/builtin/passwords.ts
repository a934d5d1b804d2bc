/**
 * Password hashing with argon2id at OWASP's minimum parameters (m = 19 MiB, t = 2, p = 1).
 * Hashing and verifying run on libuv's thread pool (@node-rs/argon2's async API), never on the
 * event loop, so a burst of logins does not stall authenticated requests.
 *
 * At most one argon2 operation per core runs at once. More would not finish sooner (each is
 * CPU-bound), would thrash the caches with 19 MiB each, and would hold all four pool threads,
 * leaving none for the file system and DNS work the pool also does.
 *
 * The rest wait their turn in a bounded queue, fairly: waiting operations are served one client
 * at a time in turn (round-robin over client addresses), and when the queue is full, the client
 * with the most operations waiting loses its newest one to make room for a client with fewer. A
 * refused operation fails at once with `PasswordQueueFullError` (HTTP 503 with `Retry-After`), so
 * a flood from one address neither grows memory and latency without end nor locks others out.
 *
 * Passwords are hashed and verified in Unicode NFC (NIST SP 800-63B 5.1.1.2), so that `café`
 * typed with a composed or a decomposed `é` is one password. Hashes made before normalisation are
 * of the password as typed: when the NFC form does not match and the typed form differs from it,
 * the typed form is tried too.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2'
import { DEFAULT_ARGON2_QUEUE_LIMIT } from '../../settings.js'

/** OWASP Password Storage Cheat Sheet, argon2id minimum configuration. */
export const ARGON2_OPTIONS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

/**
 * The test kit's cost (`tessera-auth/testing`): argon2's smallest parameters (8 KiB, one pass),
 * microseconds instead of tens of milliseconds, so that a test suite can make users by the
 * hundred. Only a `Passwords` made with `cost: 'test'` hashes at it, which only the test kit can
 * get (see src/testing/grant.ts); every other `Passwords` refuses a hash made at it.
 */
export const TEST_ARGON2_OPTIONS = { memoryCost: 8, timeCost: 1, parallelism: 1 } as const

/** How a PHC string made at `TEST_ARGON2_OPTIONS` starts. */
const TEST_COST_PREFIX = `$argon2id$v=19$m=${TEST_ARGON2_OPTIONS.memoryCost},t=${TEST_ARGON2_OPTIONS.timeCost},p=${TEST_ARGON2_OPTIONS.parallelism}$`

/** `standard`: OWASP's parameters. `test`: the test kit's, which nothing else may use. */
export type PasswordCost = 'standard' | 'test'

export const PASSWORD_MIN_LENGTH = 8
export const PASSWORD_MAX_LENGTH = 1024

/** Enough for the queue to drain several times over (each operation takes tens of ms). */
const RETRY_AFTER_SECONDS = 1

/** An argon2 operation refused because the queue is full; the HTTP layer answers 503 with `Retry-After`. */
export class PasswordQueueFullError extends Error {
  readonly statusCode = 503
  readonly code = 'SERVER_BUSY'
  /** Sent by Fastify's error handler with the 503. */
  readonly headers = { 'retry-after': String(RETRY_AFTER_SECONDS) }
  constructor () {
    super(`Too many password checks are waiting; retry in ${RETRY_AFTER_SECONDS} s.`)
    this.name = 'PasswordQueueFullError'
  }
}

/** The client the argon2 operations started inside `onBehalfOf` are queued under. */
const currentClient = new AsyncLocalStorage<string>()

/** Operations started outside `onBehalfOf` (the CLI, the warm-up) share this client. */
const NO_CLIENT = ''

/**
 * Runs `work` with every argon2 operation it starts queued under `client` (the client address),
 * so that the queue can take turns between clients. The HTTP layer wraps its calls in it:
 * `await onBehalfOf(addressKey(request.ip), () => accounts.verifyPassword(username, password))`.
 */
export async function onBehalfOf<T> (client: string, work: () => Promise<T>): Promise<T> {
  return await currentClient.run(client, work)
}

export interface PasswordsOptions {
  /** Most argon2 operations running at once (default: one per core). */
  concurrency?: number
  /** Most operations waiting for a turn; past it, `PasswordQueueFullError` (default: 64 per core; 0: never wait). */
  queueLimit?: number
  /** Default `standard`; `test` is for the test kit alone (see `TEST_ARGON2_OPTIONS`). */
  cost?: PasswordCost
}

interface Waiter {
  start: () => void
  refuse: (error: PasswordQueueFullError) => void
}

async function matches (passwordHash: string, password: string): Promise<boolean> {
  try {
    return await argon2Verify(passwordHash, password)
  } catch {
    return false
  }
}

export class Passwords {
  readonly #concurrency: number
  readonly #queueLimit: number
  readonly #cost: PasswordCost
  #running = 0
  /** Waiting operations by client, clients in the order they are served next. */
  readonly #waiting = new Map<string, Waiter[]>()
  #waitingCount = 0

  /** `options` may also be the concurrency alone, the older form. */
  constructor (options: PasswordsOptions | number = {}) {
    const { concurrency = availableParallelism(), queueLimit = DEFAULT_ARGON2_QUEUE_LIMIT, cost = 'standard' } =
      typeof options === 'number' ? { concurrency: options } : options
    this.#concurrency = Math.max(1, concurrency)
    this.#queueLimit = Math.max(0, queueLimit)
    this.#cost = cost
  }

  /** Runs `operation` when fewer than `concurrency` argon2 operations are running. */
  async #inTurn<T> (operation: () => Promise<T>): Promise<T> {
    if (this.#running < this.#concurrency) this.#running++
    else await this.#waitTurn(currentClient.getStore() ?? NO_CLIENT)
    try {
      return await operation()
    } finally {
      this.#handOn()
    }
  }

  async #waitTurn (client: string): Promise<void> {
    if (this.#waitingCount >= this.#queueLimit && !this.#makeRoomFor(client)) throw new PasswordQueueFullError()
    await new Promise<void>((resolve, reject) => {
      const waiter = { start: resolve, refuse: reject }
      const queue = this.#waiting.get(client)
      if (queue === undefined) this.#waiting.set(client, [waiter])
      else queue.push(waiter)
      this.#waitingCount++
    })
  }

  /**
   * The queue is full: refuses the newest operation of the client with the most waiting, when
   * that is more than `client` has waiting. Returns whether room was made.
   */
  #makeRoomFor (client: string): boolean {
    let longest: [string, Waiter[]] | undefined
    for (const entry of this.#waiting) {
      if (longest === undefined || entry[1].length > longest[1].length) longest = entry
    }
    if (longest === undefined || longest[1].length <= (this.#waiting.get(client)?.length ?? 0)) return false
    const [heaviest, queue] = longest
    queue.pop()!.refuse(new PasswordQueueFullError())
    if (queue.length === 0) this.#waiting.delete(heaviest)
    this.#waitingCount--
    return true
  }

  /** Hands the finished operation's slot to the next client in turn, or gives it back. */
  #handOn (): void {
    const first = this.#waiting.entries().next()
    if (first.done === true) {
      this.#running--
      return
    }
    const [client, queue] = first.value
    const next = queue.shift()!
    // The client goes to the back of the round, or leaves it when it has nothing left waiting.
    this.#waiting.delete(client)
    if (queue.length > 0) this.#waiting.set(client, queue)
    this.#waitingCount--
    next.start()
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
    this.#dummyHash ??= this.hash(randomBytes(32).toString('base64')).catch((error: unknown) => {
      this.#dummyHash = undefined // refused by a full queue: try again next time
      throw error
    })
    return this.#dummyHash
  }

  /**
   * The argon2id hash of `password` in NFC.
   * @throws {PasswordQueueFullError} when the queue is full.
   */
  async hash (password: string): Promise<string> {
    const normalised = password.normalize('NFC')
    const parameters = this.#cost === 'test' ? TEST_ARGON2_OPTIONS : ARGON2_OPTIONS
    return await this.#inTurn(async () => await argon2Hash(normalised, parameters))
  }

  /**
   * Whether `password` matches `passwordHash`; a malformed hash counts as a mismatch.
   * @throws {PasswordQueueFullError} when the queue is full.
   */
  async verify (passwordHash: string, password: string): Promise<boolean> {
    // A hash at the test kit's cost that reached a real database (copied there, say) never
    // verifies: it costs the same as a wrong password, and is one.
    if (this.#cost !== 'test' && passwordHash.startsWith(TEST_COST_PREFIX)) return await this.verifyNobody(password)
    const normalised = password.normalize('NFC')
    return await this.#inTurn(async () => {
      if (await matches(passwordHash, normalised)) return true
      // A hash from before normalisation is of the typed form. Whether this second verification
      // runs depends only on the input, never on the user: an unknown user (`verifyNobody`) and a
      // wrong password cost the same.
      return normalised !== password && await matches(passwordHash, password)
    })
  }

  /** Spends exactly what `verify` spends and answers false: the unknown-user path. */
  async verifyNobody (password: string): Promise<false> {
    await this.verify(await this.#dummy(), password)
    return false
  }
}
