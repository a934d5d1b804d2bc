import { spawnSync } from 'node:child_process'
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'
import { DEFAULT_SETTINGS } from '../src/settings.js'

t.test('defaults', async (t) => {
  const config = loadConfig({})
  t.equal(config.port, 3000)
  t.equal(config.host, '127.0.0.1')
  t.equal(config.databaseUrl, 'sqlite:./data/tessera.db')
  t.equal(config.settings.tokenTtl, 10 * 3600_000)
  t.equal(config.settings.registration, 'open')
  t.same(config.settings, { ...DEFAULT_SETTINGS, sweepInterval: 3600_000 })
  t.equal(config.tokenCacheSize, 10_000)
  t.equal(loadConfig({ TESSERA_TOKEN_CACHE_SIZE: '0' }).tokenCacheSize, 0, '0 turns the token cache off')
  t.equal(config.groupCommit, true)
  t.equal(loadConfig({ TESSERA_GROUP_COMMIT: 'false' }).groupCommit, false)
  t.throws(() => loadConfig({ TESSERA_GROUP_COMMIT: 'sometimes' }), /TESSERA_GROUP_COMMIT/)
})

t.test('durations, none and off', async (t) => {
  const config = loadConfig({
    TESSERA_TOKEN_TTL: '1500ms',
    TESSERA_AUTO_REFRESH_MAX_TTL: '7d',
    TESSERA_MIN_REFRESH_INTERVAL: '30s',
    TESSERA_LOGIN_RATE_LIMIT: 'off',
    TESSERA_REGISTRATION: 'closed',
    TESSERA_SWEEP_INTERVAL: 'none',
    TESSERA_TOKEN_LIMIT_PER_USER: '3',
    TESSERA_TOKEN_LIMIT_POLICY: 'evict-oldest',
    TESSERA_AUTO_REFRESH: 'true',
    DATABASE_URL: 'sqlite::memory:',
    PORT: '8080'
  })
  t.equal(config.settings.tokenTtl, 1500)
  t.equal(config.settings.autoRefreshMaxTtl, 7 * 86_400_000)
  t.equal(config.settings.minRefreshInterval, 30_000)
  t.equal(config.settings.loginRateLimit, null)
  t.equal(config.settings.registration, 'closed')
  t.equal(config.settings.sweepInterval, null)
  t.equal(config.settings.tokenLimitPerUser, 3)
  t.equal(config.settings.tokenLimitPolicy, 'evict-oldest')
  t.equal(config.settings.autoRefresh, true)
  t.equal(config.port, 8080)
  t.equal(loadConfig({ TESSERA_TOKEN_TTL: 'none' }).settings.tokenTtl, null)
  t.same(loadConfig({ TESSERA_LOGIN_RATE_LIMIT: '5/30s' }).settings.loginRateLimit, { max: 5, windowMs: 30_000 })
  for (const [text, ms] of [['2m', 120_000], ['3h', 10_800_000], ['1d', 86_400_000], ['45s', 45_000]] as const) {
    t.equal(loadConfig({ TESSERA_TOKEN_TTL: text }).settings.tokenTtl, ms, text)
  }
})

t.test('bad values are refused, each named with what was expected', async (t) => {
  const bad: Record<string, string> = {
    PORT: '70000',
    TESSERA_TOKEN_TTL: '10 hours',
    TESSERA_REGISTRATION: 'maybe',
    DATABASE_URL: 'mysql://x',
    TESSERA_LOGIN_RATE_LIMIT: 'lots',
    TESSERA_TOKEN_LIMIT_PER_USER: '0',
    TESSERA_TOKEN_PREFIX: 'has space',
    TESSERA_TOKEN_CACHE_SIZE: '-1'
  }
  try {
    loadConfig(bad)
    t.fail('should have thrown')
  } catch (error) {
    t.ok(error instanceof ConfigError)
    const problems = (error as ConfigError).problems
    t.equal(problems.length, Object.keys(bad).length)
    for (const name of Object.keys(bad)) t.ok(problems.some((p) => p.startsWith(`${name}=`)), name)
    t.match((error as Error).message, /TESSERA_TOKEN_TTL="10 hours" is not valid: expected <n>ms/)
  }
  for (const ttl of ['0s', '-1h', '10', 'h', '1.5h']) t.throws(() => loadConfig({ TESSERA_TOKEN_TTL: ttl }), ConfigError, ttl)
})

t.test('the service exits non-zero with a clear message on a bad value', async (t) => {
  const result = spawnSync(process.execPath, ['dist/src/cli/bin.js', 'serve'], {
    env: { ...process.env, TESSERA_TOKEN_TTL: 'forever', DATABASE_URL: 'sqlite::memory:' },
    encoding: 'utf8',
    timeout: 20_000
  })
  t.equal(result.status, 1)
  t.match(result.stderr, /^tessera: invalid configuration: TESSERA_TOKEN_TTL="forever" is not valid: expected [^\n]+\n$/)
})

t.test('a sliding cap that cannot apply is a configuration error, not silently ignored (audit item 12)', async (t) => {
  t.throws(() => loadConfig({ TESSERA_TOKEN_TTL: 'none', TESSERA_AUTO_REFRESH: 'true', TESSERA_AUTO_REFRESH_MAX_TTL: '1d' }),
    { name: 'ConfigError', message: /TESSERA_AUTO_REFRESH_MAX_TTL="1d" cannot apply: TESSERA_TOKEN_TTL=none/ })
  t.throws(() => loadConfig({ TESSERA_AUTO_REFRESH_MAX_TTL: '1d' }),
    { name: 'ConfigError', message: /TESSERA_AUTO_REFRESH_MAX_TTL="1d" applies only to sliding tokens: set TESSERA_AUTO_REFRESH=true/ })
  t.equal(loadConfig({ TESSERA_AUTO_REFRESH: 'true', TESSERA_AUTO_REFRESH_MAX_TTL: '1d' }).settings.autoRefreshMaxTtl, 86_400_000)
})
