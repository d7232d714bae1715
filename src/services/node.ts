/**
 * This host as a flannel node: init, sync, reset and static peers. One reconcile loop serves them
 * all: read the host, read the store, plan, apply, record what we own.
 */
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {dirname} from 'node:path'
import {userError, FlannelctlError, ExitCode, isUserError, asReadFailure} from '../errors.js'
import {DryRunRunner} from '../adapters/runner.js'
import {HostAdapter, noIptables, noNft, nftUnreadable} from '../adapters/host.js'
import {NFT_TABLE_V4, nftResetWarnings, iptablesTablesLosingChains, deletingEmptiedIptablesTables} from '../core/flannel-nft.js'
import {forwardAcceptHint, forwardVerdict, inputDropAdvice, isFirewalldTable, nativeDropText, nativeForwardDrops, partialAcceptText, vxlanInputDrop} from '../core/forward-verdict.js'
import {withFileLock} from '../store/file-lock.js'
import {makeDirs, fsProblem, removeEmptyDirs, writableFileProblem} from '../store/dirs.js'
import {ifNameProblem, showName} from '../core/names.js'
import {lacksCarrier, operstateSaysNoCarrier, type HostSnapshot} from '../core/model.js'
import {describePlan, Op} from '../core/ops.js'
import {planNode, planReset, planSysctlRestore, loosePodVethCandidates, rulesLostWithChains, Peer, NodeIntent} from '../core/planner.js'
import {RouteTable, lookupMany, onLinkAddresses, reachedElsewhere} from '../core/route-lookup.js'
import {PolicyRouter} from '../core/trace/routes.js'
import {migrationPhase, outsiderNote, parseMigrationRecord, MIGRATION_META_KEY} from '../core/migrate-plan.js'
import {backendChoiceProblem, parseNetConf, netConfToJson, NetConf, udpUnsupported} from '../core/netconf.js'
import {firstFew} from '../core/words.js'
import {peerSubnetMisfit, pickSubnet, subnetMisfit} from '../core/ipam.js'
import {
  vxlanDeviceName, isVxlanDeviceName, stableVtepMac, subnetFromEnv, DEFAULT_SUBNET_FILE, DEFAULT_CNI_CONF_DIR, CONFLIST_NAME, CniPlugin,
  VXLAN_OVERHEAD, subnetEnv, subnetEnvIPv4Part, cniConflist, vtepAddress,
  flannelLookingDevices,
} from '../core/flannel.js'
import {isCanonicalCidr, isIPv4, isValidMac, notUnicastMac, parseCidr, cidrToString, cidrContainsIp, cidrOverlaps, cidrWithin, specialRange} from '../core/addr.js'
import {noNetworkConfigError, openStore, parseStoredNetConf, keyOfSubnet, DEFAULT_STORE, DEFAULT_ETCD_PREFIX, LEASE_TTL_SECONDS, LEASE_RENEW_AFTER_MS} from '../store/store.js'
import type {Store, Lease, LeaseList, StoreOptions} from '../store/store.js'
import {requireRoot, type ServiceContext} from './context.js'
import {debug, type Debugger} from '../debug.js'

export const DEFAULT_STATE_FILE = '/var/lib/flannelctl/node.json'

/** Node flags shared by init, sync, reset, status, peer and migrate. Undefined means "as recorded, else default". */
export interface NodeOptions {
  store?: string
  iface?: string
  publicIP?: string
  bridge?: string
  subnetFile?: string
  cniConfDir?: string
  /** '' forgets a recorded one (host-local's default again) */
  cniIpamDir?: string
  cniPlugin?: CniPlugin
  stateFile?: string
  ipMasq?: boolean
  mtu?: number
  etcdPrefix?: string
  etcdCafile?: string
  etcdCertfile?: string
  etcdKeyfile?: string
  etcdUsername?: string
  /** never recorded: given to every command that opens the store (or FLANNELD_ETCD_PASSWORD) */
  etcdPassword?: string
  /** overwrite a subnet.env or CNI conflist that flannelctl did not write */
  force?: boolean
}

/** What init recorded on this host, so later commands need no flags. */
export interface NodeRecord {
  store: string
  iface: string
  publicIP: string
  bridge: string
  subnetFile: string
  cniConfDir: string
  /** host-local's dataDir the conflist names (--cni-ipam-dir); absent: host-local's default */
  cniIpamDir?: string
  cniPlugin: CniPlugin
  ipMasq: boolean
  mtu?: number
  subnet?: string
  vni?: number
  backendType?: string
  staticPeers: Peer[]
  ownedRoutes: string[]
  lastSync?: string
  /** the etcd user's name is recorded, its password never is */
  etcd?: {prefix?: string; cafile?: string; certfile?: string; keyfile?: string; username?: string}
  /** sha256 of the subnet.env and conflist contents flannelctl wrote, newest first: how it knows its own files */
  writtenFiles?: string[]
  /** publicIP came from --public-ip and is no address of this host (1:1 NAT): not checked against the interfaces */
  publicIPGiven?: boolean
  /** flanneld's rules are built as native nftables here (EnableNFTables): its tables are read on every sync */
  nftables?: boolean
  /**
   * The sysctls flannelctl set on this host (ip_forward, where it was off), each with its value
   * before the first change: reset puts them back (planSysctlRestore). `{}`: it set none. Absent in
   * records of an older flannelctl: unknown, so reset leaves them.
   */
  sysctlsBefore?: Record<string, string>
}

export interface NetworkFlags {
  netConf?: string
  network?: string
  subnetLen?: number
  subnetMin?: string
  subnetMax?: string
  backend?: string
  directRouting?: boolean
  vni?: number
  port?: number
}

export interface ReconcileResult {
  node: NodeRecord
  lease: Lease
  ops: Op[]
  plan: string[]
  warnings: string[]
  applied: boolean
  peers: Peer[]
  netConf: NetConf
  /** this host held a lease but the store had none for it (store lost, or the lease expired): leased again */
  leaseRecreated?: boolean
  /** the host's tables the plan was made against (read, or the model it was given) */
  snapshot: HostSnapshot
  /** the store's live leases as this round read them, this host's own among them */
  leases: Lease[]
}

async function readRecord(host: HostAdapter, path: string): Promise<NodeRecord | undefined> {
  // never "remove it": that was /dev/null, or a directory, that --state-file named by mistake.
  // Asked only when the read gives no record (a directory cannot be read, /dev/null reads empty), so a good record costs one read.
  const refuseNotAFile = async () => {
    const notAFile = await host.notAFile(path)
    if (notAFile) throw userError(`the state file ${path} is ${notAFile}, not a file`, `--state-file is flannelctl's record of this host, a file init writes: pass that file's path, or leave --state-file out for ${DEFAULT_STATE_FILE}`)
  }
  const text = await host.readFile(path)
  if (text === undefined) {
    await refuseNotAFile()
    return undefined
  }
  let rec: unknown
  try {
    rec = JSON.parse(text)
  } catch {
    await refuseNotAFile()
    // a --state-file that names some other file (/etc/hosts) must not be removed on our word
    throw userError(`the state file ${path} is ${text.trim() === '' ? 'empty' : 'not valid JSON'}`,
      `if init wrote it (a crash mid-write), remove it and run flannelctl init again; else give the --state-file init was given`)
  }
  const problem = recordProblem(rec)
  if (problem) throw userError(`${path} is not a node record flannelctl can use: ${problem}`, 'nothing was changed; restore it, or remove it and run flannelctl init again')
  return rec as NodeRecord
}

/**
 * A state file is input like any other: its names and addresses end up in `ip -batch` lines, so
 * one that was edited by hand (or by someone hostile) is refused before anything runs.
 */
export function recordProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'it is not a JSON object'
  const r = value as Record<string, unknown>
  for (const key of ['iface', 'bridge']) {
    const problem = ifNameProblem(r[key])
    if (problem) return `${key} ${showName(r[key])} is not an interface name (${problem})`
  }
  if (typeof r.publicIP !== 'string' || !isIPv4(r.publicIP)) return `publicIP ${showName(r.publicIP)} is not an IPv4 address`
  for (const key of ['store', 'subnetFile', 'cniConfDir']) {
    if (typeof r[key] !== 'string' || r[key] === '') return `${key} is not a path`
  }
  if (r.cniIpamDir !== undefined && (typeof r.cniIpamDir !== 'string' || !r.cniIpamDir.startsWith('/'))) return 'cniIpamDir is not an absolute path'
  if (r.subnet !== undefined && (typeof r.subnet !== 'string' || !isCanonicalCidr(r.subnet))) return `subnet ${showName(r.subnet)} is not a CIDR`
  if (r.publicIPGiven !== undefined && typeof r.publicIPGiven !== 'boolean') return `publicIPGiven ${showName(r.publicIPGiven)} is not true or false`
  const integer = (v: unknown, min: number, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
  if (r.vni !== undefined && !integer(r.vni, 0, 2 ** 24 - 1)) return `vni ${showName(r.vni)} is not a VNI`
  if (r.mtu !== undefined && r.mtu !== null && !integer(r.mtu, 68, 65535)) return `mtu ${showName(r.mtu)} is not an MTU`
  if (!Array.isArray(r.ownedRoutes) || r.ownedRoutes.some(d => typeof d !== 'string' || !isCanonicalCidr(d))) return 'ownedRoutes is not a list of CIDRs'
  if (!Array.isArray(r.staticPeers)) return 'staticPeers is not a list'
  for (const p of r.staticPeers as Record<string, unknown>[]) {
    if (typeof p !== 'object' || p === null) return 'a static peer is not an object'
    if (typeof p.subnet !== 'string' || !isCanonicalCidr(p.subnet)) return `static peer subnet ${showName(p.subnet)} is not a CIDR`
    if (typeof p.publicIP !== 'string' || !isIPv4(p.publicIP)) return `static peer publicIP ${showName(p.publicIP)} is not an IPv4 address`
    if (p.vtepMAC !== undefined && p.vtepMAC !== null && (typeof p.vtepMAC !== 'string' || !isValidMac(p.vtepMAC))) return `static peer vtepMAC ${showName(p.vtepMAC)} is not a MAC address`
    // as peer add refuses it: a record edited by hand would put it into neigh and fdb entries
    const group = typeof p.vtepMAC === 'string' ? notUnicastMac(p.vtepMAC) : undefined
    if (group !== undefined) return `static peer vtepMAC ${p.vtepMAC as string} is ${group}, no device's`
  }
  return undefined
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/**
 * subnet.env and the conflist are flannelctl's when it wrote exactly this content (the record keeps
 * hashes), or when the content is what it would have written for the lease the record names.
 */
function ownContents(prev: NodeRecord | undefined, network: string, mtu: number): Set<string> {
  const owned = new Set(prev?.writtenFiles ?? [])
  if (prev?.subnet) {
    const m = prev.mtu ?? mtu
    owned.add(sha256(subnetEnv(network, prev.subnet, m, prev.ipMasq)))
    owned.add(sha256(cniConflist({network, subnet: prev.subnet, mtu: m, bridge: prev.bridge, ipMasq: prev.ipMasq, plugin: prev.cniPlugin, ipamDataDir: prev.cniIpamDir})))
  }
  return owned
}

/**
 * One flannelctl at a time changes a host: two runs interleaving their batches would each plan from
 * tables the other is changing ("File exists" halfway, a route deleted right after the other added
 * it). The lock file sits beside the state file; one left by a killed process is taken over
 * (store/file-lock.ts). A host reached over ssh keeps its state file there, where no local lock reaches.
 */
async function withStateLock<T>(ctx: ServiceContext, statePath: string, fn: () => Promise<T>, {creating = false} = {}): Promise<T> {
  if (ctx.dryRun || ctx.runner.target.kind === 'ssh') return fn()
  // Only init makes the state's directory. Without it there is no state to guard (fn says so): a
  // mistyped --state-file of sync, reset or peer left that directory behind, with nothing in it.
  if (!creating && !existsSync(dirname(statePath))) return fn()
  let made: string[] = []
  if (!existsSync(dirname(statePath))) {
    made = await makeDirs(dirname(statePath), 0o755).catch((e: unknown) => {
      const problem = fsProblem(e)
      throw problem === undefined ? e : userError(`the state file ${statePath} cannot be kept there: ${problem}`, 'pass --state-file with a path on a local, writable file system (default /var/lib/flannelctl/node.json)')
    })
  }
  // an init refused (a missing --iface, a bad --network) leaves no directory behind for a state it never wrote
  return withFileLock(`${statePath}.lock`, fn, {what: `this host's state ${statePath}`}).catch(async (error: unknown) => {
    await removeEmptyDirs(made)
    throw error
  })
}

/** subnet.env and the conflist are written last: a path that cannot take them is refused before anything changes. */
async function refuseUnwritable(files: [flag: string, path: string, byDefault: string][], o: {permissions: boolean}): Promise<void> {
  for (const [flag, path, byDefault] of files) {
    const problem = await writableFileProblem(path, o)
    if (problem !== undefined) throw userError(`${flag}: ${path} cannot be written: ${problem}`, `pass ${flag} with a path on a local, writable file system (default ${byDefault})`)
  }
}

/** A path flag given as '' names no file (it said "no flannelctl state at " with nothing after it). */
function checkPathFlags(o: NodeOptions): void {
  for (const [flag, value] of [['--state-file', o.stateFile], ['--subnet-file', o.subnetFile], ['--cni-conf-dir', o.cniConfDir]] as const) {
    if (value === '') throw userError(`${flag} is empty`, `give a path, or leave ${flag} out for its default`)
  }
}

function checkNameFlags(o: NodeOptions): void {
  checkPathFlags(o)
  for (const [flag, value] of [['--bridge', o.bridge], ['--iface', o.iface]] as const) {
    const problem = value === undefined ? undefined : ifNameProblem(value)
    if (problem) throw userError(`${flag} ${showName(value)} cannot be used: ${problem}`, 'an interface name is 1-15 letters, digits, "_", ".", "+" or "-", e.g. cni0 or eth0')
  }
}

async function writeRecord(host: HostAdapter, path: string, rec: NodeRecord): Promise<void> {
  await host.apply([{tool: 'file', path, content: JSON.stringify(rec, null, 2) + '\n', mode: 0o600, why: 'what flannelctl owns on this host'}])
}

/**
 * How to open the store a record names. The password of a recorded etcd user comes from the
 * command (--etcd-password) or else from FLANNELD_ETCD_PASSWORD, as flanneld takes it.
 */
export function storeOptions(rec: Pick<NodeRecord, 'etcd'>, given: Pick<NodeOptions, 'etcdPassword'> = {}): StoreOptions {
  const username = rec.etcd?.username
  return {etcdPrefix: rec.etcd?.prefix, etcdCaFile: rec.etcd?.cafile, etcdCertFile: rec.etcd?.certfile, etcdKeyFile: rec.etcd?.keyfile,
    ...(username === undefined ? {} : {etcdUsername: username}),
    ...(given.etcdPassword !== undefined ? {etcdPassword: given.etcdPassword} : username !== undefined && process.env.FLANNELD_ETCD_PASSWORD !== undefined ? {etcdPassword: process.env.FLANNELD_ETCD_PASSWORD} : {})}
}

function requireNodeRoot(ctx: ServiceContext, what: string): void {
  if (!ctx.dryRun) requireRoot(`${what} must run as root: it changes links, routes and iptables`, 'run it with sudo, or add --dry-run to only see the plan')
}

/** The same record apart from when it was last synced. */
function sameRecord(a: NodeRecord | undefined, b: NodeRecord): boolean {
  return a !== undefined && JSON.stringify({...a, lastSync: undefined}) === JSON.stringify({...b, lastSync: undefined})
}

/** A promise awaited later: until then a rejection is held for that await, not reported as unhandled. */
function settleLater<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {})
  return p
}

/**
 * The interface and public IP to resolve, from the flags and what the record says. A new --iface
 * brings its own address (the recorded one was the old interface's: keeping it would leave the
 * lease, and every peer's fdb entry, on the address the operator moved away from), unless the
 * recorded address was given by hand or is on the new interface too. A --public-ip of this host
 * brings its interface, unless --iface says otherwise.
 */
function nodeAddressChoice(snap: HostSnapshot, o: NodeOptions, prev: NodeRecord | undefined): [iface: string | undefined, publicIP: string | undefined] {
  const devOf = (ip: string) => (snap.addresses ?? []).find(a => a.local === ip && a.family === 4)?.dev
  const iface = o.iface ?? (o.publicIP !== undefined && devOf(o.publicIP) !== undefined ? undefined : prev?.iface)
  if (o.publicIP !== undefined || prev?.publicIP === undefined) return [iface, o.publicIP]
  const ifaceMoved = o.iface !== undefined && o.iface !== prev.iface
  const keep = !ifaceMoved || prev.publicIPGiven === true || devOf(prev.publicIP) === o.iface
  return [iface, keep && !renumbered(snap, prev) ? prev.publicIP : undefined]
}

/**
 * The recorded address, found on the host at setup, is gone, and the host still serves the
 * recorded subnet on its bridge: this is that host and its address changed (a DHCP renumber),
 * so it follows its interface's new address and the lease moves with it, as flanneld takes the
 * interface's address when it starts. Without that proof (a record copied to another host, or a
 * reboot that took the bridge) refuseForeignAddress stops instead; refuseAnsweredAddress stops
 * where another host still answers at the recorded address (a running clone: bridge and all).
 */
function renumbered(snap: HostSnapshot, prev: NodeRecord): boolean {
  const v4 = (snap.addresses ?? []).filter(a => a.family === 4)
  return prev.publicIPGiven !== true && prev.subnet !== undefined && !v4.some(a => a.local === prev.publicIP)
    && v4.some(a => a.dev === prev.bridge && cidrContainsIp(prev.subnet!, a.local))
}

/**
 * The bridge serving the recorded subnet is no proof when another host still answers at the
 * recorded address: that host is the record's (a running VM cloned with its state, or two hosts'
 * addresses swapped), and following this host's address would move its lease here.
 */
async function refuseAnsweredAddress(host: HostAdapter, prev: NodeRecord, statePath: string): Promise<void> {
  if (!await host.addressAnswers(prev.publicIP)) return
  throw userError(`this host's recorded public IP ${prev.publicIP} is on none of its interfaces, and another host answers at it: ${statePath} and the subnet ${prev.subnet} on ${prev.bridge} are that host's (a clone of it?), or the two hosts' addresses were swapped; nothing was changed`,
    `if this host is a copy of ${prev.publicIP}: flannelctl reset (without --release: the lease is that host's), then flannelctl init; if its address did change and another host has the old one now: flannelctl sync --public-ip NEW_IP`)
}

/** A --public-ip from a range nothing can be sent to (0.0.0.0, 127.x, multicast, class E). */
function refuseSpecialAddress(ip: string, wanted: string): void {
  const special = specialRange(parseCidr(`${ip}/32`))
  if (special) throw userError(`--public-ip ${ip} is in ${special.range} (${special.what}): no peer can send to it`, `pass ${wanted}`)
}

/** Why an interface cannot carry node traffic (flannel's own devices among them), or undefined. */
function underlayProblem(name: string, bridge: string): string | undefined {
  return ifNameProblem(name)
    ?? (name === bridge ? 'it is the pod bridge: node traffic needs the interface toward the other nodes' : undefined)
    ?? (isVxlanDeviceName(name) ? 'it is flannel\'s own vxlan device: node traffic needs the interface it encapsulates onto' : undefined)
}

export function resolveIface(snap: HostSnapshot, iface: string | undefined, publicIP: string | undefined, bridge = 'cni0'): {iface: string; publicIP: string} {
  const links = snap.links ?? []
  const v4 = (dev: string) => (snap.addresses ?? []).filter(a => a.dev === dev && a.family === 4 && a.scope !== 'host')
  // Interfaces with an address peers can send to; the rest (a pod's veth, left loose after a reset) only when none has one.
  // The pod bridge and flannel's vxlan device have addresses too, but are refused as --iface: not offered.
  const known = () => {
    const candidates = links.filter(l => l.kind !== 'loopback' && underlayProblem(l.name, bridge) === undefined)
    const addressed = candidates.filter(l => v4(l.name).length > 0)
    return (addressed.length > 0 ? addressed : candidates).map(l => `${l.name}${v4(l.name)[0] ? ` (${v4(l.name)[0].local})` : ''}`).join(', ')
  }
  // a host (a fresh namespace) with no interface but lo has none to offer: say what is missing instead of "one of: none"
  const pick = (lead: string) => known() !== '' ? `${lead}: ${known()}` : 'this host has no interface toward other nodes (only lo): give it one with an IPv4 address, then pass it with --iface'
  let dev = iface
  if (dev === undefined && publicIP) dev = (snap.addresses ?? []).find(a => a.local === publicIP)?.dev
  if (dev === undefined) dev = (snap.routes ?? []).find(r => r.dst === 'default' && r.dev)?.dev
  if (dev === undefined) throw userError('cannot tell which interface carries node traffic (no IPv4 default route)', pick('pass --iface; interfaces here'))
  if (!links.some(l => l.name === dev)) throw userError(`unknown interface '${dev}'`, pick('pass --iface with one of'))
  if (publicIP !== undefined) {
    if (!isIPv4(publicIP)) throw userError(`--public-ip '${publicIP}' is not an IPv4 address`, 'e.g. --public-ip 192.168.100.11')
    refuseSpecialAddress(publicIP, 'this node\'s address peers send to, e.g. --public-ip 192.168.100.11')
    return {iface: dev, publicIP}
  }
  const addr = v4(dev)[0]
  if (!addr) {
    const hostOnly = (snap.addresses ?? []).some(a => a.dev === dev && a.family === 4)
    throw userError(hostOnly ? `interface '${dev}' has only host-scope IPv4 addresses (loopback): no peer can reach them` : `interface '${dev}' has no IPv4 address`,
      pick(`${hostOnly ? 'pass the interface toward the other nodes with --iface' : 'give it one, or pass --public-ip'}; interfaces here`))
  }
  return {iface: dev, publicIP: addr.local}
}

/**
 * --net-conf takes the JSON itself or the path of a file holding it: flanneld reads its net-conf
 * from a file (kube-flannel's /etc/kube-flannel/net-conf.json), so that is what an operator has at hand.
 */
export async function netConfArgument(value: string | undefined): Promise<string | undefined> {
  if (value === undefined || value.trimStart().startsWith('{')) return value
  const text = await readFile(value, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw userError(`--net-conf '${value}' is neither the net-conf JSON nor a file that can be read (${e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'a directory' : e.code ?? e.message})`,
      `give the JSON itself, e.g. --net-conf '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}', or the path of a net-conf.json`)
  })
  // the file named in what is wrong with it: the net-conf's own checks do not know where it came from
  try {
    JSON.parse(text)
  } catch (e) {
    throw userError(`${value} is not valid JSON (${(e as Error).message})`, 'fix the file: it holds the net-conf, e.g. {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}')
  }
  return text
}

function netConfFromFlags(f: NetworkFlags): string | undefined {
  const given = (pairs: [string, unknown][]) => pairs.filter(([, v]) => v !== undefined && v !== false).map(([name]) => name)
  const vxlanOnly = given([['--directrouting', f.directRouting], ['--vni', f.vni], ['--port', f.port]])
  if (f.netConf) {
    const beside = given([['--network', f.network], ['--subnet-len', f.subnetLen], ['--subnet-min', f.subnetMin], ['--subnet-max', f.subnetMax], ['--backend', f.backend]]).concat(vxlanOnly)
    if (beside.length > 0) throw userError(`--net-conf is the whole network config: ${beside.join(', ')} beside it would be ignored`, 'put those settings in the JSON, or drop --net-conf')
    // Asked for dual stack: building the IPv4 half with a warning would hand over a network other
    // than the one asked for (and write EnableIPv6 into a new store's config for flanneld nodes).
    const whole = parseNetConf(f.netConf)
    if (whole.enableIPv6) {
      throw userError('--net-conf asks for dual stack ("EnableIPv6": true), but flannelctl builds IPv4 networks only: its pods would get no IPv6 address and no host would announce an IPv6 subnet',
        'drop EnableIPv6 and the IPv6 fields from --net-conf to build (or join) the IPv4 network; for dual stack run flanneld (flannelctl nodes join its network for IPv4)')
    }
    // Refused before the store is read: joining a network, "its backend is vxlan, not udp" would
    // send the user to backend set udp, which is refused too.
    if (whole.backend.type === 'udp') {
      const unnamed = !/"backend"\s*:/i.test(f.netConf)
      throw userError(udpUnsupported(unnamed), unnamed ? 'add "Backend": {"Type": "vxlan"} (or "host-gw") to the net-conf' : 'use "Type": "vxlan" in the net-conf\'s Backend (or "host-gw" when all nodes share one L2 segment)')
    }
    return f.netConf
  }
  const backendProblem = f.backend === undefined ? undefined : backendChoiceProblem(f.backend, t => `--backend ${t}`)
  if (backendProblem) throw backendProblem
  if (f.backend !== undefined && f.backend !== 'vxlan' && vxlanOnly.length > 0) {
    throw userError(`${vxlanOnly.join(', ')} ${vxlanOnly.length > 1 ? 'are settings' : 'is a setting'} of the vxlan backend, not of ${f.backend}`, `drop ${vxlanOnly.length > 1 ? 'them' : 'it'}, or use --backend vxlan`)
  }
  if (f.network === undefined) return undefined
  // '' (an unset shell variable: --network "$NET") is no network: it read as no flag, "the store holds no network config"
  if (f.network === '') throw userError('--network is empty', 'give the pod network, e.g. --network 10.244.0.0/16')
  requireCidrFlag('network', f.network, '10.244.0.0/16')
  const backend: Record<string, unknown> = {Type: f.backend ?? 'vxlan'}
  if (f.vni !== undefined) backend.VNI = f.vni
  if (f.port !== undefined) backend.Port = f.port
  if (f.directRouting) backend.DirectRouting = true
  const conf: Record<string, unknown> = {Network: f.network}
  if (f.subnetLen !== undefined) conf.SubnetLen = f.subnetLen
  if (f.subnetMin) conf.SubnetMin = f.subnetMin
  if (f.subnetMax) conf.SubnetMax = f.subnetMax
  conf.Backend = backend
  return JSON.stringify(conf)
}

/**
 * The net-conf in the store, or the one the flags describe when the store has none: `create` is
 * then the JSON to write, which the caller does only once nothing can refuse any more.
 */
function wantedNetConf(store: Store, flags: NetworkFlags, existing: string | undefined, noConfigHint: string): {nc: NetConf; create?: string} {
  const fromFlags = netConfFromFlags(flags)
  if (existing === undefined) {
    if (!fromFlags) throw noNetworkConfigError(store.describe(), noConfigHint)
    return {nc: parseNetConf(fromFlags), create: fromFlags}
  }
  const nc = parseStoredNetConf(store, existing)
  const whole = flags.netConf !== undefined ? parseNetConf(flags.netConf) : undefined
  const network = whole?.network ?? flags.network
  if (network !== undefined && network !== nc.network) {
    throw userError(`the store already holds network ${nc.network}, not ${network}`, `drop ${whole !== undefined ? '--net-conf' : '--network'} to join that network, or use another --store`)
  }
  const backend = whole?.backend.type ?? flags.backend
  if (backend !== undefined && backend !== nc.backend.type) {
    throw userError(`the network's backend is ${nc.backend.type}, not ${backend}`, `to change it for every node: flannelctl backend set ${backend} (or migrate --backend ${backend})`)
  }
  // Every other setting given that the store's config does not have: joining would quietly ignore it.
  const given: [string, unknown, unknown][] = [
    ['SubnetLen', whole?.subnetLen ?? flags.subnetLen, nc.subnetLen],
    ['SubnetMin', whole?.subnetMin ?? flags.subnetMin, nc.subnetMin],
    ['SubnetMax', whole?.subnetMax ?? flags.subnetMax, nc.subnetMax],
    ['VNI', whole?.backend.vni ?? flags.vni, nc.backend.vni],
    ['Port', whole?.backend.port ?? flags.port, nc.backend.port],
    ['DirectRouting', whole?.backend.directRouting ?? (flags.directRouting || undefined), nc.backend.directRouting],
  ]
  const differ = given.filter(([, mine, theirs]) => mine !== undefined && mine !== theirs)
  if (differ.length > 0) {
    // backend set changes only the Backend: the subnet range stays the network's, as its leases were cut from it
    const ranged = differ.some(([name]) => name.startsWith('Subnet'))
    const backendOnes = differ.some(([name]) => !name.startsWith('Subnet'))
    throw userError(`the store's network config differs from the one given: ${differ.map(([name, mine, theirs]) => `${name} is ${String(theirs)}, not ${String(mine)}`).join('; ')}`,
      ['drop those settings to join the network as it is',
        ...(backendOnes ? ['backend settings change for every node with flannelctl backend set (or migrate)'] : []),
        ...(ranged ? ['SubnetLen, SubnetMin and SubnetMax stay the network\'s: for another range, use another --store'] : [])].join('; '))
  }
  return {nc}
}

/** The VTEP MAC this host's lease announces, unless another lease announces it too (one MAC reaches one host). */
export function announcedVtepMac(leases: Lease[], publicIP: string): string | undefined {
  // every round asks (host-gw and a node without its device too): no Peer made per lease for it
  const own = leases.find(l => l.publicIP === publicIP)
  const mac = own === undefined ? undefined : vtepMacOf(own)
  if (mac === undefined) return undefined
  let holders = 0
  for (const l of leases) if (vtepMacOf(l) === mac && ++holders > 1) return undefined
  return mac
}

function leaseToPeer(l: Lease): Peer {
  return {subnet: l.subnet, publicIP: l.publicIP, backendType: l.backendType, vtepMAC: vtepMacOf(l)}
}

function vtepMacOf(l: Lease): string | undefined {
  // A VtepMAC goes into neigh and fdb batch lines: anything but a MAC stays out (see core/names.ts).
  const raw = l.backendData?.VtepMAC
  // the kernel shows MACs in lower case: 02:AB:… compared as written never matched its fdb entry
  return typeof raw === 'string' && isValidMac(raw) && notUnicastMac(raw) === undefined ? raw.toLowerCase() : undefined
}

export interface ReconcileOptions {
  node: NodeOptions
  network?: NetworkFlags
  /** init may create the record; sync requires one */
  creating: boolean
  what: string
  /**
   * Leave the routes, neighbours and fdb entries of peers missing from the store in place this
   * round. After a store was lost, peers lease their subnets again one by one; removing those not
   * back yet would cut pods off for nothing (sync --watch sets this for a grace period).
   */
  keepVanishedPeers?: boolean
  /**
   * The host's tables as predicted after the last round (core/predict.ts), used instead of reading
   * them: the agent's rounds on store events. Periodic rounds and one-shot commands read the host.
   */
  hostModel?: HostSnapshot
  /** The store as the caller just read it (the agent reads it to see whether anything changed). */
  storeView?: StoreView
  /** This host's record as the caller changed it: `peer add --dry-run` plans with a peer it did not write. */
  record?: NodeRecord
}

/** What a round reads from the store: the net-conf, a migration record, the leases. */
export type StoreView = [config: string | undefined, migration: string | undefined, leases: LeaseList]

export async function readStoreView(store: Store, opts: {fromWatch?: boolean} = {}): Promise<StoreView> {
  // one read of the config: the leases are checked against the network it names
  const config = store.getConfig()
  return Promise.all([config, store.getMeta(MIGRATION_META_KEY), store.listLeases({...opts, config})])
}

/**
 * `missingHint`: what to do without a record; by default init (which the command line's
 * --state-file follows into, as printed: src/core/carry.ts), or the state file init was given.
 */
export async function loadRecord(host: HostAdapter, o: NodeOptions, creating: boolean, missingHint?: string): Promise<{rec: NodeRecord | undefined; path: string}> {
  checkPathFlags(o)
  const path = o.stateFile ?? DEFAULT_STATE_FILE
  const rec = await readRecord(host, path)
  const hint = missingHint ?? (o.stateFile === undefined ? 'run flannelctl init first (or pass --state-file: a host set up with one needs it on every command)'
    : 'run flannelctl init first, or give the --state-file init was given')
  if (!rec && !creating) throw new FlannelctlError(`this host has no flannelctl state at ${path}`, hint, ExitCode.usage, 'NO_STATE')
  return {rec, path}
}

/** The store a command uses: the one given, else the one recorded; etcd's TLS files and prefix go together. */
export function storeChoice(o: NodeOptions, prev: NodeRecord | undefined): {store: string; etcd: NodeRecord['etcd']} {
  // The user is apart from where etcd is: --etcd-username '' forgets a recorded one (an etcd whose
  // authentication was turned off) and keeps the prefix and TLS files.
  const username = o.etcdUsername !== undefined ? o.etcdUsername || undefined : prev?.etcd?.username
  const etcd = o.etcdPrefix || o.etcdCafile || o.etcdCertfile || o.etcdKeyfile
    ? {prefix: o.etcdPrefix, cafile: o.etcdCafile, certfile: o.etcdCertfile, keyfile: o.etcdKeyfile, username}
    : prev?.etcd || username !== undefined ? {...prev?.etcd, username} : undefined
  return {store: o.store ?? prev?.store ?? DEFAULT_STORE, etcd}
}

/** init and sync: converge this host on the store's view. */
export async function reconcile(ctx: ServiceContext, opts: ReconcileOptions): Promise<ReconcileResult> {
  requireNodeRoot(ctx, opts.what)
  checkNameFlags(opts.node)
  const run = withStateLock(ctx, opts.node.stateFile ?? DEFAULT_STATE_FILE, () => reconcileLocked(ctx, opts), {creating: opts.creating})
  // A dry run only reads: a store or host it cannot read is exit 2, as for status; there is no
  // half-done change that exit 3 would tell the user to finish by running it again.
  return ctx.dryRun ? run.catch(asReadFailure) : run
}

let syncDebug: Debugger | undefined

/** DEBUG=flannelctl:sync: when each step of a sync ended, in ms since it started. */
function stepClock(): (step: string) => void {
  syncDebug ??= debug('sync')
  if (!syncDebug.enabled) return () => {}
  const started = performance.now()
  return step => syncDebug!('%s at %s ms', step, (performance.now() - started).toFixed(1))
}

async function reconcileLocked(ctx: ServiceContext, opts: ReconcileOptions): Promise<ReconcileResult> {
  requireNodeRoot(ctx, opts.what)
  // A mistyped --network or --net-conf is said before anything is read or reported.
  const flagsNetConf = opts.network === undefined ? undefined : netConfFromFlags(opts.network)
  if (flagsNetConf !== undefined) parseNetConf(flagsNetConf)
  const host = new HostAdapter(ctx.runner)
  const o = opts.node
  const step = stepClock()
  // The host's tables come in one program run; meanwhile this process reads the files and the
  // store. A failing table read (iproute2 missing) is the error a user sees first.
  const recordRead = settleLater(opts.record !== undefined ? Promise.resolve({rec: opts.record, path: o.stateFile ?? DEFAULT_STATE_FILE}) : loadRecord(host, o, opts.creating))
  // flanneld's nftables tables are read on every host, whatever its record says: one left where the
  // rules are in iptables (a flanneld started in nftables mode, a ruleset restored at boot, a switch
  // that failed half-way) is removed only by a sync that sees it (~1 ms of nft)
  const snapRead = settleLater(opts.hostModel ? Promise.resolve(opts.hostModel) : host.snapshot())
  snapRead.then(() => step('host read'), () => {})
  const afterSnapshot = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await p
    } catch (error) {
      await snapRead
      throw error
    }
  }
  const {rec: prev, path: statePath} = await afterSnapshot(recordRead)
  const subnetFile = o.subnetFile ?? prev?.subnetFile ?? DEFAULT_SUBNET_FILE
  const cniConfDir = o.cniConfDir ?? prev?.cniConfDir ?? DEFAULT_CNI_CONF_DIR
  const cniIpamDir = o.cniIpamDir ?? prev?.cniIpamDir
  // A path over ssh is the other host's file system; here (local, netns) it is this one's.
  if (ctx.runner.target.kind !== 'ssh') {
    await afterSnapshot(refuseUnwritable([['--subnet-file', subnetFile, DEFAULT_SUBNET_FILE], ['--cni-conf-dir', `${cniConfDir}/${CONFLIST_NAME}`, DEFAULT_CNI_CONF_DIR]], {permissions: !ctx.dryRun}))
  }
  const filesRead = settleLater(host.readFiles([subnetFile, `${cniConfDir}/${CONFLIST_NAME}`]))
  const {store: storeSpec, etcd} = storeChoice(o, prev)
  const storeOpen = settleLater(openStore(storeSpec, storeOptions({etcd}, o)))
  // Only reads here: nothing is written to the store before the host's tables are known to be readable.
  const storeRead = settleLater(opts.storeView ? Promise.resolve(opts.storeView) : storeOpen.then(store => readStoreView(store)))
  storeRead.then(() => step('store read'), () => {})
  let snap: HostSnapshot
  let iface: string
  let publicIP: string
  try {
    snap = await withLooseVethPeers(host, await snapRead)
    if (prev !== undefined && o.publicIP === undefined && renumbered(snap, prev)) await refuseAnsweredAddress(host, prev, statePath)
    const bridge = o.bridge ?? prev?.bridge ?? 'cni0'
    ;({iface, publicIP} = resolveIface(snap, ...nodeAddressChoice(snap, o, prev), bridge))
    // --bridge naming the node's own interface is the flag to change: the bridge would be built on it, not next to it
    if (o.bridge !== undefined && o.bridge === iface) {
      throw userError(`--bridge ${showName(o.bridge)} is the interface toward the other nodes${o.iface === undefined ? ' (the default route\'s)' : ' (--iface)'}: the pod bridge is a device of its own`,
        'leave --bridge out (cni0), or name another device for the pod bridge')
    }
    const ifaceProblem = underlayProblem(iface, bridge)
    if (ifaceProblem) throw userError(`interface ${showName(iface)} cannot be used: ${ifaceProblem}`, 'pass --iface with another interface')
  } catch (error) {
    storeOpen.then(store => store.close()).catch(() => {})
    throw error
  }
  // A store that cannot be opened (a malformed --store, an etcd that does not answer) is the error,
  // with no report before it of an interface chosen for a plan that cannot be made.
  const store = await storeOpen
  const ifaceByDefault = o.iface === undefined && o.publicIP === undefined && prev?.iface === undefined
  if (ifaceByDefault) ctx.progress(`using ${iface} (${publicIP}), the interface of the default route; pass --iface to choose another`)
  const rec: NodeRecord = {
    store: storeSpec,
    iface,
    publicIP,
    bridge: o.bridge ?? prev?.bridge ?? 'cni0',
    subnetFile,
    cniConfDir,
    ...(cniIpamDir ? {cniIpamDir} : {}),
    cniPlugin: o.cniPlugin ?? prev?.cniPlugin ?? 'bridge',
    ipMasq: o.ipMasq ?? prev?.ipMasq ?? true,
    mtu: o.mtu ?? prev?.mtu,
    staticPeers: prev?.staticPeers ?? [],
    ownedRoutes: prev?.ownedRoutes ?? [],
    etcd,
    // a host set up before the record kept them stays unknown: its first init may have set some
    sysctlsBefore: prev === undefined ? {} : prev.sysctlsBefore,
  }
  // An address given by --public-ip that this host does not have (behind 1:1 NAT) is kept as given;
  // one found on the host is checked again on every sync.
  const onThisHost = (snap.addresses ?? []).some(a => a.local === publicIP)
  if (o.publicIP !== undefined ? !onThisHost : prev?.publicIPGiven) rec.publicIPGiven = true
  try {
    refuseForeignAddress(snap, o, prev, iface, publicIP, onThisHost)
    const [configText, migrationText, listed] = await storeRead
    // Only init takes --network: sync, peer and migrate on an empty store are more likely pointed at the wrong one.
    const noConfigHint = opts.creating ? 'pass --network 10.244.0.0/16 (and --backend) to create it'
      : prev !== undefined && prev.store !== storeSpec ? `check --store: this host was set up with ${prev.store}, which it uses when --store is left out`
        : 'create it with flannelctl init --network CIDR, CIDR being FLANNEL_NETWORK in this host\'s subnet.env, to keep its pods'
    const {nc, create: configToCreate} = wantedNetConf(store, opts.network ?? {}, configText, noConfigHint)
    // Pods' routes to the network would swallow the node addresses inside it (peers, this node).
    if (cidrContainsIp(nc.network, publicIP)) {
      throw userError(`the pod network ${nc.network} contains this node's address ${publicIP}: pods and nodes need separate ranges`,
        configToCreate !== undefined ? 'pass a --network outside the node network, e.g. --network 10.244.0.0/16' : `this node needs an address outside ${nc.network} (--iface, --public-ip), or the network another store`)
    }
    // Another store than the one init recorded (--store, FLANNELCTL_STORE, FLANNELD_ETCD_ENDPOINTS):
    // this round would move the host there, and leave its lease in the old one to peers for 24 h.
    const prefixOf = (e: NodeRecord['etcd']) => (e?.prefix ?? DEFAULT_ETCD_PREFIX).replace(/\/+$/, '')
    const storeSwitched = prev !== undefined && (prev.store !== storeSpec || prefixOf(prev.etcd) !== prefixOf(etcd))
    const keepStoreHint = prev === undefined ? '' : `to keep using the store this host was set up with, pass --store ${prev.store}${prev.etcd?.prefix ? ` --etcd-prefix ${prev.etcd.prefix}` : ''} (and check FLANNELCTL_STORE and FLANNELD_ETCD_ENDPOINTS)`
    // The pod bridge still serves the old subnet of a network the store no longer holds: say that,
    // rather than let the planner call flannelctl's own bridge another program's.
    const misfit = prev?.subnet !== undefined ? subnetMisfit(nc, prev.subnet) : undefined
    const servesOldSubnet = misfit !== undefined && (snap.addresses ?? []).some(a => a.dev === rec.bridge && a.family === 4 && cidrContainsIp(prev!.subnet!, a.local))
    if (servesOldSubnet && !cidrWithin(parseCidr(prev!.subnet!), parseCidr(nc.network))) {
      throw userError(`this host's subnet ${prev!.subnet} is outside the network ${nc.network} that ${store.describe()} holds`,
        storeSwitched ? `nothing was changed; ${keepStoreHint}`
          : `nothing was changed; the network config changed since this host was set up: to rebuild it on ${nc.network}, run flannelctl reset, then flannelctl init (its pods need re-creating)`)
    }
    // SubnetLen, SubnetMin or SubnetMax edited under running nodes: flanneld would drop the lease and
    // take another subnet, and every node's pods would be cut off from their gateway at once. The host
    // keeps its subnet and goes on syncing its peers: a node moved to the new length, or a new one,
    // must stay reachable from here. Every round says so.
    const keep = servesOldSubnet && !storeSwitched ? prev!.subnet : undefined
    // (a host that leased its subnet while the edit was in place fits neither config: putting it back does not help it)
    const misfitHint = 'if the config was edited by mistake, put it back; to resize on purpose, and for a host that leased its subnet while the edit was in place, move each node in turn: flannelctl reset --release, flannelctl init, re-create its pods'
    // While a migration runs, it decides this node's backend step by step (core/migrate-plan.ts).
    const migration = parseMigrationRecord(migrationText)
    const phase = migrationPhase(migration, publicIP)
    const backend = phase?.backend ?? nc.backend
    if (backend.type === 'udp') {
      // flannel's default backend is udp: a net-conf without one says udp without saying so
      const unnamed = !/"backend"\s*:/i.test(configToCreate ?? configText ?? '')
      throw userError(udpUnsupported(unnamed),
        unnamed && configToCreate !== undefined ? 'add "Backend": {"Type": "vxlan"} (or "host-gw") to the net-conf' : 'use vxlan (or host-gw when all nodes share one L2 segment): flannelctl backend set vxlan')
    }
    const vni = backend.vni
    const dev = vxlanDeviceName(vni)
    const ownVtep = (name: string, id: number) => snap.links?.find(l => l.name === name && l.kind === 'vxlan' && l.vxlan?.local === publicIP && l.vxlan?.id === id)
    // A new device keeps the VTEP MAC peers have for this host: the MAC of the device it replaces
    // (a new VNI), else the one its lease announces (the device gone since, as after a reboot), as
    // flanneld takes its stored MAC. A MAC derived from the new VNI left every node that synced
    // before this one with the old MAC until it synced again.
    const former = prev?.vni !== undefined && prev.vni !== vni ? ownVtep(vxlanDeviceName(prev.vni), prev.vni) : undefined
    const vtepMAC = ownVtep(dev, vni)?.mac ?? former?.mac ?? announcedVtepMac(listed.leases, publicIP) ?? stableVtepMac(publicIP, vni)
    // The lease advertises a VTEP whenever this node has one for peers to encapsulate to.
    const leaseBackend = backend.type === 'vxlan' || phase?.keepVxlanDevice ? 'vxlan' : backend.type
    const backendData: Record<string, unknown> = leaseBackend === 'vxlan' ? {VNI: vni, VtepMAC: vtepMAC} : {}

    // Listed before the net-conf existed (first init): list again to check the entries against its network.
    const {leases: listedLeases, invalid} = configText === undefined ? await store.listLeases({network: nc.network}) : listed
    const [subnetEnvText, conflist] = await filesRead
    const preferredSubnet = subnetFromEnv(subnetEnvText) ?? prev?.subnet
    // This host's public IP changed (sync --public-ip NEW): its lease moves to the new address, so
    // its pods keep their subnet and no peer keeps routing to the old address.
    const moved = prev?.subnet !== undefined && prev.publicIP !== publicIP
      ? listedLeases.find(l => l.subnet === prev.subnet && l.publicIP === prev.publicIP) : undefined
    const leases = moved ? listedLeases.filter(l => l !== moved) : listedLeases
    // The new address is another lease's: reusing it, as flanneld would, takes that node's subnet
    // while it still routes its pods there, and strands this host's own.
    const addressTaken = moved ? leases.find(l => l.publicIP === publicIP) : undefined
    if (addressTaken) {
      throw userError(`${publicIP} is the public IP of ${addressTaken.subnet} in ${store.describe()}, another node's lease: this host (${prev!.subnet}, recorded at ${prev!.publicIP}) would take that subnet and leave its own`,
        `nothing was changed; pass this host's own address (--public-ip, --iface); if no node is at ${publicIP} any more, delete the entry ${keyOfSubnet(addressTaken.subnet)} and rerun`)
    }
    const leaseRecreated = prev?.subnet !== undefined && !moved && !leases.some(l => l.publicIP === publicIP)
    for (const bad of invalid) {
      const kept = bad.unreadable && bad.subnet !== prev?.subnet ? `; what this host has for ${bad.subnet} is kept until the entry is repaired or deleted` : ''
      ctx.progress(`warning: skipped store entry ${bad.key}: ${bad.reason}${kept}`)
    }
    // This host's own entry unusable (overwritten, or a stray entry overlapping it): taking another
    // subnet would strand the pods on this one, so stop and say so.
    const ownBroken = prev?.subnet === undefined ? undefined : invalid.find(i => i.subnet === prev.subnet && !i.reason.includes('outside the network'))
    if (ownBroken) {
      throw userError(`this host's lease ${prev!.subnet} is unusable in ${store.describe()}: ${ownBroken.reason}`,
        `nothing was changed; repair or remove the entry ${ownBroken.key} (and any stray entry it overlaps), then rerun`)
    }
    const pick = pickSubnet(nc, leases, {publicIP, preferredSubnet, keep})
    const claimed = storeSwitched ? undefined : subnetClaimedByAnother(prev, leases, publicIP, Date.now())
    if (claimed && pick.subnet !== prev!.subnet) {
      throw userError(`this host's subnet ${prev!.subnet} is leased to ${claimed.publicIP} in ${store.describe()}, though this host's own lease on it cannot have expired yet (last synced ${claimed.syncedAgo} ago): the entry was edited, or another host claims the subnet (same address, or a copied subnet.env or state file)`,
        `nothing was changed: another subnet would strand this host's pods. If ${claimed.publicIP} is no node of this network, write the entry ${keyOfSubnet(prev!.subnet!)} back or delete it, and this host leases the subnet again; else one of the two hosts gives it up: flannelctl reset --release there or here, then flannelctl init, and re-create its pods`)
    }
    // Its lease gone and a lease at the new size over its subnet since: it can neither keep it nor move.
    if (keep !== undefined && pick.subnet !== keep) {
      const overlap = leases.find(l => l.publicIP !== publicIP && cidrOverlaps(parseCidr(l.subnet), parseCidr(keep)))
      throw userError(`this host's subnet ${keep} no longer fits the network config in ${store.describe()}: ${misfit}; ${overlap ? `${overlap.subnet} (${overlap.publicIP})` : 'another lease'} overlaps it now, so it cannot be kept, and another subnet would strand the pods on this one`,
        `nothing was changed; ${overlap ? `if ${overlap.publicIP} is no node of this network, delete the entry ${keyOfSubnet(overlap.subnet)} and rerun (this host leases its subnet again); else ` : ''}${misfitHint}`)
    }
    if (storeSwitched && prev?.subnet !== undefined && pick.subnet !== prev.subnet) {
      const there = pick.reason === 'reuse' ? `it holds ${pick.subnet} there, not its subnet ${prev.subnet}` : `there its subnet ${prev.subnet} is another host's`
      throw userError(`${store.describe()} is not the store this host was set up with (${prev.store}), and ${there}: moving would strand its pods`,
        `nothing was changed; ${keepStoreHint}; to move this host to ${storeSpec}: flannelctl reset --release, then flannelctl init --store ${storeSpec}`)
    }
    // A host that already holds its subnet builds first and advertises its new backend after, as
    // flanneld does: no peer may encapsulate to a VTEP that does not exist yet.
    const held = pick.reason === 'reuse' ? leases.find(l => l.publicIP === publicIP && l.subnet === pick.subnet) : undefined
    const ownedRoutesBefore = rec.ownedRoutes
    const keepVanished = opts.keepVanishedPeers === true || leaseRecreated

    /** The plan for this host holding `lease`, and every refusal that does not need the host changed. */
    const planFor = async (lease: Lease) => {
      rec.subnet = lease.subnet
      // The VNI of the device this node uses, or last used: what a later sync or reset removes.
      if (leaseBackend === 'vxlan') rec.vni = vni
      rec.backendType = backend.type
      if (nc.enableNFTables) rec.nftables = true
      else delete rec.nftables

      // A peer lease inside this host's own subnet would route part of its pods away: reported, never applied.
      const own = parseCidr(lease.subnet)
      const insideOwn = (subnet: string) => subnet !== lease.subnet && cidrOverlaps(parseCidr(subnet), own)
      // what reading the store and the host found, before any plan
      const readWarnings: string[] = []
      // flanneld on a dual-stack network gives each host an IPv6 subnet too; flannelctl does not
      if (nc.enableIPv6) {
        readWarnings.push('the network config enables IPv6 (EnableIPv6), but flannelctl builds the IPv4 network only: this host\'s pods get no IPv6 address and it announces no IPv6 subnet (flanneld peers route only IPv4 to it)')
      }
      // one pass over the leases: an agent's round makes it for every peer, whatever changed
      const storePeers: Peer[] = []
      for (const l of leases) {
        if (l.publicIP === publicIP) continue
        const inside = insideOwn(l.subnet)
        if (inside) readWarnings.push(`skipped peer ${l.subnet} (${l.publicIP}): it overlaps this host's subnet ${lease.subnet}`)
        const mac = l.backendData?.VtepMAC
        if (mac !== undefined && !(typeof mac === 'string' && isValidMac(mac))) {
          readWarnings.push(`peer ${l.subnet} (${l.publicIP}): VtepMAC ${showName(mac).slice(0, 60)} is not a MAC address; its VTEP is not used`)
        } else if (mac !== undefined && notUnicastMac(mac as string) !== undefined) {
          readWarnings.push(`peer ${l.subnet} (${l.publicIP}): VtepMAC ${mac as string} is ${notUnicastMac(mac as string)}, no device's; its VTEP is not used`)
        }
        if (l.subnet !== lease.subnet && !inside) storePeers.push(leaseToPeer(l))
      }
      const staticPeers = rec.staticPeers.filter(p => !storePeers.some(s => s.subnet === p.subnet))
      // As a lease outside the network is skipped: flannel's forward and masquerade rules, and what
      // sync may delete again, cover the network only. (peer add refuses one; a record can still hold one.)
      const inNetwork = (p: Peer) => cidrWithin(parseCidr(p.subnet), parseCidr(nc.network))
      for (const p of staticPeers.filter(x => !inNetwork(x))) {
        readWarnings.push(`skipped static peer ${p.subnet}: it is outside the network ${nc.network}; remove it with flannelctl peer remove ${p.subnet}`)
      }
      const peers = [...storePeers, ...staticPeers.filter(inNetwork)]
      const mainTable = new RouteTable(snap.routes ?? [])
      const peerIPs = [...new Set(peers.map(p => p.publicIP))]
      // each peer's route in main, looked up once for the on-link check and (host-gw, or no policy rules) the way out
      const mainRoutes = lookupMany(mainTable, peerIPs)
      const onLinkPeers = onLinkAddresses(mainRoutes, peerIPs, iface)
      // vxlan's outer packets leave by the policy rules: a multi-NIC host often sends from each address
      // by a table of its own (`from IP lookup 100`), whatever main says. A host-gw route's gateway
      // is checked by the kernel in main, the table the route goes in.
      const policy = snap.rules === undefined || backend.type !== 'vxlan' ? undefined : new PolicyRouter(snap.routes ?? [], snap.rules, mainTable)
      const wayOut = policy === undefined || policy.onlyDefaultRules ? (ip: string) => (mainRoutes.has(ip) ? mainRoutes.get(ip) : mainTable.lookup(ip))
        : (ip: string) => policy.lookup({dst: ip, src: publicIP, iif: 'lo', proto: 'udp', dport: backend.port}).route
      for (const [dev, ips] of reachedElsewhere(wayOut, peers.map(p => p.publicIP), iface)) {
        readWarnings.push(`peer${ips.length > 1 ? 's' : ''} ${firstFew(ips)} ${ips.length > 1 ? 'are' : 'is'} reached through ${dev}, not through ${iface}, the interface this node uses${ifaceByDefault ? ' (the default route\'s: no --iface was given)' : ''}; `
          + `peers are told to send to ${publicIP}${backend.type === 'host-gw' ? ' and get no route here' : ''}. If ${dev} is the node network: flannelctl ${opts.what === 'init' ? 'init' : 'sync'} --iface ${dev}`)
      }
      // An accept in flanneld's nftables chain ends nothing: every table's forward hook must let a packet pass.
      const forward = nc.enableNFTables && snap.iptables !== undefined ? forwardVerdict(snap, nc.network) : undefined
      if (forward?.verdict === 'DROP') {
        readWarnings.push(`iptables' FORWARD drops pod traffic before any rule accepts it (${forward.rule.raw || forward.rule.spec}), and with EnableNFTables flannel's accepts are in its own nftables table, which does not overrule it: accept it before that rule (${forwardAcceptHint(nc.network).join('; ')})`)
      } else if (nc.enableNFTables && (forward === undefined || forward.verdict === 'PARTIAL') && snap.iptables?.chains.some(c => c.table === 'filter' && c.name === 'FORWARD' && c.policy === 'DROP')) {
        const dropped = forward === undefined ? 'forwarded pod traffic is dropped unless an iptables rule accepts it' : partialAcceptText(forward.only, nc.network)
        readWarnings.push(`iptables' FORWARD policy is DROP (docker sets it), and with EnableNFTables flannel's accepts are in its own nftables table, which does not overrule it: ${dropped} (${forwardAcceptHint(nc.network).join('; ')}), as on flanneld in nftables mode`)
      }
      // A native firewall's forward chain (nftables.service, firewalld) decides for itself in either mode: flannel's accepts end their own chain only.
      const peerDevs = backend.type === 'vxlan' ? [vxlanDeviceName(vni), ...(backend.directRouting ? [iface] : [])] : [iface]
      for (const d of nativeForwardDrops(snap, {network: nc.network, subnet: lease.subnet, bridge: rec.bridge, peerDevs})) {
        readWarnings.push(`${nativeDropText(d)}, and flannel's accepts (${nc.enableNFTables ? `its nftables table ${NFT_TABLE_V4}` : 'iptables\' FORWARD'}) do not overrule it: every base chain on the forward hook must accept a packet. ${isFirewalldTable(d.chain) ? 'Put the pod network in firewalld\'s trusted zone (a rule inserted in its table is gone after a firewall-cmd --reload)' : 'Accept pod traffic at the top of that chain'}: ${d.fix.join('; ')}`)
      }
      // vxlan's packets dropped on the way in (PREROUTING, INPUT) never reach the device: every peer is cut off, whatever the routes and fdb say
      const inputDrop = backend.type === 'vxlan' ? vxlanInputDrop(snap, {port: backend.port, local: publicIP, peers: peerIPs, dev: iface}) : undefined
      if (inputDrop !== undefined) {
        const from = peerIPs.length === 0 ? 'any peer' : inputDrop.peers.length === peerIPs.length ? 'every peer' : `peer${inputDrop.peers.length > 1 ? 's' : ''} ${firstFew(inputDrop.peers)}`
        const cutOff = peerIPs.length === 0 ? ': no peer has joined yet, and the first to join will be cut off' : ', so their pods cannot reach this node\'s'
        readWarnings.push(`${inputDrop.where} ${inputDrop.reject ? 'rejects' : 'drops'} vxlan's UDP port ${backend.port} (${inputDrop.evidence}): the packets of ${from} never reach ${vxlanDeviceName(vni)}${cutOff}. ${inputDropAdvice(inputDrop)}: ${inputDrop.fix.join('; ')}`)
      }
      const underlay = snap.links?.find(l => l.name === iface)
      if (underlay !== undefined && !underlay.up) readWarnings.push(`${iface} is down: no peer reaches this node, nor it them, until it is up (ip link set ${iface} up); flannelctl leaves the node's own interface to its owner`)
      // up, but its link is down at the other end (cable, switch port, veth peer): as cut off, and `ip link` still says UP
      else if (underlay !== undefined && lacksCarrier(underlay)) readWarnings.push(`${iface} has no carrier (${operstateSaysNoCarrier(underlay) ? `operstate ${underlay.operstate}` : 'LOWER_UP gone'}: a cable, switch port or veth peer is down): no peer reaches this node, nor it them, until its link is back`)
      const underlayMtu = underlay?.mtu ?? 1500
      const fits = backend.type === 'vxlan' ? underlayMtu - VXLAN_OVERHEAD : underlayMtu
      // flanneld sizes its VTEP and pods from the net-conf's Backend.MTU when it has one; never more than the interface carries
      const sized = backend.type === 'vxlan' && nc.backend.mtu !== undefined ? Math.min(fits, nc.backend.mtu - VXLAN_OVERHEAD) : fits
      const mtu = rec.mtu ?? sized
      if (mtu > fits) {
        // Pods would send packets the node cannot pass on to a peer: dropped, or fragmented when
        // path MTU discovery is blocked. A size given now is refused; one recorded earlier (the
        // underlay shrank since) is reported, and kept: the pods were made with it.
        const why = `${iface} carries at most ${fits} per pod packet (its MTU ${underlayMtu}${backend.type === 'vxlan' ? `, less ${VXLAN_OVERHEAD} for the vxlan header` : ''})`
        if (o.mtu !== undefined) throw userError(`--mtu ${o.mtu} is more than this node can carry: ${why}`, `pass --mtu ${fits} or less (or leave it out: that is the default); for larger pod packets raise ${iface}'s MTU first`)
        readWarnings.push(`the pod MTU ${mtu} recorded by init is more than this node can carry now: ${why}; run flannelctl ${opts.what === 'init' ? 'init' : 'sync'} --mtu ${fits} and re-create the pods`)
      }
      // The underlay shrank under running pods: the bridge and the files follow, the pods do not.
      const podsMtu = Math.max(0, ...(snap.links ?? []).filter(l => l.master === rec.bridge && l.kind === 'veth').map(l => l.mtu))
      if (podsMtu > mtu) {
        if (rec.mtu === undefined && sized < fits) readWarnings.push(`the pod MTU is ${mtu} (the net-conf's Backend.MTU ${nc.backend.mtu}, less ${VXLAN_OVERHEAD} for the vxlan header, as flanneld sizes it), but this node's pods were made with ${podsMtu}: their full-size packets no longer fit; re-create them`)
        else readWarnings.push(`the pod MTU drops to ${mtu} (${iface}'s MTU is ${underlayMtu} now), but this node's pods were made with ${podsMtu}: their full-size packets no longer fit; re-create them. Nodes whose ${backend.type === 'vxlan' ? 'underlay' : 'interface'} MTU is larger still send up to their own size, which ${iface} now drops (doctor: MTU_MISMATCH): give ${iface} its MTU back, or the same MTU on every node`)
      }

      const intent: NodeIntent = {
        network: nc.network,
        subnet: lease.subnet,
        backend: {type: backend.type, vni, port: backend.port, directRouting: backend.directRouting, ...(nc.backend.mtu !== undefined ? {mtu: nc.backend.mtu} : {})},
        iface, publicIP, vtepMAC,
        bridge: rec.bridge,
        mtu,
        ipMasq: rec.ipMasq,
        nftables: nc.enableNFTables === true,
        peers,
        onLinkPeers,
        subnetFile: rec.subnetFile,
        cniConfDir: rec.cniConfDir,
        cniIpamDir: rec.cniIpamDir,
        cniPlugin: rec.cniPlugin,
        ownedRoutes: ownedRoutesBefore,
        keepVxlanDevice: phase?.keepVxlanDevice,
        extraVtep: phase?.extraVtep,
        formerVxlanDevices: [...(prev?.vni !== undefined ? [vxlanDeviceName(prev.vni)] : []), ...phase?.vxlanDevices ?? []],
        unreadablePeers: invalid.filter(i => i.unreadable && i.subnet !== undefined && i.subnet !== lease.subnet).map(i => i.subnet!),
      }
      let plan
      try {
        plan = planNode(intent, snap, {subnetEnv: subnetEnvText, conflist})
      } catch (error) {
        throw userError((error as Error).message, 'remove or rename the conflicting device, or pass --bridge')
      }
      plan.ops = await withEmptiedTablesDeleted(host, snap, plan.ops)
      step(`planned ${plan.ops.length} ops`)
      const current = new Map([[rec.subnetFile, subnetEnvText], [`${rec.cniConfDir}/${CONFLIST_NAME}`, conflist]])
      const owned = ownContents(prev, nc.network, mtu)
      const fileOps = plan.ops.filter((op): op is Extract<Op, {tool: 'file'}> => op.tool === 'file')
      // flanneld's own subnet.env for this host on a dual-stack network is taken over as the plain one is
      const ours = (op: Extract<Op, {tool: 'file'}>, text: string) => owned.has(sha256(text)) || (op.path === rec.subnetFile && subnetEnvIPv4Part(text) === op.content)
      const foreign = fileOps.filter(op => current.get(op.path) !== undefined && !ours(op, current.get(op.path)!))
      if (foreign.length > 0 && !o.force) {
        // a subnet.env for a subnet the store leases to another node: that node's, copied with a VM image or a config tree
        const envSubnet = foreign.some(f => f.path === rec.subnetFile) ? subnetFromEnv(subnetEnvText) : undefined
        const holder = envSubnet === undefined ? undefined : leases.find(l => l.subnet === envSubnet && l.publicIP !== publicIP)
        const whose = holder !== undefined ? `; it is for ${envSubnet}, which ${store.describe()} leases to ${holder.publicIP}: that host's file, copied here?` : ''
        throw userError(`${foreign.map(f => f.path).join(' and ')} ${foreign.length > 1 ? 'were' : 'was'} not written by flannelctl for this host (the content is not what it wrote here)${whose}`,
          'this host was not changed; move the file away, or pass --force to overwrite it')
      }
      if (plan.ops.some(op => op.tool === 'iptables') && host.iptablesFlavour === 'none') throw noIptables(host.label)
      if (plan.ops.some(op => op.tool === 'nft') && host.nftInstalled === false) throw noNft(host.label)
      if (nc.enableNFTables && host.nftReadProblem !== undefined) throw nftUnreadable(host.label, host.nftReadProblem)
      const written = [...current.keys()].map(path => fileOps.find(op => op.path === path)?.content ?? current.get(path))
        .filter((t): t is string => t !== undefined).map(sha256)
      rec.writtenFiles = [...new Set([...written, ...(prev?.writtenFiles ?? [])])].slice(0, 6)
      if (keepVanished) plan.ops = plan.ops.filter(op => !removesPeerEntry(op))
      // Record ownership before changing anything, so a crash mid-apply still knows what is ours.
      rec.ownedRoutes = [...new Set([...ownedRoutesBefore, ...plan.ownedRoutes])]
      // and the value a sysctl had before flannelctl first set it, for reset to put back
      for (const op of plan.ops) {
        const was = op.tool === 'sysctl' ? snap.sysctls?.[op.key] : undefined
        if (op.tool === 'sysctl' && was !== undefined && rec.sysctlsBefore?.[op.key] === undefined) rec.sysctlsBefore = {...rec.sysctlsBefore, [op.key]: was}
      }
      return {plan, readWarnings, peers}
    }

    // Planned (and refused) for the subnet it would get before anything is written to the store: a
    // lease of a host that was never built has every peer route to it for 24 h.
    let lease: Lease = held && !ctx.dryRun ? held : {subnet: pick.subnet, publicIP, publicIPv6: null, backendType: leaseBackend, backendData}
    let {plan, readWarnings, peers} = await planFor(lease)
    /** A lease this run took that the host did not hold before: given back when the run fails. */
    let taken: Lease | undefined
    try {
      if (!ctx.dryRun) {
        if (configToCreate !== undefined) {
          if (await store.putConfig(configToCreate, {ifAbsent: true})) {
            ctx.progress(`network config created in ${store.describe()}: ${nc.network}, ${nc.backend.type}`)
          } else {
            // Another host's first init created one since this run read the store: joining is fine
            // when it is the same network; a different one must not be overwritten, nor ignored.
            const theirs = await store.getConfig()
            let same: NetConf | undefined
            try {
              same = theirs === undefined ? undefined : parseNetConf(theirs)
            } catch {}
            if (same === undefined || netConfToJson(same) !== netConfToJson(nc)) {
              const what = same ? `${same.network}, ${same.backend.type}, /${same.subnetLen} per host` : theirs === undefined ? 'removed again since' : 'one that does not parse'
              throw userError(`another host created a different network config in ${store.describe()} while this init ran (${what}), not ${nc.network}, ${nc.backend.type}, /${nc.subnetLen} per host`,
                'nothing was changed; run init again to join that network (without the network flags), or agree on one config first')
            }
          }
        }
        if (moved) await store.releaseLease(moved.subnet, moved.publicIP)
        if (!held) {
          lease = await store.acquireLease(nc, {publicIP, preferredSubnet, keep, backendType: leaseBackend, backendData})
          // A host that had this subnet (in the store, or recorded by a run that completed) keeps it
          // whatever happens next: giving it back would cut its running pods off.
          const hadIt = listedLeases.some(l => l.subnet === lease.subnet && l.publicIP === publicIP)
            || (prev?.subnet === lease.subnet && prev.lastSync !== undefined)
          if (!hadIt) taken = lease
          // another host took the subnet picked meanwhile
          if (lease.subnet !== pick.subnet) ({plan, readWarnings, peers} = await planFor(lease))
        }
        // Needed only when there is something to apply and the record on disk does not say all this
        // yet (e.g. vxlan peers own nothing new); the write below records the sync either way.
        if (plan.ops.length > 0 && !sameRecord(prev, rec)) await writeRecord(host, statePath, rec)
        await host.apply(plan.ops)
        step('applied')
        if (held) {
          const published = await store.acquireLease(nc, {publicIP, preferredSubnet: held.subnet, keep, backendType: leaseBackend, backendData, heldSubnet: pick.discard.length === 0})
          if (published.subnet !== held.subnet) {
            throw new FlannelctlError(`the store gave this host ${published.subnet} instead of its subnet ${held.subnet}`, 'run flannelctl sync again; if it repeats, check the store for a conflicting lease', ExitCode.failed)
          }
          lease = published
        }
        // a kept route stays recorded, so that a later round can still remove it
        if (!keepVanished) rec.ownedRoutes = plan.ownedRoutes
        rec.lastSync = new Date().toISOString()
        await writeRecord(host, statePath, rec)
        step('published and recorded')
      } else if (configToCreate !== undefined) {
        await store.checkConfigWritable?.()
        ctx.progress(`would create the network config in ${store.describe()}: ${nc.network}, ${nc.backend.type}`)
      }
    } catch (error) {
      if (taken) throw await giveBack(store, taken, error)
      throw error
    }
    const migrationNote = phase?.note ?? outsiderNote(migration, publicIP, {type: backend.type, directRouting: backend.type === 'vxlan' && backend.directRouting})
    const warnings = migrationNote ? [migrationNote, ...readWarnings, ...plan.warnings] : [...readWarnings, ...plan.warnings]
    // Peers build their entries from the lease: a VTEP re-created with a new MAC is news for them, not "nothing to change".
    const announced = held?.backendData?.VtepMAC
    if (held && leaseBackend === 'vxlan' && typeof announced === 'string' && announced.toLowerCase() !== vtepMAC.toLowerCase()) {
      warnings.push(`the lease announced VTEP MAC ${announced}, but ${dev} has ${vtepMAC}: ${ctx.dryRun ? 'sync would publish' : 'published'} ${vtepMAC}; peers use it from their next sync`)
    }
    // flanneld's rule (the lease carrying this public IP is this host's) on a host with no trace of
    // having held it: right after a reinstall, wrong when several hosts announce one NAT address.
    if (prev === undefined && subnetEnvText === undefined && held !== undefined) {
      warnings.push(`the store holds ${held.subnet} for ${publicIP} and this host has no record of it (no state file, no subnet.env): taken as this host's, as flanneld does (right after a reset or a reinstall); if another host announces ${publicIP} too (a NAT address every VM has), both now use ${held.subnet}: give each host its own address (--iface, --public-ip)`)
    }
    // flanneld's random draw: a --dry-run cannot reserve the subnet it shows, and the run draws again
    if (ctx.dryRun && pick.reason === 'random' && (pick.among ?? 0) > 1) {
      warnings.push(`${lease.subnet} is drawn at random among ${pick.among} free subnets, as flanneld does: the run itself draws again, so it may lease another subnet (and the plan's addresses and rules change with it)`)
    }
    if (moved) warnings.push(`this host's public IP changed from ${moved.publicIP} to ${publicIP}: its lease ${moved.subnet} ${ctx.dryRun ? 'would move' : 'moved'}${lease.subnet === moved.subnet ? ' with it' : `, but the subnet was taken meanwhile: leased ${lease.subnet}`}`)
    if (keep !== undefined && lease.subnet === keep) {
      warnings.push(`this host's subnet ${keep} no longer fits the network config in ${store.describe()}: ${misfit}; kept, with its pods and its lease (another subnet would strand the pods), and peers are synced as usual; ${misfitHint}`)
    }
    if (leaseRecreated && storeSwitched) {
      warnings.push(`this host moved from ${prev!.store} to ${store.describe()}, where it ${ctx.dryRun ? 'would lease' : 'leased'} ${lease.subnet} again; its lease in ${prev!.store} stays until it expires (24 h), and hosts using that store route to it until then`)
    } else if (misfit !== undefined && lease.subnet !== prev?.subnet) {
      warnings.push(`this host's subnet ${prev?.subnet} no longer fits the network config (${misfit}): ${ctx.dryRun ? 'would lease' : 'leased'} ${lease.subnet} instead; pods still on ${prev?.subnet} need re-creating`)
    } else if (leaseRecreated) {
      warnings.push(lease.subnet === prev?.subnet
        ? `the store had no lease for this host (store lost, lease expired or deleted): leased ${lease.subnet} again; peers missing from the store are kept until a later sync`
        : `the store had no lease for this host and its subnet ${prev?.subnet} is another host's now: leased a new subnet, ${lease.subnet}; pods still on ${prev?.subnet} need re-creating`)
    }
    return {node: rec, lease, ops: plan.ops, plan: describePlan(plan.ops), warnings, applied: !ctx.dryRun, peers, netConf: nc, leaseRecreated, snapshot: snap, leases: listedLeases}
  } finally {
    await store.close()
  }
}

/**
 * The run failed after it leased a subnet this host did not hold: the lease goes back, or peers
 * would route to a host that was never built until it expires (24 h). The error says so.
 */
async function giveBack(store: Store, lease: Lease, error: unknown): Promise<unknown> {
  let note: string
  try {
    note = await store.releaseLease(lease.subnet, lease.publicIP)
      ? `the lease ${lease.subnet} this run had taken was released`
      : `the lease ${lease.subnet} this run had taken is not this host's any more: left as it is`
  } catch (e) {
    note = `the lease ${lease.subnet} this run had taken could not be released (${(e as Error).message}); it expires within 24 h (flannelctl lease list shows it)`
  }
  if (isUserError(error)) return new FlannelctlError(error.message, error.hint ? `${error.hint} (${note})` : note, error.exitCode)
  if (error instanceof Error) error.message += ` (${note})`
  return error
}

/**
 * A veth plugged into no bridge that looks like a pod's is plugged into this node's bridge only
 * when its pod has an address in the node's subnet: the pod's end is read for those (none on most
 * syncs, so nothing more is run).
 */
async function withLooseVethPeers(host: HostAdapter, snap: HostSnapshot): Promise<HostSnapshot> {
  const loose = snap.looseVethPeerAddresses === undefined ? loosePodVethCandidates(snap) : []
  return loose.length === 0 ? snap : {...snap, looseVethPeerAddresses: await host.vethPeerAddresses(loose)}
}

/**
 * iptables-nft's tables that flannel's chains, going in this plan, leave holding nothing are
 * deleted whole (core/flannel-nft.ts), so a reset or a switch to nftables leaves no empty `ip nat` /
 * `ip filter` behind. Read only when the plan removes a chain on an nf_tables host (kube-proxy's
 * tables can be large).
 */
async function withEmptiedTablesDeleted(host: HostAdapter, snap: HostSnapshot, ops: Op[]): Promise<Op[]> {
  const tables = snap.iptables?.flavour === 'nft' ? iptablesTablesLosingChains(ops) : []
  return tables.length === 0 ? ops : deletingEmptiedIptablesTables(ops, await host.listIpTables(tables))
}

/** A route, neighbour or fdb entry the planner removes because no peer in the store needs it any more. */
function removesPeerEntry(op: Op): boolean {
  return (op.tool === 'ip' && (op.args[0] === 'route' || op.args[0] === 'neigh') && op.args[1] === 'del')
    || (op.tool === 'bridge' && op.args[0] === 'fdb' && op.args[1] === 'del')
}

export interface ResetResult {
  ops: Op[]
  plan: string[]
  released?: string
  /** no record at `path`: nothing to reset (init never ran here, or a reset already did it); `found`, the devices that look like flannel's all the same */
  nothing?: {path: string; found: string[]}
}

export async function resetNode(ctx: ServiceContext, o: NodeOptions, {release = false} = {}): Promise<ResetResult> {
  requireNodeRoot(ctx, 'reset')
  return withStateLock(ctx, o.stateFile ?? DEFAULT_STATE_FILE, () => resetLocked(ctx, o, release))
}

async function resetLocked(ctx: ServiceContext, o: NodeOptions, release: boolean): Promise<ResetResult> {
  const host = new HostAdapter(ctx.runner)
  // A second reset (a teardown script run twice) has nothing to do: it says so and succeeds. A
  // mistyped --state-file would say so too: the devices it would have removed are named.
  const {rec, path} = await loadRecord(host, o, true)
  if (!rec) return {ops: [], plan: [], nothing: {path, found: flannelLookingDevices((await host.snapshot()).links ?? [], o.bridge)}}
  // --release gives the lease back through the store given (etcd's certificates may have moved), else the recorded one
  const r: NodeRecord = {...rec, ...storeChoice(o, rec)}
  for (const line of unusedByReset(o, rec!, path, release)) ctx.progress(`warning: ${line}`)
  const snap = await host.snapshot()
  const planned = planReset({
    network: '0.0.0.0/0', backend: {type: 'vxlan', vni: r.vni ?? 1, port: 0, directRouting: false}, iface: r.iface, bridge: r.bridge,
    subnetFile: r.subnetFile, cniConfDir: r.cniConfDir, ownedRoutes: r.ownedRoutes, subnet: r.subnet ?? '',
  }, snap)
  const ops = await withEmptiedTablesDeleted(host, snap, planned)
  // A subnet.env or conflist someone else wrote since stays (records older than writtenFiles keep the old behaviour).
  if (r.writtenFiles) {
    const mine = new Set(r.writtenFiles)
    for (const op of [...ops]) {
      if (op.tool !== 'rmfile') continue
      const text = await host.readFile(op.path)
      if (text !== undefined && !mine.has(sha256(text))) {
        ops.splice(ops.indexOf(op), 1)
        ctx.progress(`kept ${op.path}: flannelctl did not write what it holds now`)
      }
    }
  }
  // what init switched on goes back off, unless something else here needs it (docker0, another CNI)
  const sysctls = planSysctlRestore(r.sysctlsBefore, snap, {bridge: r.bridge, vxlanDev: vxlanDeviceName(r.vni ?? 1)})
  ops.push(...sysctls.ops)
  // said once the lease is released: a store that stops reset leaves the host as it is, and these would tell otherwise
  const said = [...sysctls.notes]
  // left by a sync --watch killed with SIGKILL (a running one stops by itself once the record is gone)
  if (await host.readFile(`${path}.agent`) !== undefined) ops.push({tool: 'rmfile', path: `${path}.agent`, why: 'the record of this host\'s sync --watch agent'})
  ops.push({tool: 'rmfile', path, why: 'flannelctl\'s record of this host'})
  // flanneld's tables go whole, as its clean-up does: rules someone added in them go too, and where they could not be read they stay.
  const nftUnread = r.nftables ? host.nftReadProblem : undefined
  for (const line of [...nftResetWarnings(undefined, nftUnread), ...rulesLostWithChains(planned, snap)]) said.push(`warning: ${line}`)
  // Deleting the bridge leaves running pods' veths attached to nothing; a new bridge does not take
  // them back by itself (init plugs them in again), so say which pods are cut off until then.
  const ports = (snap.links ?? []).filter(l => l.master === r.bridge).map(l => l.name)
  if (ports.length > 0 && ops.some(op => op.tool === 'ip' && op.args.join(' ') === `link del ${r.bridge}`)) {
    said.push(`warning: ${ports.length} pod interface${ports.length === 1 ? ' is' : 's are'} on ${r.bridge} (${ports.slice(0, 4).join(', ')}${ports.length > 4 ? ', …' : ''}): those pods lose their network with it until the next init plugs them back in (re-create them if it leases another subnet)`)
  }
  // The lease goes first: a store that cannot be reached then stops reset before the host is
  // touched, with the state file (which names the lease) still there for a rerun. Peers also
  // stop routing here before the devices go. Were the state file removed first, nothing could
  // release the lease any more. --dry-run asks the store the same questions and releases nothing.
  const released = release && r.subnet ? await releaseOwnLease(ctx, r, r.subnet, o) : undefined
  for (const line of said) ctx.progress(line)
  if (!ctx.dryRun) await host.apply(ops)
  return {ops, plan: describePlan(ops), released}
}

/**
 * reset removes what init recorded: a flag naming another bridge, interface or file is not used
 * (taking it would delete what flannelctl did not make), and is said so. Pod settings (--mtu,
 * --ip-masq, --cni-plugin) change nothing a reset removes.
 */
export function unusedByReset(o: NodeOptions, rec: NodeRecord, statePath: string, release: boolean): string[] {
  const given: [flag: string, value: string | undefined, recorded: string | undefined][] = [
    ['--bridge', o.bridge, rec.bridge],
    ['--iface', o.iface, rec.iface],
    ['--public-ip', o.publicIP, rec.publicIP],
    ['--subnet-file', o.subnetFile, rec.subnetFile],
    ['--cni-conf-dir', o.cniConfDir, rec.cniConfDir],
  ]
  if (!release) given.push(['--store', o.store, rec.store])
  return given.filter(([, value, recorded]) => value !== undefined && value !== recorded)
    .map(([flag, value, recorded]) => `${flag} ${value} is not used: reset removes what init recorded in ${statePath} (${recorded})`)
}

/** reset --release: give back this host's lease, unless another host holds that subnet by now. */
async function releaseOwnLease(ctx: ServiceContext, r: NodeRecord, subnet: string, o: NodeOptions): Promise<string | undefined> {
  try {
    const store = await openStore(r.store, storeOptions(r, o))
    try {
      const holderNow = async () => (await store.listLeases()).leases.find(l => l.subnet === subnet)?.publicIP
      // a dry run judges the holder as the release does, and deletes nothing
      if (ctx.dryRun ? await holderNow() === r.publicIP : await store.releaseLease(subnet, r.publicIP)) return subnet
      const holder = await holderNow()
      ctx.progress(holder === undefined ? `lease ${subnet} was no longer in ${store.describe()} (expired or released)`
        : `kept lease ${subnet} in ${store.describe()}: ${holder} holds it now, not this host`)
      return undefined
    } finally {
      await store.close()
    }
  } catch (e) {
    if (!isUserError(e)) throw e
    const failure = new FlannelctlError(`cannot release the lease ${subnet}: ${e.message}`,
      `nothing on this host was changed and its state file is kept: run flannelctl reset --release${ctx.dryRun ? ' --dry-run' : ''} again once the store can be used (reset without --release takes the host apart and leaves the lease to expire within 24 h)`,
      e.exitCode)
    // a --dry-run only read the store: exit 2, as init and sync --dry-run
    if (ctx.dryRun) asReadFailure(failure)
    throw failure
  }
}

export interface StaticPeerInput {
  subnet: string
  publicIP: string
  vtepMAC?: string
}

/** A CIDR flag with host bits set (10.244.5.7/24) is a typo of its network: say which, rather than "not a CIDR". */
function requireCidrFlag(flag: string, value: string, example: string): void {
  if (isCanonicalCidr(value)) return
  let network: string | undefined
  try {
    if (value.includes('/')) network = cidrToString(parseCidr(value))
  } catch {}
  // a /0 masks to 0.0.0.0/0, which no flag takes: suggesting it would only lead to the next refusal
  if (network?.endsWith('/0')) throw userError(`--${flag} '${value}' is a /0: the whole IPv4 space, not one network`, `e.g. --${flag} ${example}`)
  if (network !== undefined) throw userError(`--${flag} '${value}' has host bits set: its network is ${network}`, `pass --${flag} ${network}`)
  throw userError(`--${flag} '${value}' is not a valid IPv4 CIDR`, `e.g. --${flag} ${example} (the network address, then the prefix length)`)
}

function validatePeer(p: StaticPeerInput): void {
  requireCidrFlag('subnet', p.subnet, '10.244.2.0/24')
  if (!isIPv4(p.publicIP)) throw userError(`--public-ip '${p.publicIP}' is not an IPv4 address`, 'e.g. --public-ip 192.168.100.12')
  refuseSpecialAddress(p.publicIP, 'the peer\'s node address, e.g. --public-ip 192.168.100.12')
  if (p.vtepMAC !== undefined && !isValidMac(p.vtepMAC)) throw userError(`--vtep-mac '${p.vtepMAC}' is not a MAC address`, 'e.g. --vtep-mac 5a:1f:00:00:00:02 (the peer\'s flannel.1 MAC)')
  const group = p.vtepMAC !== undefined ? notUnicastMac(p.vtepMAC) : undefined
  if (group !== undefined) throw userError(`--vtep-mac ${p.vtepMAC} is ${group}, not a device's`, 'pass the MAC of the peer\'s flannel.1 (ip link show flannel.1 there), e.g. --vtep-mac 5a:1f:00:00:00:02')
}

/** The network of the store this host uses (undefined while it holds no config: reconcile then says so) and its leases. */
async function storedNetwork(r: NodeRecord, o: NodeOptions): Promise<{netConf?: NetConf; leases: Lease[]}> {
  const store = await openStore(r.store, storeOptions(r, o))
  try {
    const text = await store.getConfig()
    return {netConf: text === undefined ? undefined : parseStoredNetConf(store, text), leases: (await store.listLeases()).leases}
  } finally {
    await store.close()
  }
}

/** Add or remove a static peer in this host's record, then converge. */
export async function changeStaticPeer(ctx: ServiceContext, o: NodeOptions, change: {add?: StaticPeerInput; remove?: string}): Promise<ReconcileResult> {
  requireNodeRoot(ctx, 'peer')
  checkNameFlags(o)
  const run = withStateLock(ctx, o.stateFile ?? DEFAULT_STATE_FILE, () => changeStaticPeerLocked(ctx, o, change))
  // a --dry-run only reads: a store that does not answer is exit 2, as init and sync --dry-run
  return ctx.dryRun ? run.catch(asReadFailure) : run
}

async function changeStaticPeerLocked(ctx: ServiceContext, o: NodeOptions, change: {add?: StaticPeerInput; remove?: string}): Promise<ReconcileResult> {
  const host = new HostAdapter(ctx.runner)
  const {rec, path} = await loadRecord(host, o, false)
  const r = rec!
  const where = (p: {publicIP: string, vtepMAC?: string}) => `${p.publicIP}${p.vtepMAC ? ` (VTEP MAC ${p.vtepMAC})` : ''}`
  if (change.add) {
    validatePeer(change.add)
    // A route via this host's own address loops pods' traffic back here (host-gw), and an fdb entry
    // to it encapsulates to itself (vxlan): no peer is reached either way.
    if (change.add.publicIP === r.publicIP) throw userError(`${change.add.publicIP} is this host's own public IP, not a peer's`, 'pass the address of the host that holds the subnet: --public-ip PEER_IP')
    if ((await host.routeGet(change.add.publicIP))?.type === 'local') {
      throw userError(`${change.add.publicIP} is another address of this host, not a peer's`, 'pass the address of the host that holds the subnet: --public-ip PEER_IP')
    }
    const s = parseCidr(change.add.subnet)
    if (r.subnet && cidrOverlaps(s, parseCidr(r.subnet))) throw userError(`${change.add.subnet} overlaps this host's own subnet ${r.subnet}`, 'a peer needs its own subnet')
    const {netConf, leases} = await storedNetwork(r, o)
    const network = netConf?.network
    const misfit = netConf && peerSubnetMisfit(netConf, change.add.subnet)
    if (misfit) {
      throw userError(misfit, cidrWithin(s, parseCidr(netConf.network))
        ? `pass the peer's lease, a /${netConf.subnetLen} (its subnet.env's FLANNEL_SUBNET): routes of another size would cover other nodes' subnets or only part of the peer's`
        : `a peer's pod subnet lies inside the network, as every lease does (flannel's FORWARD and masquerade rules cover only it)`)
    }
    // a node address inside the pod network is routed by the peers' own routes: to reach it, a packet would need the route it is for
    if (network && cidrContainsIp(network, change.add.publicIP)) {
      throw userError(`--public-ip ${change.add.publicIP} is inside the pod network ${network}: a peer's node address is on the network between the nodes`, 'pass the peer\'s node address, e.g. --public-ip 192.168.100.12')
    }
    const clash = r.staticPeers.find(p => p.subnet !== change.add!.subnet && cidrOverlaps(parseCidr(p.subnet), s))
    if (clash) throw userError(`${change.add.subnet} overlaps static peer ${clash.subnet}`, `remove it first: flannelctl peer remove ${clash.subnet}`)
    // The store's lease wins in sync, so such a peer would be listed but never routed.
    const leased = leases.find(l => l.publicIP !== r.publicIP && cidrOverlaps(parseCidr(l.subnet), s))
    if (leased) throw userError(`${change.add.subnet} overlaps ${leased.subnet}, leased in ${r.store} by ${leased.publicIP}`, 'that host is a peer already, through the store; a static peer needs a subnet no host leases')
    // a host holds one subnet: a second one "at" it is a mistyped --public-ip, and its VTEP would drop frames for a MAC not its own
    const holder = leases.find(l => l.publicIP === change.add!.publicIP && l.publicIP !== r.publicIP)
    if (holder) {
      throw userError(`--public-ip ${change.add.publicIP} is the host of ${holder.subnet} in ${r.store}: a peer through the store already, and a host holds one subnet`,
        `pass the address of the host that holds ${change.add.subnet} (one outside the store)`)
    }
    // The fdb holds one entry per MAC: a second VTEP with the same MAC takes the first one's frames.
    const mac = change.add.vtepMAC?.toLowerCase()
    const sameMac = mac === undefined ? undefined
      : leases.find(l => l.subnet !== change.add!.subnet && String(l.backendData?.VtepMAC ?? '').toLowerCase() === mac)
        ?? r.staticPeers.find(p => p.subnet !== change.add!.subnet && p.vtepMAC?.toLowerCase() === mac)
    if (sameMac) {
      throw userError(`--vtep-mac ${mac} is ${sameMac.publicIP === r.publicIP ? 'this host\'s own VTEP MAC' : `already the VTEP MAC of ${sameMac.subnet} (${sameMac.publicIP})`}: its frames would go to ${change.add.publicIP} instead`,
        'pass the peer\'s own flannel.1 MAC (ip link show flannel.1 on the peer)')
    }
    if (change.add.vtepMAC !== undefined && r.backendType !== undefined && r.backendType !== 'vxlan') {
      throw userError(`this host runs ${r.backendType} and has no vxlan device to reach ${change.add.subnet} through`, 'drop --vtep-mac for a route via the peer\'s address, or move the network to vxlan first (flannelctl backend set vxlan)')
    }
    const replaced = r.staticPeers.find(p => p.subnet === change.add!.subnet)
    // the same peer added again (a rerun script, a second try) is not a move: "replaced" would send the user looking for what changed
    const unchanged = replaced !== undefined && replaced.publicIP === change.add.publicIP && (replaced.vtepMAC ?? undefined) === change.add.vtepMAC?.toLowerCase()
    if (unchanged) ctx.progress(`static peer ${replaced.subnet} is already at ${where(replaced)}`)
    // both ends said: a VTEP MAC given to the same address changes nothing the old half of the line shows
    else if (replaced) ctx.progress(`static peer ${replaced.subnet} was at ${where(replaced)}, now ${where({publicIP: change.add.publicIP, vtepMAC: change.add.vtepMAC?.toLowerCase()})}: ${ctx.dryRun ? 'would be replaced' : 'replaced'}`)
    if (!r.ipMasq && r.staticPeers.length === 0) {
      ctx.progress(`warning: pods created before this first static peer keep the bridge plugin's masquerade rule, which hides their address from other nodes' pods too; re-create them (new pods get ipMasq false, as this host now masquerades with the narrowed rule)`)
    }
    const backendType = change.add.vtepMAC ? 'vxlan' : 'host-gw'
    r.staticPeers = [...r.staticPeers.filter(p => p.subnet !== change.add!.subnet),
      {subnet: change.add.subnet, publicIP: change.add.publicIP, vtepMAC: change.add.vtepMAC?.toLowerCase(), backendType, static: true}]
  }
  if (change.remove) {
    if (!r.staticPeers.some(p => p.subnet === change.remove)) {
      // peer list shows store peers beside static ones; removing one here would be undone by the next sync
      const leased = (await storedNetwork(r, o).catch(() => ({leases: [] as Lease[]}))).leases.find(l => l.subnet === change.remove)
      if (leased) {
        throw userError(`${change.remove} is not a static peer: it is ${leased.publicIP}'s lease in ${r.store}`,
          'it leaves when flannelctl reset --release runs on that host (or its lease expires); sync here then removes its route')
      }
      // `peer remove 10.244.2.0`, the prefix length left off: name the peer meant
      const meant = isIPv4(change.remove) ? r.staticPeers.find(p => cidrContainsIp(p.subnet, change.remove!)) : undefined
      throw userError(`no static peer ${change.remove} on this host`, meant ? `did you mean: flannelctl peer remove ${meant.subnet}` : 'see them with: flannelctl peer list')
    }
    // An off-link peer has no route here, so the plan can be empty: say what did change, the record.
    const removed = r.staticPeers.find(p => p.subnet === change.remove)!
    ctx.progress(`static peer ${removed.subnet} at ${where(removed)}: ${ctx.dryRun ? 'would be removed' : 'removed'}`)
    r.staticPeers = r.staticPeers.filter(p => p.subnet !== change.remove)
  }
  if (!ctx.dryRun) await writeRecord(host, path, r)
  return reconcileLocked(ctx, {node: {...o, stateFile: path}, creating: false, what: 'peer', record: r})
}

export interface PeerRow {
  subnet: string
  publicIP: string
  backend: string
  vtepMAC: string | null
  source: 'store' | 'static'
  /**
   * in-sync: the host has the route (and neigh/fdb for vxlan) this peer needs; off-link: a peer
   * reached directly (host-gw) that is not on this node's segment, which no route of sync's can
   * reach (the kernel refuses the gateway; sync warns instead)
   */
  state: 'in-sync' | 'missing' | 'drifted' | 'off-link'
}

export async function listPeers(ctx: ServiceContext, o: NodeOptions): Promise<PeerRow[]> {
  const view = await plannedSync(ctx, o)
  return peerRows(view.record, view.leases, view.snapshot, 'result' in view ? view.result.ops : [])
}

/**
 * What `flannelctl sync` would do on this host now, changing nothing (status, peer list): its
 * result (the plan, and the store and tables it was made against), or, where sync would stop, why,
 * with the store and host read here.
 */
export async function plannedSync(ctx: ServiceContext, o: NodeOptions): Promise<{record: NodeRecord; leases: Lease[]; snapshot: HostSnapshot} & ({result: ReconcileResult} | {refused: FlannelctlError})> {
  const host = new HostAdapter(ctx.runner)
  const {rec: recorded} = await loadRecord(host, o, false)
  // the store a --store names, as sync would read it (the leases came from the recorded one, shown as that store's)
  const rec = {...recorded!, store: o.store ?? recorded!.store}
  const dryRun = {runner: new DryRunRunner(ctx.runner), dryRun: true, progress: () => {}}
  try {
    const result = await reconcile(dryRun, {node: o, creating: false, what: 'status'})
    return {record: rec, leases: result.leases, snapshot: result.snapshot, result}
  } catch (e) {
    if (!isUserError(e)) throw e
    const [leases, snapshot] = await Promise.all([storeLeases(rec, o).catch(asReadFailure), host.snapshot()])
    return {record: rec, leases, snapshot, refused: e}
  }
}

/** The live leases of the store this host's record names. */
export async function storeLeases(rec: NodeRecord, o: NodeOptions): Promise<Lease[]> {
  const store = await openStore(rec.store, storeOptions(rec, o))
  try {
    return (await store.listLeases()).leases
  } finally {
    await store.close()
  }
}

/**
 * Each peer (the store's and the static ones) and whether this host's tables reach it as they
 * should. `planned`: what sync would change now; a peer whose route, neighbour or fdb entry it
 * would change is drifted, whatever entries the host has (a route through flannel.1 where the
 * network now says DirectRouting is a route, but not the right one).
 */
export function peerRows(r: NodeRecord, leases: Lease[], snap: HostSnapshot, planned: Op[] = []): PeerRow[] {
  const dev = vxlanDeviceName(r.vni ?? 1)
  const rows: PeerRow[] = []
  const peers: (Peer & {source: 'store' | 'static'})[] = [
    ...leases.filter(l => l.subnet !== r.subnet).map(l => ({...leaseToPeer(l), source: 'store' as const})),
    // A static peer has no lease to announce a backend: it is reached as this host routes it. On a
    // host-gw host that is directly, whatever --vtep-mac gave (kept for a move back to vxlan).
    ...r.staticPeers.map(p => ({...p, ...(r.backendType === 'host-gw' && {backendType: 'host-gw', vtepMAC: undefined}), source: 'static' as const})),
  ]
  const direct = peers.filter(p => r.backendType === 'host-gw' || p.backendType === 'host-gw').map(p => p.publicIP)
  const onLink = onLinkAddresses(snap.routes ?? [], direct, r.iface)
  for (const p of peers) {
    const route = snap.routes?.find(x => x.dst === p.subnet)
    let state: PeerRow['state'] = route ? 'in-sync' : direct.includes(p.publicIP) && !onLink.has(p.publicIP) ? 'off-link' : 'missing'
    if (route && route.dev === dev && p.vtepMAC) {
      const neighOk = snap.neighbors?.some(n => n.dev === dev && n.lladdr === p.vtepMAC)
      const fdbOk = snap.fdb?.some(f => f.dev === dev && f.mac === p.vtepMAC && f.dst === p.publicIP)
      if (!neighOk || !fdbOk) state = 'drifted'
    }
    if (state === 'in-sync' && planned.some(op => changesPeer(op, p))) state = 'drifted'
    rows.push({subnet: p.subnet, publicIP: p.publicIP, backend: p.backendType, vtepMAC: p.vtepMAC ?? null, source: p.source, state})
  }
  return rows
}

/** Whether a planned op writes or deletes one of a peer's entries: its route, its VTEP's neighbour, its VTEP MAC's fdb entry. */
function changesPeer(op: Op, p: Pick<Peer, 'subnet' | 'vtepMAC'>): boolean {
  if (op.tool === 'ip' && op.args[0] === 'route') return op.args[2] === p.subnet
  if (op.tool === 'ip' && op.args[0] === 'neigh') return op.args[2] === vtepAddress(p.subnet)
  if (op.tool === 'bridge' && op.args[0] === 'fdb') return p.vtepMAC !== undefined && op.args[2] === p.vtepMAC
  return false
}

/**
 * Another public IP holds the subnet this host last synced on, although this host's lease cannot
 * have expired: it is renewed at least every LEASE_RENEW_AFTER_MS by a sync and lasts
 * LEASE_TTL_SECONDS, so within that much of the last sync the entry was edited, or another host
 * claims the subnet. Leasing another subnet then would strand this host's running pods (its bridge
 * is readdressed); only a host whose lease has expired for real moves on, as flanneld does.
 */
export function subnetClaimedByAnother(prev: Pick<NodeRecord, 'subnet' | 'lastSync'> | undefined, leases: Lease[], publicIP: string, nowMs: number): {publicIP: string; syncedAgo: string} | undefined {
  if (prev?.subnet === undefined || prev.lastSync === undefined) return undefined
  const holder = leases.find(l => l.subnet === prev.subnet && l.publicIP !== publicIP)
  const agoMs = nowMs - Date.parse(prev.lastSync)
  if (holder === undefined || !(agoMs < LEASE_TTL_SECONDS * 1000 - LEASE_RENEW_AFTER_MS)) return undefined
  const ago = Math.max(0, Math.round(agoMs / 1000))
  return {publicIP: holder.publicIP, syncedAgo: ago < 120 ? `${ago} s` : ago < 7200 ? `${Math.round(ago / 60)} min` : `${Math.round(ago / 3600)} h`}
}

/**
 * The public IP in the record, found on the host when it was set up, is on none of its interfaces
 * now. Either the address changed or the record is another host's (a state file copied with a VM
 * image, hosts sharing a filesystem): syncing on would take that host's lease and subnet, so stop
 * before anything is written.
 */
function refuseForeignAddress(snap: HostSnapshot, o: NodeOptions, prev: NodeRecord | undefined, iface: string, publicIP: string, onThisHost: boolean): void {
  if (prev === undefined || o.publicIP !== undefined || prev.publicIPGiven || onThisHost) return
  const now = (snap.addresses ?? []).find(a => a.dev === iface && a.family === 4 && a.scope !== 'host')?.local
  throw userError(`this host's recorded public IP ${publicIP} (found on ${iface} when it was set up) is on none of its interfaces now${now ? `; ${iface} has ${now}` : ''}: either its address changed or the record is another host's; nothing was changed`,
    `if the address changed: flannelctl sync --public-ip ${now ?? 'NEW_IP'} (the lease moves with it); if ${prev.store} and this record belong to another host, pass this host's own --state-file`)
}
