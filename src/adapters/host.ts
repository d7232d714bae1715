/**
 * A host as flannelctl sees it: read its tables into a HostSnapshot, apply ops in batches.
 * All programs run through a Runner, so the same code serves real hosts, namespaces, dry-runs
 * and recorded replays.
 */
import {FlannelctlError, ExitCode} from '../errors.js'
import type {HostSnapshot} from '../core/model.js'
import {interestingSysctls} from '../core/model.js'
import type {Op} from '../core/ops.js'
import {parseIpLinkJson, parseIpAddrJson, parseIpRouteJson, parseIpNeighJson, parseBridgeFdbJson} from '../core/parse/json.js'
import {parseIptablesSave} from '../core/parse/iptables.js'
import {Runner, Command, commandLine} from './runner.js'

export class HostAdapter {
  constructor(readonly runner: Runner, readonly name = 'local') {}

  private async read(file: string, args: string[], {optional = false} = {}): Promise<string | undefined> {
    const r = await this.runner.run({file, args})
    if (r.exitCode !== 0) {
      if (optional) return undefined
      throw new FlannelctlError(`${[file, ...args].join(' ')} failed on ${this.name}: ${firstLine(r.stderr)}`,
        'check that iproute2 is installed and that you are root', ExitCode.failed)
    }
    return r.stdout
  }

  /** Fail early and clearly when iproute2 is missing, before anything else is read or written. */
  async requireIproute(): Promise<void> {
    await this.runner.run({file: 'ip', args: ['-V']})
  }

  /** Everything the builder and the tracer look at, read in parallel. */
  async snapshot(): Promise<HostSnapshot> {
    const linksRead = this.read('ip', ['-d', '-j', 'link', 'show']).then(text => parseIpLinkJson(text!))
    // The sysctls to read depend on the link names only: read them while the larger tables still come in.
    const sysctlsRead = linksRead.then(links => this.sysctls(interestingSysctls(links.map(l => l.name))))
    const [links, addr, route, neigh, fdb, ipt, sysctls] = await Promise.all([
      linksRead,
      this.read('ip', ['-j', 'addr', 'show']),
      this.read('ip', ['-j', 'route', 'show']),
      this.read('ip', ['-j', 'neigh', 'show']),
      this.read('bridge', ['-j', 'fdb', 'show'], {optional: true}),
      this.read('iptables-save', [], {optional: true}),
      sysctlsRead,
    ])
    const snap: HostSnapshot = {
      name: this.name,
      links,
      addresses: parseIpAddrJson(addr!),
      routes: parseIpRouteJson(route!),
      neighbors: parseIpNeighJson(neigh!),
      fdb: fdb === undefined ? undefined : parseBridgeFdbJson(fdb),
      iptables: ipt === undefined ? undefined : parseIptablesSave(ipt),
      sysctls,
    }
    return snap
  }

  /** Read sysctls without a shell: grep prints `path:value` for every file that exists. */
  async sysctls(keys: string[]): Promise<Record<string, string>> {
    const paths = keys.map(sysctlPath)
    const r = await this.runner.run({file: 'grep', args: ['-s', '-H', '', ...paths]})
    const out: Record<string, string> = {}
    for (const line of r.stdout.split('\n')) {
      const m = /^\/proc\/sys\/(.+?):(.*)$/.exec(line)
      if (m) out[m[1].replace(/\//g, '.')] = m[2].trim()
    }
    return out
  }

  async readFile(path: string): Promise<string | undefined> {
    const r = await this.runner.run({file: 'cat', args: ['--', path]})
    return r.exitCode === 0 ? r.stdout : undefined
  }

  /** The route the kernel would use to reach `ip` (`ip route get`). */
  async routeGet(ip: string): Promise<{gateway?: string; dev?: string; prefsrc?: string} | undefined> {
    const r = await this.runner.run({file: 'ip', args: ['-j', 'route', 'get', ip]})
    if (r.exitCode !== 0) return undefined
    const [first] = JSON.parse(r.stdout) as {gateway?: string; dev?: string; prefsrc?: string}[]
    return first
  }

  /** Apply ops in order, batching consecutive ops of the same tool into one program run. */
  async apply(ops: Op[]): Promise<void> {
    for (const batch of batchesOf(ops)) {
      const result = await this.runner.run(batch)
      if (result.exitCode !== 0) {
        throw new FlannelctlError(`${commandLine(batch)} failed on ${this.name}: ${firstLine(result.stderr || result.stdout)}`,
          'nothing after this step was changed; fix the cause and rerun (every step is idempotent)', ExitCode.failed)
      }
    }
  }
}

/**
 * Atomic write of stdin to $1 with mode $2: temp file in the same directory, then rename. The
 * directory comes from parameter expansion and mkdir runs only when it is missing: every program
 * the shell starts costs milliseconds on each sync.
 */
const WRITE_FILE = 'set -e; case "$1" in */*) d="${1%/*}";; *) d=.;; esac; [ -d "${d:-/}" ] || mkdir -p -- "${d:-/}"; '
  + 't="$1.tmp.$$"; cat > "$t"; chmod "$2" "$t"; mv -f -- "$t" "$1"'

/** net.ipv4.conf.flannel.1.rp_filter → /proc/sys/net/ipv4/conf/flannel.1/rp_filter: a device name keeps its dots. */
export function sysctlPath(key: string): string {
  const m = /^net\.(ipv4|ipv6)\.(conf|neigh)\.(.+)\.([^.]+)$/.exec(key)
  if (m) return `/proc/sys/net/${m[1]}/${m[2]}/${m[3]}/${m[4]}`
  return '/proc/sys/' + key.replace(/\./g, '/')
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? ''
}

function sameBatch(a: Op, b: Op): boolean {
  if (a.tool !== b.tool) return false
  if (a.tool === 'iptables' && b.tool === 'iptables') return a.table === b.table
  return a.tool === 'ip' || a.tool === 'bridge' || a.tool === 'sysctl'
}

export function batchesOf(ops: Op[]): Command[] {
  const groups: Op[][] = []
  for (const op of ops) {
    const last = groups.at(-1)
    if (last && sameBatch(last[0], op)) last.push(op)
    else groups.push([op])
  }
  return groups.map(group => {
    const first = group[0]
    switch (first.tool) {
      case 'ip':
      case 'bridge':
        return {file: first.tool, args: ['-batch', '-'], input: group.map(o => (o as {args: string[]}).args.join(' ') + '\n').join(''), write: true}
      case 'iptables': {
        const lines = group.flatMap(o => (o as {lines: string[]}).lines)
        return {file: 'iptables-restore', args: ['-w', '--noflush'], input: `*${first.table}\n${lines.join('\n')}\nCOMMIT\n`, write: true}
      }
      case 'sysctl':
        return {file: 'sysctl', args: ['-q', '-w', ...group.map(o => `${(o as {key: string}).key}=${(o as {value: string}).value}`)], write: true}
      case 'file':
        // The path is an argument to sh, never part of the script, so no name can inject a command.
        return {file: 'sh', args: ['-c', WRITE_FILE, 'sh', first.path, first.mode.toString(8).padStart(4, '0')], input: first.content, write: true}
      case 'rmfile':
        return {file: 'rm', args: ['-f', '--', first.path], write: true}
    }
  })
}
