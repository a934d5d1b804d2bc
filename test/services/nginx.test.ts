/**
 * examples/nginx/nginx.conf, run by a real nginx (Debian's `nginx` package; `.ci/run` installs it)
 * in front of a small upstream, with tessera answering its `auth_request` subrequests over real
 * HTTP. The example file is used as it is, its three addresses replaced by free ports, inside a
 * generated top-level configuration that keeps nginx's pid, logs and temporary files in a temporary
 * directory. Without nginx the test fails: it must not pass by skipping.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { auth, buildTestApp, register } from '../helpers/app.js'

const EXAMPLE = new URL('../../examples/nginx/nginx.conf', import.meta.url)

// nginx on the PATH, or where Debian puts it (/usr/sbin, not on every user's PATH).
const NGINX = ['nginx', '/usr/sbin/nginx'].find((command) => spawnSync(command, ['-v']).error === undefined)
if (NGINX === undefined) {
  t.fail('nginx is not installed (not on the PATH, nor /usr/sbin/nginx): install Debian\'s nginx package (apt-get install -y nginx), as .ci/run does')
  t.end()
  process.exit(1)
}

async function freePort (): Promise<number> {
  const server = createNetServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** The example with its placeholders replaced; each must be there exactly once. */
function exampleFor (tessera: string, upstream: string, port: number): string {
  let text = readFileSync(EXAMPLE, 'utf8')
  const replacements: Array<[string, string]> = [['server 127.0.0.1:3000;', `server ${tessera};`], ['server 127.0.0.1:8080;', `server ${upstream};`], ['listen 8000;', `listen 127.0.0.1:${port};`]]
  for (const [placeholder, value] of replacements) {
    const count = text.split(placeholder).length - 1
    if (count !== 1) throw new Error(`examples/nginx/nginx.conf: expected "${placeholder}" once, found it ${count} times`)
    text = text.replace(placeholder, value)
  }
  return text
}

// tessera, listening.
const { app } = await buildTestApp(t)
const tesseraUrl = await app.listen({ port: 0, host: '127.0.0.1' })

// The upstream: answers every request with what it received.
interface Seen { method: string, url: string, headers: IncomingHttpHeaders, rawHeaders: string[] }
const seen: Seen[] = []
const upstream = createServer((request, response) => {
  seen.push({ method: request.method!, url: request.url!, headers: request.headers, rawHeaders: request.rawHeaders })
  response.setHeader('content-type', 'application/json')
  response.end(JSON.stringify({ url: request.url, headers: request.headers }))
})
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
t.teardown(async () => await new Promise((resolve) => upstream.close(resolve)))
const upstreamAddress = `127.0.0.1:${(upstream.address() as AddressInfo).port}`

// nginx, in the foreground, everything it writes in a temporary directory.
const dir = mkdtempSync(join(tmpdir(), 'tessera-nginx-'))
chmodSync(dir, 0o755) // run as root, nginx's worker runs as nobody and must reach its temp paths
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const port = await freePort()
writeFileSync(join(dir, 'tessera.conf'), exampleFor(new URL(tesseraUrl).host, upstreamAddress, port))
writeFileSync(join(dir, 'nginx.conf'), `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/tessera.conf;
}
`)
const errorLog = (): string => { try { return readFileSync(join(dir, 'error.log'), 'utf8') } catch { return '' } }
let stderr = ''
// -e: the log nginx writes to before it has read its configuration (Debian's default is stderr).
const nginx: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] })
nginx.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
let exited = false
const exit = new Promise<void>((resolve) => nginx.on('exit', () => { exited = true; resolve() }))
t.teardown(async () => {
  if (!exited) nginx.kill('SIGTERM')
  await exit
})

const base = `http://127.0.0.1:${port}`
for (let waited = 0; ; waited += 50) {
  if (exited || waited > 5000) throw new Error(`nginx did not start:\n${stderr}${errorLog()}`)
  try {
    await fetch(`${base}/`)
    break
  } catch {
    await sleep(50)
  }
}

const get = async (path: string, headers: Record<string, string> = {}): Promise<Response> =>
  await fetch(`${base}${path}`, { headers })
/** What the upstream saw of the request just made, or undefined if it never reached it. */
async function through (path: string, headers: Record<string, string> = {}): Promise<{ response: Response, body: string, upstream: Seen | undefined }> {
  const before = seen.length
  const response = await get(path, headers)
  const body = await response.text()
  return { response, body, upstream: seen.length > before ? seen.at(-1) : undefined }
}
/** A new token of the holder of `token`, with these scopes only. */
const scoped = async (token: string, scopes: string[]): Promise<{ token: string, tokenId: string }> => {
  const response = await app.inject({ method: 'POST', url: '/auth/tokens', headers: auth(token), payload: { device: 'nginx test', scopes } })
  if (response.statusCode !== 201) throw new Error(`POST /auth/tokens: ${response.statusCode} ${response.body}`)
  return response.json()
}

// A first user, so that the users of the tests below are not user 1.
const first = await register(app)

t.test('no token, or a bad one: 401 with tessera\'s WWW-Authenticate, once; the upstream never asked', async (t) => {
  const malformed = 'Token error="invalid_token", error_description="Invalid token: it is not a well-formed token (mistyped or truncated?)."'
  for (const [what, headers, challenge] of [
    ['no token', {}, 'Token'],
    ['a bad token', { authorization: 'Token tsr_nonsense' }, malformed],
    ['a bad Bearer token', { authorization: 'Bearer nope' }, malformed]
  ] as const) {
    const { response, upstream } = await through('/orders', headers)
    t.equal(response.status, 401, what)
    t.equal(response.headers.get('www-authenticate'), challenge, `${what}: exactly one challenge`)
    t.equal(upstream, undefined, `${what}: the upstream was not reached`)
  }
  t.equal((await through('/admin/panel')).response.status, 401, 'no token on /admin/: 401, not 403')
})

t.test('a valid token: the upstream answers, and sees who the user is', async (t) => {
  const alice = await register(app)
  t.not(alice.user.id, 1)
  const { response, body, upstream } = await through('/orders?page=2', auth(alice.token))
  t.equal(response.status, 200)
  t.equal(JSON.parse(body).url, '/orders?page=2', 'the upstream answered')
  t.ok(upstream)
  t.equal(upstream!.url, '/orders?page=2')
  t.equal(upstream!.headers['x-tessera-user-id'], String(alice.user.id))
  t.equal(upstream!.headers['x-tessera-username'], alice.user.username)
  t.equal(upstream!.headers['x-tessera-token-id'], alice.tokenId)
  t.equal(upstream!.headers['x-tessera-scopes'], '*')
  t.equal(response.headers.get('www-authenticate'), null, 'no challenge on a 200')
  t.equal(upstream!.headers.authorization, `Token ${alice.token}`, 'the service gets the token too (nginx passes it on)')

  const bearer = await through('/orders', { authorization: `Bearer ${alice.token}` })
  t.equal(bearer.response.status, 200, 'Bearer works as well')
  t.equal(bearer.upstream!.headers['x-tessera-user-id'], String(alice.user.id))
})

t.test('a revoked token: 401 on the very next request', async (t) => {
  const bob = await register(app)
  t.equal((await through('/orders', auth(bob.token))).response.status, 200)
  const logout = await fetch(`${tesseraUrl}/auth/logout`, { method: 'POST', headers: auth(bob.token) })
  t.equal(logout.status, 204, 'logged out at tessera itself')
  const { response, upstream } = await through('/orders', auth(bob.token))
  t.equal(response.status, 401)
  t.equal(response.headers.get('www-authenticate'), 'Token error="invalid_token", error_description="Token has been revoked: it was logged out."',
    'the reason reaches the client')
  t.equal(upstream, undefined)

  // A session revoked by id, from another of the user's tokens: the same.
  const erin = await register(app)
  const second = await scoped(erin.token, ['orders'])
  t.equal((await through('/orders', auth(second.token))).response.status, 200)
  t.equal((await fetch(`${tesseraUrl}/auth/tokens/${second.tokenId}`, { method: 'DELETE', headers: auth(erin.token) })).status, 204)
  t.equal((await through('/orders', auth(second.token))).response.status, 401, 'revoked by id: 401 on the next request')
})

t.test('/admin/ needs the scope admin: 403 with tessera\'s challenge without it', async (t) => {
  const carol = await register(app)
  const orders = (await scoped(carol.token, ['orders'])).token
  const admin = (await scoped(carol.token, ['admin'])).token

  const refused = await through('/admin/users', auth(orders))
  t.equal(refused.response.status, 403)
  t.equal(refused.response.headers.get('www-authenticate'), 'Token error="insufficient_scope", scope="admin"')
  t.equal(refused.upstream, undefined, 'the upstream was not reached')
  const ordersOk = await through('/orders', auth(orders))
  t.equal(ordersOk.response.status, 200, 'the same token is fine where no scope is asked')
  t.equal(ordersOk.upstream!.headers['x-tessera-scopes'], 'orders')

  const allowed = await through('/admin/users', auth(admin))
  t.equal(allowed.response.status, 200)
  t.equal(allowed.upstream!.url, '/admin/users')
  t.equal(allowed.upstream!.headers['x-tessera-user-id'], String(carol.user.id))
  t.equal(allowed.upstream!.headers['x-tessera-scopes'], 'admin')
  t.equal(allowed.response.headers.get('www-authenticate'), null)
  t.equal((await through('/admin/users', auth(carol.token))).response.status, 200, 'a token with * too')
})

t.test('client-sent X-Tessera-* headers never reach the upstream as tessera\'s', async (t) => {
  const dave = await register(app)
  const forged = { 'x-tessera-user-id': String(first.user.id), 'x-tessera-username': first.user.username, 'x-tessera-scopes': 'admin', 'x-tessera-token-id': first.tokenId }
  const { response, upstream } = await through('/orders', { ...forged, ...auth(dave.token) })
  t.equal(response.status, 200)
  t.equal(upstream!.headers['x-tessera-user-id'], String(dave.user.id), 'the real id, and only it')
  t.equal(upstream!.headers['x-tessera-username'], dave.user.username)
  t.equal(upstream!.headers['x-tessera-scopes'], '*')
  t.equal(upstream!.headers['x-tessera-token-id'], dave.tokenId)
  const names = upstream!.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase())
  t.equal(names.filter((name) => name === 'x-tessera-user-id').length, 1, 'one X-Tessera-User-Id header, not two')

  const underscored = await through('/orders', { x_tessera_user_id: String(first.user.id), ...auth(dave.token) })
  t.notOk(underscored.upstream!.rawHeaders.some((name) => name.toLowerCase() === 'x_tessera_user_id'), 'X_Tessera_User_Id is dropped')

  const anonymous = await through('/orders', forged)
  t.equal(anonymous.response.status, 401, 'forged headers and no token: 401')
  t.equal(anonymous.upstream, undefined, 'never reaching the upstream')
  const scopeForged = await through('/admin/users', { ...forged, ...auth((await scoped(dave.token, ['orders'])).token) })
  t.equal(scopeForged.response.status, 403, 'a forged X-Tessera-Scopes grants nothing')
})

t.test('the subrequest locations are internal', async (t) => {
  for (const path of ['/_tessera_verify', '/_tessera_verify_admin']) {
    const { response, upstream } = await through(path)
    t.equal(response.status, 404, path)
    t.equal(upstream, undefined)
  }
  t.equal(errorLog().match(/\[(emerg|alert|crit)\]/), null, 'nothing serious in nginx\'s error log')
})
