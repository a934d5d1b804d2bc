import t from 'tap'
import { PASSWORD, buildTestApp, uniqueName } from './helpers/app.js'

t.test('the contract over a real listening server', async (t) => {
  const { app } = await buildTestApp(t)
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const call = async (method: string, path: string, options: { token?: string, body?: unknown } = {}): Promise<Response> =>
    await fetch(`${address}${path}`, {
      method,
      headers: {
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(options.token === undefined ? {} : { authorization: `Token ${options.token}` })
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body)
    })

  const username = uniqueName('net')
  const registered = await call('POST', '/auth/register', { body: { username, password: PASSWORD } })
  t.equal(registered.status, 201)
  t.match(registered.headers.get('content-type'), /application\/json/)
  const { token: first } = await registered.json() as { token: string }

  const loggedIn = await call('POST', '/auth/login', { body: { username, password: PASSWORD, device: 'CI' } })
  t.equal(loggedIn.status, 200)
  const { token: second } = await loggedIn.json() as { token: string }

  const meResponse = await call('GET', '/auth/me', { token: second })
  t.equal(meResponse.status, 200)
  t.equal(((await meResponse.json()) as { user: { username: string } }).user.username, username)

  const anonymous = await call('GET', '/auth/me')
  t.equal(anonymous.status, 401)
  t.equal(anonymous.headers.get('www-authenticate'), 'Token')

  const bigHeader = await fetch(`${address}/auth/me`, { headers: { authorization: `Token ${'x'.repeat(10 * 1024)}` } })
  t.equal(bigHeader.status, 401, 'a 10 KB header is served, and refused as a token')

  const latin1 = await new Promise<number>((resolve, reject) => {
    // Bytes that are not valid UTF-8, sent raw: fetch would refuse to send them.
    import('node:http').then(({ request }) => {
      const url = new URL(`${address}/auth/me`)
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, headers: { authorization: Buffer.from('Token \xff\xfe', 'latin1').toString('latin1') } }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      req.end()
    }, reject)
  })
  t.equal(latin1, 401, 'invalid UTF-8 in the header is a 401, not a 500')

  t.equal((await call('POST', '/auth/logout', { token: second })).status, 204)
  t.equal((await call('GET', '/auth/me', { token: second })).status, 401)
  t.equal((await call('GET', '/auth/me', { token: first })).status, 200)
  t.equal((await call('POST', '/auth/logoutall', { token: first })).status, 204)
  t.equal((await call('GET', '/auth/me', { token: first })).status, 401)

  const health = await call('GET', '/healthz')
  t.equal(health.status, 200)
  t.same(await health.json(), { status: 'ok' })
})
