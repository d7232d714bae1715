/**
 * Names flannelctl writes into `ip -batch`, `bridge -batch` and `iptables-restore` input. Those
 * languages split words on blanks and commands on newlines, and read a leading `-` as an option,
 * so one hostile name (from a flag, a state file or the store) could smuggle in a whole command.
 * Every such name is checked here before it reaches a batch; programs themselves get argv, never a
 * shell.
 */

/** Linux allows at most 15 bytes (IFNAMSIZ − 1). */
export const MAX_IFNAME = 15

/**
 * An interface name flannelctl will create or use: 1-15 letters, digits, `_ . + -`, not starting
 * with `-` or `.`. Stricter than the kernel (which also allows `$`, `;`, `(`, ...), so a few exotic
 * names that exist are refused rather than risked.
 */
export function isSafeIfName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= MAX_IFNAME && /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/.test(name)
}

/** Why `name` cannot be used as an interface name, or undefined when it can. */
export function ifNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'it is not a string'
  if (name === '') return 'it is empty'
  if (/\s/.test(name)) return 'it contains a blank or a line break'
  if (name.startsWith('-')) return 'it starts with "-" (it would be read as an option)'
  if (!/^[A-Za-z0-9_.+-]*$/.test(name)) return 'only letters, digits, "_", ".", "+" and "-" are allowed'
  if (name.startsWith('.')) return 'it starts with "."'
  if (name.length > MAX_IFNAME) return `it is longer than ${MAX_IFNAME} characters`
  return undefined
}

/** A name shown to a person: quoted and with control characters escaped, so it cannot forge lines. */
export function showName(name: unknown): string {
  return JSON.stringify(String(name))
}
