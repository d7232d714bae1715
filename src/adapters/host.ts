/**
 * A host as flannelctl sees it: read its tables into a HostSnapshot, apply ops in batches.
 * All programs run through a Runner, so the same code serves real hosts, namespaces, dry-runs
 * and recorded replays.
 */
import {fsProblem} from '../store/dirs.js'
import {chmodSync, closeSync, existsSync, fchmodSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync} from 'node:fs'
import {dirname} from 'node:path'
import {FlannelctlError, ExitCode} from '../errors.js'
import type {HostSnapshot, Link, Neighbor, NftChain} from '../core/model.js'
import {interestingSysctls} from '../core/model.js'
import type {Op} from '../core/ops.js'
import {parseIpLinkJson, parseIpAddrJson, parseIpRouteJson, parseIpNeighJson, parseBridgeFdbJson, parseIpRuleJson} from '../core/parse/json.js'
import {parseIptablesSave} from '../core/parse/iptables.js'
import {nftJsonItems, parseNftRuleset} from '../core/parse/nft.js'
import {tablesToJudge} from '../core/forward-verdict.js'
import {FLANNEL_NFT_TABLES, parseFlannelNftRead} from '../core/flannel-nft.js'
import {Runner, Command, CommandResult, commandLine, firstLine, isNotInstalled, notInstalled, seesPathAsThisProcess} from './runner.js'
import {reachHint} from './target.js'
import {type ShellCommand, type ShellWord, commandName, framedScript, framedScriptSideBySide, newMarker, programLine, shellWord, takeFrame} from './shell-script.js'

/**
 * Hidden test hook: SIGKILL this process right before the N-th write command (1-based) that any
 * HostAdapter of this process applies, so tests can crash init, sync, peer, reset and migrate
 * between any two writes and prove that a rerun converges.
 */
export const KILL_AT_ENV = 'FLANNELCTL_KILL_AT'
let writesApplied = 0

function killPointReached(): void {
  writesApplied++
  const at = Number(process.env[KILL_AT_ENV] ?? 0)
  if (at > 0 && writesApplied === at) process.kill(process.pid, 'SIGKILL')
}

export type IptablesFlavour = 'nft' | 'legacy'

/** Which iptables a host's rules live in, and the programs that read and write them. */
export interface IptablesTools {
  /** undefined: only a plain iptables-save whose flavour nothing told */
  flavour?: IptablesFlavour
  save: string
  restore: string
}

const IPTABLES_TOOLS: Record<IptablesFlavour, IptablesTools> = {
  nft: {flavour: 'nft', save: 'iptables-nft-save', restore: 'iptables-nft-restore'},
  legacy: {flavour: 'legacy', save: 'iptables-legacy-save', restore: 'iptables-legacy-restore'},
}

/** Rules and user chains in iptables-save output: what says a flavour is in use. */
function ruleCount(save: string): number {
  let n = 0
  for (const line of save.split('\n')) {
    if (line.startsWith('-A ')) n++
    else if (line.startsWith(':') && / - \[/.test(line)) n++
  }
  return n
}

export function flavourFromVersion(text: string): IptablesFlavour | undefined {
  if (text.includes('(nf_tables)')) return 'nft'
  if (text.includes('(legacy)')) return 'legacy'
  return undefined
}

const LINK_READ = ['ip', '-d', '-j', 'link', 'show']
const FDB_READ = ['bridge', '-j', 'fdb', 'show']
/**
 * addr, route, neigh and rule: one `ip -j -batch -` prints each table's JSON array on a line of its
 * own. The routes are the main table's (what the planner compares); the rules cost one more line.
 */
/**
 * `ip neigh show` leaves NOARP entries out (iproute2's default state filter), yet the kernel sends
 * to their MAC as to a permanent entry's: a wrong one there loses every frame. `nud all` shows them.
 */
export const NEIGH_SHOW = ['show', 'nud', 'all'] as const
const IP_TABLES = ['addr', 'route', 'neigh', 'rule'] as const
/** each table's `show` words */
const IP_SHOW: Record<typeof IP_TABLES[number], string[]> = {addr: ['show'], route: ['show'], neigh: [...NEIGH_SHOW], rule: ['show']}
const IP_TABLES_READ: ShellCommand = {words: ['ip', '-j', '-batch', '-'], input: IP_TABLES.map(t => `${t} ${IP_SHOW[t].join(' ')}\n`).join('')}

/**
 * iptables-legacy-save, except where this namespace holds no legacy table: /proc/net/ip_tables_names
 * lists them, and with none the save prints nothing and exits 0, which is what the script then
 * gives without starting it (one program start less on every read of an nft host). Anything else
 * (no such file, unreadable, no iptables-legacy-save) runs it as before, with its own answer.
 */
const LEGACY_SAVE_READ: ShellCommand = {
  name: 'iptables-legacy-save',
  // read fails at the end of the file; a last line without a newline still fills t
  script: 'if [ -r /proc/net/ip_tables_names ] && command -v iptables-legacy-save >/dev/null 2>&1 && { t=; IFS= read -r t </proc/net/ip_tables_names; [ $? -ne 0 ] && [ -z "$t" ]; } 2>/dev/null; then :; else iptables-legacy-save; fi',
}

const IPTABLES_VERSION_READ: ShellCommand = ['iptables', '-V']
/** a read script's answer for a program it did not find (its 127) */
const NOT_FOUND: CommandResult = {stdout: '', stderr: '', exitCode: 127}

/**
 * flanneld's nftables tables (EnableNFTables): `nft -j list tables`, then each of flanneld's tables
 * that it lists (one program run more only where one exists). The host's own ip and inet tables are
 * read after, by name (forwardChains); never the whole ruleset, whose iptables-nft tables
 * (kube-proxy's) can be large. 127 without nft, as for a missing program.
 */
const FLANNEL_NFT_READ: ShellCommand = {
  name: 'nft',
  script: 'if command -v nft >/dev/null 2>&1; then t=$(nft -j list tables) && { printf \'%s\\n\' "$t"; '
    + FLANNEL_NFT_TABLES.map(({family, name}) => `case $t in *'"${name}"'*) nft -j list table ${family} ${name} 2>/dev/null || :;; esac; `).join('')
    + '}; else (exit 127); fi',
}

/**
 * `grep -s -H '' FILES` by shell builtins: every line of every readable file as `FILE:LINE` (a last
 * line without newline too), nothing for a missing one or a glob that matched nothing. The shell
 * that runs the read script reads the sysctls itself instead of starting grep for them. `whole`
 * files are read by `cat`, one read(2): dash's `read` takes a byte per read(2), and a /proc/sys
 * file of numbers answers only the first (`ip_local_port_range` read so is `3`, not `32768\t60999`).
 * So a builtin read gives a value's first digit only: right for every key interestingSysctls names
 * (0–2 each), and for app_solicit, which is only asked whether it is above 0 (a first digit is 0
 * only for 0). A key that can reach 10 and is read for its value belongs in `whole`.
 */
export function sysctlRead(paths: ShellWord[], whole: string[] = []): ShellCommand {
  const byCat = whole.length === 0 ? '' : ` for f in ${whole.map(shellWord).join(' ')}; do [ -r "$f" ] && v=$(cat -- "$f") && printf '%s:%s\\n' "$f" "$v"; done 2>/dev/null;`
  return {
    name: 'sysctl read',
    script: `for f in ${paths.map(shellWord).join(' ')}; do [ -r "$f" ] && while IFS= read -r l || [ -n "$l" ]; do printf '%s:%s\\n' "$f" "$l"; done <"$f"; done 2>/dev/null;${byCat} :`,
  }
}

/**
 * The sysctls interestingSysctls names, read for every device by glob (a device's name need not be
 * known before the read that lists the links), and the `whole` keys; sysctlsOfDevices narrows them.
 */
export function everyDeviceSysctlRead(whole: string[] = []): ShellCommand {
  return sysctlRead(interestingSysctls(['*']).map(sysctlPath).map(p => (p.includes('*') ? {glob: p} : p)), whole.map(sysctlPath))
}

/** What everyDeviceSysctlRead printed, narrowed to the keys of `devices` (and `whole`), in the order interestingSysctls names them, as a read of each by name gives them. */
export function sysctlsOfDevices(text: string, devices: string[], whole: string[] = []): Record<string, string> {
  const all = parseSysctlGrep(text)
  return Object.fromEntries([...interestingSysctls(devices), ...whole].filter(k => k in all).map(k => [k, all[k]]))
}

/** `grep -H '' FILES` output (`/proc/sys/a/b:value` lines) as sysctl keys (a.b) and values. */
export function parseSysctlGrep(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^\/proc\/sys\/(.+?):(.*)$/.exec(line)
    if (m) out[m[1].replace(/\//g, '.')] = m[2].trim()
  }
  return out
}

export class HostAdapter {
  /** undefined until read; null when the host has no iptables at all */
  private iptablesTools?: IptablesTools | null
  /** whether this host has nft, once snapshot() or apply() has looked */
  nftInstalled?: boolean
  /** why the last read of flanneld's nftables tables failed where nft is installed (not root, an nft without JSON) */
  nftReadProblem?: string

  constructor(readonly runner: Runner, readonly name = 'local') {}

  /** The host as an error names it: its name, or "this host" for the one flannelctl runs on. */
  get label(): string {
    return this.name === 'local' ? 'this host' : this.name
  }

  /** The iptables flavour of this host, once snapshot() or iptables() has looked; 'none' when it has no iptables. */
  get iptablesFlavour(): IptablesFlavour | 'unknown' | 'none' | undefined {
    if (this.iptablesTools === undefined) return undefined
    return this.iptablesTools === null ? 'none' : this.iptablesTools.flavour ?? 'unknown'
  }

  /** Run a read that may be absent on this host: a missing program is undefined, not an error. */
  private async tryRead(file: string, args: string[]): Promise<{stdout: string; exitCode: number} | undefined> {
    try {
      const r = await this.runner.run({file, args})
      // 127: a shell (ssh) did not find it; 255: `ip netns exec` could not exec it
      if (r.exitCode === 127 || (r.exitCode === 255 && /exec of .* failed|No such file/.test(r.stderr))) return undefined
      return r
    } catch (e) {
      if (isNotInstalled(e)) return undefined
      throw e
    }
  }

  /**
   * Run several reads as one program run (a shell running them in turn, framed as shell-script.ts
   * says), not one each: each run costs this process a fork, and inside a namespace two execs
   * (a runner's shell session runs the script itself, without a shell of its own). The script comes
   * on stdin (`sh -s`), so --verbose never shows a read as an `sh -c` file write. A program the
   * shell does not find (127) is undefined, as in tryRead(). From `besideFrom` on, the commands run
   * at the same time as the ones before them, their frames still in order (framedScriptSideBySide:
   * they must print no NUL byte).
   */
  async readSeveral(commands: ShellCommand[], {besideFrom}: {besideFrom?: number} = {}): Promise<(CommandResult | undefined)[]> {
    const marker = newMarker()
    const script = besideFrom === undefined ? framedScript(marker, commands) : framedScriptSideBySide(marker, commands.slice(0, besideFrom), commands.slice(besideFrom))
    const r = await this.runner.run({file: 'sh', args: ['-s'], input: script, framedScript: true, programs: commands.map(programLine)})
    const out: (CommandResult | undefined)[] = []
    let rest = {stdout: r.stdout, stderr: r.stderr}
    for (let i = 0; i < commands.length; i++) {
      const frame = takeFrame(rest.stdout, rest.stderr, marker)
      if (!frame) {
        throw new ReadScriptFailed(`reading ${commands.map(commandName).join(', ')} failed on ${this.label}: ${firstLine(r.stderr)}`,
          // The shell never ran (no frame): the host was not reached, or has no sh.
          this.runner.target.kind === 'local' ? 'check that sh is installed' : `${reachHint(this.runner.target)}; and that sh is installed there`, r)
      }
      out.push(frame.result.exitCode === 127 ? undefined : frame.result)
      rest = frame
    }
    return out
  }

  /**
   * `commands` (from `besideFrom` on side by side, as readSeveral runs them), then this host's
   * iptables rules as iptables() reads them, all by one program run: a whole read of the host for
   * `collect` and a live trace, whose tables are each kept as its program printed it.
   */
  async readWithIptables(commands: ShellCommand[], o: {besideFrom?: number} = {}): Promise<{reads: (CommandResult | undefined)[]; iptables: {tools: IptablesTools; save: string} | undefined}> {
    const saves = this.iptablesReads()
    // `iptables -V` too while the flavour is unknown: where both saves hold as many rules (none, in a pod) it decides
    const version = this.iptablesTools === undefined ? [IPTABLES_VERSION_READ] : []
    const reads = await this.readSeveral([...commands, ...saves, ...version], o)
    const saved = reads.slice(commands.length, commands.length + saves.length)
    const told = version.length === 0 ? undefined : reads.at(-1) ?? NOT_FOUND
    return {reads: reads.slice(0, commands.length), iptables: await this.pickIptables(saved, told)}
  }

  /**
   * Where this host's rules live. Debian ships both iptables-nft and iptables-legacy; rules written
   * into the one the host does not use are invisible to it (and to its other software). So: the
   * flavour that holds rules; when both do, the one with more (as kube's iptables-wrapper decides);
   * when neither does, the one `iptables -V` names. Hosts with only a plain iptables-save use it.
   */
  async iptables(): Promise<{tools: IptablesTools; save: string} | undefined> {
    return (await this.readWithIptables([])).iptables
  }

  /** The saves that tell the rules (and, the first time, the flavour): the known one, else both. */
  private iptablesReads(): ShellCommand[] {
    if (this.iptablesTools === null) return []
    if (this.iptablesTools !== undefined) return [[this.iptablesTools.save]]
    return [['iptables-nft-save'], LEGACY_SAVE_READ]
  }

  /** The rules (and the flavour) from what iptablesReads() read. */
  private async pickIptables(reads: (CommandResult | undefined)[], version?: CommandResult): Promise<{tools: IptablesTools; save: string} | undefined> {
    // what `iptables -V` says, read now unless the caller's script read it
    const versionText = async () => (version ?? await this.tryRead('iptables', ['-V']))?.stdout ?? ''
    // Once known, the flavour is kept for this adapter's life; the rules are read afresh every time.
    if (this.iptablesTools === null) return undefined
    if (this.iptablesTools !== undefined) {
      const [r] = reads
      return r && r.exitCode === 0 ? {tools: this.iptablesTools, save: r.stdout} : undefined
    }
    const [nft, legacy] = reads
    const ok = (r: {exitCode: number} | undefined) => r !== undefined && r.exitCode === 0
    let found: {tools: IptablesTools; save: string} | undefined
    if (ok(nft) && ok(legacy)) {
      const [n, l] = [ruleCount(nft!.stdout), ruleCount(legacy!.stdout)]
      let pick: IptablesFlavour
      if (n !== l) pick = n > l ? 'nft' : 'legacy'
      else pick = flavourFromVersion(await versionText()) ?? 'nft'
      found = {tools: IPTABLES_TOOLS[pick], save: pick === 'nft' ? nft!.stdout : legacy!.stdout}
    } else if (ok(nft) || ok(legacy)) {
      const pick: IptablesFlavour = ok(nft) ? 'nft' : 'legacy'
      found = {tools: IPTABLES_TOOLS[pick], save: pick === 'nft' ? nft!.stdout : legacy!.stdout}
    } else if (nft === undefined && legacy === undefined) {
      const plain = await this.tryRead('iptables-save', [])
      if (plain === undefined) {
        this.iptablesTools = null
        return undefined
      }
      if (plain.exitCode !== 0) return undefined
      const flavour = flavourFromVersion(plain.stdout.split('\n').find(l => l.startsWith('# Generated')) ?? '')
        ?? flavourFromVersion(await versionText())
      found = {tools: {flavour, save: 'iptables-save', restore: 'iptables-restore'}, save: plain.stdout}
    }
    // Installed but failing (not root, no kernel support): unknown now, asked again next time.
    if (found) this.iptablesTools = found.tools
    return found
  }

  /**
   * Everything the builder and the tracer look at, read by one program run: a sync at 1000 peers
   * is otherwise mostly forks. The sysctls of every device are read by glob, then narrowed to the
   * links this read saw (interestingSysctls), so the result holds the same keys as reading them by name.
   */
  async snapshot(): Promise<HostSnapshot> {
    const iptablesReads = this.iptablesReads()
    // the iptables saves, nft and the sysctls run beside the link, ip and fdb reads, the longer lane
    const reads = await this.readSeveral([
      LINK_READ,
      IP_TABLES_READ,
      FDB_READ,
      ...iptablesReads,
      FLANNEL_NFT_READ,
      everyDeviceSysctlRead(),
    ], {besideFrom: 3}).catch(async (error: unknown) => {
      // No shell found: name iproute2 first when it is missing too, as reading the tables one by one would.
      await this.runner.run({file: 'ip', args: ['-V']})
      throw error
    })
    const [linkRead, ipTablesRead, fdbRead] = reads
    // the same errors as running each program by itself (RealRunner, checkRead)
    if (linkRead === undefined) throw notInstalled('ip', this.runner.target)
    const links = parseIpLinkJson(this.checkRead(linkRead, LINK_READ[0], LINK_READ.slice(1))!)
    const [addrText, routeText, neighText, ruleText] = await this.ipTables(ipTablesRead)
    const fdbText = fdbRead === undefined ? undefined : this.checkRead(fdbRead, FDB_READ[0], FDB_READ.slice(1), {optional: true})
    const ipt = await this.pickIptables(reads.slice(3, 3 + iptablesReads.length))
    const nftRead = reads.at(-2)
    this.nftInstalled = nftRead !== undefined
    // nft there but failing (not root, no nf_tables): unknown, as an iptables read that fails
    const flannelNft = nftRead?.exitCode === 0 ? parseFlannelNftRead(nftRead.stdout) : undefined
    this.nftReadProblem = nftRead !== undefined && nftRead.exitCode !== 0 ? `nft -j list tables: ${firstLine(nftRead.stderr || nftRead.stdout) || `exit ${nftRead.exitCode}`}` : undefined
    const nftables = nftRead?.exitCode === 0 ? await this.forwardChains(nftRead.stdout, ipt?.tools.flavour) : undefined
    const sysctls = sysctlsOfDevices(reads.at(-1)?.stdout ?? '', links.map(l => l.name))
    return {
      name: this.name,
      links,
      addresses: parseIpAddrJson(addrText),
      routes: parseIpRouteJson(routeText),
      neighbors: parseIpNeighJson(neighText),
      ...(ruleText === undefined ? {} : {rules: parseIpRuleJson(ruleText)}),
      fdb: fdbText === undefined ? undefined : parseBridgeFdbJson(fdbText),
      iptables: ipt === undefined ? undefined : withFlavour(parseIptablesSave(ipt.save), ipt.tools.flavour),
      ...(flannelNft === undefined ? {} : {flannelNft}),
      ...(nftables === undefined ? {} : {nftables}),
      sysctls,
    }
  }

  /** `nft -j list table ip NAME` of each name, by name; a table nft does not list (absent, no nft, not readable) is left out. */
  async listIpTables(names: string[]): Promise<Map<string, string>> {
    if (names.length === 0) return new Map()
    const reads = await this.readSeveral(names.map(name => ['nft', '-j', 'list', 'table', 'ip', name]))
    return new Map(names.flatMap((name, i) => (reads[i]?.exitCode === 0 ? [[name, reads[i]!.stdout] as const] : [])))
  }

  /**
   * The base chains of flanneld's tables (read already) and of the host's own ip and inet tables
   * (tablesToJudge: one program run more, only where such a table exists): what judges whether a
   * native firewall drops forwarded pod traffic. A table gone between the two reads is left out.
   */
  private async forwardChains(flannelRead: string, flavour: IptablesFlavour | undefined): Promise<NftChain[]> {
    const [listTables, ...flannelTables] = flannelRead.split('\n').filter(l => l.trim() !== '')
    const native = tablesToJudge(listTables ?? '', flavour)
    const reads = native.length === 0 ? [] : await this.readSeveral(native.map(t => ['nft', '-j', 'list', 'table', t.family, t.name]))
    const docs = [...flannelTables, ...reads.flatMap(r => (r?.exitCode === 0 ? [r.stdout] : []))]
    const items = docs.flatMap(d => nftJsonItems(d) ?? [])
    return parseNftRuleset(JSON.stringify({nftables: items}))
  }

  /**
   * addr, route, neigh and rule from the one `ip -j -batch -`: one JSON array per line. Anything
   * else (an ip that prints otherwise, a failed batch) is read again one table at a time, one more
   * program run, with each table's own error; the rules are optional there (undefined: unknown).
   */
  private async ipTables(batch: CommandResult | undefined): Promise<[string, string, string, string | undefined]> {
    if (batch?.exitCode === 0) {
      const docs = batch.stdout.split('\n').filter(line => line.trim() !== '')
      if (docs.length === IP_TABLES.length && docs.every(d => d.startsWith('[') && d.trimEnd().endsWith(']'))) return docs as [string, string, string, string]
    }
    const reads = await this.readSeveral(IP_TABLES.map(t => ['ip', '-j', t, ...IP_SHOW[t]]))
    return reads.map((r, i) => {
      if (r === undefined) throw notInstalled('ip', this.runner.target)
      return this.checkRead(r, 'ip', ['-j', IP_TABLES[i], ...IP_SHOW[IP_TABLES[i]]], {optional: IP_TABLES[i] === 'rule'})
    }) as [string, string, string, string | undefined]
  }

  private checkRead(r: CommandResult, file: string, args: string[], {optional = false} = {}): string | undefined {
    if (r.exitCode !== 0) {
      if (optional) return undefined
      throw new FlannelctlError(`${[file, ...args].join(' ')} failed on ${this.label}: ${firstLine(r.stderr)}`,
        'check that iproute2 is installed and that you are root', ExitCode.failed)
    }
    return r.stdout
  }

  /** `keys` read by the shell's builtins, `whole` (values of several numbers) by `cat` (see sysctlRead). */
  async sysctls(keys: string[], whole: string[] = []): Promise<Record<string, string>> {
    const [r] = await this.readSeveral([sysctlRead(keys.map(sysctlPath), whole.map(sysctlPath))])
    return parseSysctlGrep(r?.stdout ?? '')
  }

  async readFile(path: string): Promise<string | undefined> {
    const r = await this.runner.run({file: 'cat', args: ['--', path], inProcess: {paths: [path], run: () => catInProcess(path)}})
    return r.exitCode === 0 ? r.stdout : undefined
  }

  /**
   * What is at `path` when it is there but no regular file, in words ("a directory", "a character
   * device"); undefined for a regular file or nothing. A path flag naming /dev/null or a directory
   * is a mistake to say as such: read, it is empty or unreadable, which reads as a broken file or none.
   */
  async notAFile(path: string): Promise<string | undefined> {
    const r = await this.runner.run({file: 'stat', args: ['-L', '-c', '%F', '--', path], inProcess: {paths: [path], run: () => statKindInProcess(path)}})
    if (r.exitCode !== 0) return undefined
    const kind = r.stdout.trim()
    if (kind === '' || kind.startsWith('regular')) return undefined
    return kind === 'directory' ? 'a directory' : kind === 'character special file' ? 'a character device' : kind === 'block special file' ? 'a block device' : `a ${kind}`
  }

  /** Several files in one program run (or none, where this process sees them); undefined for each one that cat cannot read. */
  async readFiles(paths: string[]): Promise<(string | undefined)[]> {
    if (paths.every(path => seesPathAsThisProcess(this.runner.target, path))) return Promise.all(paths.map(path => this.readFile(path)))
    const results = await this.readSeveral(paths.map(path => ['cat', '--', path]))
    return results.map(r => (r !== undefined && r.exitCode === 0 ? r.stdout : undefined))
  }

  /**
   * The IPv4 addresses at the other end of each veth, by its name here, where that end is in a
   * named namespace (`ip netns`: container runtimes name their pods' namespaces); a veth whose
   * other end is not found is left out. One program run for the names, one for the addresses.
   */
  async vethPeerAddresses(veths: Link[]): Promise<Record<string, string[]>> {
    const wanted = veths.filter(v => v.peerNetnsId !== undefined && v.peerIndex !== undefined)
    if (wanted.length === 0) return {}
    const ids = await this.tryRead('ip', ['-j', 'netns', 'list-id'])
    let names: {nsid?: number; name?: string}[] = []
    try {
      names = ids?.exitCode === 0 ? JSON.parse(ids.stdout || '[]') as typeof names : []
    } catch {}
    const nsName = new Map(names.filter(n => typeof n.name === 'string').map(n => [n.nsid, n.name!]))
    const namespaces = [...new Set(wanted.flatMap(v => nsName.get(v.peerNetnsId) ?? []))]
    const reads = namespaces.length === 0 ? [] : await this.readSeveral(namespaces.map(ns => ['ip', '-n', ns, '-j', '-4', 'addr', 'show']))
    const addrsIn = new Map(namespaces.map((ns, i) => {
      let list: {ifindex?: number; addr_info?: {local?: string}[]}[] = []
      try {
        if (reads[i]?.exitCode === 0) list = JSON.parse(reads[i]!.stdout) as typeof list
      } catch {}
      return [ns, list] as const
    }))
    const out: Record<string, string[]> = {}
    for (const v of wanted) {
      const peer = addrsIn.get(nsName.get(v.peerNetnsId) ?? '')?.find(l => l.ifindex === v.peerIndex)
      if (peer) out[v.name] = (peer.addr_info ?? []).flatMap(a => (typeof a.local === 'string' ? [a.local] : []))
    }
    return out
  }

  /**
   * Whether another host answers at `ip` now: an echo reply, or (ICMP filtered) an ARP reply that
   * left a neighbour entry with a MAC of its own: one that answers for other addresses too (a
   * proxy-ARP router, Azure's network answering every ARP request) proves nothing. One program
   * run; at most a second when nobody answers. Without ping, only an entry already there counts.
   */
  async addressAnswers(ip: string): Promise<boolean> {
    const [ping, neigh] = await this.readSeveral([['ping', '-n', '-q', '-c', '1', '-W', '1', ip], ['ip', '-j', '-4', 'neigh', 'show']])
    if (ping?.exitCode === 0) return true
    let entries: Neighbor[] = []
    try {
      if (neigh?.exitCode === 0) entries = parseIpNeighJson(neigh.stdout)
    } catch {}
    const answered = entries.filter(e => e.lladdr !== undefined && !e.state.some(st => st === 'FAILED' || st === 'INCOMPLETE'))
    const mac = answered.find(e => e.dst === ip)?.lladdr
    return mac !== undefined && !answered.some(e => e.dst !== ip && e.lladdr === mac)
  }

  /** The route the kernel would use to reach `ip` (`ip route get`). */
  async routeGet(ip: string): Promise<{type?: string; gateway?: string; dev?: string; prefsrc?: string} | undefined> {
    const r = await this.runner.run({file: 'ip', args: ['-j', 'route', 'get', ip]})
    if (r.exitCode !== 0) return undefined
    const [first] = JSON.parse(r.stdout) as {type?: string; gateway?: string; dev?: string; prefsrc?: string}[]
    return first
  }

  /** Apply ops in order, batching consecutive ops of the same tool into one program run. */
  async apply(ops: Op[]): Promise<void> {
    let restore: string | undefined
    if (ops.some(op => op.tool === 'iptables')) {
      if (this.iptablesTools === undefined) await this.iptables()
      if (this.iptablesTools === null) throw noIptables(this.label)
      restore = this.iptablesTools?.restore
    }
    if (ops.some(op => op.tool === 'nft')) {
      this.nftInstalled ??= (await this.tryRead('nft', ['--version'])) !== undefined
      if (!this.nftInstalled) throw noNft(this.label)
    }
    for (const batch of batchesOf(ops, {iptablesRestore: restore})) {
      killPointReached()
      const result = await this.runner.run(batch)
      if (result.exitCode !== 0) {
        // a file write's shell script says nothing to a person; the path does, and a batch's failing line does
        const line = failedBatchLine(batch, result.stderr)
        // ip/bridge -batch stop at the failing line with the lines before it applied; iptables-restore and nft -f apply nothing
        const partly = line !== undefined && (batch.file === 'ip' || batch.file === 'bridge')
        const what = batch.inProcess !== undefined ? `writing ${batch.inProcess.paths.join(', ')}`
          : partly ? `${batch.file} ${line}` : line !== undefined ? `${batch.file} line \`${line}\`` : commandLine(batch)
        throw new FlannelctlError(`${what} failed on ${this.label}: ${firstLine(result.stderr || result.stdout).replace(/^sh: /, '')}`,
          `${partly ? 'the commands before it in the same batch were applied, none after it' : 'nothing after this step was changed'}; fix the cause and rerun (every step is idempotent)`, ExitCode.failed)
      }
    }
  }
}

/**
 * The input line a batch program names as the one that failed: `ip -batch`/`bridge -batch` print
 * "Command failed -:N", iptables-restore "Error occurred at line: N" (it applies nothing then).
 */
function failedBatchLine(batch: Command, stderr: string): string | undefined {
  if (batch.input === undefined) return undefined
  const n = /Command failed -:(\d+)/.exec(stderr)?.[1] ?? /Error occurred at line: (\d+)/.exec(stderr)?.[1] ?? /^\/dev\/stdin:(\d+):/m.exec(stderr)?.[1]
  return n === undefined ? undefined : batch.input.split('\n')[Number(n) - 1]?.trim() || undefined
}

/**
 * Atomic write of stdin to $1 with mode $2: temp file in the same directory, then rename. The
 * directory comes from parameter expansion and mkdir runs only when it is missing: every program
 * the shell starts costs milliseconds on each sync.
 */
const WRITE_FILE = 'set -eC; umask 022; case "$1" in */*) d="${1%/*}";; *) d=.;; esac; [ -d "${d:-/}" ] || mkdir -p -- "${d:-/}"; '
  // umask 077 until the chmod: the content is never readable by others, even for a moment; -C
  // (noclobber) refuses a temp name someone planted (a symlink) instead of writing through it.
  + 'umask 077; t="$1.tmp.$$"; cat > "$t"; chmod -- "$2" "$t"; mv -f -- "$t" "$1"'

/** What `cat -- path` gives, without running it. */
function catInProcess(path: string): CommandResult {
  try {
    return {stdout: readFileSync(path, 'utf8'), stderr: '', exitCode: 0}
  } catch (error) {
    return {stdout: '', stderr: `cat: ${path}: ${(error as Error).message}\n`, exitCode: 1}
  }
}

/** `stat -L -c %F`'s words for what is at a path, without starting stat. */
function statKindInProcess(path: string): CommandResult {
  try {
    const st = statSync(path)
    const kind = st.isFile() ? (st.size === 0 ? 'regular empty file' : 'regular file') : st.isDirectory() ? 'directory'
      : st.isCharacterDevice() ? 'character special file' : st.isBlockDevice() ? 'block special file' : st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : 'special file'
    return {stdout: `${kind}\n`, stderr: '', exitCode: 0}
  } catch (error) {
    return {stdout: '', stderr: `stat: ${path}: ${(error as Error).message}\n`, exitCode: 1}
  }
}

/**
 * WRITE_FILE without a shell: the same temp name, modes and steps (directories 0755 when missing,
 * temp file created exclusively and 0600 until its chmod, then renamed over the target).
 */
function writeFileInProcess(path: string, content: string, mode: number): CommandResult {
  const tmp = `${path}.tmp.${process.pid}`
  let fd: number | undefined
  try {
    const dir = dirname(path)
    // what fails is the directory, not the temp file inside it that the error would name
    if (existsSync(dir) && !statSync(dir).isDirectory()) return {stdout: '', stderr: `sh: not a directory: ${dir}\n`, exitCode: 1}
    if (!existsSync(dir)) {
      const first = mkdirSync(dir, {recursive: true, mode: 0o755})
      // whatever this process's umask: the shell's umask 022 gives 0755
      for (let d = dir; first !== undefined && d.length >= first.length; d = dirname(d)) chmodSync(d, 0o755)
    }
    fd = openSync(tmp, 'wx', 0o600)
    writeSync(fd, content)
    fchmodSync(fd, mode)
    closeSync(fd)
    fd = undefined
    renameSync(tmp, path)
    return {stdout: '', stderr: '', exitCode: 0}
  } catch (error) {
    if (fd !== undefined) closeSync(fd)
    // the temp file may not exist, or its directory not be one (ENOTDIR): the write's own error is the one to tell
    if ((error as {code?: string}).code !== 'EEXIST') try { rmSync(tmp, {force: true}) } catch { /* nothing was made */ }
    return {stdout: '', stderr: `sh: ${fsProblem(error) ?? (error as Error).message}\n`, exitCode: 1}
  }
}

/** A read script that gave no frame for a program: its shell never ran (the host was not reached) or stopped; `result` is the run's own. */
export class ReadScriptFailed extends FlannelctlError {
  constructor(message: string, hint: string, readonly result: CommandResult) {
    super(message, hint, ExitCode.failed)
  }
}

/** net.ipv4.conf.flannel.1.rp_filter → /proc/sys/net/ipv4/conf/flannel.1/rp_filter: a device name keeps its dots. */
export function sysctlPath(key: string): string {
  const m = /^net\.(ipv4|ipv6)\.(conf|neigh)\.(.+)\.([^.]+)$/.exec(key)
  if (m) return `/proc/sys/net/${m[1]}/${m[2]}/${m[3]}/${m[4]}`
  return '/proc/sys/' + key.replace(/\./g, '/')
}

function withFlavour(ipt: ReturnType<typeof parseIptablesSave>, flavour: IptablesFlavour | undefined) {
  return flavour === undefined ? ipt : {...ipt, flavour}
}

export function noNft(host: string): FlannelctlError {
  return new FlannelctlError(`${host} has no nft: the network config asks for flanneld's rules as native nftables (EnableNFTables), which only nft can write`,
    'install nftables (Debian: apt-get install nftables), or set "EnableNFTables": false in the network config for iptables rules',
    ExitCode.usage)
}

/** EnableNFTables where nft is there but its tables could not be read: planning blind would rewrite them on every sync. */
export function nftUnreadable(host: string, problem: string): FlannelctlError {
  return new FlannelctlError(`reading nftables failed on ${host} (${problem}), and the network config asks for flanneld's rules there (EnableNFTables)`,
    'run it as root; flannelctl reads the tables as JSON (nft -j), which an nft built without JSON support cannot print: use a distribution\'s nftables package (Debian\'s has it), or set "EnableNFTables": false',
    ExitCode.failed)
}

export function noIptables(host: string): FlannelctlError {
  return new FlannelctlError(`${host} has no iptables: neither iptables-nft nor iptables-legacy (nor iptables-save) is installed`,
    'install iptables (Debian: apt-get install iptables), which provides both; flannelctl needs it for its FLANNEL-FWD and FLANNEL-POSTRTG chains',
    ExitCode.usage)
}

function sameBatch(a: Op, b: Op): boolean {
  if (a.tool !== b.tool) return false
  if (a.tool === 'iptables' && b.tool === 'iptables') return a.table === b.table
  return a.tool === 'ip' || a.tool === 'bridge' || a.tool === 'sysctl' || a.tool === 'nft'
}

export function batchesOf(ops: Op[], tools: {iptablesRestore?: string} = {}): Command[] {
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
        return {file: tools.iptablesRestore ?? 'iptables-restore', args: ['-w', '--noflush'], input: `*${first.table}\n${lines.join('\n')}\nCOMMIT\n`, write: true}
      }
      case 'nft':
        // one transaction: a failing line leaves the tables as they were
        return {file: 'nft', args: ['-f', '-'], input: group.flatMap(o => (o as {lines: string[]}).lines).join('\n') + '\n', write: true}
      case 'sysctl':
        return {file: 'sysctl', args: ['-q', '-w', ...group.map(o => `${(o as {key: string}).key}=${(o as {value: string}).value}`)], write: true}
      case 'file':
        // The path is an argument to sh, never part of the script, so no name can inject a command.
        return {file: 'sh', args: ['-c', WRITE_FILE, 'sh', first.path, first.mode.toString(8).padStart(4, '0')], input: first.content, write: true,
          inProcess: {paths: [first.path], run: () => writeFileInProcess(first.path, first.content, first.mode)}}
      case 'rmfile':
        return {file: 'rm', args: ['-f', '--', first.path], write: true}
    }
  })
}
