import t from 'tap'
import { buildTestApp } from './helpers/app.js'

t.test('healthz is 200 after a database round trip, 503 when the database is gone', async (t) => {
  const { app } = await buildTestApp(t)
  const ok = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { status: 'ok' })

  await app.tessera.database.close()
  const down = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(down.statusCode, 503)
  t.same(Object.keys(down.json()).sort(), ['error', 'message', 'statusCode'])
  t.equal(down.json().error, 'Service Unavailable')
})
