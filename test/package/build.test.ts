/**
 * `npm start` builds only what changed: its `prestart` (the build) compiles everything on a fresh
 * clone, then leaves `dist` untouched while the sources are, and recompiles an edited source.
 * Run on a copy of the sources (src, migrations, the tsconfigs, package.json) in a temporary
 * directory, so that the repository's own `dist`, which other tests run, is never rewritten.
 */
import { appendFileSync, cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import t from 'tap'
import { ROOT, runOk } from '../helpers/package.js'

const clone = mkdtempSync(join(tmpdir(), 'tessera-build-'))
t.teardown(() => rmSync(clone, { recursive: true, force: true }))
for (const entry of ['src', 'migrations', 'tsconfig.json', 'tsconfig.build.json', 'package.json']) {
  cpSync(join(ROOT, entry), join(clone, entry), { recursive: true })
}
symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir')

/** Every file under dist, with its modification time. */
function distFiles (): Map<string, number> {
  const dist = join(clone, 'dist')
  return new Map(readdirSync(dist, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const path = join(entry.parentPath, entry.name)
      return [relative(dist, path), statSync(path).mtimeMs] as const
    }))
}

function changed (before: Map<string, number>, after: Map<string, number>): string[] {
  return [...after].filter(([file, mtime]) => before.get(file) !== mtime).map(([file]) => file).sort()
}

t.test('prestart builds a fresh clone, then rebuilds nothing until a source changes', async (t) => {
  t.notOk(existsSync(join(clone, 'dist')), 'a fresh clone has no dist')
  await runOk('npm', ['run', 'prestart'], { cwd: clone })
  t.ok(existsSync(join(clone, 'dist/src/cli/bin.js')), 'the first prestart built the service')
  const built = distFiles()

  const again = performance.now()
  await runOk('npm', ['run', 'prestart'], { cwd: clone })
  t.comment(`a prestart with nothing to do: ${((performance.now() - again) / 1000).toFixed(1)} s`)
  t.same(changed(built, distFiles()), [], 'a second prestart rewrites nothing')

  appendFileSync(join(clone, 'src/time.ts'), '\n// an edit\n')
  await runOk('npm', ['run', 'prestart'], { cwd: clone })
  const rebuilt = changed(built, distFiles()).filter((file) => !file.endsWith('.tsbuildinfo'))
  t.same(rebuilt, ['src/time.d.ts', 'src/time.js', 'src/time.js.map'], 'an edited source is compiled again, and nothing else')
})
