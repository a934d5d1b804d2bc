/**
 * `npm run bench`: what authentication costs, each figure against a baseline measured in the
 * same run. Prints a table and writes `bench/results.json`. Not part of CI (CI only type-checks it).
 *
 *   npm run bench                        every scenario, full length (about 7 minutes)
 *   npm run bench -- --quick             1-second runs, tables up to 100 000 tokens (under a minute,
 *                                        plus a minute or two for `realistic`, whose runs are not shorter)
 *   npm run bench -- --only=login,memory  some scenarios
 *
 * Servers run as separate processes on 127.0.0.1, each on its own SQLite file in a temporary
 * directory (`postgresAuthOverhead`, and `realistic` beside its SQLite server: on a fresh schema
 * of the PostgreSQL server at `BENCH_POSTGRES_URL`, default
 * postgres://postgres@127.0.0.1:5432/test, which must run on this machine); the load generator
 * (autocannon) runs in this process, on the same cores.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fixed, type ScenarioContext, type ScenarioResult } from './scenario.js'
import { appUsers } from './scenarios/app-users.js'
import { authOverhead } from './scenarios/auth-overhead.js'
import { forwardAuth } from './scenarios/forward-auth.js'
import { postgresAuthOverhead } from './scenarios/postgres-auth-overhead.js'
import { realistic } from './scenarios/realistic.js'
import { login } from './scenarios/login.js'
import { loginStorm } from './scenarios/login-storm.js'
import { memory } from './scenarios/memory.js'
import { revocation } from './scenarios/revocation.js'
import { serviceOverhead } from './scenarios/service-overhead.js'
import { tableSize } from './scenarios/table-size.js'

const RESULTS = fileURLToPath(new URL('../../bench/results.json', import.meta.url))

interface Results {
  authOverhead?: Awaited<ReturnType<typeof authOverhead>>
  postgresAuthOverhead?: Awaited<ReturnType<typeof postgresAuthOverhead>>
  realistic?: Awaited<ReturnType<typeof realistic>>
  appUsers?: Awaited<ReturnType<typeof appUsers>>
  forwardAuth?: Awaited<ReturnType<typeof forwardAuth>>
  tableSize?: Awaited<ReturnType<typeof tableSize>>
  login?: ScenarioResult
  loginStorm?: ScenarioResult
  memory?: ScenarioResult
  revocation?: ScenarioResult
  serviceOverhead?: Awaited<ReturnType<typeof serviceOverhead>>
}
type ScenarioName = keyof Results

/** In report order. `memory` reads the peaks of `authOverhead` and `tableSize`, so it runs them if they were not asked for. */
const SCENARIOS: { [Name in ScenarioName]-?: (context: ScenarioContext, done: Results) => Promise<NonNullable<Results[Name]>> } = {
  authOverhead: async (context) => await authOverhead(context),
  postgresAuthOverhead: async (context) => await postgresAuthOverhead(context),
  realistic: async (context) => await realistic(context),
  // These two print `authOverhead`'s ratio beside their own when it ran (it comes first).
  appUsers: async (context, done) => await appUsers(context, done.authOverhead?.figures),
  forwardAuth: async (context, done) => await forwardAuth(context, done.authOverhead?.figures),
  tableSize: async (context) => await tableSize(context),
  login: async (context) => await login(context),
  loginStorm: async (context) => await loginStorm(context),
  memory: async (context, done) => memory(
    done.authOverhead ?? await authOverhead(context),
    done.tableSize ?? await tableSize(context)
  ),
  revocation: async (context) => await revocation(context),
  serviceOverhead: async (context) => await serviceOverhead(context)
}

function chosenScenarios (argv: string[]): ScenarioName[] {
  const only = argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length).split(',')
  const all = Object.keys(SCENARIOS) as ScenarioName[]
  if (only === undefined) return all
  const unknown = only.filter((name) => !all.includes(name as ScenarioName))
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}: choose from ${all.join(', ')}`)
  return all.filter((name) => only.includes(name))
}

function machine (): Record<string, unknown> {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverageAtStart: loadavg().map((load) => Number(load.toFixed(2)))
  }
}

function printTable (results: Results): void {
  const rows: string[][] = [['scenario', 'comparison', 'baseline', 'candidate', 'ratio', 'target', '']]
  for (const [name, result] of Object.entries(results)) {
    for (const comparison of (result as ScenarioResult).comparisons) {
      const judged = comparison.target.startsWith('(')
      rows.push([name, comparison.what, comparison.baseline, comparison.candidate, fixed(comparison.ratio, 2), comparison.target,
        judged ? '' : comparison.met ? 'met' : 'MISSED'])
    }
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  for (const row of rows) console.log(row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd())
}

const quick = process.argv.includes('--quick')
const names = chosenScenarios(process.argv.slice(2))
const directory = mkdtempSync(join(tmpdir(), 'tessera-bench-'))
const context: ScenarioContext = { quick, directory, progress: (line) => process.stderr.write(`· ${line}\n`) }
const results: Results = {}
const started = Date.now()
try {
  for (const name of names) {
    context.progress(`${name}…`)
    Object.assign(results, { [name]: await SCENARIOS[name](context, results) })
  }
} finally {
  rmSync(directory, { recursive: true, force: true })
}
const report = { date: new Date().toISOString(), quick, durationS: Math.round((Date.now() - started) / 1000), machine: machine(), ...results }
writeFileSync(RESULTS, JSON.stringify(report, null, 2) + '\n')
console.log(`tessera benchmarks${quick ? ' (--quick)' : ''}: ${JSON.stringify(report.machine)}, ${report.durationS} s`)
printTable(results)
console.log(`\nwritten to ${RESULTS}`)
