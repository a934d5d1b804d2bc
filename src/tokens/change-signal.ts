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
 * connection's own change count for an in-memory database (no other connection can reach it).
 * Otherwise no signal, and why: the caller must not cache.
 *
 * `file` is the main database file as SQLite opened it (absolute, symlinks resolved): the `-shm`
 * beside any other name would be a file no commit ever touches, and the cache would never empty.
 */
export function changeSignalFor (sqlite: SQLite.Database, file: string | undefined): { signal: ChangeSignal | null, reason: string | undefined } {
  if (sqlite.memory) return { signal: ownChanges(sqlite), reason: undefined }
  if (file === undefined) return { signal: null, reason: 'a temporary database has no WAL index to watch' }
  const mode = sqlite.pragma('journal_mode', { simple: true })
  if (typeof mode !== 'string' || mode.toLowerCase() !== 'wal') {
    return {
      signal: null,
      reason: `the database is in journal_mode=${String(mode)}, not WAL, and tessera does not change the journal mode of a database it did not create`
    }
  }
  // A read transaction creates the -shm file if no connection has yet.
  sqlite.pragma('schema_version')
  const signal = walIndexHeader(`${file}-shm`)
  return signal === undefined
    ? { signal: null, reason: `the WAL index ${file}-shm cannot be read` }
    : { signal, reason: undefined }
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
