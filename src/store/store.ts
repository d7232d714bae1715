/**
 * Where the network's config and the hosts' subnet leases live. Every backend speaks flannel's
 * layout and values, so flanneld and flannelctl can share a store:
 *   <prefix>/config                    net-conf JSON
 *   <prefix>/subnets/10.244.1.0-24     {"PublicIP":"192.168.122.11","PublicIPv6":null,"BackendType":"vxlan",
 *                                       "BackendData":{"VNI":1,"VtepMAC":"a2:99:54:8b:35:bd"}}
 * with a 24 h lifetime per lease.
 */
import {isUserError, userError} from '../errors.js'
import {cidrToKey, isCanonicalCidr, isIPv4, maskOf, parseCidr, type Cidr} from '../core/addr.js'
import {parseNetConf, type NetConf} from '../core/netconf.js'
import {isSubnetUsable} from '../core/ipam.js'

export interface Lease {
  /** CIDR, e.g. 10.244.1.0/24 */
  subnet: string
  publicIP: string
  publicIPv6: string | null
  backendType: string
  /** {VNI, VtepMAC} for vxlan, empty for host-gw */
  backendData: Record<string, unknown>
  /** ISO time; absent for a lease without lifetime (a flannel "reservation") */
  expiresAt?: string
}

export interface InvalidEntry {
  key: string
  reason: string
  /** the subnet the key names, when it names one: still taken, never handed out */
  subnet?: string
  /**
   * the value is not a lease (not JSON, not flannel's shape): a peer's entry damaged in place, so
   * hosts keep what they have for its subnet rather than cut its pods off (flanneld only skips it)
   */
  unreadable?: boolean
}

export interface LeaseList {
  leases: Lease[]
  invalid: InvalidEntry[]
}

export interface AcquireRequest {
  publicIP: string
  /** the subnet this host had (subnet.env); taken again when free */
  preferredSubnet?: string
  backendType: string
  backendData: Record<string, unknown>
  /** [0, 1) source for the random pick; tests inject one */
  random?: () => number
  /** the subnet this host keeps though it no longer fits the config (SubnetWant.keep in core/ipam.ts) */
  keep?: string
  /**
   * This host holds preferredSubnet (it just listed it under its PublicIP): a backend may renew that
   * entry in place, without listing the store, while it still carries this PublicIP. A backend that
   * cannot tell takes the full path; the result is the same lease either way.
   */
  heldSubnet?: boolean
}

/**
 * A held lease whose value did not change is renewed when it is older than this, not on every
 * round: each write wakes every watching node. Any sync after that renews it to the full 24 h.
 */
export const LEASE_RENEW_AFTER_MS = 60 * 60 * 1000

/**
 * Whether a sync now would renew a held lease that expires at `expiresAtMs`: one with less life left
 * than a lease renewed LEASE_RENEW_AFTER_MS ago, as heldLeaseIsCurrent judges it (a lease put back
 * by hand with a short TTL is one).
 */
export function leaseRenewalDue(expiresAtMs: number, nowMs: number): boolean {
  return expiresAtMs - nowMs <= LEASE_TTL_SECONDS * 1000 - LEASE_RENEW_AFTER_MS
}

/** The lease a request for its held subnet asks for, when it asks for one (heldSubnet) the config lets it keep. */
export function heldLeaseWanted(nc: NetConf, req: AcquireRequest): Lease | undefined {
  const subnet = req.preferredSubnet
  if (!req.heldSubnet || !subnet || !isSubnetUsable(nc, subnet, req.keep)) return undefined
  return {subnet, publicIP: req.publicIP, publicIPv6: null, backendType: req.backendType, backendData: req.backendData}
}

/** Nothing to write: the stored value is the one wanted, renewed less than LEASE_RENEW_AFTER_MS ago. */
export function heldLeaseIsCurrent(storedValue: string, wanted: Lease, renewedAgoMs: number): boolean {
  return storedValue === leaseToJson(wanted) && renewedAgoMs < LEASE_RENEW_AFTER_MS
}

export interface Store {
  /** where it is, e.g. "file:/var/lib/flannelctl/store" or "etcd://10.0.0.1:2379" */
  describe(): string
  /** where the network config is, to edit it by hand: a file store's file, etcd's key */
  configLocation(): string
  /** the raw net-conf JSON, undefined when none is stored */
  getConfig(): Promise<string | undefined>
  /**
   * Why nothing at all is there (a file store whose directory does not exist), for commands that
   * only read: a mistyped --store must not read as an empty store. undefined: there is a store.
   */
  absence?(): Promise<string | undefined>
  /**
   * Throws what putConfig would (a file store under /proc, a file in the way, read-only), found
   * without writing: a dry run creates nothing, yet must not promise a config the store refuses.
   */
  checkConfigWritable?(): Promise<void>
  /**
   * Validated with parseNetConf before it is written. `ifAbsent`: only when no config is stored, in
   * one step (hosts running their first init at once must not overwrite each other's); resolves
   * to whether it was written.
   */
  putConfig(json: string, opts?: {ifAbsent?: boolean}): Promise<boolean>
  /**
   * live leases; malformed, outside-the-network and overlapping entries go to `invalid`. With
   * `fromWatch`, a backend whose watch() is running may answer from what its watch saw change
   * since the last listing instead of reading every entry (an agent's event rounds; its periodic
   * rounds read everything, so a missed event is healed within one interval). `network` checks the
   * entries against that network instead of the stored config's (a config about to be written).
   * `config`: the stored config as the caller is reading it already (readStoreView), taken instead
   * of a read of its own.
   */
  listLeases(opts?: {fromWatch?: boolean; network?: string; config?: Promise<string | undefined>}): Promise<LeaseList>
  /** re-use the lease carrying this PublicIP, else the preferred subnet, else a random free one */
  acquireLease(nc: NetConf, req: AcquireRequest): Promise<Lease>
  /** extend to 24 h from now; a FlannelctlError when the lease is gone */
  renewLease(subnet: string): Promise<Lease>
  /**
   * Deletes the lease; no error when already gone. With `holder`, only while that public IP holds
   * it, judged and deleted in one step: a host giving its subnet back must not delete the lease
   * another host took meanwhile. Resolves to whether this call deleted it.
   */
  releaseLease(subnet: string, holder?: string): Promise<boolean>
  /**
   * flannelctl's own state beside flannel's keys (e.g. a migration in progress), never read by
   * flanneld: FileStore DIR/coreos.com/network/flannelctl/KEY, EtcdStore <prefix>/flannelctl/KEY.
   */
  getMeta(key: string): Promise<string | undefined>
  /** undefined deletes the key (no error when it is absent) */
  putMeta(key: string, value: string | undefined): Promise<void>
  /**
   * Writes `value` only while the key holds `expected` (undefined: absent), judged and written in
   * one step; resolves to whether it wrote. Two writers that both read the key: one of them wins.
   */
  swapMeta(key: string, expected: string | undefined, value: string): Promise<boolean>
  /**
   * calls onChange (coalesced) when the config, any lease or any meta key changes, and onLost when
   * the watch loses the store (its stream broke: the store may be down); resolves to a stop function
   */
  watch?(onChange: () => void, onLost?: () => void): Promise<() => void>
  close(): Promise<void>
}

/** A meta key is one path segment: it must not climb out of flannelctl's own directory or prefix. */
export function checkMetaKey(key: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(key)) throw new Error(`invalid store meta key ${JSON.stringify(key)}`)
  return key
}

/**
 * The network config a store holds, parsed: one that does not parse names the store it is in (the
 * person reading the error may never have written a net-conf; someone put it there).
 */
/** The network a stored config names; undefined for none or one that does not parse (every entry is then checked without it). */
export function networkOfConfig(json: string | undefined): string | undefined {
  if (json === undefined) return undefined
  try {
    return parseNetConf(json).network
  } catch {
    return undefined
  }
}

export function parseStoredNetConf(store: Pick<Store, 'describe' | 'configLocation'>, json: string): NetConf {
  try {
    return parseNetConf(json)
  } catch (e) {
    if (!isUserError(e)) throw e
    throw userError(`the network config in ${store.describe()} is not valid: ${e.message.replace(/^net-conf: /, '')}`,
      `${e.hint ? `${e.hint}, ` : ''}in the store's config, ${store.configLocation()}`)
  }
}

export const LEASE_TTL_SECONDS = 24 * 60 * 60
export const DEFAULT_STORE = 'file:/var/lib/flannelctl/store'
export const DEFAULT_ETCD_PREFIX = '/coreos.com/network'

export interface StoreOptions {
  /** etcd key prefix, default /coreos.com/network */
  etcdPrefix?: string
  etcdCaFile?: string
  etcdCertFile?: string
  etcdKeyFile?: string
  /** etcd user (flanneld --etcd-username); its password comes with it, never from a file flannelctl writes */
  etcdUsername?: string
  etcdPassword?: string
  /** clock in ms, for tests */
  now?: () => number
}

const STORE_HINT = 'use --store file:DIR (default file:/var/lib/flannelctl/store) or --store etcd://HOST:2379[,HOST2:2379]'

/** Backends are imported on use so that the CLI does not load etcd's gRPC stack to print --help. */
export async function openStore(spec: string = DEFAULT_STORE, opts: StoreOptions = {}): Promise<Store> {
  if (spec.startsWith('file:')) {
    const dir = spec.slice('file:'.length)
    if (!dir) throw userError(`store "${spec}" names no directory`, STORE_HINT)
    const {FileStore, enclosingStore} = await import('./file-store.js')
    // a --store one or two levels too deep would start a second, empty store inside the first
    const root = enclosingStore(dir)
    if (root !== undefined) throw userError(`store "${spec}" is inside the file store file:${root} (it holds that store's ${dir.replace(/\/+$/, '').endsWith('network') ? 'config and leases' : 'network directory'})`, `use --store file:${root}`)
    return new FileStore(dir, {now: opts.now})
  }
  const etcd = /^etcds?:\/\/(.+)$/.exec(spec) ?? flanneldEndpoints(spec)
  if (etcd) {
    const endpoints = etcd[1].split(',').map((s) => s.trim()).filter(Boolean)
    const bad = endpoints.find((e) => !/^[A-Za-z0-9.\-[\]:]+:\d+$/.test(e))
    if (bad !== undefined || endpoints.length === 0) {
      throw userError(`store "${spec}": "${bad ?? ''}" is not HOST:PORT`, STORE_HINT)
    }
    const port = (e: string) => Number(e.slice(e.lastIndexOf(':') + 1))
    const badPort = endpoints.find((e) => port(e) < 1 || port(e) > 65535)
    if (badPort !== undefined) throw userError(`store "${spec}": "${badPort}" has no valid port (1 to 65535)`, 'etcd\'s client port is usually 2379: --store etcd://HOST:2379')
    const {EtcdStore} = await import('./etcd-store.js')
    return EtcdStore.connect({
      endpoints,
      tls: spec.startsWith('etcds:') || spec.startsWith('https:') || Boolean(opts.etcdCaFile || opts.etcdCertFile),
      prefix: opts.etcdPrefix,
      caFile: opts.etcdCaFile,
      certFile: opts.etcdCertFile,
      keyFile: opts.etcdKeyFile,
      username: opts.etcdUsername,
      password: opts.etcdPassword,
      now: opts.now,
    })
  }
  // A bare directory is the usual slip: name the flag it wants.
  if (spec.startsWith('/')) throw userError(`unknown store "${spec}": a directory needs the file: prefix`, `use --store file:${spec}`)
  throw userError(`unknown store "${spec}"`, STORE_HINT)
}

/** flanneld's --etcd-endpoints form, "http://HOST:2379,http://HOST2:2379", read as etcd://HOST:2379,HOST2:2379. */
function flanneldEndpoints(spec: string): [string, string] | undefined {
  if (!/^https?:\/\//.test(spec)) return undefined
  const hosts = spec.split(',').map((url) => url.trim().replace(/^https?:\/\//, '').replace(/\/$/, ''))
  return [spec, hosts.join(',')]
}

/** flannel's value for a lease: byte-identical to what flanneld writes (Go field order, omitempty). */
export function leaseToJson(lease: Lease): string {
  const value: Record<string, unknown> = {PublicIP: lease.publicIP, PublicIPv6: lease.publicIPv6}
  if (lease.backendType) value.BackendType = lease.backendType
  if (Object.keys(lease.backendData).length > 0) value.BackendData = lease.backendData
  return JSON.stringify(value)
}

/** Parse a stored value; throws an Error whose message is the reason it is unusable. */
export function leaseFromJson(subnet: string, json: string, expiresAt?: string): Lease {
  let raw: unknown
  try {
    raw = JSON.parse(json)
  } catch {
    throw new Error('value is not JSON')
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('value is not a JSON object')
  const v = raw as Record<string, unknown>
  if (typeof v.PublicIP !== 'string' || !isIPv4(v.PublicIP)) {
    throw new Error(`PublicIP is not an IPv4 address: ${JSON.stringify(v.PublicIP ?? null)}`)
  }
  const v6 = v.PublicIPv6 ?? null
  if (v6 !== null && typeof v6 !== 'string') throw new Error('PublicIPv6 is neither null nor a string')
  const type = v.BackendType ?? ''
  if (typeof type !== 'string') throw new Error('BackendType is not a string')
  const data = v.BackendData ?? {}
  if (typeof data !== 'object' || Array.isArray(data)) throw new Error('BackendData is not an object')
  return {
    subnet,
    publicIP: v.PublicIP,
    publicIPv6: v6,
    backendType: type,
    backendData: data as Record<string, unknown>,
    ...(expiresAt ? {expiresAt} : {}),
  }
}

/**
 * The subnet a lease key names. flannel's keys are `10.244.1.0-24`, or `10.244.1.0-24&fc00::-64`
 * for dual stack (we read the IPv4 part, as flannel's ParseSubnetKey does).
 */
export function subnetOfKey(key: string): string | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)-(\d+)(?:&[0-9a-f:]+-\d+)?$/.exec(key)
  if (!m) return undefined
  const cidr = `${m[1]}/${m[2]}`
  return isCanonicalCidr(cidr) ? cidr : undefined
}

export function keyOfSubnet(subnet: string): string {
  if (!isCanonicalCidr(subnet)) throw userError(`"${subnet}" is not a subnet such as 10.244.1.0/24`)
  return cidrToKey(subnet)
}

/** One stored lease entry as a backend reads it. */
export interface RawEntry {
  key: string
  value: string
  /** ms since the epoch; undefined when it never expires */
  expiresAtMs?: number
}

/** What one entry is, whatever the other entries and the time: a lease candidate, or why it is unusable. */
type EntryReading = {candidate: {lease: Lease; key: string; base: number; prefixlen: number}} | {invalid: InvalidEntry}

/**
 * Sort raw entries into usable leases and reported problems. Expired entries are dropped silently
 * (the store forgets them, as etcd does). When two leases overlap, the narrower one is kept: a
 * stray wide entry must not hide the real per-host leases inside it.
 */
export function classifyEntries(entries: RawEntry[], network: string | undefined, nowMs: number): LeaseList {
  return new EntryClassifier().classify(entries, network, nowMs)
}

/**
 * classifyEntries for a store read again and again (an agent's watch): what each entry reads as is
 * kept with the entry object, so a listing whose entries are mostly the objects of the last one
 * parses only the new ones (at 5000 leases, ~6 of the ~9 ms a listing took). The expiry, the
 * overlaps and the order are worked out on every call, from all entries: the result is the one
 * classifyEntries gives (test/unit/store-classify.test.ts holds the two equal over random sequences).
 */
export class EntryClassifier {
  private readings = new WeakMap<RawEntry, EntryReading>()
  private network?: string

  classify(entries: RawEntry[], network: string | undefined, nowMs: number): LeaseList {
    if (network !== this.network) {
      this.readings = new WeakMap()
      this.network = network
    }
    const invalid: InvalidEntry[] = []
    const candidates: {lease: Lease; key: string; base: number; prefixlen: number}[] = []
    const net = network ? parseCidr(network) : undefined
    for (const e of [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
      if (e.expiresAtMs !== undefined && e.expiresAtMs <= nowMs) continue
      let reading = this.readings.get(e)
      if (reading === undefined) {
        reading = readEntry(e, net, network)
        this.readings.set(e, reading)
      }
      if ('invalid' in reading) invalid.push(reading.invalid)
      else candidates.push(reading.candidate)
    }
    return withoutOverlaps(candidates, invalid)
  }
}

function readEntry(e: RawEntry, net: Cidr | undefined, network: string | undefined): EntryReading {
  const subnet = subnetOfKey(e.key)
  if (!subnet) return {invalid: {key: e.key, reason: 'key is not a subnet such as 10.244.1.0-24'}}
  const c = parseCidr(subnet)
  // flanneld with EnableIPv4 false keys its lease `0.0.0.0-0&fc00:0:0:5::-64` (MakeSubnetKey of an
  // empty IPv4 subnet): it takes no IPv4 subnet, so naming 0.0.0.0/0 would mark every one taken
  if (subnet === '0.0.0.0/0' && e.key.includes('&')) {
    return {invalid: {key: e.key, reason: 'an IPv6-only lease (a flanneld with EnableIPv4 false): it has no IPv4 subnet to route'}}
  }
  if (net && !(c.prefixlen >= net.prefixlen && ((c.base & maskOf(net.prefixlen)) >>> 0) === net.base)) {
    return {invalid: {key: e.key, subnet, reason: `subnet ${subnet} is outside the network ${network}`}}
  }
  try {
    const expiresAt = e.expiresAtMs !== undefined ? isoTime(e.expiresAtMs) : undefined
    return {candidate: {lease: leaseFromJson(subnet, e.value, expiresAt), key: e.key, base: c.base, prefixlen: c.prefixlen}}
  } catch (err) {
    return {invalid: {key: e.key, subnet, reason: (err as Error).message, unreadable: true}}
  }
}

function withoutOverlaps(candidates: {lease: Lease; key: string; base: number; prefixlen: number}[], invalid: InvalidEntry[]): LeaseList {
  // Narrowest first; anything kept so far is then inside a later candidate or disjoint from it,
  // so a candidate overlaps iff some kept base lies within its range (binary search on sorted bases).
  candidates.sort((a, b) => b.prefixlen - a.prefixlen)
  const kept: {base: number; subnet: string}[] = []
  const leases: {lease: Lease; base: number}[] = []
  let i = 0
  while (i < candidates.length) {
    const prefixlen = candidates[i].prefixlen
    const group: typeof kept = []
    const seen = new Map<number, string>()
    for (; i < candidates.length && candidates[i].prefixlen === prefixlen; i++) {
      const cand = candidates[i]
      const last = cand.base + 2 ** (32 - prefixlen) - 1
      const inside = firstAtOrAbove(kept, cand.base)
      const clash = inside < kept.length && kept[inside].base <= last ? kept[inside].subnet : seen.get(cand.base)
      if (clash) {
        invalid.push({key: cand.key, subnet: cand.lease.subnet, reason: `subnet ${cand.lease.subnet} overlaps the lease of ${clash}`})
        continue
      }
      seen.set(cand.base, cand.lease.subnet)
      group.push({base: cand.base, subnet: cand.lease.subnet})
      leases.push({lease: cand.lease, base: cand.base})
    }
    kept.push(...group)
    kept.sort((a, b) => a.base - b.base)
  }
  // by the base computed above: parsing inside the comparator cost ~20 parses per lease
  leases.sort((a, b) => a.base - b.base)
  return {leases: leases.map(l => l.lease), invalid}
}

const DAY_MS = 86_400_000
/** the first instant of year 10000: from there on toISOString writes a six-digit year */
const YEAR_10000_MS = 253_402_300_800_000
let isoDay = NaN
let isoDayText = ''
const pad = (n: number, width: number) => String(n).padStart(width, '0')

/**
 * `new Date(ms).toISOString()` without a Date for instants from 1970 to 9999 (the date part kept
 * for the last day asked): building and formatting a Date per lease cost ~1.4 µs, a third of
 * classifying 1000 leases. Anything else, NaN included, is Date's answer (or its RangeError).
 */
export function isoTime(ms: number): string {
  const t = Math.trunc(ms)
  if (!(t >= 0 && t < YEAR_10000_MS)) return new Date(ms).toISOString()
  const day = Math.floor(t / DAY_MS)
  if (day !== isoDay) {
    isoDayText = new Date(day * DAY_MS).toISOString().slice(0, 11)
    isoDay = day
  }
  const inDay = t - day * DAY_MS
  return `${isoDayText}${pad(Math.floor(inDay / 3_600_000), 2)}:${pad(Math.floor(inDay / 60_000) % 60, 2)}:${pad(Math.floor(inDay / 1000) % 60, 2)}.${pad(inDay % 1000, 3)}Z`
}

function firstAtOrAbove(sorted: {base: number}[], base: number): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (sorted[mid].base < base) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The subnets a new lease must not take: live leases, and entries that are broken but still there. */
export function takenSubnets(list: LeaseList): {subnet: string; publicIP: string}[] {
  return [
    ...list.leases,
    ...list.invalid.flatMap((i) => (i.subnet ? [{subnet: i.subnet, publicIP: ''}] : [])),
  ]
}

/** What every command says when the store it reads has no net-conf (`where` is the store's describe()). */
export function noNetworkConfigError(where: string, hint = 'create one with flannelctl init --network CIDR') {
  return userError(`the store ${where} holds no network config`, hint)
}

export function leaseLostError(subnet: string, where: string) {
  return userError(`lease ${subnet} is no longer in ${where} (expired or released)`,
    'run `flannelctl sync` to lease a subnet again')
}


/** Whether a stored lease value names this holder (no holder asked: any value does). */
export function heldBy(subnet: string, value: string, holder: string | undefined): boolean {
  if (holder === undefined) return true
  try {
    return leaseFromJson(subnet, value).publicIP === holder
  } catch {
    return false
  }
}
