/**
 * The flannel network configuration (net-conf.json, `<prefix>/config` in etcd), validated the way
 * flanneld's pkg/subnet/config.go (ParseConfig + CheckNetworkConfig) does, so that a config either
 * tool accepts means the same network to both.
 *
 * Where we differ from flanneld, on purpose:
 * - flanneld masks a Network with host bits set (10.244.1.5/16 becomes 10.244.0.0/16) without a word;
 *   we refuse it and name the canonical form, because such a value is almost always a typo.
 * - flanneld accepts SubnetMin > SubnetMax and fails later with "out of subnets"; we say so up front.
 * - flannelctl builds IPv4 networks only, so `EnableIPv4: false` is refused. `EnableIPv6` is read
 *   (a wrong type is an error, as flanneld's unmarshalling makes it) so that callers can say what
 *   they build; the other IPv6 fields (IPv6Network, ...) and fields we do not use are kept verbatim
 *   in `extra` so that rewriting a config (e.g. `backend set`) does not drop them.
 */
import {FlannelctlError, userError} from '../errors.js'
import {intToIp, ipToInt, isCanonicalCidr, isIPv4, maskOf, parseCidr, specialRange} from './addr.js'
import {VXLAN_OVERHEAD} from './flannel.js'

export type BackendType = 'vxlan' | 'host-gw' | 'udp'
export const SUPPORTED_BACKENDS: readonly BackendType[] = ['vxlan', 'host-gw', 'udp']

export interface BackendConf {
  type: BackendType
  /** vxlan only; flannel's default 1 (device flannel.1) */
  vni: number
  /** UDP port: vxlan 8472 (the kernel's default, which flannel keeps by passing 0), udp 8285 */
  port: number
  /** vxlan only: plain routes to peers on the same L2 segment */
  directRouting: boolean
  /**
   * vxlan only: flanneld's `MTU`, the underlay MTU its VTEP is sized from (device and pod MTU = MTU − 50)
   * instead of the interface's. Also kept verbatim in `extra`. Absent: the interface's MTU.
   */
  mtu?: number
  /** backend fields flannel knows and flannelctl does not use (GBP, Learning, MTU, MacPrefix, ...) */
  extra?: Record<string, unknown>
}

export interface NetConf {
  /** canonical IPv4 CIDR, e.g. 10.244.0.0/16 */
  network: string
  subnetLen: number
  /** network address of the first subnet handed out, e.g. 10.244.1.0 */
  subnetMin: string
  /** network address of the last subnet handed out, e.g. 10.244.255.0 */
  subnetMax: string
  backend: BackendConf
  enableIPv4: boolean
  /** flanneld's dual stack (`EnableIPv6`, with `IPv6Network` … in `extra`): flannelctl builds the IPv4 half only. Absent: false. */
  enableIPv6?: boolean
  /**
   * flanneld's `EnableNFTables`: its masquerade and forward rules as native nftables (tables
   * `ip flannel-ipv4` and `ip6 flannel-ipv6`) instead of iptables chains. Absent: false.
   */
  enableNFTables?: boolean
  /** top-level fields flannel knows and flannelctl does not use, kept for round trips */
  extra?: Record<string, unknown>
}

export const DEFAULT_VNI = 1
export const DEFAULT_VXLAN_PORT = 8472
export const DEFAULT_UDP_PORT = 8285

export function defaultPort(type: BackendType): number {
  return type === 'udp' ? DEFAULT_UDP_PORT : DEFAULT_VXLAN_PORT
}

/**
 * A backend as every command prints it (lab status, sync, status, migrate, backend set): `host-gw`,
 * `vxlan`, `vxlan + DirectRouting`; `detail` (a VNI, a port) goes between the type and DirectRouting.
 */
export function backendWords(b: {type: string; directRouting?: boolean}, detail = ''): string {
  return `${b.type}${detail}${b.type === 'vxlan' && b.directRouting === true ? ' + DirectRouting' : ''}`
}

/** Backend types flanneld has that flannelctl does not build: named in the error so users know why. */
const OTHER_FLANNEL_BACKENDS = ['ipip', 'wireguard', 'ipsec', 'alloc', 'extension', 'alivpc', 'ali-vpc', 'awsvpc', 'aws-vpc', 'gce', 'tencentvpc', 'tencent-vpc']

/**
 * flannel's udp backend (flanneld's own docs: "use UDP only for debugging"), in one wording for
 * init, backend set and migrate; `unnamed`: a net-conf without Backend, where flannel defaults to it.
 */
export function udpUnsupported(unnamed = false): string {
  const what = 'flanneld\'s debugging-only backend (TUN flannel0, packets carried in user space), which flannelctl does not build'
  return unnamed ? `the net-conf names no Backend, so flannel's default applies: udp, ${what}` : `udp is ${what}`
}

/**
 * Why a backend named on the command line (init --backend, backend set TYPE, migrate --backend)
 * cannot be built, or undefined for vxlan and host-gw. `use` says, for a type, the command that
 * would build it, so the hint is the command the user is typing.
 */
/** The backends flannelctl builds (SUPPORTED_BACKENDS is what a net-conf may say, udp among them, to be refused with its reason). */
export const BUILT_BACKENDS: readonly BackendType[] = ['vxlan', 'host-gw']

export function backendChoiceProblem(type: string, use: (type: string) => string): FlannelctlError | undefined {
  if ((BUILT_BACKENDS as readonly string[]).includes(type)) return undefined
  const hint = `use ${use('vxlan')} (or ${use('host-gw')} when all nodes share one L2 segment)`
  if (type === 'udp') return userError(udpUnsupported(), hint)
  if (OTHER_FLANNEL_BACKENDS.includes(type)) return userError(`${type} is a flanneld backend that flannelctl does not build`, hint)
  return userError(`'${type}' is not a backend: flannelctl builds vxlan and host-gw (names are case-sensitive)`, hint)
}

const HINT_EXAMPLE = 'e.g. {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}'

function fail(message: string, hint = `fix the net-conf JSON, ${HINT_EXAMPLE}`): FlannelctlError {
  return userError(`net-conf: ${message}`, hint)
}

function describeValue(v: unknown): string {
  if (v === null) return 'null'
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`
  if (typeof v === 'number') return `the number ${v}`
  if (typeof v === 'boolean') return String(v)
  if (Array.isArray(v)) return 'an array'
  return 'an object'
}

/** Case-insensitive field lookup, as Go's encoding/json does; like Go, the last matching key wins. */
class Fields {
  private readonly byLower = new Map<string, {key: string; value: unknown}>()
  private readonly used = new Set<string>()

  constructor(readonly obj: Record<string, unknown>, readonly path: string) {
    for (const [key, value] of Object.entries(obj)) this.byLower.set(key.toLowerCase(), {key, value})
  }

  /** The value, or undefined when absent or null (Go leaves the field at its default for null). */
  get(name: string): unknown {
    const lower = name.toLowerCase()
    this.used.add(lower)
    const hit = this.byLower.get(lower)
    return hit?.value ?? undefined
  }

  /** Keep a field that was read in rest(): flannelctl checks it but does not write it itself. */
  keep(name: string): void {
    this.used.delete(name.toLowerCase())
  }

  label(name: string): string {
    return this.path ? `${this.path}.${name}` : name
  }

  /** Fields nobody asked for, under their original spelling. */
  rest(): Record<string, unknown> | undefined {
    const out: Record<string, unknown> = {}
    let any = false
    for (const [key, value] of Object.entries(this.obj)) {
      if (this.used.has(key.toLowerCase())) continue
      out[key] = value
      any = true
    }
    return any ? out : undefined
  }

  bool(name: string, dflt: boolean): boolean {
    const v = this.get(name)
    if (v === undefined) return dflt
    if (typeof v !== 'boolean') {
      throw fail(`${this.label(name)} must be true or false, got ${describeValue(v)}`,
        v === 'true' || v === 'false' ? `write it without quotes: "${name}": ${v}` : `write true or false, without quotes: "${name}": true`)
    }
    return v
  }

  /** A whole number in [min, max]; flannel's uint/int fields reject strings and fractions. */
  int(name: string, min: number, max: number): number | undefined {
    const v = this.get(name)
    if (v === undefined) return undefined
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      const asNumber = typeof v === 'string' && /^\d+$/.test(v.trim()) ? v.trim() : String(min)
      throw fail(`${this.label(name)} must be a whole number, got ${describeValue(v)}`,
        `write it as a number without quotes: "${name}": ${asNumber}`)
    }
    if (v < min || v > max) {
      const range = max === Infinity ? `at least ${min}` : `between ${min} and ${max}`
      throw fail(`${this.label(name)} must be ${range}, got ${v}`)
    }
    return v
  }

  string(name: string): string | undefined {
    const v = this.get(name)
    if (v === undefined) return undefined
    if (typeof v !== 'string') throw fail(`${this.label(name)} must be a string, got ${describeValue(v)}`)
    return v
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function parseNetConf(json: string): NetConf {
  let raw: unknown
  try {
    raw = JSON.parse(json)
  } catch (e) {
    throw fail(`not valid JSON (${(e as Error).message})`)
  }
  if (!isPlainObject(raw)) throw fail(`must be a JSON object, got ${describeValue(raw)}`)
  const top = new Fields(raw, '')

  const enableIPv4 = top.bool('EnableIPv4', true)
  if (!enableIPv4) {
    throw fail('EnableIPv4 is false, but flannelctl builds IPv4 networks only',
      'set "EnableIPv4": true (or remove the field)')
  }

  const network = parseNetwork(top.get('Network'))
  const net = parseCidr(network)

  // flannel: SubnetLen 0 or absent means "pick one": /24 when the network is /22 or larger (room for
  // at least four /24s), else prefix + 2. Given explicitly it must be <= 30 (a host needs addresses
  // for its bridge and flannel device) and >= prefix + 2 (at least four subnets, the first unused).
  let subnetLen = top.int('SubnetLen', 0, Infinity) ?? 0
  if (subnetLen === 0) {
    subnetLen = net.prefixlen <= 22 ? 24 : net.prefixlen + 2
  } else {
    if (subnetLen > 30) {
      throw fail(`SubnetLen must be at most 30 (each host needs room for its bridge and gateway), got ${subnetLen}`,
        'use a SubnetLen of 30 or less, e.g. "SubnetLen": 24')
    }
    if (subnetLen < net.prefixlen + 2) {
      throw fail(`SubnetLen ${subnetLen} is too large a subnet for Network ${network}: the network must hold at least four subnets`,
        `use a SubnetLen of at least ${net.prefixlen + 2}, or a larger Network`)
    }
  }

  const subnetSize = 2 ** (32 - subnetLen)
  const netLast = net.base + 2 ** (32 - net.prefixlen) - 1
  // flannel skips the first subnet: its .0 would be the network address itself.
  const subnetMin = parseBound(top, 'SubnetMin', network, subnetLen) ?? intToIp(net.base + subnetSize)
  const subnetMax = parseBound(top, 'SubnetMax', network, subnetLen) ?? intToIp(netLast - subnetSize + 1)
  if (ipToInt(subnetMin) > ipToInt(subnetMax)) {
    throw fail(`SubnetMin ${subnetMin} is above SubnetMax ${subnetMax}: no subnet could be leased`,
      'swap them, or remove both to use the whole network')
  }

  const backend = parseBackend(top.get('Backend'))
  const enableNFTables = top.bool('EnableNFTables', false)
  const enableIPv6 = top.bool('EnableIPv6', false)
  const extra = top.rest()
  return {network, subnetLen, subnetMin, subnetMax, backend, enableIPv4, ...(enableIPv6 ? {enableIPv6} : {}), ...(enableNFTables ? {enableNFTables} : {}), ...(extra ? {extra} : {})}
}

function parseNetwork(v: unknown): string {
  if (v === undefined) {
    throw fail('Network is missing', `add the pod network, ${HINT_EXAMPLE}`)
  }
  if (typeof v !== 'string') {
    throw fail(`Network must be a string such as "10.244.0.0/16", got ${describeValue(v)}`)
  }
  let cidr
  try {
    if (!v.includes('/')) throw new Error('no prefix length')
    cidr = parseCidr(v)
  } catch {
    throw fail(`Network must be an IPv4 CIDR such as "10.244.0.0/16", got ${JSON.stringify(v)}`)
  }
  const canonical = `${intToIp(cidr.base)}/${cidr.prefixlen}`
  if (!isCanonicalCidr(v)) {
    throw fail(`Network ${v} has host bits set`, `use the network address: "Network": "${canonical}"`)
  }
  if (cidr.prefixlen > 28) {
    throw fail(`Network ${v} is too small: flannel needs at least a /28 (four subnets of four addresses)`,
      'use a larger Network, e.g. a /16')
  }
  const special = specialRange(cidr)
  if (special) throw fail(`Network ${v} overlaps ${special.range} (${special.what}): pods cannot have addresses there`, 'use a private range, e.g. "Network": "10.244.0.0/16"')
  return canonical
}

function parseBound(fields: Fields, name: string, network: string, subnetLen: number): string | undefined {
  const v = fields.string(name)
  if (v === undefined) return undefined
  if (!isIPv4(v)) {
    throw fail(`${name} must be an IPv4 address such as "10.244.1.0", got ${JSON.stringify(v)}`)
  }
  const ip = ipToInt(v)
  // flannel treats 0.0.0.0 as "not set"
  if (ip === 0) return undefined
  const net = parseCidr(network)
  if (((ip & maskOf(net.prefixlen)) >>> 0) !== net.base) {
    throw fail(`${name} ${v} is not in the range of the Network ${network}`,
      `use an address inside ${network}, or remove ${name}`)
  }
  const aligned = (ip & maskOf(subnetLen)) >>> 0
  if (aligned !== ip) {
    throw fail(`${name} ${v} is not on a SubnetLen (/${subnetLen}) boundary`, `use "${name}": "${intToIp(aligned)}"`)
  }
  return v
}

function parseBackend(v: unknown): BackendConf {
  // flannel: no Backend at all means the udp backend. We follow it, because a flanneld reading the
  // same config would run udp and a cluster with mixed backends does not forward; netConfToJson
  // always writes Backend so the configs flannelctl creates never rely on this default.
  if (v === undefined) return {type: 'udp', vni: DEFAULT_VNI, port: DEFAULT_UDP_PORT, directRouting: false}
  if (!isPlainObject(v)) throw fail(`Backend must be an object such as {"Type": "vxlan"}, got ${describeValue(v)}`)
  const fields = new Fields(v, 'Backend')
  const type = fields.string('Type')
  if (type === undefined || type === '') {
    throw fail('Backend.Type is missing', 'set "Backend": {"Type": "vxlan"} (or "host-gw")')
  }
  if (!(SUPPORTED_BACKENDS as readonly string[]).includes(type)) {
    const known = OTHER_FLANNEL_BACKENDS.includes(type)
    throw fail(
      known
        ? `Backend.Type "${type}" is a flannel backend that flannelctl does not build`
        : `Backend.Type "${type}" is not a backend type (types are case-sensitive)`,
      'use "Type": "vxlan" or "host-gw"')
  }
  const backendType = type as BackendType
  const vni = fields.int('VNI', 0, 2 ** 24 - 1) ?? DEFAULT_VNI
  // 0 means the default port: flannel passes 0 to the kernel, which then uses 8472.
  const port = fields.int('Port', 0, 65535) || defaultPort(backendType)
  const directRouting = fields.bool('DirectRouting', false)
  const mtu = backendType === 'vxlan' ? vxlanOnlyFields(fields) : undefined
  const extra = fields.rest()
  return {type: backendType, vni, port, directRouting, ...(mtu !== undefined ? {mtu} : {}), ...(extra ? {extra} : {})}
}

/**
 * The rest of flanneld's VXLANConfig: it unmarshals GBP, Learning and MTU too, so a wrong type stops
 * flanneld and stops us. Returns the MTU, if given.
 */
function vxlanOnlyFields(fields: Fields): number | undefined {
  // flanneld builds its VTEP with the Group Based Policy extension; a flannelctl VTEP without it
  // drops those packets (and they drop ours), so a mixed cluster would not forward. Refused, not ignored.
  if (fields.bool('GBP', false)) {
    throw fail('Backend.GBP is true, but flannelctl builds vxlan devices without the Group Based Policy extension: its nodes and flanneld\'s could not decapsulate each other\'s packets',
      'remove "GBP" from the Backend (or set "GBP": false)')
  }
  fields.bool('Learning', false)
  // flanneld sizes flannel.<VNI> at MTU − 50, and the kernel's smallest vxlan MTU is 68
  const mtu = fields.int('MTU', 68 + VXLAN_OVERHEAD, 65535)
  for (const name of ['GBP', 'Learning', 'MTU']) fields.keep(name)
  return mtu
}

/** flannel's JSON for a NetConf: the fields that matter for its backend, defaults written out. */
export function netConfToJson(nc: NetConf): string {
  const backend: Record<string, unknown> = {Type: nc.backend.type}
  if (nc.backend.type === 'vxlan') {
    backend.VNI = nc.backend.vni
    backend.Port = nc.backend.port
    if (nc.backend.directRouting) backend.DirectRouting = true
  } else if (nc.backend.type === 'udp') {
    backend.Port = nc.backend.port
  }
  Object.assign(backend, nc.backend.extra)
  const out: Record<string, unknown> = {
    Network: nc.network,
    SubnetLen: nc.subnetLen,
    SubnetMin: nc.subnetMin,
    SubnetMax: nc.subnetMax,
    EnableIPv4: nc.enableIPv4,
    ...(nc.enableIPv6 ? {EnableIPv6: true} : {}),
    ...(nc.enableNFTables ? {EnableNFTables: true} : {}),
    ...nc.extra,
    Backend: backend,
  }
  return JSON.stringify(out)
}
