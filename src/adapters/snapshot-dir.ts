/**
 * The snapshot directory: DIR/inventory.yaml plus DIR/<host>/<table>.{json,txt} for every node and
 * every pod whose own tables were captured. A table whose file is missing stays undefined (unknown)
 * in the HostSnapshot; an empty file is an empty table.
 */
import {readFile, writeFile, mkdir, readdir, stat, rm} from 'node:fs/promises'
import {fsProblem, makeDirs} from '../store/dirs.js'
import {errno} from '../store/file-lock.js'
import {readdirSync, readFileSync, type Dirent} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {isAscii} from 'node:buffer'
import {addressesFromKernelRoutes, isIPv6Route, tableOf, type HostSnapshot, type Link, type Neighbor, type Route} from '../core/model.js'
import {entryDevicesOfAll, ipv4Part, isIPv6, isIPv6MulticastNeighbor, listsSomeDevicesOnly, parseAddrs, routeFilterOfAll, parseFdb, parseIptables, parseLinks, parseIPv4Rules, parseNeighbors, parseNftRuleset, parseQdiscs, parseIpsets, parseRoutes, parseSysctls} from '../core/parse/index.js'
import {formatInventory, isSafeName, parseInventory, type Inventory} from '../core/inventory.js'
import {userError} from '../errors.js'

export const TABLES = ['ip-addr', 'ip-link', 'ip-route', 'ip-route-cache', 'ip-rule', 'ip-neigh', 'bridge-fdb', 'iptables-save', 'nft-ruleset', 'tc-qdisc', 'ipset', 'sysctl'] as const
export type TableName = typeof TABLES[number]
export type TableFormat = 'json' | 'txt'
/** how a table file was named: `.json`, `.txt`, or no extension */
type FileForm = TableFormat | 'bare'
export interface RawTable {
  format: TableFormat
  text: string
}
export type RawTables = Partial<Record<TableName, RawTable>>

/**
 * What collect writes as the nft ruleset of a host without nft installed: no native chains (there is
 * nothing to run them with), which is not the unknown a missing file is. A comment to nft's reader.
 */
export const NFT_NOT_INSTALLED = '# nft is not installed on this host: no nftables ruleset to list'

export const INVENTORY_FILE = 'inventory.yaml'
/** Beside a snapshot's inventory.yaml: the store's view when it was collected (StoreSummary, written by services/collect.ts). */
export const STORE_FILE = 'store.json'
/**
 * The first line of the inventory collect writes: a later collect into the same directory replaces
 * a snapshot that starts so, and refuses any other directory that is not empty (a hand-made
 * snapshot, someone's files), whose contents it would otherwise mix with its own.
 */
const COLLECT_MARK = '# written by flannelctl collect'

/**
 * A HostSnapshot whose tables are parsed on first use. A trace visits a handful of hosts; parsing
 * every route table of a thousand-node snapshot up front would cost seconds for nothing. A table
 * that was not captured gets no property at all, so it reads as undefined (unknown).
 */
function lazySnapshot(name: string, formats: Map<TableName, FileForm>, load: (t: TableName) => RawTable, where: string): HostSnapshot {
  const snap: HostSnapshot = {name}
  const present = new Set(formats.keys())
  // for error messages: the file's name, without reading it again
  const src = (t: TableName) => `${where}/${fileName(t, formats.get(t)!)}`
  const define = <K extends keyof HostSnapshot>(key: K, compute: () => HostSnapshot[K]) => {
    Object.defineProperty(snap, key, {
      enumerable: true, configurable: true,
      get() {
        const value = compute()
        Object.defineProperty(snap, key, {value, enumerable: true, configurable: true, writable: true})
        return value
      },
    })
  }
  /** a table's text, read on first use and kept for the other facts taken from it */
  const textOf = (t: TableName) => {
    let text: string | undefined
    return () => (text ??= load(t).text)
  }
  let fromAddr: ReturnType<typeof parseAddrs> | undefined
  const addrRaw = textOf('ip-addr')
  const addrs = () => (fromAddr ??= parseAddrs(addrRaw(), src('ip-addr')))
  const linkRaw = textOf('ip-link')
  const routeRaw = textOf('ip-route')
  // `ip addr show flannel.1` pasted: the other devices' addresses come from the kernel's own routes.
  // So with `ip -6 addr`, which the parse tells; only a text without a dotted quad is parsed for it.
  let someDevices: boolean | undefined
  const someDevicesOnly = () => (someDevices ??= present.has('ip-route') && (listsSomeDevicesOnly(addrRaw()) ||
    (!/\d\.\d+\.\d+\.\d/.test(addrRaw()) && addrs().someDevicesOnly === true)))
  if (present.has('ip-addr')) {
    // The parsers take an address's text as it stands (no leading zeros, no other notation), so a
    // table whose text lacks it cannot hold it; a JSON \u escape could spell it otherwise.
    // Not enumerable: not a table, and copying the snapshot must not call it.
    let escaped: boolean | undefined
    Object.defineProperty(snap, 'mayHoldAddress', {
      value: (ip: string) => fromAddr !== undefined || addrRaw().includes(ip) || (escaped ??= addrRaw().includes('\\u')) ||
        (someDevicesOnly() && routeRaw().includes(ip)),
    })
  }
  if (present.has('ip-link') || present.has('ip-addr')) {
    define('links', () => {
      let links: Link[] | undefined = present.has('ip-link') ? parseLinks(linkRaw(), src('ip-link')) : undefined
      // `ip addr` (or ifconfig) names links too, without the `-d` details; keep what `ip -d link` lacks.
      const named = present.has('ip-addr') ? addrs().links : []
      if (!links) return named.length > 0 || !present.has('ip-addr') ? named : undefined
      for (const l of named) if (!links.some(k => k.name === l.name)) links.push(l)
      return links
    })
  }
  if (!present.has('ip-link') && present.has('ip-addr')) define('linkKindsUnknown', () => true)
  if (present.has('ip-link') || present.has('ip-addr')) {
    // every source of links printed some devices only
    define('linksOfSomeDevicesOnly', () => ((!present.has('ip-link') || listsSomeDevicesOnly(linkRaw())) &&
      (!present.has('ip-addr') || addrs().someDevicesOnly === true)) || undefined)
  }
  if (present.has('ip-addr')) {
    define('addresses', () => {
      const {addresses, someDevicesOnly: partial} = addrs()
      if (!partial || !present.has('ip-route')) return addresses
      const known = new Set(addresses.map(a => `${a.dev}|${a.local}`))
      return [...addresses, ...addressesFromKernelRoutes(snap.routes!).filter(a => !known.has(`${a.dev}|${a.local}`))]
    })
  } else if (present.has('ip-route')) {
    // no address table: with the local table read (`table all`, as collect writes it) the kernel's own
    // routes name every address (`local A dev D table local`); from table main alone some would be missing
    define('addresses', () => snap.routes!.some(r => tableOf(r) === 'local') ? addressesFromKernelRoutes(snap.routes!) : undefined)
  }
  if (present.has('ip-route')) {
    let v4: ReturnType<typeof ipv4Part<Route>> | undefined
    const routes = () => (v4 ??= ipv4Part(parseRoutes(routeRaw(), src('ip-route')), isIPv6Route))
    define('routes', () => routes().entries)
    define('routesFilter', () => routeFilterOfAll(routeRaw()) ?? (routes().ipv6Only ? '-6' : undefined))
  }
  if (present.has('ip-route-cache')) define('pmtuCache', () => parseRoutes(load('ip-route-cache').text, src('ip-route-cache')).filter(r => r.mtu !== undefined))
  if (present.has('ip-rule')) define('rules', () => parseIPv4Rules(load('ip-rule').text, src('ip-rule')))
  if (present.has('ip-neigh')) {
    const raw = textOf('ip-neigh')
    let v4: ReturnType<typeof ipv4Part<Neighbor>> | undefined
    const neighbors = () => (v4 ??= ipv4Part(parseNeighbors(raw(), src('ip-neigh')), n => isIPv6(n.dst), isIPv6MulticastNeighbor))
    define('neighbors', () => neighbors().entries)
    // `ip -j -6 neigh`: no device's IPv4 neighbours are known
    define('neighborDevices', () => neighbors().ipv6Only ? [] : entryDevicesOfAll(raw(), snap.neighbors!))
  }
  if (present.has('bridge-fdb')) {
    const raw = textOf('bridge-fdb')
    define('fdb', () => parseFdb(raw(), src('bridge-fdb')))
    define('fdbDevices', () => entryDevicesOfAll(raw(), snap.fdb!))
  }
  if (present.has('iptables-save')) {
    define('iptables', () => {
      const rules = parseIptables(load('iptables-save').text, src('iptables-save'))
      // ip6tables-save output alone: IPv4's rules were not captured
      return rules.ipv6TablesLeftOut !== undefined && rules.chains.length === 0 && rules.rules.length === 0 ? undefined : rules
    })
  }
  if (present.has('nft-ruleset')) {
    define('nftables', () => {
      const text = load('nft-ruleset').text
      return text.startsWith(NFT_NOT_INSTALLED) ? undefined : parseNftRuleset(text, src('nft-ruleset'))
    })
  } else {
    // a host with tables read and not its ruleset: where nft's chains could decide, the trace says it did not see them
    snap.nftRulesetUnread = true
  }
  if (present.has('tc-qdisc')) define('qdiscs', () => parseQdiscs(load('tc-qdisc').text, src('tc-qdisc')))
  if (present.has('ipset')) define('ipsets', () => parseIpsets(load('ipset').text, src('ipset')))
  if (present.has('sysctl')) define('sysctls', () => parseSysctls(load('sysctl').text, src('sysctl')))
  return snap
}

/** Parse captured tables into a HostSnapshot now (errors surface here); `where` prefixes error messages. */
export function snapshotFromTables(name: string, tables: RawTables, where = name): HostSnapshot {
  const formats = new Map((Object.keys(tables) as TableName[]).filter(t => tables[t] !== undefined).map(t => [t, tables[t]!.format]))
  return {...lazySnapshot(name, formats, t => tables[t]!, where)}
}

/** A directory with no node directories; one holding a host's tables itself is one node's directory, passed instead of its parent. */
function noNodeDirectories(dir: string): Error {
  let ownTables: Map<TableName, FileForm> | undefined
  try {
    ownTables = tableFiles(dir)
  } catch {
    // files, none of them tables: no more to say than that it holds no node directories
  }
  if (ownTables !== undefined && ownTables.size > 0) {
    return userError(`snapshot directory ${dir} holds one host's tables (${[...ownTables].map(([t, form]) => fileName(t, form)).slice(0, 3).join(', ')}, …), not a directory per node`,
      `pass the directory above it (--snapshot ${dirname(resolve(dir))}), or move these files into ${join(dir, 'NODE')}/`)
  }
  return userError(`snapshot directory ${dir} holds no node directories`, 'put each node\'s files in DIR/<node>/ (ip-route.txt, ip-neigh.txt, ...)')
}

/**
 * Which tables DIR/<host>/ holds, and in which form; JSON wins when a table was saved in both.
 * Undefined when it is not a directory. Synchronous: a thousand-node snapshot has two thousand of
 * these, and each call through libuv's thread pool costs more than the read itself.
 */
function tableFiles(hostDir: string, ignored?: string[]): Map<TableName, FileForm> | undefined {
  let listed: string[]
  try {
    listed = readdirSync(hostDir)
  } catch {
    return undefined
  }
  const names = new Set(listed)
  const found = new Map<TableName, FileForm>()
  for (const t of TABLES) {
    if (names.has(`${t}.json`)) found.set(t, 'json')
    else if (names.has(`${t}.txt`)) found.set(t, 'txt')
    // saved without an extension: the parsers tell JSON from text by the content
    else if (names.has(t)) found.set(t, 'bare')
  }
  const known = new Set([...found].map(([t, form]) => fileName(t, form)))
  for (const f of listed) if (!known.has(f) && !isTableFileName(f)) ignored?.push(join(hostDir, f))
  if (found.size === 0 && listed.length > 0) {
    throw userError(`${hostDir} holds no file flannelctl reads (found ${listed.slice(0, 5).join(', ')}${listed.length > 5 ? ', …' : ''})`,
      `name the files ${TABLES.map(t => `${t}.txt`).join(', ')} (or .json)`)
  }
  return found
}

/** A name of a table file that another form of the same table (read instead) also has. */
function isTableFileName(f: string): boolean {
  return (TABLES as readonly string[]).some(t => f === t || f === `${t}.json` || f === `${t}.txt`)
}

function fileName(t: TableName, form: FileForm): string {
  return form === 'bare' ? t : `${t}.${form}`
}

/** A host of a snapshot directory, its files read and parsed when the trace first looks at them; undefined without its directory. */
function hostFromDir(name: string, hostDir: string, ignored?: string[]): HostSnapshot | undefined {
  const files = tableFiles(hostDir, ignored)
  if (!files) return undefined
  const load = (t: TableName): RawTable => {
    const form = files.get(t)!
    const path = join(hostDir, fileName(t, form))
    try {
      return {format: form === 'bare' ? 'txt' : form, text: readTextSync(path)}
    } catch (e) {
      throw userError(`cannot read ${path}: ${(e as Error).message}`, 'check the snapshot directory\'s permissions')
    }
  }
  return lazySnapshot(name, files, load, hostDir)
}

/**
 * A file's text: UTF-8, or UTF-16 when it starts with that byte order mark (what Windows
 * PowerShell's `>` and Notepad's "Unicode" write when a paste is saved there).
 */
export function decodeText(bytes: Buffer): string {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le')
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) {
    const swapped = Buffer.from(bytes.subarray(2, bytes.length - (bytes.length % 2)))
    return swapped.swap16().toString('utf16le')
  }
  // ASCII (nearly every table) reads the same as latin1, which node copies where UTF-8 is decoded:
  // 6 MB of kube-proxy rules in ~1 ms instead of ~60
  return isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8')
}

/**
 * decodeText of the file at `path`. Not `readFileSync(path, 'utf8')`: node 20 reads a file that
 * way in small pieces, ~25–50 ms for a 6 MB iptables-save where the bytes and decodeText take
 * ~1–2 ms (a thousand 1 KB files cost about the same either way).
 */
export function readTextSync(path: string): string {
  return decodeText(readFileSync(path))
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return decodeText(await readFile(path))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw userError(`cannot read ${path}: ${(e as Error).message}`, 'check the snapshot directory\'s permissions')
  }
}

/** The tables present in DIR/<host>/; JSON wins when a table was saved in both forms. */
export async function readTables(hostDir: string): Promise<RawTables> {
  const tables: RawTables = {}
  await Promise.all(TABLES.map(async t => {
    for (const format of ['json', 'txt'] as const) {
      const text = await readOptional(join(hostDir, `${t}.${format}`))
      if (text !== undefined) {
        tables[t] = {format, text}
        return
      }
    }
  }))
  return tables
}

export interface SnapshotDir {
  inventory: Inventory
  /** one per node, then one per pod whose own directory exists; nodes marked `unread:` have none */
  hosts: HostSnapshot[]
  /** nodes whose tables collect could not read, with why (the inventory's `unread:`) */
  unread: {name: string; reason: string}[]
  /** pod names whose own tables were captured */
  podsWithTables: string[]
  /** files in host directories that are no table file (`routes.txt`): not read */
  ignored: string[]
  /** directories beside inventory.yaml that it names as no node or pod (another host's collect copied in): not read */
  unlisted: string[]
}

/**
 * Read DIR. Without DIR/inventory.yaml every subdirectory is a node and pods are left to
 * discovery, so a directory of pasted outputs works as it is.
 */
export async function readSnapshotDir(dir: string): Promise<SnapshotDir> {
  if (!(await isDir(dir))) {
    const isFile = await stat(dir).then(() => true, () => false)
    throw userError(`snapshot directory ${dir} ${isFile ? 'is a file, not a directory' : 'does not exist'}`, 'make one with flannelctl collect --out DIR, or create DIR/<node>/ip-route.txt etc. by hand')
  }
  const invText = await readOptional(join(dir, INVENTORY_FILE))
  let inventory: Inventory
  let unlisted: string[] = []
  if (invText !== undefined) {
    inventory = parseInventory(invText, join(dir, INVENTORY_FILE))
    const named = new Set([...inventory.nodes, ...(inventory.pods ?? [])].map(h => h.name))
    unlisted = (await readdir(dir, {withFileTypes: true})).filter(e => e.isDirectory() && isSafeName(e.name) && !named.has(e.name)).map(e => e.name).sort()
  } else {
    const entries = await readdir(dir, {withFileTypes: true})
    const names = entries.filter(e => e.isDirectory() && isSafeName(e.name)).map(e => e.name).sort()
    if (names.length === 0) throw noNodeDirectories(dir)
    inventory = {nodes: names.map(name => ({name}))}
  }
  const ignored: string[] = []
  const unread = inventory.nodes.filter(n => n.unread !== undefined).map(n => ({name: n.name, reason: n.unread!}))
  const nodes = inventory.nodes.filter(n => n.unread === undefined).map(node => {
    const hostDir = join(dir, node.name)
    const host = hostFromDir(node.name, hostDir, ignored)
    if (!host) throw userError(`snapshot ${dir} has no directory for node '${node.name}'`, `add ${hostDir}/ with the node's tables, or remove the node from ${INVENTORY_FILE}`)
    return host
  })
  const pods = (inventory.pods ?? []).map(pod => hostFromDir(pod.name, join(dir, pod.name), ignored))
  const captured = pods.filter((p): p is HostSnapshot => p !== undefined)
  return {inventory, hosts: [...nodes, ...captured], podsWithTables: captured.map(p => p.name), ignored, unread, unlisted}
}

/**
 * Write DIR/inventory.yaml and DIR/<host>/<table>.<format> for every captured table. DIR is new,
 * empty, or a snapshot collect wrote before, which is replaced whole: a host no longer collected
 * or a table no longer read must not be taken for part of this one.
 */
export async function writeSnapshotDir(dir: string, inventory: Inventory, hosts: {name: string; tables: RawTables}[], source = 'hosts'): Promise<string[]> {
  await clearForSnapshot(dir)
  try {
    return await writeLayout(dir, inventory, hosts, source)
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    if (err.code === undefined || err.path === undefined) throw e
    const why = err.code === 'EEXIST' || err.code === 'ENOTDIR' ? `${err.path}: a file is in the way of a directory` : fsProblem(e)
    throw userError(`cannot write the snapshot to ${dir}: ${why}`, 'give --out a directory (new or one collect wrote before) that you can write')
  }
}

/**
 * Make DIR ready for a snapshot: nothing to do when it is absent or empty; a snapshot collect
 * wrote is removed (it holds nothing else: checked first, so no file of anyone else's goes with
 * it); any other directory that is not empty is refused.
 */
async function clearForSnapshot(dir: string): Promise<void> {
  // absent, a file, not ours to read: writing it says what is wrong, as for a new directory
  const entries = await readdir(dir, {withFileTypes: true}).catch(() => [] as Dirent[])
  if (entries.length === 0) return
  const refusal = await notCollectsOwn(dir, entries)
  if (refusal !== undefined) throw refusal
  for (const e of entries) await rm(join(dir, e.name), {recursive: true, force: true})
}

/** Undefined when DIR holds a snapshot collect wrote and nothing else; else the error saying what is there. */
async function notCollectsOwn(dir: string, entries: Dirent[]): Promise<Error | undefined> {
  const elsewhere = `give a new or empty directory (e.g. --out ${join(dir, 'snapshot')})`
  const listed = entries.slice(0, 4).map(e => e.name).join(', ') + (entries.length > 4 ? `, … (${entries.length} entries)` : '')
  const text = await readFile(join(dir, INVENTORY_FILE), 'utf8').catch(() => undefined)
  if (text === undefined) {
    return userError(`--out ${dir} is not empty and holds no snapshot collect wrote (it holds ${listed})`,
      `${elsewhere}: collect replaces only a snapshot it wrote itself, and would mix its files with these`)
  }
  let inventory: Inventory | undefined
  try {
    inventory = text.startsWith(COLLECT_MARK) ? parseInventory(text, join(dir, INVENTORY_FILE)) : undefined
  } catch {}
  if (inventory === undefined) {
    return userError(`--out ${dir} holds a snapshot that collect did not write (by hand, or by an older flannelctl: its ${INVENTORY_FILE} does not start with "${COLLECT_MARK}")`,
      `${elsewhere}, or remove this one first: collect would mix its files with these`)
  }
  const hosts = new Set([...inventory.nodes, ...(inventory.pods ?? [])].map(h => h.name))
  for (const e of entries) {
    if (e.name === INVENTORY_FILE || (e.name === STORE_FILE && e.isFile())) continue
    const other = !e.isDirectory() || !hosts.has(e.name) ? e.name
      : (await readdir(join(dir, e.name), {withFileTypes: true})).find(f => !f.isFile() || !isTableFileName(f.name))?.name
    if (other === undefined) continue
    const path = e.name === other ? join(dir, other) : join(dir, e.name, other)
    return userError(`--out ${dir} holds a snapshot collect wrote, and ${path}, which collect did not write`,
      `move ${path} away (collect replaces the whole snapshot), or ${elsewhere}`)
  }
  return undefined
}

async function writeLayout(dir: string, inventory: Inventory, hosts: {name: string; tables: RawTables}[], source: string): Promise<string[]> {
  const written: string[] = []
  // not mkdir's recursive form: it spins forever under /proc (see makeDirs)
  await makeDirs(dir, 0o755)
  for (const h of hosts) {
    if (!isSafeName(h.name)) throw userError(`cannot write a snapshot for '${h.name}'`, 'host names must be safe file names')
    const hostDir = join(dir, h.name)
    await mkdir(hostDir).catch((e: unknown) => {
      if (errno(e) !== 'EEXIST') throw e
    })
    for (const t of TABLES) {
      const table = h.tables[t]
      if (!table) continue
      const path = join(hostDir, `${t}.${table.format}`)
      await writeFile(path, table.text.endsWith('\n') || table.text === '' ? table.text : table.text + '\n')
      written.push(path)
    }
  }
  const invPath = join(dir, INVENTORY_FILE)
  const nodes = inventory.nodes.map(n => ({name: n.name, ...(n.unread !== undefined ? {unread: n.unread} : {})}))
  await writeFile(invPath, `${COLLECT_MARK} from ${source.replace(/\n/g, ' ')} at ${new Date().toISOString()}; collect --out here again replaces this directory\n` +
    formatInventory({nodes, pods: inventory.pods, partial: inventory.partial, podsDiscovered: inventory.podsDiscovered}))
  written.push(invPath)
  return written
}
