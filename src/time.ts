/** An instant as the API shows it: ISO-8601 in UTC, or null. */
export function toIso (epochMs: number | null): string | null {
  return epochMs === null ? null : new Date(epochMs).toISOString()
}
