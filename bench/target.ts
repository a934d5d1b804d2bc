/**
 * Starts the server under test (`bench/server.ts`) in a process of its own, on loopback, and
 * reads its CPU time and memory. Every server runs the real service on a SQLite file (or a
 * PostgreSQL schema, `bench/postgres.ts`), with
 * logging at `warn` (so that log lines do not dilute what is measured) and rate limits off (the
 * load comes from one address, with few tokens).
 */
import { fork } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { ServerUsage, UsageRequest } from './ipc.js'

const SERVER = fileURLToPath(new URL('./server.js', import.meta.url))
const HELLO = fileURLToPath(new URL('./hello.js', import.meta.url))

export interface Target {
  readonly url: string
  /** The server's CPU time and memory, read inside it. */
  usage: () => Promise<ServerUsage>
  /**
   * CPU time (µs) so far of the database server's processes that serve this target: its
   * PostgreSQL backends (`bench/postgres.ts`). Absent on SQLite, which runs inside the server.
   */
  databaseCpuMicros?: () => Promise<number>
  stop: () => Promise<void>
}

/** Settings every benchmarked server gets unless a scenario overrides them. */
const BENCH_ENV: Record<string, string> = {
  LOG_LEVEL: 'warn',
  TESSERA_LOGIN_RATE_LIMIT: 'off',
  TESSERA_TOKEN_RATE_LIMIT: 'off',
  TESSERA_SWEEP_INTERVAL: 'none',
  // No lastUsedAt writes during a run unless a scenario asks for them (the revocation scenario does).
  TESSERA_MIN_REFRESH_INTERVAL: '1d'
}

export interface TargetOptions {
  /** A file that receives the server's stdout (its log), instead of the runner's own stdout. */
  logFile?: string
}

export async function startTarget (databaseUrl: string, env: Record<string, string> = {}, options: TargetOptions = {}): Promise<Target> {
  return await startProcess(SERVER, { ...BENCH_ENV, DATABASE_URL: databaseUrl, ...env }, options)
}

/** A bare Fastify 5 server with one hello route (`bench/hello.ts`): the ceiling any service is measured against. */
export async function startHello (): Promise<Target> {
  return await startProcess(HELLO, {}, {})
}

async function startProcess (script: string, env: Record<string, string>, { logFile }: TargetOptions): Promise<Target> {
  const stdout = logFile === undefined ? 'inherit' : openSync(logFile, 'a')
  const child = fork(script, [], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', stdout, 'inherit', 'ipc']
  })
  // The child holds its own copy of the descriptor.
  if (typeof stdout === 'number') closeSync(stdout)
  const url = await new Promise<string>((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`the bench server exited with code ${code} before listening`))
    child.once('exit', onExit)
    child.once('message', (message: { address: string }) => {
      child.off('exit', onExit)
      resolve(message.address)
    })
  })
  const pending = new Map<number, (usage: ServerUsage) => void>()
  let lastId = 0
  let stopped: Promise<void> | undefined
  child.on('message', (usage: ServerUsage) => {
    pending.get(usage.id)?.(usage)
    pending.delete(usage.id)
  })
  return {
    url,
    usage: async () => await new Promise((resolve) => {
      const id = ++lastId
      pending.set(id, resolve)
      child.send({ id } satisfies UsageRequest)
    }),
    // Idempotent: a scenario may stop a server early to read what it left behind.
    stop: async () => {
      stopped ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.disconnect()
      })
      await stopped
    }
  }
}
