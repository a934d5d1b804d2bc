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
 */
interface Waiting<K, V> {
  key: K
  resolve: (value: V | undefined) => void
  reject: (error: unknown) => void
}

export function batchPerTurn<K, V> (load: (keys: K[]) => Promise<Map<K, V>>): (key: K) => Promise<V | undefined> {
  let waiting: Array<Waiting<K, V>> = []
  const answer = (): void => {
    const batch = waiting
    waiting = []
    load([...new Set(batch.map((entry) => entry.key))]).then((found) => {
      for (const { key, resolve } of batch) resolve(found.get(key))
    }, (error: unknown) => {
      for (const { reject } of batch) reject(error)
    })
  }
  return async (key) => await new Promise((resolve, reject) => {
    if (waiting.push({ key, resolve, reject }) === 1) setImmediate(answer)
  })
}
