/**
 * `batchPerTurn`: the calls of one event-loop turn share one load of their keys, each answered
 * with its own value; nothing is kept between turns. With `oneAtATime`, the calls made while a
 * load is out wait for it and then go together in one load that starts after all of them were
 * made (so it still sees everything committed before them); a failed load fails only its own
 * calls, and a load that stalls stops holding the next one back after `stallMs`; `settled()` waits
 * for every call made so far.
 */
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { batchPerTurn } from '../../src/db/turn-batch.js'

/** A load whose answers the test gives by hand; it records each load's keys and when it started. */
function manualLoad () {
  const loads: Array<{ keys: number[], answer: () => void, fail: (error: Error) => void }> = []
  let clock = 0
  const started: number[] = []
  const load = async (keys: number[]): Promise<Map<number, string>> => await new Promise((resolve, reject) => {
    started.push(++clock)
    loads.push({ keys, answer: () => resolve(new Map(keys.map((key) => [key, `value ${key}`]))), fail: reject })
  })
  return { load, loads, started, tick: () => ++clock }
}

t.test('the calls of one turn share one load, each key once, each call its own answer', async (t) => {
  const { load, loads } = manualLoad()
  const find = batchPerTurn(load)
  const answers = Promise.all([1, 2, 1, 3].map(async (key) => await find(key)))
  await nextTurn()
  t.same(loads.map((l) => l.keys), [[1, 2, 3]])
  loads[0]!.answer()
  t.same(await answers, ['value 1', 'value 2', 'value 1', 'value 3'])
})

t.test('without oneAtATime, each turn loads at once, beside a load still out', async (t) => {
  const { load, loads } = manualLoad()
  const find = batchPerTurn(load)
  const first = find(1)
  await nextTurn()
  const second = find(2)
  await nextTurn()
  t.same(loads.map((l) => l.keys), [[1], [2]], 'two loads out together')
  for (const l of loads) l.answer()
  t.same(await Promise.all([first, second]), ['value 1', 'value 2'])
})

t.test('oneAtATime: the calls of later turns wait for the load out, then go together, after all of them', async (t) => {
  const { load, loads, started, tick } = manualLoad()
  const find = batchPerTurn(load, { oneAtATime: true })
  const first = find(1)
  await nextTurn()
  t.same(loads.map((l) => l.keys), [[1]], 'an idle batcher loads at once')
  const madeAt: number[] = []
  const later: Array<Promise<string | undefined>> = []
  for (const key of [2, 3, 4]) {
    madeAt.push(tick())
    later.push(find(key))
    await nextTurn()
  }
  t.equal(loads.length, 1, 'three turns later, still the one load')
  loads[0]!.answer()
  t.equal(await first, 'value 1')
  await nextTurn()
  t.same(loads.map((l) => l.keys), [[1], [2, 3, 4]], 'the waiting calls in one load')
  t.ok(madeAt.every((made) => made < started[1]!), 'which started after every one of them was made')
  loads[1]!.answer()
  t.same(await Promise.all(later), ['value 2', 'value 3', 'value 4'])
})

t.test('oneAtATime: a failed load fails its own calls only, and lets the next one go', async (t) => {
  const { load, loads } = manualLoad()
  const find = batchPerTurn(load, { oneAtATime: true })
  const failing = find(1)
  await nextTurn()
  const waiting = find(2)
  await nextTurn()
  loads[0]!.fail(new Error('Connection terminated unexpectedly'))
  await t.rejects(failing, /Connection terminated/)
  await nextTurn()
  t.same(loads.map((l) => l.keys), [[1], [2]])
  loads[1]!.answer()
  t.equal(await waiting, 'value 2')
})

t.test('oneAtATime: a load that stalls stops holding the next one back after stallMs', async (t) => {
  const { load, loads } = manualLoad()
  const find = batchPerTurn(load, { oneAtATime: true, stallMs: 30 })
  const stalled = find(1)
  await nextTurn()
  const next = find(2)
  await nextTurn()
  t.equal(loads.length, 1, 'held back at first')
  await sleep(60)
  t.same(loads.map((l) => l.keys), [[1], [2]], 'then sent beside the stalled load')
  loads[1]!.answer()
  t.equal(await next, 'value 2')
  loads[0]!.answer()
  t.equal(await stalled, 'value 1', 'the stalled load still answers its own calls')
})

t.test('settled() waits for every call made so far, the ones held back too', async (t) => {
  const { load, loads } = manualLoad()
  const find = batchPerTurn(load, { oneAtATime: true })
  await find.settled()
  t.pass('nothing called: settled at once')
  const first = find(1)
  await nextTurn()
  const held = find(2)
  let settled = false
  const waiting = find.settled().then(() => { settled = true })
  await nextTurn()
  loads[0]!.answer()
  await first
  await nextTurn()
  t.notOk(settled, 'not while the call held back waits for its load')
  t.same(loads.map((l) => l.keys), [[1], [2]])
  loads[1]!.answer()
  await waiting
  t.equal(await held, 'value 2', 'settled once it was answered')
})
