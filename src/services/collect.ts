/**
 * Where a World comes from: the live local host, an inventory of live hosts, a snapshot directory,
 * or a lab. Every source ends as hosts (nodes, the lab's router, pods' own namespaces) plus pod
 * references, so trace, doctor and collect never care which one it was.
 */
import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {hostname} from 'node:os'
import {RealRunner, type Runner, type CommandListener} from '../adapters/runner.js'
import {parseTarget} from '../adapters/target.js'
import {captureHost, cniAllocatedIps, HostUnreadable, NetnsInsideRunner, type CollectedHost} from '../adapters/collect.js'
import {fsReason} from '../store/dirs.js'
import {decodeText, readSnapshotDir, STORE_FILE, TABLES, writeSnapshotDir, type TableFormat} from '../adapters/snapshot-dir.js'
import {discoverPods, isSafeName, NAME_HINT, nodesSharingHost, parseInventory, type Inventory, type InventoryNode, type InventoryPod} from '../core/inventory.js'
import type {PodRef, World} from '../core/trace/types.js'
import {Lab, labRebuildCommand, labRecreateCommand, loadLab, requireLabRoot, type LabState} from './lab.js'
import {loadRecord, type NodeRecord} from './node.js'
import {HostAdapter} from '../adapters/host.js'
import {listLeases, storeOfRecord, storeSummary, type RecordedStore, type StoreSummary} from './lease.js'
import {FlannelctlError, userError} from '../errors.js'
import {count} from '../core/words.js'

export interface SourceOptions {
  inventory?: string
  snapshot?: string
  lab?: string
  /** this host alone: where init recorded its store (--state-file), and that store's etcd password */
  stateFile?: string
  etcdPassword?: string
  /** this host alone: its CNI conf dir (--cni-conf-dir), whose conflist says where host-local keeps pod addresses; else the one init recorded */
  cniConfDir?: string
  /** this host alone: its name in the report and the snapshot (--node-name; a lab node's, set by lab exec), else its hostname */
  nodeName?: string
}

export type SourceKind = 'local' | 'inventory' | 'snapshot' | 'lab'

/** A host we can run programs on (live sources only): nodes and pods with their own namespace. */
export interface LiveHost {
  name: string
  role: 'node' | 'router' | 'pod'
  runner: Runner
}

export interface LoadedSource {
  kind: SourceKind
  /** e.g. "lab d1", "inventory hosts.yaml", "snapshot ./snap", "local host worker1" */
  description: string
  world: World
  /** names nodes and pods as a snapshot directory's inventory.yaml would */
  inventory: Inventory
  /** live sources: how to reach each host (for --ping and collect) */
  live: LiveHost[]
  /** live sources: what each host printed, as a snapshot directory keeps it */
  captured: CollectedHost[]
  /** hosts that could not be read (keepUnreadable), or that a snapshot says collect could not read */
  unread: UnreadHost[]
  lab?: LabState
  /** this host alone: what flannelctl init recorded here; undefined when it is no flannelctl node or the record is unreadable */
  record?: NodeRecord
  /** an inventory: what init recorded on each node read whose stateFile: it names (a record that cannot be read is left out) */
  nodeRecords?: {node: string; record: NodeRecord}[]
}

export interface UnreadHost {
  name: string
  role: LiveHost['role']
  /** where and what failed: `netns:w4: Cannot open network namespace "w4": No such file or directory` */
  reason: string
  /** what to do about it, when known (a live read's) */
  hint?: string
}

export interface LoadOptions {
  progress?: (m: string) => void
  /** the form raw tables are captured in (collect --format) */
  format?: TableFormat
  /** shown for every program run (--verbose) */
  listener?: CommandListener
  /** parallel reads; hosts beyond a few dozen are read in waves */
  concurrency?: number
  /**
   * A host that cannot be read is left out and listed (LoadedSource.unread) instead of failing the
   * whole read: collect keeps what it could read. Trace and doctor stop at it, live.
   */
  keepUnreadable?: boolean
}

export function chooseSource(o: SourceOptions): SourceKind {
  const given = (['inventory', 'snapshot', 'lab'] as const).filter(k => o[k] !== undefined)
  if (given.length > 1) throw userError(`--${given[0]} and --${given[1]} both name the hosts`, 'give one of --inventory, --snapshot, --lab (or none for this host)')
  return given[0] ?? 'local'
}

/** Map with a bounded number of promises in flight, reporting progress as hosts finish. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>, progress?: (done: number) => void): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  let done = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i])
      done++
      progress?.(done)
    }
  }
  await Promise.all(Array.from({length: Math.min(limit, items.length)}, worker))
  return out
}

async function captureAll(hosts: LiveHost[], o: LoadOptions): Promise<{captured: CollectedHost[]; unread: UnreadHost[]}> {
  const many = hosts.length > 20
  const progress = many && o.progress
    ? (done: number) => { if (done === hosts.length || done % 10 === 0) o.progress!(`read ${done}/${hosts.length} hosts`) }
    : undefined
  // pool keeps the hosts' order: the unread are listed in it too
  const read = await pool(hosts, o.concurrency ?? 16, async (h): Promise<{captured: CollectedHost} | {unread: UnreadHost}> => {
    try {
      return {captured: await captureHost(h.runner, h.name, o.format ?? 'json', h.role === 'pod' ? 'pod' : 'host')}
    } catch (error) {
      if (!o.keepUnreadable || !(error instanceof HostUnreadable)) throw error
      return {unread: {name: h.name, role: h.role, reason: error.why, hint: error.hint}}
    }
  }, progress)
  const captured = read.flatMap(r => 'captured' in r ? [r.captured] : [])
  const unread = read.flatMap(r => 'unread' in r ? [r.unread] : [])
  // a table that could not be read is not an empty one: nftables unread hides flanneld's EnableNFTables rules, firewalld's;
  // tc's qdiscs unread hide where filters act
  for (const c of captured) {
    for (const u of c.unread ?? []) {
      const nft = u.startsWith('nft ') ? ' (nft needs root); trace says ASSUMED on this host where native chains could act' : ''
      o.progress?.(`note: ${c.name}: ${u}; left out of the snapshot: unknown to trace, not empty${nft}`)
    }
  }
  return {captured, unread}
}

/** The inventory with each host that could not be read marked so (`unread:`), as a snapshot keeps it. */
function markUnread(inv: Inventory, unread: UnreadHost[]): Inventory {
  if (unread.length === 0) return inv
  const why = new Map(unread.map(u => [u.name, u.reason]))
  const mark = <T extends {name: string}>(h: T): T => why.has(h.name) ? {...h, unread: why.get(h.name)} : h
  return {...inv, nodes: inv.nodes.map(mark), ...(inv.pods ? {pods: inv.pods.map(mark)} : {})}
}

/** What a World says of the nodes not read: which, and why. */
function worldUnread(unread: UnreadHost[]): Pick<World, 'unread'> {
  const nodes = unread.filter(u => u.role !== 'pod').map(u => ({name: u.name, reason: u.reason}))
  return nodes.length > 0 ? {unread: nodes} : {}
}

/** The hosts of a lab: every node, the router, every pod's own namespace. */
export function labHosts(state: LabState, listener?: CommandListener): {inventory: Inventory; live: LiveHost[]} {
  const live: LiveHost[] = [
    ...state.nodes.map(n => ({name: n.name, role: 'node' as const, runner: new RealRunner({kind: 'netns', name: n.netns}, listener)})),
    ...(state.router ? [{name: 'rt', role: 'router' as const, runner: new RealRunner({kind: 'netns', name: state.router}, listener)}] : []),
    ...state.pods.map(p => ({name: p.name, role: 'pod' as const, runner: new RealRunner({kind: 'netns', name: p.netns}, listener)})),
  ]
  const inventory: Inventory = {
    nodes: [...state.nodes.map(n => ({name: n.name, exec: `netns:${n.netns}`})), ...(state.router ? [{name: 'rt', exec: `netns:${state.router}`}] : [])],
    pods: state.pods.map(p => ({name: p.name, ip: p.ip, node: p.node, netns: p.netns})),
  }
  return {inventory, live}
}

function podRefs(pods: InventoryPod[], withTables: Set<string>): PodRef[] {
  return pods.map(p => ({name: p.name, ip: p.ip, node: p.node, ...(withTables.has(p.name) ? {netns: p.name} : {})}))
}

function nodeRunner(node: InventoryNode, listener?: CommandListener): Runner {
  return new RealRunner(parseTarget(node.exec), listener)
}

/** A pod's own namespace: a local namespace for local/netns nodes, `ip netns exec` over ssh otherwise. */
function podRunner(node: InventoryNode, pod: InventoryPod & {netns: string}, listener?: CommandListener): Runner {
  const t = parseTarget(node.exec)
  return t.kind === 'ssh' ? new NetnsInsideRunner(new RealRunner(t, listener), pod.netns) : new RealRunner({kind: 'netns', name: pod.netns}, listener)
}

/**
 * Live hosts with pods not named: ask each node's bridge neighbours (an idle pod has no entry) and
 * CNI IPAM, where the node's CNI conf dir says: the inventory's cniConfDir:, else the one init
 * recorded in the node's stateFile:, else the default.
 */
async function discoverLivePods(nodes: {node: InventoryNode; runner: Runner; record?: NodeRecord}[], captured: CollectedHost[]): Promise<InventoryPod[]> {
  const pods: InventoryPod[] = []
  await Promise.all(nodes.map(async ({node, runner, record}) => {
    const snap = captured.find(c => c.name === node.name)!.snapshot
    pods.push(...discoverPods(snap, await cniAllocatedIps(runner, node.cniConfDir ?? record?.cniConfDir)))
  }))
  return dedupePods(pods)
}

/**
 * Hosts sharing a filesystem (namespaces) were each set up with a --state-file and --cni-conf-dir of
 * their own; the inventory names the state file (as migrate needs it), and that file names the conf
 * dir, the store and the node's static peers. Without stateFile: the default one is not asked: on
 * such hosts it is some other node's.
 */
async function inventoryNodeRecord(node: InventoryNode, runner: Runner): Promise<NodeRecord | undefined> {
  if (node.stateFile === undefined) return undefined
  return (await loadRecord(new HostAdapter(runner), {stateFile: node.stateFile}, true).catch(() => undefined))?.rec
}

/** One pod per IP: an address two nodes both show (duplicate subnets) stays with the first node. */
function dedupePods(pods: InventoryPod[]): InventoryPod[] {
  const seen = new Map<string, InventoryPod>()
  for (const p of pods) if (!seen.has(p.ip)) seen.set(p.ip, p)
  return [...seen.values()].sort((a, b) => a.node.localeCompare(b.node) || a.ip.localeCompare(b.ip, 'en', {numeric: true}))
}

export async function loadSource(o: SourceOptions, opts: LoadOptions = {}): Promise<LoadedSource> {
  const kind = chooseSource(o)
  switch (kind) {
    case 'lab': {
      const state = await loadLab(o.lab!, '--lab')
      requireLabRoot(state.name, 'reading a lab')
      const {inventory, live} = labHosts(state, opts.listener)
      if (live.length > 20) opts.progress?.(`reading lab ${state.name}: ${state.nodes.length} nodes${state.router ? ', a router' : ''}, ${state.pods.length} pods`)
      // the lab made these namespaces: one gone is the lab broken, not an inventory to fix
      const labHint = `see \`ip netns list\`: a lab whose namespaces are gone is built again with ${labRebuildCommand(state)}`
      const read = await captureAll(live, opts).catch((error: unknown) => {
        if (!(error instanceof HostUnreadable)) throw error
        // a pod's namespace alone is mended by re-creating the pod, not the lab
        const pod = state.pods.find(p => p.name === error.host)
        const hint = pod === undefined ? labHint : `see \`ip netns list\`: a lab pod whose namespace is gone is re-created with ${labRecreateCommand(state.name, pod.name)}`
        throw new FlannelctlError(error.message, hint, error.exitCode, error.reason)
      })
      const {captured} = read
      const unread = read.unread.map(u => ({...u, hint: labHint}))
      const withTables = new Set(captured.map(c => c.name))
      const world: World = {hosts: captured.map(c => c.snapshot), pods: podRefs(inventory.pods!, withTables), ...worldUnread(unread)}
      return {kind, description: `lab ${state.name}`, world, inventory: markUnread(inventory, unread), live, captured, unread, lab: state}
    }
    case 'snapshot': {
      const dir = await readSnapshotDir(o.snapshot!)
      if (dir.ignored.length > 0) {
        opts.progress?.(`note: not read (not a table file name): ${dir.ignored.slice(0, 5).join(', ')}${dir.ignored.length > 5 ? `, … (${dir.ignored.length} in all)` : ''}; tables are ${TABLES.join(', ')} (.txt or .json)`)
      }
      if (dir.unlisted.length > 0) {
        // a host's own collect copied in beside the others: its directory alone does not make it a node
        const [first] = dir.unlisted
        opts.progress?.(`note: not read: ${dir.unlisted.slice(0, 5).map(d => join(o.snapshot!, d)).join(', ')}${dir.unlisted.length > 5 ? `, … (${dir.unlisted.length} in all)` : ''}: ${join(o.snapshot!, 'inventory.yaml')} names ${dir.unlisted.length === 1 ? 'it' : 'them'} as no node or pod; to read ${dir.unlisted.length === 1 ? 'it' : 'them'}, add \`- name: ${first}\` under \`nodes:\` there`)
      }
      const nodeNames = new Set(dir.inventory.nodes.map(n => n.name))
      const nodeHosts = dir.hosts.filter(h => nodeNames.has(h.name))
      const pods = dir.inventory.pods ?? dedupePods(nodeHosts.flatMap(h => discoverPods(h)))
      const podsDiscovered = dir.inventory.pods === undefined || dir.inventory.podsDiscovered
      const unread = dir.unread.map(u => ({...u, role: 'node' as const}))
      return {
        kind, description: `snapshot ${o.snapshot}`, inventory: {...dir.inventory, pods, podsDiscovered},
        world: {hosts: dir.hosts, pods: podRefs(pods, new Set(dir.podsWithTables)), partial: dir.inventory.partial, podsDiscovered, ...worldUnread(unread)},
        live: [], captured: [], unread,
      }
    }
    case 'inventory': {
      const inv = await readInventory(o.inventory!)
      const shared = nodesSharingHost(inv)
      if (shared !== undefined) {
        throw userError(`inventory ${o.inventory}: nodes '${shared.first}' and '${shared.second}' both read the host exec: ${shared.exec}${shared.exec === 'local' ? ' (a node without exec: is this host)' : ''}`,
          'give each node the exec that reaches it (local, netns:NAME or ssh:USER@HOST)')
      }
      // a node the inventory marks `unread:` (a snapshot's, used live) is not read: its tables stay unknown
      const marked: UnreadHost[] = [...inv.nodes, ...(inv.pods ?? [])].filter(h => h.unread !== undefined)
        .map(h => ({name: h.name, role: inv.nodes.includes(h as InventoryNode) ? 'node' as const : 'pod' as const, reason: h.unread!}))
      const nodes = inv.nodes.filter(n => n.unread === undefined).map(node => ({node, runner: nodeRunner(node, opts.listener)}))
      const live: LiveHost[] = nodes.map(({node, runner}) => ({name: node.name, role: 'node' as const, runner}))
      for (const pod of inv.pods ?? []) {
        if (pod.netns && pod.unread === undefined) live.push({name: pod.name, role: 'pod', runner: podRunner(inv.nodes.find(n => n.name === pod.node)!, pod as InventoryPod & {netns: string}, opts.listener)})
      }
      if (live.length > 20) opts.progress?.(`reading ${inv.nodes.length} nodes from ${o.inventory}`)
      const read = await captureAll(live, opts).catch((error: unknown) => {
        // a node down stops a live trace or doctor; marked so, the others are read without it
        if (!(error instanceof HostUnreadable) || !inv.nodes.some(n => n.name === error.host)) throw error
        throw new FlannelctlError(error.message, `${error.hint}; to go on without it meanwhile, give node '${error.host}' the line \`unread: down\` in ${o.inventory} (then it is not read, and traces say where its tables are missing)`, error.exitCode, error.reason)
      })
      const {captured} = read
      const unread = [...marked, ...read.unread]
      const readNodes = await Promise.all(nodes.filter(({node}) => captured.some(c => c.name === node.name))
        .map(async n => ({...n, record: await inventoryNodeRecord(n.node, n.runner)})))
      const nodeRecords = readNodes.flatMap(({node, record}) => (record === undefined ? [] : [{node: node.name, record}]))
      const pods = inv.pods ?? await discoverLivePods(readNodes, captured)
      const podsDiscovered = inv.pods === undefined || inv.podsDiscovered
      const withTables = new Set(captured.map(c => c.name))
      return {
        kind, description: `inventory ${o.inventory}`, inventory: markUnread({...inv, pods, podsDiscovered}, read.unread),
        world: {hosts: captured.map(c => c.snapshot), pods: podRefs(pods, withTables), partial: inv.partial, podsDiscovered, ...worldUnread(unread)},
        live: live.filter(h => withTables.has(h.name)), captured, unread, ...(nodeRecords.length > 0 ? {nodeRecords} : {}),
      }
    }
    case 'local': {
      const host = localHostName(o.nodeName)
      const runner = new RealRunner({kind: 'local'}, opts.listener)
      const node: InventoryNode = {name: host, exec: 'local'}
      const {captured} = await captureAll([{name: host, role: 'node', runner}], opts)
      // read once: the conflist's directory here, the store (readSourceStore) and doctor's "is this a node" from the same record
      const record = (await loadRecord(new HostAdapter(runner), {stateFile: o.stateFile}, true).catch(() => undefined))?.rec
      const cniConfDir = o.cniConfDir ?? record?.cniConfDir
      const pods = await discoverLivePods([{node: {...node, ...(cniConfDir === undefined ? {} : {cniConfDir})}, runner}], captured)
      // one host of a network whose other hosts are not read
      const inventory: Inventory = {nodes: [node], pods, partial: true, podsDiscovered: true}
      return {
        kind, description: `this host (${host})`, inventory,
        world: {hosts: captured.map(c => c.snapshot), pods: podRefs(pods, new Set()), partial: inventory.partial, podsDiscovered: inventory.podsDiscovered},
        live: [{name: host, role: 'node', runner}], captured, unread: [], ...(record === undefined ? {} : {record}),
      }
    }
  }
}

/**
 * This host's name in a report and a snapshot: the one given (a lab node's, which shares the
 * machine's hostname with every other node), else the hostname when it is a name a snapshot
 * directory can hold.
 */
function localHostName(given: string | undefined): string {
  if (given === undefined || given === '') return isSafeName(hostname()) ? hostname() : 'local'
  if (!isSafeName(given)) throw userError(`--node-name '${given}' is not a name flannelctl will use as a host's directory`, NAME_HINT)
  return given
}

export interface CollectResult {
  dir: string
  files: string[]
  /** nodes (and a lab's router) whose tables were written */
  hosts: number
  pods: number
  source: string
  /** hosts that could not be read: listed in the snapshot's inventory.yaml as `unread:`, without tables */
  unread: UnreadHost[]
  /** two endpoints of the snapshot to trace between, for the next step's example: pods, else nodes read */
  example?: [string, string]
}

/**
 * Write a live source (lab, inventory, this host) as a snapshot directory. A host that cannot be
 * read does not cost the others: they are written, and it is recorded as unread (see unreadError).
 */
export async function collectToDir(o: SourceOptions, out: string, opts: LoadOptions = {}): Promise<CollectResult> {
  if (o.snapshot !== undefined) throw userError('collect reads live hosts; --snapshot is already a snapshot', 'copy the directory instead, or collect with --lab / --inventory')
  const src = await loadSource(o, {...opts, keepUnreadable: true})
  const unreadNodes = src.unread.filter(u => u.role !== 'pod').length
  const hosts = src.inventory.nodes.length - unreadNodes
  // a snapshot of no host is no use, and would replace one that had some
  if (hosts === 0) throw unreadError({dir: out, hosts, unread: src.unread})
  const files = await writeSnapshotDir(out, src.inventory, src.captured.map(c => ({name: c.name, tables: c.tables})), src.description)
  // doctor --snapshot then compares the tables with the store as doctor --lab does (leases, backend, EnableNFTables)
  const summary = await readSourceStore(src, o, opts.progress, `the snapshot holds no ${STORE_FILE}`)
  if (summary !== undefined) {
    await writeFile(join(out, STORE_FILE), JSON.stringify(summary, null, 2) + '\n')
    files.push(join(out, STORE_FILE))
  }
  // captured holds the pods' own namespaces too; hosts are the nodes (and a lab's router)
  const unreadNames = new Set(src.unread.map(u => u.name))
  const pods = (src.inventory.pods ?? []).filter(p => !unreadNames.has(p.node))
  const endpoints = [...pods, ...src.inventory.nodes.filter(n => !unreadNames.has(n.name))].map(h => h.name)
  // a pair across nodes shows the tunnel or host-gw route; two pods of one node meet on its bridge
  const across = pods.find(p => p.node !== pods[0].node)
  const example: [string, string] | undefined = across !== undefined ? [pods[0].name, across.name] : endpoints.length >= 2 ? [endpoints[0], endpoints[1]] : undefined
  return {dir: out, files, hosts, pods: src.inventory.pods?.length ?? 0, source: src.description, unread: src.unread, ...(example === undefined ? {} : {example})}
}

/**
 * The error collect ends with when some hosts could not be read: which, why, that the others are
 * written, and what to do. Exit 2, as when the host alone was asked for: the inventory (or the
 * host) is what to fix.
 */
export function unreadError(r: Pick<CollectResult, 'dir' | 'hosts' | 'unread'>): FlannelctlError {
  const [first] = r.unread
  const what = (u: UnreadHost) => `${u.role === 'pod' ? 'pod' : 'host'} '${u.name}' (${u.reason})`
  const which = r.unread.length === 1 ? what(first) : `${r.unread.length} hosts: ${r.unread.map(what).join('; ')}`
  const hints = [...new Set(r.unread.map(u => u.hint).filter((h): h is string => h !== undefined && h !== ''))]
  const names = r.unread.map(u => u.name).join(', ')
  const kept = r.hosts === 0 ? `no host could be read, so nothing is written to ${r.dir}`
    : `${r.dir} holds the other ${count(r.hosts, 'host')}, with ${names} recorded as unread: trace and doctor --snapshot say where ${r.unread.length === 1 ? 'its' : 'their'} tables are missing`
  return userError(`cannot read ${which}; ${kept}`,
    `${hints.length > 0 ? `${hints.join('; ')}; then ` : ''}collect again${r.hosts === 0 ? '' : ` into ${r.dir} (it replaces the snapshot)`}`)
}



/** The store a live source's nodes use: a lab's, or the one flannelctl init recorded on this host; undefined when none or unreadable (said). */
export async function readSourceStore(src: LoadedSource, o: SourceOptions, progress?: (m: string) => void, unread = 'checking peers against the visible nodes only'): Promise<StoreSummary | undefined> {
  const store = src.lab ? {spec: src.lab.store, options: {}} : src.record !== undefined ? storeOfRecord(src.record, o.etcdPassword) : inventoryStore(src, o.etcdPassword, progress)
  if (store === undefined) return undefined
  try {
    // A lab's etcd answers only inside the lab's namespaces: read it there, as its nodes do.
    const view = src.lab?.etcd !== undefined ? await new Lab().storeView(src.lab)
      : storeSummary(await listLeases(store.spec, store.options))
    const staticPeers = 'nodePeers' in store ? store.nodePeers
      : 'staticPeers' in store ? store.staticPeers.map(p => staticPeerOf(p))
        : src.lab ? await labStaticPeers(src.lab) : []
    return {...view, store: store.spec, ...(staticPeers.length > 0 ? {staticPeers} : {})}
  } catch {
    progress?.(`note: the store ${store.spec} could not be read; ${unread}`)
    return undefined
  }
}

/**
 * An inventory's store: the one its nodes' records name (read through their stateFile:), with each
 * node's `peer add` peers, that node's alone. Nodes recording different stores: the first node's is
 * read, and a note says so.
 */
function inventoryStore(src: LoadedSource, etcdPassword: string | undefined, progress?: (m: string) => void): {spec: string; options: RecordedStore['options']; nodePeers: NonNullable<StoreSummary['staticPeers']>} | undefined {
  const records = src.nodeRecords ?? []
  if (records.length === 0) return undefined
  const [first] = records
  const others = records.filter(r => r.record.store !== first.record.store)
  if (others.length > 0) progress?.(`note: the nodes' records name different stores (${first.node}: ${first.record.store}; ${others.map(r => `${r.node}: ${r.record.store}`).join(', ')}): reading ${first.node}'s`)
  // the password is never recorded: FLANNELD_ETCD_PASSWORD gives it (--etcd-password is this host's alone)
  const {spec, options} = storeOfRecord(first.record, etcdPassword)
  return {spec, options, nodePeers: records.flatMap(r => (r.record.staticPeers ?? []).map(p => staticPeerOf(p, r.node)))}
}

function staticPeerOf(p: {subnet: string; publicIP: string; vtepMAC?: string}, node?: string): NonNullable<StoreSummary['staticPeers']>[number] {
  return {subnet: p.subnet, publicIP: p.publicIP, ...(p.vtepMAC ? {vtepMAC: p.vtepMAC} : {}), ...(node !== undefined ? {node} : {})}
}

/** Each lab node's `peer add` peers, from the record init keeps in the node's directory: that node's peers, no other's. */
async function labStaticPeers(lab: LabState): Promise<NonNullable<StoreSummary['staticPeers']>> {
  const perNode = await Promise.all(lab.nodes.map(async n => {
    const rec = await readFile(join(n.dir, 'node.json'), 'utf8').then(t => JSON.parse(t) as {staticPeers?: unknown}).catch(() => undefined)
    const peers = Array.isArray(rec?.staticPeers) ? rec.staticPeers as {subnet: string; publicIP: string; vtepMAC?: string}[] : []
    return peers.map(p => staticPeerOf(p, n.name))
  }))
  return perNode.flat()
}

/** The store a source's nodes use: what collect saved of it beside a snapshot, else the live one (readSourceStore). */
export async function readStoreOf(src: LoadedSource, o: SourceOptions, progress?: (m: string) => void, unread?: string): Promise<StoreSummary | undefined> {
  return o.snapshot !== undefined ? readSavedStore(o.snapshot) : readSourceStore(src, o, progress, unread)
}

/**
 * Who the store says the peers are: the leases, and this host's static peers beside them (a
 * hand-run node's entries for its `peer add` peers are not stale). Undefined: no store read.
 */
export function knownPeers(summary: Pick<StoreSummary, 'leases' | 'staticPeers'> | undefined): World['leases'] {
  if (summary === undefined) return undefined
  const leased = summary.leases.map(x => ({subnet: x.subnet, publicIP: x.publicIP, vtepMac: typeof x.backendData.VtepMAC === 'string' ? x.backendData.VtepMAC : undefined}))
  const statics = (summary.staticPeers ?? []).filter(p => !leased.some(l => l.subnet === p.subnet))
    .map(p => ({subnet: p.subnet, publicIP: p.publicIP, vtepMac: p.vtepMAC, ...(p.node !== undefined ? {staticOf: p.node} : {})}))
  return [...leased, ...statics]
}

/** The net-conf's vxlan VNI and port (World.vxlan), when the store was read and its backend is vxlan. */
export function networkVxlan(summary: Pick<StoreSummary, 'backend'> | undefined): World['vxlan'] {
  const b = summary?.backend
  return b?.type === 'vxlan' ? {vni: b.vni, port: b.port} : undefined
}

/** What collect saved of the store beside a snapshot; undefined for a snapshot without it (older, by hand, no store known). */
export async function readSavedStore(dir: string): Promise<StoreSummary | undefined> {
  const path = join(dir, STORE_FILE)
  const text = await readFile(path, 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    const summary = JSON.parse(text) as StoreSummary
    if (typeof summary?.store === 'string' && Array.isArray(summary.leases)) return summary
  } catch {}
  throw userError(`${path} is not what flannelctl collect writes (the store's leases and network config)`, `remove it to check the snapshot without the store, or collect again`)
}

/** An inventory file, read as trace, doctor, collect and migrate take it (UTF-16 too), or what is wrong with its path. */
export async function readInventory(path: string): Promise<Inventory> {
  let text: string
  try {
    text = decodeText(await readFile(path))
  } catch (e) {
    throw userError(`cannot read inventory ${path}: ${fsReason(e) ?? (e as Error).message}`, 'give the path of a YAML or JSON inventory with a `nodes:` list (see flannelctl trace --help)')
  }
  return parseInventory(text, path)
}
