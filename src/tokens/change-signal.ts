/**
 * How the SQLite credential cache learns that the database may have changed — committed by this
 * connection, another connection, or another process (the CLI, a second server) — without
 * running a statement on every request.
 *
 * In WAL mode every commit rewrites the WAL-index header in the `-shm` file, which all connections
 * share through `mmap` (https://www.sqlite.org/walformat.html#the_wal_index_file_format): a change
 * counter, the last valid frame and the WAL's salts, written twice so that a reader can tell a
 * header being rewritten from a settled one. Reading those 96 bytes is one `pread`, with no lock.
 * `PRAGMA data_version` answers the same question but opens a read transaction (two `fcntl` locks
 * and a `stat`), which costs more than the rest of authentication put together.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import type SQLite from 'better-sqlite3'

export interface ChangeSignal {
  /**
   * Whether anything may have been committed since the previous call that answered false.
   * It may answer true when nothing changed; it never answers false after a commit.
   */
  changed: () => boolean
  close: () => void
}

const HEADER_BYTES = 48
/** `iVersion` of the WAL-index header that this reading understands (SQLite 3.7.0 and later). */
const WAL_INDEX_VERSION = 3007000

/**
 * The change signal for a database: the WAL-index header for a file in WAL mode, the
 * connection's own change count for `:memory:` (no other connection can reach it). `undefined`
 * when neither applies (a file whose journal mode is not WAL): the caller must not cache.
 */
export function changeSignalFor (sqlite: SQLite.Database, path: string): ChangeSignal | undefined {
  if (path === ':memory:') return ownChanges(sqlite)
  const mode = sqlite.pragma('journal_mode', { simple: true })
  if (typeof mode !== 'string' || mode.toLowerCase() !== 'wal') return undefined
  // A read transaction creates the -shm file if no connection has yet.
  sqlite.pragma('schema_version')
  return walIndexHeader(`${path}-shm`)
}

function ownChanges (sqlite: SQLite.Database): ChangeSignal {
  const count = sqlite.prepare<[], number>('SELECT total_changes()').pluck()
  let seen = -1
  return {
    changed: () => {
      const now = count.get()!
      if (now === seen) return false
      seen = now
      return true
    },
    close: () => {}
  }
}

function walIndexHeader (shmPath: string): ChangeSignal | undefined {
  let fd: number
  try {
    fd = openSync(shmPath, 'r')
  } catch {
    return undefined
  }
  const header = Buffer.alloc(2 * HEADER_BYTES)
  const seen = Buffer.alloc(HEADER_BYTES)
  if (readSync(fd, header, 0, header.length, 0) < header.length || header.readUInt32LE(0) !== WAL_INDEX_VERSION) {
    // Not a header this code knows how to read (or a big-endian one): no cache rather than a guess.
    closeSync(fd)
    return undefined
  }
  return {
    changed: () => {
      readSync(fd, header, 0, header.length, 0)
      // A writer rewrites the second copy, then the first: while they differ, a commit is landing.
      if (header.compare(header, HEADER_BYTES, 2 * HEADER_BYTES, 0, HEADER_BYTES) !== 0) return true
      if (header.compare(seen, 0, HEADER_BYTES, 0, HEADER_BYTES) === 0) return false
      header.copy(seen, 0, 0, HEADER_BYTES)
      return true
    },
    close: () => closeSync(fd)
  }
}
