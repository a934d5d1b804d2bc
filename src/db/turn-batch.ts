/**
 * Batches the loads of one event-loop turn into one: every call made before the turn ends
 * (`setImmediate` runs once the event loop has read this turn's requests) is answered by one
 * `load` of all their keys. Nothing is kept between turns: each load happens after every request
 * of its batch arrived, so it sees whatever was committed before any of them was sent.
 *
 * ```ts
 * const findUser = batchPerTurn(async (ids: number[]) => new Map((await selectUsers(ids)).map((u) => [u.id, u])))
 * const [a, b] = await Promise.all([findUser(1), findUser(2)])   // one query
 * ```
 *
 * With `oneAtATime`, a load waits for the one before it: the calls made meanwhile go together
 * in one load when it answers (still after every one of them arrived, so still exact). On a busy
 * server a round trip outlasts several turns, so the batches grow with the load instead of each
 * turn paying a round trip of its own, while an idle server still loads at once. A load that has
 * not answered after `stallMs` no longer holds the next one back (a connection lost without a
 * word must not stop every later call).
 */
interface Waiting<K, V> {
  key: K
  resolve: (value: V | undefined) => void
  reject: (error: unknown) => void
}

/** A batched load: call it with a key; `settled()` resolves once every call made so far has its answer. */
export interface Batched<K, V> {
  (key: K): Promise<V | undefined>
  /** For a close: a call still waiting for a load must reach it before what the loads use goes away. */
  settled: () => Promise<void>
}

export interface BatchOptions {
  /** Whether a load waits for the one before it to answer (or to stall). */
  oneAtATime?: boolean
  /** How long a load may hold the next one back (default 1 s). */
  stallMs?: number
}

const DEFAULT_STALL_MS = 1000

export function batchPerTurn<K, V> (load: (keys: K[]) => Promise<Map<K, V>>, options: BatchOptions = {}): Batched<K, V> {
  const oneAtATime = options.oneAtATime === true
  const stallMs = options.stallMs ?? DEFAULT_STALL_MS
  let waiting: Array<Waiting<K, V>> = []
  /** Calls not answered yet, and who waits for there to be none. */
  let unanswered = 0
  let onSettled: Array<() => void> = []
  let scheduled = false
  /** A load is running that the next one waits for. */
  let holding = false
  const schedule = (): void => {
    if (scheduled || holding || waiting.length === 0) return
    scheduled = true
    setImmediate(answer)
  }
  /** Holds the next load back until the returned release is called, or `stallMs` has passed. */
  const hold = (): () => void => {
    holding = true
    let held = true
    const release = (): void => {
      if (!held) return
      held = false
      holding = false
      schedule()
    }
    const stalled = setTimeout(release, stallMs).unref()
    return () => {
      clearTimeout(stalled)
      release()
    }
  }
  const answered = (count: number, release: (() => void) | undefined): void => {
    release?.()
    unanswered -= count
    if (unanswered > 0) return
    const settled = onSettled
    onSettled = []
    for (const resolve of settled) resolve()
  }
  const answer = (): void => {
    scheduled = false
    const batch = waiting
    waiting = []
    const release = oneAtATime ? hold() : undefined
    load([...new Set(batch.map((entry) => entry.key))]).then((found) => {
      for (const { key, resolve } of batch) resolve(found.get(key))
      answered(batch.length, release)
    }, (error: unknown) => {
      for (const { reject } of batch) reject(error)
      answered(batch.length, release)
    })
  }
  const batched = async (key: K): Promise<V | undefined> => await new Promise((resolve, reject) => {
    unanswered++
    waiting.push({ key, resolve, reject })
    schedule()
  })
  return Object.assign(batched, {
    settled: async (): Promise<void> => {
      if (unanswered > 0) await new Promise<void>((resolve) => onSettled.push(resolve))
    }
  })
}
