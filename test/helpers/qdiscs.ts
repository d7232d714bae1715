/**
 * A snapshot collected before collect read tc (many fixtures) has no qdiscs: each host a trace
 * crosses says so (ASSUMED: none drops, delays or redirects the packet). Tests about other
 * assumptions look past that one.
 */
const QDISCS_UNREAD = /(^|: )the qdiscs of \S+ were not captured: /

/** The warnings (or doctor's findings) other than a host's unread qdiscs. */
export function besidesQdiscs<T extends {message: string}>(said: T[]): T[] {
  return said.filter(w => !QDISCS_UNREAD.test(w.message))
}
