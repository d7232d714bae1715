/** Run the built CLI the way a user does, optionally inside a network namespace. */
import {execa} from 'execa'
import {fileURLToPath} from 'node:url'
import {dirname, join} from 'node:path'
import {randomBytes} from 'node:crypto'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN = join(ROOT, 'bin', 'run.js')

export interface CliResult {
  stdout: string
  stderr: string
  exitCode: number
}

export async function cli(args: string[], opts: {netns?: string; env?: Record<string, string>; input?: string; extendEnv?: boolean} = {}): Promise<CliResult> {
  const argv = opts.netns ? ['netns', 'exec', opts.netns, process.execPath, BIN, ...args] : [BIN, ...args]
  const file = opts.netns ? 'ip' : process.execPath
  const r = await execa(file, argv, {reject: false, env: {NO_COLOR: '1', ...opts.env}, extendEnv: opts.extendEnv ?? true, input: opts.input ?? ''})
  return {stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1}
}

export async function sh(file: string, args: string[], opts: {input?: string} = {}): Promise<CliResult> {
  const r = await execa(file, args, {reject: false, input: opts.input ?? ''})
  return {stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1}
}

export async function inNs(netns: string, file: string, ...args: string[]): Promise<string> {
  const r = await execa('ip', ['netns', 'exec', netns, file, ...args], {reject: false})
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} in ${netns} failed: ${r.stderr}`)
  return String(r.stdout)
}

/** A shell command inside a namespace, its output; a failure throws with the command and its stderr. */
export async function shIn(netns: string, command: string): Promise<string> {
  const r = await execa('ip', ['netns', 'exec', netns, 'sh', '-c', command], {reject: false})
  if (r.exitCode !== 0) throw new Error(`${command} in ${netns}: ${String(r.stderr)}`)
  return String(r.stdout)
}

/** A namespace standing for a node: `eth0` (a veth whose peer stays inside) holding `address` (a CIDR), all links up. */
export async function addNodeNamespace(ns: string, address: string): Promise<void> {
  const steps = [['netns', 'add', ns], ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p'],
    ['-n', ns, 'addr', 'add', address, 'dev', 'eth0'], ...['lo', 'eth0', 'eth0p'].map(d => ['-n', ns, 'link', 'set', d, 'up'])]
  for (const args of steps) {
    const r = await execa('ip', args, {reject: false})
    if (r.exitCode !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr}`)
  }
}

/** A short unique lab name (lab names are ≤ 10 chars). */
export function uniqueLab(tag: string): string {
  return `${tag}${randomBytes(3).toString('hex')}`.slice(0, 10)
}

/**
 * Resolves once what a running program wrote to `stream` matches `pattern` (it is then where the
 * test wants it), or after `ms` without a match, so a slow start never hangs a test.
 */
export function outputMatches(stream: NodeJS.ReadableStream, pattern: RegExp, ms = 20000): Promise<boolean> {
  let seen = ''
  return new Promise(resolve => {
    const timer = setTimeout(() => resolve(false), ms)
    stream.on('data', (d: Buffer) => {
      seen += String(d)
      if (pattern.test(seen)) {
        clearTimeout(timer)
        resolve(true)
      }
    })
  })
}

/** A veth pair from `xi` in namespace `x` to `yi` in `y`, both ends up. */
export async function linkNamespaces(x: string, xi: string, y: string, yi: string): Promise<void> {
  const r = await sh('ip', ['link', 'add', xi, 'netns', x, 'type', 'veth', 'peer', 'name', yi, 'netns', y])
  if (r.exitCode !== 0) throw new Error(r.stderr)
  await shIn(x, `ip link set ${xi} up`)
  await shIn(y, `ip link set ${yi} up`)
}

/** An inventory naming each host after itself, reached in its namespace `ns(host)`. */
export function netnsInventory(hosts: string[], ns: (host: string) => string): string {
  return `nodes:\n${hosts.map(h => `  - {name: ${h}, exec: "netns:${ns(h)}"}`).join('\n')}\n`
}

/**
 * Text with each neighbour's NUD state written as `NUD`: an entry moves between REACHABLE, STALE,
 * DELAY and PROBE on its own timers, so two reads a moment apart may differ by it.
 */
export function withoutNudStates(text: string): string {
  return text.replace(/\b(REACHABLE|STALE|DELAY|PROBE)\b/g, 'NUD')
}

/**
 * A host read without what IPv6 changes by itself, at any moment after a device comes up, so that
 * two reads a moment apart differ by it without either read being wrong: the multicast neighbours
 * (`ff02::…`, NOARP) that `ip neigh show nud all` lists as the device joins its groups, and the
 * `tentative` flag of a link-local address until duplicate address detection ends.
 */
export function withoutIpv6Settling<T extends {neighbors?: {dst: string}[]; addresses?: {family: number; raw: string}[]}>(snap: T): T {
  return {
    ...snap,
    neighbors: snap.neighbors?.filter(n => !n.dst.startsWith('ff0')),
    addresses: snap.addresses?.map(a => (a.family === 6 ? {...a, raw: a.raw.replace(/ tentative\b/, '')} : a)),
  }
}

