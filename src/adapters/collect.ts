/**
 * Live collection: run the read-only commands a snapshot directory holds on a host (through any
 * Runner, so local, netns and ssh hosts look the same) and keep both the raw output and the
 * parsed HostSnapshot. Live traces and `collect` share this path, so a snapshot written by
 * `collect` reads back into exactly the tables a live trace used.
 */
import {TRACE_RANGE_SYSCTLS} from '../core/model.js'
import {isIPv4} from '../core/addr.js'
import {DEFAULT_CNI_CONF_DIR} from '../core/flannel.js'
import {ipamDataDirs} from '../core/inventory.js'
import {ExitCode, FlannelctlError} from '../errors.js'
import {everyDeviceSysctlRead, HostAdapter, NEIGH_SHOW, ReadScriptFailed, sysctlsOfDevices} from './host.js'
import {firstLine, notInstalled, type Command, type CommandResult, type Runner} from './runner.js'
import type {ShellCommand} from './shell-script.js'
import {reachHint, targetToString, type Target} from './target.js'
import {NFT_NOT_INSTALLED, snapshotFromTables, type RawTables, type TableFormat, type TableName} from './snapshot-dir.js'
import type {HostSnapshot} from '../core/model.js'

export interface CollectedHost {
  name: string
  snapshot: HostSnapshot
  tables: RawTables
  /** optional tables whose program is there but failed (nft not root, an nft without JSON): unknown, not empty */
  unread?: string[]
}

const COMMANDS: Record<Exclude<TableName, 'sysctl'>, {json: string[]; txt: string[]; optional: boolean; textOnly?: true}> = {
  'ip-link': {json: ['ip', '-d', '-j', 'link', 'show'], txt: ['ip', '-d', 'link', 'show'], optional: false},
  'ip-addr': {json: ['ip', '-j', 'addr', 'show'], txt: ['ip', 'addr', 'show'], optional: false},
  // every table (main, local and those policy rules look up); IPv4 only, as `ip route show` was
  'ip-route': {json: ['ip', '-4', '-j', 'route', 'show', 'table', 'all'], txt: ['ip', '-4', 'route', 'show', 'table', 'all'], optional: false},
  // the path MTUs the host learned from "fragmentation needed" (route exceptions, `cache expires N mtu M`):
  // its own sockets obey them until they expire, whatever the path's MTU is now
  'ip-route-cache': {json: ['ip', '-4', '-j', 'route', 'show', 'cache'], txt: ['ip', '-4', 'route', 'show', 'cache'], optional: true},
  // optional: an iproute2 too old for `-j rule` leaves the rules unknown (default rules assumed)
  'ip-rule': {json: ['ip', '-j', 'rule', 'show'], txt: ['ip', 'rule', 'show'], optional: true},
  'ip-neigh': {json: ['ip', '-j', 'neigh', ...NEIGH_SHOW], txt: ['ip', 'neigh', ...NEIGH_SHOW], optional: false},
  'bridge-fdb': {json: ['bridge', '-j', 'fdb', 'show'], txt: ['bridge', 'fdb', 'show'], optional: true},
  // iptables-save has no JSON form; its text is what both formats keep.
  'iptables-save': {json: ['iptables-save'], txt: ['iptables-save'], optional: true},
  // native nftables (firewalld, nftables.service, flanneld's EnableNFTables): where it may act unseen
  'nft-ruleset': {json: ['nft', '-j', 'list', 'ruleset'], txt: ['nft', '-a', 'list', 'ruleset'], optional: true},
  // one command for every device: a clsact or ingress qdisc is where tc filters (BPF programs) may act
  'tc-qdisc': {json: ['tc', '-j', 'qdisc', 'show'], txt: ['tc', 'qdisc', 'show'], optional: true},
  // the sets `-m set` rules test (Calico's natOutgoing pools, kube-proxy's IPVS sets); no JSON form
  'ipset': {json: ['ipset', 'save'], txt: ['ipset', 'save'], optional: true, textOnly: true},
}

/** A pod namespace on a node reached by any runner (`ip netns exec NS` on that node). */
export class NetnsInsideRunner implements Runner {
  constructor(private readonly inner: Runner, readonly netns: string) {}
  get target(): Target {
    return this.inner.target.kind === 'ssh' ? this.inner.target : {kind: 'netns', name: this.netns}
  }

  run(cmd: Command): Promise<CommandResult> {
    return this.inner.run({...cmd, file: 'ip', args: ['netns', 'exec', this.netns, cmd.file, ...cmd.args]})
  }
}

function where(runner: Runner): string {
  return runner instanceof NetnsInsideRunner && runner.target.kind === 'ssh'
    ? `${targetToString(runner.target)} netns ${runner.netns}` : targetToString(runner.target)
}

/**
 * A host that cannot be read at all is the user's inventory's problem (exit 2), not a crash.
 * `why` says where and what failed, without the host's name: what a snapshot records of it.
 */
export class HostUnreadable extends FlannelctlError {
  readonly why: string
  constructor(readonly host: string, at: string, failure: string, what: 'host' | 'pod', hint: string) {
    super(`cannot read ${what} '${host}' (${at}): ${failure}`, hint, ExitCode.usage, 'HOST_UNREADABLE')
    this.why = `${at}: ${failure}`
  }
}

function unreachable(name: string, runner: Runner, r: CommandResult, what: 'host' | 'pod'): never {
  const t = runner.target
  const why = firstLine(r.stderr || r.stdout) || `exit code ${r.exitCode}`
  const hint = reachHint(runner instanceof NetnsInsideRunner && t.kind !== 'ssh' ? {kind: 'netns', name: runner.netns} : t)
  throw new HostUnreadable(name, where(runner), why, what, hint)
}

export function sysctlText(values: Record<string, string>, format: TableFormat): string {
  if (format === 'json') return JSON.stringify(values, null, 2) + '\n'
  return Object.entries(values).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n'
}

/** The tables read by their own programs, in COMMANDS' order; iptables-save is HostAdapter's read (the flavour in use). */
const PROGRAM_TABLES = (Object.keys(COMMANDS) as Exclude<TableName, 'sysctl'>[]).filter(t => t !== 'iptables-save')
type ProgramTable = typeof PROGRAM_TABLES[number]

/**
 * A program of the host's read script: one table's, or one `ip -batch -` for the JSON tables whose
 * `ip` commands take the same options (`ip -j` addr, neigh and rule; `ip -4 -j` route and its cache):
 * ip -j prints each command's JSON on a line of its own, byte for byte what the command alone
 * prints, so a batch is the same tables for one program start instead of two or three.
 */
interface ScriptRead {
  tables: ProgramTable[]
  command: ShellCommand
}

function scriptReads(format: TableFormat): ScriptRead[] {
  const groups: {tables: ProgramTable[]; batchOptions?: string[]}[] = []
  for (const table of PROGRAM_TABLES) {
    const words = COMMANDS[table][format]
    const options = words.slice(1, words.findIndex((w, i) => i > 0 && !w.startsWith('-')))
    // -d would add details to every table of a batch: the link read keeps its own program
    const batched = format === 'json' && words[0] === 'ip' && !options.includes('-d')
    const group = batched ? groups.find(g => g.batchOptions?.join(' ') === options.join(' ')) : undefined
    if (group) group.tables.push(table)
    else groups.push({tables: [table], ...(batched ? {batchOptions: options} : {})})
  }
  return groups.map(({tables, batchOptions}) => ({tables, command: batchOptions === undefined ? COMMANDS[tables[0]][format] : {
    words: ['ip', ...batchOptions, '-batch', '-'],
    input: tables.map(t => `${COMMANDS[t][format].slice(1 + batchOptions.length).join(' ')}\n`).join(''),
  }}))
}

/** Each table's result from a script read (a batch's by its lines); undefined: a batch that did not print one JSON line per command. */
function splitRead(read: ScriptRead, r: CommandResult | undefined): [ProgramTable, CommandResult | undefined][] | undefined {
  if (read.tables.length === 1 && Array.isArray(read.command)) return [[read.tables[0], r]]
  const lines = r?.exitCode === 0 && r.stdout.endsWith('\n') ? r.stdout.split('\n').slice(0, -1) : []
  if (lines.length !== read.tables.length || !lines.every(l => l.startsWith('[') && l.endsWith(']'))) return undefined
  return read.tables.map((t, i) => [t, {stdout: `${lines[i]}\n`, stderr: r!.stderr, exitCode: 0}])
}

/**
 * Read every table of one host, by one program run on it (a script, HostAdapter.readWithIptables):
 * a fork of this process per host, not one per table, which under load is most of a live trace's
 * wait. Fails with a user error when the host cannot be reached. An iproute2 older than its `-j`
 * (CentOS 7's `ip`, busybox) refuses the JSON forms: the plain text it prints instead is read the
 * same way, by a run or two more on such a host only.
 */
export async function captureHost(runner: Runner, name: string, format: TableFormat = 'json', what: 'host' | 'pod' = 'host'): Promise<CollectedHost> {
  const host = new HostAdapter(runner, name)
  const reads = scriptReads(format)
  const read = await host.readWithIptables([
    ...reads.map(r => r.command),
    // every device's, narrowed below to the devices the link read saw (as HostAdapter.snapshot does)
    everyDeviceSysctlRead(TRACE_RANGE_SYSCTLS),
  // the ip and bridge tables are the script's first lane; nft, tc, ipset, the sysctls and the iptables saves run beside them
  ], {besideFrom: reads.findIndex(r => r.tables.includes('nft-ruleset'))}).catch((error: unknown) => {
    // no frame came back: the shell never ran there (a namespace or ssh host gone), which the run's own output says
    if (error instanceof ReadScriptFailed) unreachable(name, runner, error.result, what)
    throw error
  })
  const results = new Map<ProgramTable, {result: CommandResult | undefined; format: TableFormat}>()
  // a batch an ip refused (no -j for one of its tables): each of its tables by its own command
  const again: ProgramTable[] = []
  reads.forEach((r, i) => {
    const split = splitRead(r, read.reads[i])
    if (split === undefined) again.push(...r.tables)
    else for (const [t, result] of split) results.set(t, {result, format})
  })
  if (again.length > 0) {
    const alone = await host.readSeveral(again.map(t => COMMANDS[t][format]))
    again.forEach((t, i) => results.set(t, {result: alone[i], format}))
  }
  const refusedJson = format === 'json' ? PROGRAM_TABLES.filter(t => (results.get(t)!.result?.exitCode ?? 0) !== 0 && !COMMANDS[t].textOnly) : []
  if (refusedJson.length > 0) {
    const texts = await host.readSeveral(refusedJson.map(t => COMMANDS[t].txt))
    refusedJson.forEach((t, i) => {
      if (texts[i]?.exitCode === 0) results.set(t, {result: texts[i], format: 'txt'})
    })
  }
  const tables: RawTables = {}
  const unread: string[] = []
  for (const table of PROGRAM_TABLES) {
    const c = COMMANDS[table]
    const {result, format: read} = results.get(table)!
    // a host without the optional program (no nft) leaves that table unknown
    if (result === undefined) {
      if (!c.optional) throw notInstalled(c[format][0], runner.target)
      if (table === 'nft-ruleset') tables[table] = {format: 'txt', text: `${NFT_NOT_INSTALLED}\n`}
    } else if (result.exitCode === 0) tables[table] = {format: c.textOnly ? 'txt' : read, text: result.stdout}
    else if (!c.optional) unreachable(name, runner, result, what)
    else unread.push(`${c[format].join(' ')}: ${(result.stderr || result.stdout).trim().split('\n')[0] || `exit ${result.exitCode}`}`)
  }
  if (read.iptables) tables['iptables-save'] = {format: 'txt', text: read.iptables.save}
  const partial = snapshotFromTables(name, tables, `${name} (${where(runner)})`)
  const sysctls = sysctlsOfDevices(read.reads.at(-1)?.stdout ?? '', (partial.links ?? []).map(l => l.name), TRACE_RANGE_SYSCTLS)
  tables.sysctl = {format, text: sysctlText(sysctls, format)}
  return {name, tables, snapshot: {...partial, sysctls}, ...(unread.length > 0 ? {unread} : {})}
}

/** CNI configs read from a conf dir at most: libcni reads the first (by name); more is a host to look at by hand. */
const MAX_CNI_CONFIGS = 32

/**
 * Pod IPs the host-local IPAM plugin handed out on this host (one file per address), wherever the
 * CNI configs in `confDir` (libcni's .conf, .conflist, .json) tell it to keep them (ipamDataDirs):
 * a conflist with host-local's dataDir (a lab node's, some distributions') keeps them outside
 * /var/lib/cni/networks. A host without CNI (no conf dir, no data dir) has none.
 */
export async function cniAllocatedIps(runner: Runner, confDir: string = DEFAULT_CNI_CONF_DIR): Promise<string[]> {
  // find takes a first argument starting with '-' as an expression (`-delete`): only an absolute path is a directory to it
  const listed = confDir.startsWith('/') ? await runner.run({file: 'find', args: [confDir, '-maxdepth', '1', '-type', 'f']}) : undefined
  const confFiles = listed?.exitCode !== 0 ? [] : listed.stdout.split('\n').filter(f => /\.(conflist|conf|json)$/.test(f)).sort().slice(0, MAX_CNI_CONFIGS)
  const configs = confFiles.length === 0 ? [] : await new HostAdapter(runner).readFiles(confFiles)
  const dirs = ipamDataDirs(configs.filter((c): c is string => c !== undefined))
  // find exits 1 when one of the directories is missing (the default, on a host whose conflist names
  // another), after listing the others: what it listed counts, whatever its exit code
  const r = await runner.run({file: 'find', args: [...dirs, '-mindepth', '2', '-maxdepth', '2', '-type', 'f']})
  return [...new Set(r.stdout.split('\n').map(l => l.slice(l.lastIndexOf('/') + 1)).filter(isIPv4))]
}
