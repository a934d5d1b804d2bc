/** What the runner and the server under test say to each other. */

/** The runner asks for the server's usage; the answer carries the same id. */
export interface UsageRequest {
  id: number
}

/** The server process's own figures, read inside it. */
export interface ServerUsage {
  id: number
  /** User + system CPU time since the process started. */
  cpuMicros: number
  /** The highest RSS the process has had (getrusage's maxrss). */
  peakRssBytes: number
}
