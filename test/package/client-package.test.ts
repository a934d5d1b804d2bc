/**
 * `tessera-auth-client` as a consumer gets it: packages/client packed, and the tarball installed
 * alone into an empty project, offline (it needs nothing from the registry). It brings no
 * dependency, no install script and no native build; its code imports nothing and touches no
 * Node-only API; its types resolve under TypeScript's `moduleResolution` node16, nodenext and
 * bundler with neither the DOM's nor Node's typings (and fit the DOM's `fetch` where there is one);
 * and the installed package drives a real tessera server. The README states its packed size.
 *
 * Deno, browsers and React Native are not installed here: what stands for them is the proof that
 * the client needs only ECMAScript and a `fetch` (packages/client/tsconfig.json compiles it with
 * ECMAScript's library alone and no @types, and the checks of the built code below).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { CLIENT_PACKAGE, ROOT, packedTarball, run, runOk, staleBuild } from '../helpers/package.js'

interface Manifest {
  name: string
  version: string
  license: string
  type?: string
  main?: string
  types?: string
  exports?: Record<string, string | Record<string, string>>
  scripts?: Record<string, string>
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  bundleDependencies?: unknown
  gypfile?: boolean
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T

const stale = staleBuild()
if (stale.length > 0) throw new Error(`dist is older than ${stale.join(', ')}: run \`npm run build\` first (npm test does)`)

const work = mkdtempSync(join(tmpdir(), 'tessera-client-consumer-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))

const { result: packed, tarball } = await packedTarball(CLIENT_PACKAGE)

const consumer = join(work, 'consumer')
mkdirSync(consumer)
writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
// --offline: a package that needs nothing installs without the registry.
await runOk('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: consumer })
const installed = join(consumer, 'node_modules/tessera-auth-client')

t.test('the tarball holds the built client, its types, README, LICENSE and package.json only', async (t) => {
  t.equal(packed.name, 'tessera-auth-client')
  t.same(packed.files.map((file) => file.path).sort(),
    ['LICENSE', 'README.md', 'dist/index.d.ts', 'dist/index.js', 'package.json'])
  const manifest = readJson<Manifest>(join(CLIENT_PACKAGE, 'package.json'))
  const root = readJson<Manifest>(join(ROOT, 'package.json'))
  t.equal(manifest.version, root.version, 'released with the server, at its version')
  t.equal(manifest.license, 'MIT')
  t.equal(readFileSync(join(CLIENT_PACKAGE, 'LICENSE'), 'utf8'), readFileSync(join(ROOT, 'LICENSE'), 'utf8'), "the server's licence")
  t.equal(manifest.type, 'module', 'ESM')
  t.same(manifest.exports, {
    '.': { types: './dist/index.d.ts', default: './dist/index.js' },
    './package.json': './package.json'
  }, 'types first, then the code')
  t.equal(manifest.types, './dist/index.d.ts')
})

t.test('the README states the packed size, and it is the size', async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const stated = /`tessera-auth-client`[^]{0,200}?([\d.]+) kB packed \(gzip\)/.exec(readme)
  t.ok(stated, 'README.md says "`tessera-auth-client` … <n> kB packed (gzip)"')
  const kilobytes = packed.size / 1000
  t.comment(`tessera-auth-client: ${kilobytes.toFixed(1)} kB packed (gzip)`)
  if (stated === null) return
  const close = Math.abs(kilobytes - Number(stated[1])) <= 0.5
  t.ok(close, close ? 'within 0.5 kB' : `README states ${stated[1]} kB, the tarball is ${kilobytes.toFixed(1)} kB: update the README`)
})

t.test('installed alone: no dependency, no install script, no native build', async (t) => {
  const { stdout } = await runOk('npm', ['ls', '--all', '--json'], { cwd: consumer })
  const tree = JSON.parse(stdout) as { dependencies?: Record<string, { dependencies?: unknown }> }
  t.same(Object.keys(tree.dependencies ?? {}), ['tessera-auth-client'])
  t.equal(tree.dependencies?.['tessera-auth-client']?.dependencies, undefined, 'it depends on nothing')
  t.same(readdirSync(join(consumer, 'node_modules')).filter((entry) => !entry.startsWith('.')), ['tessera-auth-client'],
    'node_modules holds the client alone')

  const manifest = readJson<Manifest>(join(installed, 'package.json'))
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'bundleDependencies'] as const) {
    t.equal(manifest[field], undefined, `no ${field}`)
  }
  const installScripts = Object.keys(manifest.scripts ?? {}).filter((name) => ['preinstall', 'install', 'postinstall', 'prepare'].includes(name))
  t.same(installScripts, [], 'no install scripts')
  t.notOk(manifest.gypfile, 'no native build')
  t.notOk(readdirSync(installed, { recursive: true }).some((file) => /binding\.gyp$|\.node$/.test(String(file))), 'no native code')
})

t.test('the code uses only ECMAScript and fetch: no import at all, nothing of Node', async (t) => {
  // The code without its comments, whose examples mention `import` and `process.env`.
  const code = readFileSync(join(installed, 'dist/index.js'), 'utf8').replace(/\/\*[^]*?\*\/|^\s*\/\/.*$/gm, '')
  t.notMatch(code, /^\s*import\s|\bimport\(|\brequire\(/m, 'imports nothing')
  t.notMatch(code, /\bnode:|\bBuffer\b|\bprocess\.|\b__dirname\b/, 'no Node-only API')
  t.match(code, /globalThis\b/, 'the global fetch, looked up on globalThis')
})

const CONSUMER_TS = `
import { TesseraClient, TesseraError, type FetchFunction, type IssuedToken, type Session } from 'tessera-auth-client'

export async function sessions (baseUrl: string, password: string): Promise<Session[]> {
  const client = new TesseraClient({ baseUrl, prefix: '/auth', headers: { 'user-agent': 'consumer' } })
  const issued: IssuedToken = await client.login({ username: 'alice', password, device: 'consumer' })
  const id: number = issued.user.id
  // @ts-expect-error: the types are real, not any
  await client.login({ username: 1, password })
  try {
    await client.revokeToken(issued.tokenId)
  } catch (error) {
    if (error instanceof TesseraError && error.status + id > 0) return []
  }
  const listed = await client.listTokens()
  const devices: string[] = listed.map((session) => session.device)
  return devices.length > 0 ? listed : []
}

export const stub: FetchFunction = async (url, init) => ({
  ok: true, status: 204, statusText: 'No Content', headers: { get: () => null }, text: async () => url + init.method
})
`

// Where there is a DOM (a browser, a bundler's project), its fetch and URL fit the options.
const BROWSER_TS = `
import { TesseraClient } from 'tessera-auth-client'

export const client = new TesseraClient({ baseUrl: new URL(location.origin), fetch: window.fetch })
export const headers: HeadersInit = { ...(client.token === null ? {} : client.authHeaders()) }
`

const RESOLUTIONS = [
  { name: 'node16', module: 'node16', moduleResolution: 'node16', lib: ['ES2022'], files: ['consumer.ts'] },
  { name: 'nodenext', module: 'nodenext', moduleResolution: 'nodenext', lib: ['ES2022'], files: ['consumer.ts'] },
  { name: 'bundler', module: 'esnext', moduleResolution: 'bundler', lib: ['ES2022'], files: ['consumer.ts'] },
  { name: 'bundler-dom', module: 'esnext', moduleResolution: 'bundler', lib: ['ES2022', 'DOM'], files: ['consumer.ts', 'browser.ts'] }
]

t.test('its types resolve under moduleResolution node16, nodenext and bundler, without DOM or Node typings', async (t) => {
  writeFileSync(join(consumer, 'consumer.ts'), CONSUMER_TS)
  writeFileSync(join(consumer, 'browser.ts'), BROWSER_TS)
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc')
  // One after the other: each tsc takes a core for seconds.
  for (const resolution of RESOLUTIONS) {
    const config = `tsconfig.${resolution.name}.json`
    writeFileSync(join(consumer, config), JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: resolution.module,
        moduleResolution: resolution.moduleResolution,
        lib: resolution.lib,
        types: [],
        strict: true,
        noEmit: true,
        skipLibCheck: false
      },
      files: resolution.files
    }))
    const result = await run(process.execPath, [tsc, '-p', config], { cwd: consumer })
    t.equal(result.code, 0, `${resolution.name}: type-checks\n${result.stdout}${result.stderr}`)
  }
})

const CONSUMER_SCRIPT = `
import { TesseraClient, TesseraError } from 'tessera-auth-client'

const [baseUrl, password] = process.argv.slice(2)
const client = new TesseraClient({ baseUrl })
const issued = await client.register({ username: 'consumer', password, device: 'consumer script' })
const me = await client.me()
const created = await client.createToken({ device: 'ci', scopes: ['sessions'] })
const sessions = await client.listTokens()
await client.logout()
let refusal
try {
  await new TesseraClient({ baseUrl, token: issued.token }).me()
} catch (error) {
  refusal = { isTesseraError: error instanceof TesseraError, status: error.status, requestId: error.requestId }
}
console.log(JSON.stringify({ token: issued.token.slice(0, 4), me, created: created.device, sessions: sessions.length, refusal }))
`

t.test('the installed package drives a real tessera server', async (t) => {
  const { app } = await buildTestApp(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  writeFileSync(join(consumer, 'run.mjs'), CONSUMER_SCRIPT)
  const { stdout } = await runOk(process.execPath, ['run.mjs', baseUrl, 'correct horse battery'], { cwd: consumer })
  const result = JSON.parse(stdout) as Record<string, unknown>
  t.match(result, {
    token: 'tsr_',
    me: { username: 'consumer', email: null },
    created: 'ci',
    sessions: 2,
    refusal: { isTesseraError: true, status: 401, requestId: /^[0-9a-f-]{36}$/ }
  })
})

t.test("tessera-auth/client is the same client: the server's package exports the same names", async (t) => {
  const standalone = await import(join(installed, 'dist/index.js')) as Record<string, unknown>
  const specifier = 'tessera-auth/client'
  const bundled = await import(specifier) as Record<string, unknown>
  t.same(Object.keys(bundled).sort(), Object.keys(standalone).sort())
  t.same(Object.keys(standalone).sort(), ['TesseraClient', 'TesseraError'])
})
