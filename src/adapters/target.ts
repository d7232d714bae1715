/**
 * Where a command runs. A target only rewrites the argv; nothing here goes through a shell,
 * except ssh, whose remote side always does, so every word is quoted for it.
 */
import {userError} from '../errors.js'
import {shellQuote} from '../core/words.js'

export type Target =
  | {kind: 'local'}
  | {kind: 'netns'; name: string}
  | {kind: 'ssh'; destination: string}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@:-]*$/

export function parseTarget(spec: string | undefined): Target {
  if (!spec || spec === 'local') return {kind: 'local'}
  const [kind, ...rest] = spec.split(':')
  const value = rest.join(':')
  if (kind === 'netns' && SAFE_NAME.test(value) && value.length <= 64) return {kind: 'netns', name: value}
  if (kind === 'ssh' && SAFE_NAME.test(value)) return {kind: 'ssh', destination: value}
  throw userError(`cannot use '${spec}' as an exec target`, 'write local, netns:NAME or ssh:USER@HOST (names: letters, digits, . _ - @ :)')
}

export function targetToString(t: Target): string {
  return t.kind === 'local' ? 'local' : t.kind === 'netns' ? `netns:${t.name}` : `ssh:${t.destination}`
}

/** One word for a POSIX shell (src/core/words.ts: commands printed for a person use it too). */
export {shellQuote}

/** The argv that runs `file args` on the target. */
export function wrapForTarget(t: Target, file: string, args: string[]): {file: string; args: string[]} {
  switch (t.kind) {
    case 'local': return {file, args}
    // ip and bridge enter a namespace themselves (-n): one exec instead of two on every batch.
    case 'netns': return file === 'ip' || file === 'bridge' ? {file, args: ['-n', t.name, ...args]} : {file: 'ip', args: ['netns', 'exec', t.name, file, ...args]}
    case 'ssh': return {file: 'ssh', args: ['-o', 'BatchMode=yes', '--', t.destination, [file, ...args].map(shellQuote).join(' ')]}
  }
}

/** What to check when a host cannot be reached at all through its target. */
export function reachHint(t: Target): string {
  return t.kind === 'ssh'
    ? `check that 'ssh -o BatchMode=yes ${t.destination} true' works (key login, host key known) and that iproute2 is installed there`
    : t.kind === 'netns'
      ? 'check the name with `ip netns list` (and that you are root); fix the inventory\'s exec/netns for it'
      : 'check that iproute2 is installed and that you are root'
}
