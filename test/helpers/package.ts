/**
 * The package as a consumer gets it, for test/package/: what `npm pack` puts in the tarball, the
 * tarball itself, and npm run the way a consumer runs it (outside this repository's npm
 * configuration). `npm pack` is always run with `--ignore-scripts`: its `prepare` would rebuild
 * `dist` while other test files run the compiled CLI from it; `npm test` builds first (`pretest`),
 * and `staleBuild()` says when that build is older than the sources.
 *
 * The tarball is packed once per build, not once per test file and run: `npm test` runs every file
 * twice (SQLite, then PostgreSQL), and packing and installing cost seconds each time. What is
 * made once is kept in `sharedDirectory`s, named by a digest of what they were made from.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root (the package). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** The directories the build compiles, each into `dist/<directory>`. */
const SOURCE_DIRECTORIES = ['src', 'migrations']

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

export interface RunOptions {
  cwd: string
  /** Added to the environment (after npm's own `npm_*` variables are removed). */
  env?: Record<string, string>
}

/**
 * The environment a consumer has: without the `npm_*` variables that `npm test` sets
 * (`npm_config_local_prefix` among them: an npm started with them would act on this repository,
 * not on the consumer), nor tap's (`TAP*`, `_TAPJS_*`, and `NODE_OPTIONS`, which loads tap's
 * process tracking): a test runner started with them would take this repository's configuration.
 */
function cleanEnvironment (extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(npm_|TAP|_TAPJS_|NODE_OPTIONS$)/i.test(name)) env[name] = value
  }
  return { ...env, ...extra }
}

/** Runs a command to its end; the result, whatever the exit code. */
export async function run (command: string, args: string[], options: RunOptions): Promise<RunResult> {
  const child = spawn(command, args, { cwd: options.cwd, env: cleanEnvironment(options.env ?? {}), stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  })
  return { code, stdout, stderr }
}

/** Runs a command that must succeed; otherwise throws with the command line and its stderr. */
export async function runOk (command: string, args: string[], options: RunOptions): Promise<RunResult> {
  const result = await run(command, args, options)
  if (result.code !== 0) {
    throw new Error(`\`${[command, ...args].join(' ')}\` in ${options.cwd} exited with ${String(result.code)}:\n${result.stderr.slice(-4000)}${result.stdout.slice(-4000)}`)
  }
  return result
}

/** Every file under `directory`, as paths relative to `ROOT` with `/` separators. */
export function filesUnder (directory: string): string[] {
  const absolute = join(ROOT, directory)
  if (!existsSync(absolute)) return []
  return readdirSync(absolute, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)).split('\\').join('/'))
    .sort()
}

/** The TypeScript sources the build compiles (`src/…/x.ts`, `migrations/x.ts`; no `.d.ts`). */
export function buildSources (): string[] {
  return SOURCE_DIRECTORIES.flatMap(filesUnder).filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
}

/** What the build makes of one source: `dist/…/x.js`, its `.d.ts` and its source map. */
export function buildOutputs (source: string): string[] {
  const base = `dist/${source.replace(/\.ts$/, '')}`
  return [`${base}.js`, `${base}.d.ts`, `${base}.js.map`]
}

/** What the incremental builds (`tsc -b`) record of their last run: rewritten by every build that looked at newer sources. */
const BUILD_INFO = 'dist/tsconfig.build.tsbuildinfo'
const CLIENT_BUILD_INFO = 'packages/client/tsconfig.tsbuildinfo'

/** The client's one source, which the client package builds into `packages/client/dist`. */
export const CLIENT_SOURCE = 'src/client/index.ts'

/**
 * Whether `output` is missing, or older than `source` and than the last build (the build leaves an
 * output alone when its source was touched but not changed, and records that it looked in its build info).
 */
function staleOutput (output: string, source: string, buildInfo: string): boolean {
  const info = join(ROOT, buildInfo)
  const lastBuild = existsSync(info) ? statSync(info).mtimeMs : 0
  const compiled = join(ROOT, output)
  return !existsSync(compiled) || Math.max(statSync(compiled).mtimeMs, lastBuild) < statSync(join(ROOT, source)).mtimeMs
}

/** Sources whose build is not the current code: in `dist`, or in the client package's `dist`. */
export function staleBuild (): string[] {
  const stale = buildSources().filter((source) => staleOutput(buildOutputs(source)[0]!, source, BUILD_INFO))
  if (staleOutput('packages/client/dist/index.js', CLIENT_SOURCE, CLIENT_BUILD_INFO)) stale.push(`${CLIENT_SOURCE} (packages/client/dist)`)
  return stale
}

/** What `npm pack --json` says of one package. */
export interface PackResult {
  name: string
  version: string
  filename: string
  /** The tarball's size in bytes (gzip). */
  size: number
  files: Array<{ path: string, size: number, mode: number }>
}

function parsePack (stdout: string): PackResult {
  const parsed = JSON.parse(stdout) as PackResult[]
  if (parsed.length !== 1 || parsed[0] === undefined) throw new Error(`npm pack --json: expected one package, got ${stdout.slice(0, 500)}`)
  return parsed[0]
}

/** The client package, `tessera-auth-client`, which the root build builds too (from `src/client`). */
export const CLIENT_PACKAGE = join(ROOT, 'packages/client')

// ---------------------------------------------------------------------------------------------
// Made once, shared by test files and runs

/** Where shared directories are kept. */
export const SHARED = join(tmpdir(), 'tessera-test-packages')
/** A shared directory not used for this long is removed when a new one is made. */
const UNUSED_FOR_MS = 2 * 3_600_000

/** A digest of files (paths relative to `ROOT`, contents) and of other values that a result depends on. */
export function digest (files: string[], ...values: string[]): string {
  const hash = createHash('sha256')
  for (const file of files) hash.update(`${file}\0`).update(readFileSync(join(ROOT, file))).update('\0')
  for (const value of values) hash.update(`${value}\0`)
  return hash.digest('hex').slice(0, 32)
}

function removeUnused (): void {
  const before = Date.now() - UNUSED_FOR_MS
  for (const entry of readdirSync(SHARED)) {
    const path = join(SHARED, entry)
    // Another process may be removing it too.
    if ((statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Infinity) < before) rmSync(path, { recursive: true, force: true })
  }
}

/**
 * The directory named `key` under `SHARED`, made by `make` unless it exists. `key` must change with
 * anything the contents depend on (see `digest`). It is made under a temporary name and renamed
 * into place, so that no test ever sees it half made; when two processes make it at once, the
 * first rename wins and the other copy is dropped.
 */
export async function sharedDirectory (key: string, make: (dir: string) => Promise<void>): Promise<{ dir: string, made: boolean }> {
  const dir = join(SHARED, key)
  if (existsSync(dir)) {
    const now = new Date()
    utimesSync(dir, now, now)
    return { dir, made: false }
  }
  mkdirSync(SHARED, { recursive: true })
  removeUnused()
  const building = mkdtempSync(join(SHARED, `.${key}-`))
  try {
    await make(building)
    renameSync(building, dir)
    return { dir, made: true }
  } catch (error) {
    rmSync(building, { recursive: true, force: true })
    if (existsSync(dir)) return { dir, made: false }
    throw error
  }
}

/**
 * The files `npm pack` reads in the package at `directory`: package.json, README.md, LICENSE and
 * what package.json's `files` names (paths relative to `ROOT`).
 */
function packedSources (directory: string): string[] {
  const { files } = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as { files: string[] }
  const base = relative(ROOT, directory).split('\\').join('/')
  return ['package.json', 'README.md', 'LICENSE', ...files].flatMap((entry) => {
    const path = base === '' ? entry : `${base}/${entry}`
    const stat = statSync(join(ROOT, path), { throwIfNoEntry: false })
    return stat === undefined ? [] : stat.isFile() ? [path] : filesUnder(path)
  })
}

export interface Packed {
  /** The tarball's path. */
  tarball: string
  /** What `npm pack --json` said when it wrote it. */
  result: PackResult
}

/**
 * The tarball of the current build of the package at `directory` (default the root one), packed by
 * the first test file that asks for it.
 */
export async function packedTarball (directory = ROOT): Promise<Packed> {
  const { dir } = await sharedDirectory(`pack-${digest(packedSources(directory))}`, async (dir) => {
    const { stdout } = await runOk('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: directory })
    writeFileSync(join(dir, 'pack.json'), JSON.stringify(parsePack(stdout)))
  })
  const result = JSON.parse(readFileSync(join(dir, 'pack.json'), 'utf8')) as PackResult
  return { tarball: join(dir, result.filename), result }
}

/** The version of better-sqlite3 installed in `directory`. */
function sqliteVersionIn (directory: string): string {
  return (JSON.parse(readFileSync(join(directory, 'node_modules/better-sqlite3/package.json'), 'utf8')) as { version: string }).version
}

/**
 * Installs the tarball into the project at `directory` (its package.json's dependencies too), as a
 * consumer installs it, but with --ignore-scripts: better-sqlite3's install script compiles the
 * native addon from source when no prebuilt binary can be downloaded (about 2 minutes here), far
 * too slow for a test. It is pinned to the project's own version instead, and the project's
 * compiled addon (same version, same Node) is copied in. @node-rs/argon2 needs no script: its
 * binary is an optional platform package. --prefer-offline: the npm cache answers whatever it
 * already holds.
 */
export async function installTarball (directory: string, tarball: string): Promise<void> {
  const version = sqliteVersionIn(ROOT)
  await runOk('npm', [
    'install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball, `better-sqlite3@${version}`
  ], { cwd: directory })
  const installed = sqliteVersionIn(directory)
  if (installed !== version) {
    throw new Error(`the consumer got better-sqlite3 ${installed}, the project has ${version}: the addon cannot be copied`)
  }
  const addon = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'
  mkdirSync(join(directory, dirname(addon)), { recursive: true })
  copyFileSync(join(ROOT, addon), join(directory, addon))
}
