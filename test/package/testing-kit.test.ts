/**
 * `tessera-auth/testing` as a consumer gets it: the packed tarball installed into an empty ESM
 * project, which then runs the README's two examples exactly as written there — the `node:test`
 * one with `node --test`, the tap one with tap's runner (this repository's tap, linked in rather
 * than downloaded).
 *
 * tap compiles its set of plugins into its own installation, and compiles it again whenever a
 * project asks for another set: the consumer must ask for this repository's (from .taprc), or it
 * would rebuild, under the feet of the suite running around this test, the tap that suite runs.
 */
import { mkdtempSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ROOT, installTarball, packedTarball, run, staleBuild } from '../helpers/package.js'

const stale = staleBuild()
if (stale.length > 0) throw new Error(`dist is older than ${stale.join(', ')}: run \`npm run build\` first (npm test does)`)

/** The README's example test files: fenced `js` blocks whose first line names the file. */
function readmeExamples (): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const examples = new Map<string, string>()
  for (const [, path, body] of readme.matchAll(/^```js\n\/\/ (test\/[\w.-]+\.test\.js)\n([\s\S]*?)^```$/gm)) {
    examples.set(path!, body!)
  }
  return examples
}

const work = mkdtempSync(join(tmpdir(), 'tessera-kit-consumer-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))
const { tarball } = await packedTarball()
const consumer = join(work, 'consumer')
mkdirSync(join(consumer, 'test'), { recursive: true })
writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'kit-consumer', private: true, type: 'module' }, null, 2))
await installTarball(consumer, tarball)
// After the install, which would remove a package it did not put there.
const tapHome = realpathSync(join(ROOT, 'node_modules/tap'))
symlinkSync(tapHome, join(consumer, 'node_modules/tap'), 'dir')
const plugins = /^plugin:\n((?: {2}- .*\n)+)/m.exec(readFileSync(join(ROOT, '.taprc'), 'utf8'))?.[1] ?? ''
writeFileSync(join(consumer, '.taprc'), plugins === '' ? '' : `plugin:\n${plugins}`)
/** The plugin set tap compiled last (see above). */
const tapBuild = join(realpathSync(join(tapHome, '../@tapjs/test')), 'test-built/package.json')

const examples = readmeExamples()
for (const [path, body] of examples) writeFileSync(join(consumer, path), body)

t.test('the README has a node:test example and a tap example of the kit', async (t) => {
  t.same([...examples.keys()].sort(), ['test/tessera.node.test.js', 'test/tessera.tap.test.js'])
  for (const body of examples.values()) t.match(body, /from 'tessera-auth\/testing'/)
})

// A consumer's environment (see run), with NODE_ENV empty whatever this process has.
const env = { NODE_ENV: '' }

t.test('the node:test example passes under node --test', async (t) => {
  const result = await run(process.execPath, ['--test', 'test/tessera.node.test.js'], { cwd: consumer, env })
  t.equal(result.code, 0, result.stdout + result.stderr)
  t.match(result.stdout, /^# pass 2$/m)
  t.match(result.stdout, /^# fail 0$/m)
})

t.test("the tap example passes under tap's runner", async (t) => {
  const tap = join(consumer, 'node_modules/tap/dist/esm/run.mjs')
  const built = statSync(tapBuild).mtimeMs
  const result = await run(process.execPath, [tap, '--disable-coverage', '--reporter=tap', 'test/tessera.tap.test.js'], { cwd: consumer, env })
  t.equal(result.code, 0, result.stdout + result.stderr)
  t.match(result.stdout, /^ok 1 - test\/tessera\.tap\.test\.js/m)
  t.notMatch(result.stdout, /^\s*not ok/m)
  t.equal(statSync(tapBuild).mtimeMs, built, "tap did not rebuild its plugins: the consumer asked for this repository's set")
})

t.test('the package refuses the kit when NODE_ENV=production', async (t) => {
  writeFileSync(join(consumer, 'production.js'),
    "import { startTestServer } from 'tessera-auth/testing'\nawait startTestServer()\n")
  const result = await run(process.execPath, ['production.js'], { cwd: consumer, env: { NODE_ENV: 'production' } })
  t.not(result.code, 0)
  t.match(result.stderr, /the test kit's password cost is refused: NODE_ENV is production/)
})
