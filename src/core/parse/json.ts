/**
 * `ip -j` / `bridge -j` output (iproute2 6.x) to the host model. Each entity's `raw` is rebuilt in
 * the order the plain command prints its fields, so evidence quotes the line a user can grep for
 * whether the snapshot was taken as JSON or as text.
 */
import type {Address, FdbEntry, Link, LinkKind, Neighbor, PolicyRule, Route, RouteType, VxlanInfo, XdpAttachment} from '../model.js'
import {ruleFromWords, ruleLineFromJson, ruleWords} from './rule.js'
import {
  type OutputFilter, type Section, firstContentLine, isAddressOrCidr, isIP, isLinkLayerAddress, looksLikeJson,
  sections, splitLines, withPrefix,
} from './common.js'
import {type ParseOptions, ParseError, quote, resolveOptions} from './errors.js'

export {formatAddress, formatFdb, formatLink, formatNeighbor, formatRoute, formatVxlan} from './format.js'
export {parseIptablesSave} from './iptables.js'
export {parseSysctl} from './sysctl.js'

type JsonObject = Record<string, unknown>

/** One JSON document in the input, with what is needed to point at a line when an entry is bad. */
export interface JsonDocument {
  source: string
  /** the document text */
  text: string
  /** 0-based line index of the document's first line in the whole input */
  firstLine: number
  filter: OutputFilter
  value: unknown
}

/** 1-based line in the whole input of the i-th element of the top-level array. Error path only. */
function lineOfEntry(doc: JsonDocument, index: number): number {
  const t = doc.text
  let depth = 0
  let inString = false
  let line = doc.firstLine + 1
  let seen = -1
  let expectingValue = false
  for (let p = 0; p < t.length; p++) {
    const c = t[p]
    if (c === '\n') line++
    if (inString) {
      if (c === '\\') p++
      else if (c === '"') inString = false
      continue
    }
    if (depth === 1 && expectingValue && c !== ' ' && c !== '\n' && c !== '\t' && c !== '\r') {
      seen++
      expectingValue = false
      if (seen === index) return line
    }
    if (c === '"') inString = true
    else if (c === '[' || c === '{') {
      depth++
      if (depth === 1) expectingValue = true
    } else if (c === ']' || c === '}') depth--
    else if (c === ',' && depth === 1) expectingValue = true
  }
  return doc.firstLine + 1
}

function lineOfOffset(text: string, offset: number): number {
  let line = 0
  for (let p = 0; p < offset && p < text.length; p++) if (text.charCodeAt(p) === 10) line++
  return line
}

export function parseJsonDocument(lines: string[], section: Section, source: string, what: string): JsonDocument {
  const first = firstContentLine(lines, section)
  const filter = section.command?.filter ?? {}
  if (first === -1) return {source, text: '[]', firstLine: section.start, filter, value: []}
  if (!looksLikeJson(lines[first])) {
    throw new ParseError(source, first + 1, `expected ${what} as JSON, found ${quote(lines[first])}`)
  }
  const text = lines.slice(first, section.end).join('\n')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e)
    const at = /position (\d+)/.exec(message)
    const line = at ? first + 1 + lineOfOffset(text, Number(at[1])) : first + 1
    throw new ParseError(source, line, `cannot read ${what} JSON: ${message}`,
      'the JSON looks cut off or edited; capture it again with the same command')
  }
  return {source, text, firstLine: first, filter, value}
}

/** Every JSON document of the input (one per pasted command, usually one). */
export function jsonDocuments(text: string, options: ParseOptions | string | undefined, what: string): JsonDocument[] {
  const {source, dev} = resolveOptions(options)
  const lines = splitLines(text)
  return sections(lines).map(section => {
    const doc = parseJsonDocument(lines, section, source, what)
    if (doc.filter.dev === undefined && dev !== undefined) doc.filter = {...doc.filter, dev}
    return doc
  })
}

/** Typed access to one JSON entry; every wrong type is a ParseError naming the entry's line. */
class Entry {
  constructor(readonly doc: JsonDocument, readonly index: number, readonly o: JsonObject, readonly what: string) {}

  fail(detail: string): never {
    let shown = JSON.stringify(this.o)
    if (shown.length > 80) shown = `${shown.slice(0, 77)}...`
    throw new ParseError(this.doc.source, lineOfEntry(this.doc, this.index), `cannot read ${shown} as ${this.what}: ${detail}`)
  }

  has(key: string): boolean {
    return this.o[key] !== undefined
  }

  str(key: string): string | undefined {
    const v = this.o[key]
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'string') this.fail(`${key} is not a string`)
    return v
  }

  /** iproute2 prints some names as numbers when it has no name for them (table 100, proto 42). */
  name(key: string): string | undefined {
    const v = this.o[key]
    if (typeof v === 'number' && Number.isFinite(v)) return String(v)
    return this.str(key)
  }

  /** A field iproute2 prints as a number or as a hex string depending on version. */
  scalar(key: string): string | number | undefined {
    const v = this.o[key]
    if (typeof v === 'number' && Number.isFinite(v)) return v
    return this.str(key)
  }

  reqStr(key: string): string {
    const v = this.str(key)
    if (v === undefined || v === '') this.fail(`no ${key}`)
    return v
  }

  num(key: string): number | undefined {
    const v = this.o[key]
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`${key} is not a number`)
    return v
  }

  reqNum(key: string): number {
    const v = this.num(key)
    if (v === undefined) this.fail(`no ${key}`)
    return v
  }

  bool(key: string): boolean | undefined {
    const v = this.o[key]
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'boolean') this.fail(`${key} is not true/false`)
    return v
  }

  strings(key: string): string[] {
    const v = this.o[key]
    if (v === undefined || v === null) return []
    if (!Array.isArray(v) || v.some(s => typeof s !== 'string')) this.fail(`${key} is not a list of words`)
    return v as string[]
  }

  object(key: string): JsonObject | undefined {
    const v = this.o[key]
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(`${key} is not an object`)
    return v as JsonObject
  }

  objects(key: string): JsonObject[] {
    const v = this.o[key]
    if (v === undefined || v === null) return []
    if (!Array.isArray(v) || v.some(x => typeof x !== 'object' || x === null || Array.isArray(x))) {
      this.fail(`${key} is not a list of objects`)
    }
    return v as JsonObject[]
  }

  /** A nested object read with the same error reporting. */
  sub(o: JsonObject): Entry {
    return new Entry(this.doc, this.index, o, this.what)
  }

  ip(key: string): string | undefined {
    const v = this.str(key)
    if (v !== undefined && !isIP(v)) this.fail(`${key} ${v} is not an address`)
    return v
  }
}

function entries(doc: JsonDocument, what: string): Entry[] {
  const v = doc.value
  if (!Array.isArray(v)) {
    throw new ParseError(doc.source, doc.firstLine + 1, `expected a JSON list of ${what}s, found ${typeof v === 'object' ? 'an object' : typeof v}`)
  }
  const out: Entry[] = []
  for (let i = 0; i < v.length; i++) {
    const o = v[i]
    if (typeof o !== 'object' || o === null || Array.isArray(o)) {
      throw new ParseError(doc.source, lineOfEntry(doc, i), `entry ${i + 1} is not a JSON object, cannot read it as ${what}`)
    }
    out.push(new Entry(doc, i, o as JsonObject, what))
  }
  return out
}

/* ------------------------------------------------------------------------------------------ */
/* links                                                                                         */

const KNOWN_KINDS = new Set<LinkKind>(['veth', 'bridge', 'vxlan', 'tun', 'dummy', 'ipip', 'wireguard', 'vrf', 'openvswitch', 'macvlan', 'ipvlan'])

export function linkKind(infoKind: string | undefined, flags: readonly string[], linkType: string | undefined): LinkKind {
  if (flags.includes('LOOPBACK') || linkType === 'loopback') return 'loopback'
  if (infoKind !== undefined) return KNOWN_KINDS.has(infoKind as LinkKind) ? infoKind as LinkKind : 'other'
  return linkType === 'ether' ? 'ether' : 'other'
}

const VXLAN_FLAGS: Array<[string, string]> = [['proxy', 'proxy'], ['rsc', 'rsc'], ['l2miss', 'l2miss'], ['l3miss', 'l3miss']]

/** The `vxlan id ...` line of `ip -d link` (iproute2 6.1 order) from linkinfo.info_data. */
function vxlanLine(d: Entry): string {
  const out = ['vxlan']
  const id = d.num('id')
  if (id !== undefined) out.push('id', String(id))
  for (const key of ['group', 'remote', 'group6', 'remote6']) {
    const v = d.str(key)
    if (v !== undefined) out.push(key.startsWith('group') ? 'group' : 'remote', v)
  }
  const local = d.str('local') ?? d.str('local6')
  if (local !== undefined) out.push('local', local)
  const link = d.str('link')
  if (link !== undefined) out.push('dev', link)
  const range = d.object('port_range')
  if (range) {
    const r = d.sub(range)
    out.push('srcport', String(r.num('low') ?? 0), String(r.num('high') ?? 0))
  }
  const port = d.num('port')
  if (port !== undefined) out.push('dstport', String(port))
  if (d.bool('learning') === false) out.push('nolearning')
  for (const [key, word] of VXLAN_FLAGS) if (d.bool(key)) out.push(word)
  const tos = d.scalar('tos')
  if (tos !== undefined && tos !== 0 && tos !== '0x0') out.push('tos', typeof tos === 'number' ? `0x${tos.toString(16)}` : tos)
  const ttl = d.num('ttl')
  if (ttl !== undefined) out.push('ttl', ttl === 0 ? 'auto' : String(ttl))
  const df = d.str('df')
  if (df !== undefined && df !== 'unset') out.push('df', df)
  const label = d.scalar('label')
  if (label !== undefined && label !== 0 && label !== '0x0') out.push('flowlabel', String(label))
  const ageing = d.num('ageing')
  if (ageing !== undefined) out.push('ageing', ageing === 0 ? 'none' : String(ageing))
  const limit = d.num('limit')
  if (limit) out.push('maxaddr', String(limit))
  for (const [key, word] of [['udp_csum', 'udpcsum'], ['udp_zero_csum6_tx', 'udp6zerocsumtx'], ['udp_zero_csum6_rx', 'udp6zerocsumrx']]) {
    const v = d.bool(key)
    if (v !== undefined) out.push(v ? word : `no${word}`)
  }
  if (d.bool('remcsum_tx')) out.push('remcsumtx')
  if (d.bool('remcsum_rx')) out.push('remcsumrx')
  if (d.has('gbp')) out.push('gbp')
  if (d.has('gpe')) out.push('gpe')
  return out.join(' ')
}

function vxlanInfo(d: Entry): VxlanInfo {
  const id = d.num('id')
  if (id === undefined) d.fail('vxlan without id')
  const port = d.num('port')
  if (port === undefined) d.fail('vxlan without port')
  const info: VxlanInfo = {id, port, learning: d.bool('learning') ?? true}
  const local = d.str('local') ?? d.str('local6')
  if (local !== undefined) info.local = local
  const dev = d.str('link')
  if (dev !== undefined) info.dev = dev
  const df = d.str('df')
  if (df === 'set' || df === 'inherit') info.df = df
  if (d.bool('l2miss') === true) info.l2miss = true
  return info
}

/** IFLA_XDP_ATTACHED: 1 driver, 2 generic (skb), 3 offloaded, 4 several at once; 0 none. */
const XDP_MODES: Record<number, XdpAttachment['mode']> = {1: 'driver', 2: 'generic', 3: 'offload', 4: 'multi'}

/** `"xdp": {"mode": 1, "prog": {"id": 97, "name": "…"}}` (`ip -j link`; with `xdpmulti`, `attached` lists each). */
function xdpFromJson(e: Entry): XdpAttachment | undefined {
  const xdp = e.object('xdp')
  if (xdp === undefined) return undefined
  const x = e.sub(xdp)
  const mode = XDP_MODES[x.num('mode') ?? 0]
  if (mode === undefined) return undefined
  const out: XdpAttachment = {mode}
  const attached = x.objects('attached')[0]
  const progObject = x.object('prog') ?? (attached === undefined ? undefined : x.sub(attached).object('prog'))
  if (progObject !== undefined) {
    const prog = x.sub(progObject)
    const id = prog.num('id')
    if (id !== undefined) out.progId = id
    const name = prog.str('name')
    if (name !== undefined) out.progName = name
  }
  return out
}

/** `prog/xdp id 97 name fcf_pass` as `ip -d link` prints it, the evidence a trace names. */
export function xdpLine(x: XdpAttachment): string {
  return `prog/xdp${x.progId !== undefined ? ` id ${x.progId}` : ''}${x.progName !== undefined ? ` name ${x.progName}` : ''} (${x.mode === 'generic' ? 'xdpgeneric' : x.mode === 'driver' ? 'xdp' : `xdp${x.mode}`})`
}

/** The header line `ip link` / `ip addr` print for a device. */
function linkHeader(e: Entry, flags: string[]): string {
  let name = e.reqStr('ifname')
  const linkIndex = e.num('link_index')
  if (linkIndex !== undefined) name += `@if${linkIndex}`
  else if (e.has('link')) name += `@${e.str('link') ?? 'NONE'}`
  const out = [`${e.num('ifindex') ?? 0}: ${name}: <${flags.join(',')}>`]
  const mtu = e.num('mtu')
  if (mtu !== undefined) out.push(`mtu ${mtu}`)
  const qdisc = e.str('qdisc')
  if (qdisc !== undefined) out.push(`qdisc ${qdisc}`)
  const master = e.str('master')
  if (master !== undefined) out.push(`master ${master}`)
  const state = e.str('operstate')
  if (state !== undefined) out.push(`state ${state}`)
  const mode = e.str('linkmode')
  if (mode !== undefined) out.push(`mode ${mode}`)
  const group = e.name('group')
  if (group !== undefined) out.push(`group ${group}`)
  const qlen = e.num('txqlen')
  if (qlen) out.push(`qlen ${qlen}`)
  return out.join(' ')
}

/** The `link/ether ...` line, without the `-d` details that follow it. */
function linkLayerLine(e: Entry): string | undefined {
  const type = e.str('link_type')
  if (type === undefined) return undefined
  let line = `link/${type}`
  const address = e.str('address')
  if (address !== undefined) line += ` ${address}`
  const broadcast = e.str('broadcast')
  if (broadcast !== undefined) line += e.bool('link_pointtopoint') ? ` peer ${broadcast}` : ` brd ${broadcast}`
  const perm = e.str('permaddr')
  if (perm !== undefined) line += ` permaddr ${perm}`
  const nsid = e.num('link_netnsid')
  if (nsid !== undefined) line += ` link-netnsid ${nsid}`
  return line
}

interface LinkWithPeerName {
  link: Link
  /** same-namespace IFLA_LINK by name (`veth0@veth1`), resolved to an index once all links are read */
  linkName?: string
}

function linkFromJson(e: Entry): LinkWithPeerName {
  const flags = e.strings('flags')
  const name = e.reqStr('ifname')
  const mtu = e.num('mtu')
  if (mtu === undefined) e.fail('no mtu')
  const info = e.object('linkinfo')
  const infoEntry = info ? e.sub(info) : undefined
  const kind = linkKind(infoEntry?.str('info_kind'), flags, e.str('link_type'))
  const rawLines = [linkHeader(e, flags)]
  const layer = linkLayerLine(e)
  if (layer !== undefined) rawLines.push(`    ${layer}`)
  const link: Link = {name, kind, mtu, up: flags.includes('UP'), raw: ''}
  const index = e.num('ifindex')
  if (index !== undefined) link.index = index
  const operstate = e.str('operstate')
  if (operstate !== undefined) link.operstate = operstate
  link.lowerUp = flags.includes('LOWER_UP')
  const mac = e.str('address')
  if (mac !== undefined && isLinkLayerAddress(mac)) link.mac = mac.toLowerCase()
  const master = e.str('master')
  if (master !== undefined) link.master = master
  const peer = e.num('link_index')
  if (peer !== undefined) link.peerIndex = peer
  const peerNs = e.num('link_netnsid')
  if (peerNs !== undefined) link.peerNetnsId = peerNs
  const slave = infoEntry?.str('info_slave_kind') === 'bridge' ? infoEntry.object('info_slave_data') : undefined
  if (slave !== undefined && e.sub(slave).bool('hairpin') === true) link.hairpin = true
  const bridgeData = kind === 'bridge' ? infoEntry?.object('info_data') : undefined
  if (bridgeData !== undefined && e.sub(bridgeData).num('vlan_filtering') === 1) {
    link.vlanFiltering = true
    rawLines.push('    bridge vlan_filtering 1')
  }
  if (kind === 'vxlan' && infoEntry) {
    const data = infoEntry.object('info_data')
    if (data) {
      const d = e.sub(data)
      link.vxlan = vxlanInfo(d)
      rawLines.push(`    ${vxlanLine(d)}`)
    }
  }
  const xdp = xdpFromJson(e)
  if (xdp !== undefined) {
    link.xdp = xdp
    rawLines.push(`    ${xdpLine(xdp)}`)
  }
  link.raw = rawLines.join('\n')
  return {link, linkName: e.str('link')}
}

/** Same-namespace veth peers are printed by name; the model wants the peer's index. */
export function resolvePeerNames(items: LinkWithPeerName[]): Link[] {
  const byName = new Map<string, Link>()
  for (const {link} of items) byName.set(link.name, link)
  return items.map(({link, linkName}) => {
    if (link.peerIndex === undefined && linkName !== undefined && link.kind === 'veth') {
      const peer = byName.get(linkName)
      if (peer?.index !== undefined) link.peerIndex = peer.index
      if (peer !== undefined) link.peerHere = true
    }
    return link
  })
}

export function linksFromJson(doc: JsonDocument): Link[] {
  return resolvePeerNames(entries(doc, 'a link').map(linkFromJson))
}

/** `ip -d -j link show` → links. */
export function parseIpLinkJson(text: string, options?: ParseOptions | string): Link[] {
  return jsonDocuments(text, options, 'links').flatMap(linksFromJson)
}

/* ------------------------------------------------------------------------------------------ */
/* addresses                                                                                     */

const ADDRESS_FLAGS = ['secondary', 'temporary', 'nodad', 'optimistic', 'dadfailed', 'home', 'deprecated', 'tentative',
  'dynamic', 'mngtmpaddr', 'noprefixroute', 'autojoin', 'stable-privacy']

function addressFromJson(a: Entry, dev: string): Address | undefined {
  const familyName = a.str('family')
  if (familyName !== 'inet' && familyName !== 'inet6') return undefined
  const family = familyName === 'inet' ? 4 : 6
  const local = a.reqStr('local')
  if (!isIP(local)) a.fail(`local ${local} is not an address`)
  const prefixlen = a.reqNum('prefixlen')
  if (!Number.isInteger(prefixlen) || prefixlen < 0 || prefixlen > (family === 4 ? 32 : 128)) a.fail(`bad prefixlen ${prefixlen}`)
  const out = [familyName]
  const peer = a.ip('address')
  out.push(peer !== undefined && peer !== local ? `${local} peer ${peer}/${prefixlen}` : `${local}/${prefixlen}`)
  const metric = a.num('metric')
  if (metric !== undefined) out.push('metric', String(metric))
  for (const [key, word] of [['broadcast', 'brd'], ['anycast', 'any'], ['multicast', 'mcast']]) {
    const v = a.str(key)
    if (v !== undefined) out.push(word, v)
  }
  const scope = a.name('scope')
  if (scope !== undefined) out.push('scope', scope)
  for (const flag of ADDRESS_FLAGS) if (a.bool(flag)) out.push(flag)
  const unknownFlags = a.str('ifa_flags')
  if (unknownFlags !== undefined) out.push('flags', unknownFlags)
  const proto = a.name('protocol')
  if (proto !== undefined && proto !== 'unspec' && proto !== '0') out.push('proto', proto)
  const label = a.str('label')
  if (label !== undefined) out.push(label)
  const address: Address = {dev, family, local, prefixlen, raw: out.join(' ')}
  if (peer !== undefined && peer !== local) address.peer = peer
  if (scope !== undefined) address.scope = scope
  return address
}

export function addrsFromJson(doc: JsonDocument): {links: Link[], addresses: Address[]} {
  const items: LinkWithPeerName[] = []
  const addresses: Address[] = []
  for (const e of entries(doc, 'a device with addresses')) {
    const dev = e.reqStr('ifname')
    // `ip -j addr` also lists devices; the model keeps them only when they are complete.
    if (e.has('mtu')) items.push(linkFromJson(e))
    for (const info of e.objects('addr_info')) {
      const a = addressFromJson(e.sub(info), dev)
      if (a) addresses.push(a)
    }
  }
  return {links: resolvePeerNames(items), addresses}
}

/** `ip -j addr show` → addresses (IPv4 and IPv6). */
export function parseIpAddrJson(text: string, options?: ParseOptions | string): Address[] {
  return jsonDocuments(text, options, 'addresses').flatMap(doc => addrsFromJson(doc).addresses)
}

/* ------------------------------------------------------------------------------------------ */
/* routes                                                                                        */

export const ROUTE_TYPES = new Set<string>(['unicast', 'blackhole', 'unreachable', 'prohibit', 'local', 'broadcast', 'throw', 'multicast'])

/** The model's route type for a type word `ip` prints; undefined for types the model has no place for. */
export function routeType(word: string): RouteType | undefined {
  if (ROUTE_TYPES.has(word)) return word as RouteType
  // IPv6 anycast routes (local table) deliver to this host, as local routes do.
  if (word === 'anycast') return 'local'
  return undefined
}

function gatewayText(e: Entry): {gateway?: string, text?: string} {
  const gw = e.str('gateway')
  if (gw !== undefined) {
    if (!isIP(gw)) e.fail(`gateway ${gw} is not an address`)
    return {gateway: gw, text: `via ${gw}`}
  }
  const via = e.object('via')
  if (via) {
    const v = e.sub(via)
    const host = v.reqStr('host')
    if (!isIP(host)) e.fail(`via ${host} is not an address`)
    return {gateway: host, text: `via ${v.str('family') ?? 'inet'} ${host}`}
  }
  return {}
}

function nexthopText(e: Entry, defaultDev: string | undefined): string {
  const out = ['nexthop']
  const gw = gatewayText(e)
  if (gw.text) out.push(gw.text)
  const dev = e.str('dev') ?? defaultDev
  if (dev !== undefined) out.push('dev', dev)
  const weight = e.num('weight')
  if (weight !== undefined) out.push('weight', String(weight))
  out.push(...e.strings('flags'))
  return out.join(' ')
}

function routeFromJson(e: Entry, filter: OutputFilter): Route {
  const typeWord = e.str('type') ?? filter.type ?? 'unicast'
  const type = routeType(typeWord)
  if (type === undefined) e.fail(`unknown route type ${typeWord}`)
  const dstText = e.reqStr('dst')
  let dst: string
  if (dstText === 'default') dst = 'default'
  else if (isAddressOrCidr(dstText)) dst = withPrefix(dstText)
  else e.fail(`dst ${dstText} is not an address or prefix`)
  const raw: string[] = []
  if (e.has('type')) raw.push(typeWord)
  raw.push(dstText)
  const from = e.str('from')
  if (from !== undefined) raw.push('from', from)
  const nhid = e.num('nhid')
  if (nhid !== undefined) raw.push('nhid', String(nhid))
  const tos = e.name('tos')
  if (tos !== undefined) raw.push('tos', tos)
  const route: Route = {dst, type, raw: ''}
  const gw = gatewayText(e)
  if (gw.text !== undefined) {
    raw.push(gw.text)
    route.gateway = gw.gateway
  }
  const devText = e.str('dev')
  if (devText !== undefined) raw.push('dev', devText)
  const dev = devText ?? filter.dev
  const table = e.name('table') ?? (filter.table !== 'all' ? filter.table : undefined)
  if (e.has('table')) raw.push('table', table as string)
  const proto = e.name('protocol') ?? filter.proto
  if (e.has('protocol')) raw.push('proto', proto as string)
  const scope = e.name('scope') ?? filter.scope
  if (e.has('scope')) raw.push('scope', scope as string)
  const src = e.ip('prefsrc')
  if (src !== undefined) raw.push('src', src)
  const metric = e.num('metric')
  if (metric !== undefined) raw.push('metric', String(metric))
  const flags = e.strings('flags')
  raw.push(...flags)
  const mark = e.num('mark')
  if (mark !== undefined) raw.push('mark', mark >= 16 ? `0x${mark.toString(16)}` : String(mark))
  const uid = e.num('uid')
  if (uid !== undefined) raw.push('uid', String(uid))
  // a route exception (`ip route show cache`, `ip route get`): as ip prints it, `cache expires 599sec mtu 1300`
  const expires = e.num('expires')
  if (expires !== undefined) raw.push('cache', 'expires', `${expires}sec`)
  let mtu: number | undefined
  let advmss: number | undefined
  for (const m of e.objects('metrics')) {
    for (const [k, v] of Object.entries(m)) if (typeof v === 'number' || typeof v === 'string') raw.push(k, String(v))
    if (typeof m.mtu === 'number' && m.mtu > 0) mtu = m.mtu
    if (typeof m.advmss === 'number' && m.advmss > 0) advmss = m.advmss
  }
  const iif = e.str('iif')
  if (iif !== undefined) raw.push('iif', iif)
  const pref = e.str('pref')
  if (pref !== undefined) raw.push('pref', pref)
  let text = raw.join(' ')
  const nexthops = e.objects('nexthops')
  for (const nh of nexthops) text += `\n\t${nexthopText(e.sub(nh), undefined)}`
  // The model holds one path; ECMP keeps the first the kernel may pick (it skips dead nexthops),
  // the raw text keeps them all.
  const live = nexthops.map(nh => e.sub(nh)).filter(nh => !nh.strings('flags').includes('dead'))
  const alive = live[0]
  if (live.length > 1) route.paths = live.length
  if (alive !== undefined && route.gateway === undefined && dev === undefined) {
    const hop = gatewayText(alive)
    if (hop.gateway !== undefined) route.gateway = hop.gateway
    const hopDev = alive.str('dev')
    if (hopDev !== undefined) route.dev = hopDev
    const hopFlags = alive.strings('flags')
    if (hopFlags.includes('onlink')) route.onlink = true
    if (hopFlags.includes('linkdown')) route.linkdown = true
  }
  if (dev !== undefined) route.dev = dev
  if (src !== undefined) route.src = src
  if (metric !== undefined) route.metric = metric
  if (mtu !== undefined) route.mtu = mtu
  if (advmss !== undefined) route.advmss = advmss
  if (nhid !== undefined) route.nhid = nhid
  // `ip -j route get` prints no onlink: the kernel found the gateway usable for this very destination
  if (flags.includes('onlink') || (filter.resolved && route.gateway !== undefined)) route.onlink = true
  if (flags.includes('linkdown')) route.linkdown = true
  if (scope !== undefined) route.scope = scope
  if (proto !== undefined) route.proto = proto
  if (table !== undefined) route.table = table
  route.raw = text
  return route
}

export function routesFromJson(doc: JsonDocument): Route[] {
  return entries(doc, 'a route').map(e => routeFromJson(e, doc.filter))
}

/** `ip -j route show` (also `table all`) → routes. */
export function parseIpRouteJson(text: string, options?: ParseOptions | string): Route[] {
  return jsonDocuments(text, options, 'routes').flatMap(routesFromJson)
}

/* ------------------------------------------------------------------------------------------ */
/* policy rules                                                                                  */

export function rulesFromJson(doc: JsonDocument): PolicyRule[] {
  return entries(doc, 'a rule').map(e => {
    if (typeof e.o.priority !== 'number') e.fail('no priority')
    const raw = ruleLineFromJson(e.o)
    try {
      return ruleFromWords(ruleWords(raw), raw)
    } catch (error) {
      return e.fail((error as Error).message)
    }
  })
}

/** `ip -j rule show` → rules. */
export function parseIpRuleJson(text: string, options?: ParseOptions | string): PolicyRule[] {
  return jsonDocuments(text, options, 'rules').flatMap(rulesFromJson)
}

/* ------------------------------------------------------------------------------------------ */
/* neighbours                                                                                    */

const NEIGH_FLAGS = ['router', 'proxy', 'managed', 'extern_learn', 'offload', 'extern_valid']

function neighborFromJson(e: Entry, filter: OutputFilter): Neighbor {
  const dst = e.reqStr('dst')
  if (!isIP(dst)) e.fail(`dst ${dst} is not an address`)
  const devText = e.str('dev')
  const dev = devText ?? filter.dev
  if (dev === undefined) e.fail('no dev')
  const raw = [dst]
  if (devText !== undefined) raw.push('dev', devText)
  const lladdr = e.str('lladdr')
  if (lladdr !== undefined) raw.push('lladdr', lladdr)
  for (const flag of NEIGH_FLAGS) if (flag in e.o) raw.push(flag)
  const probes = e.num('probes')
  if (probes !== undefined) raw.push('probes', String(probes))
  const state = e.strings('state')
  raw.push(...state)
  const proto = e.name('protocol')
  if (proto !== undefined) raw.push('proto', proto)
  const n: Neighbor = {dst, dev, state, raw: raw.join(' ')}
  if (lladdr !== undefined) n.lladdr = lladdr.toLowerCase()
  return n
}

export function neighborsFromJson(doc: JsonDocument): Neighbor[] {
  const list = entries(doc, 'a neighbour')
  if (doc.filter.dev === undefined && list.some(e => !e.has('dev'))) {
    const e = list.find(x => !x.has('dev')) as Entry
    throw new ParseError(doc.source, lineOfEntry(doc, e.index), 'neighbour entries without dev',
      'they come from `ip -j neigh show dev X`: paste that command line above the output, or name the device')
  }
  return list.map(e => neighborFromJson(e, doc.filter))
}

/** `ip -j neigh show` → neighbours. */
export function parseIpNeighJson(text: string, options?: ParseOptions | string): Neighbor[] {
  return jsonDocuments(text, options, 'neighbours').flatMap(neighborsFromJson)
}

/* ------------------------------------------------------------------------------------------ */
/* fdb                                                                                           */

function fdbFromJson(e: Entry, filter: OutputFilter): FdbEntry {
  const mac = e.reqStr('mac')
  if (!isLinkLayerAddress(mac)) e.fail(`mac ${mac} is not a link-layer address`)
  const devText = e.str('ifname')
  const dev = devText ?? filter.dev
  if (dev === undefined) e.fail('no ifname')
  const raw = [mac]
  if (devText !== undefined) raw.push('dev', devText)
  const dst = e.ip('dst')
  if (dst !== undefined) raw.push('dst', dst)
  const vlan = e.num('vlan')
  if (vlan !== undefined) raw.push('vlan', String(vlan))
  for (const key of ['port', 'vni', 'src_vni']) {
    const v = e.num(key)
    if (v !== undefined) raw.push(key, String(v))
  }
  const viaIndex = e.num('viaIfIndex')
  if (viaIndex !== undefined) raw.push('via', 'ifindex', String(viaIndex))
  const via = e.str('viaIf')
  if (via !== undefined) raw.push('via', via)
  const nhid = e.num('nhid')
  if (nhid !== undefined) raw.push('nhid', String(nhid))
  const nsid = e.num('linkNetNsId')
  if (nsid !== undefined) raw.push('link-netnsid', String(nsid))
  const flags = [...e.strings('flags')]
  raw.push(...flags)
  const master = e.str('master')
  if (master !== undefined) raw.push('master', master)
  const state = e.name('state')
  if (state !== undefined && state !== '') {
    raw.push(state)
    flags.push(state)
  }
  const entry: FdbEntry = {mac: mac.toLowerCase(), dev, flags, raw: raw.join(' ')}
  if (dst !== undefined) entry.dst = dst
  if (master !== undefined) entry.master = master
  if (vlan !== undefined) entry.vlan = vlan
  if (via !== undefined || viaIndex !== undefined) entry.via = via ?? viaIndex
  return entry
}

export function fdbFromJsonDoc(doc: JsonDocument): FdbEntry[] {
  const list = entries(doc, 'an fdb entry')
  if (doc.filter.dev === undefined && list.some(e => !e.has('ifname'))) {
    const e = list.find(x => !x.has('ifname')) as Entry
    throw new ParseError(doc.source, lineOfEntry(doc, e.index), 'fdb entries without ifname',
      'they come from `bridge -j fdb show dev X`: paste that command line above the output, or name the device')
  }
  return list.map(e => fdbFromJson(e, doc.filter))
}

/** `bridge -j fdb show` → fdb entries; the state (permanent, static, ...) joins the flags. */
export function parseBridgeFdbJson(text: string, options?: ParseOptions | string): FdbEntry[] {
  return jsonDocuments(text, options, 'fdb entries').flatMap(fdbFromJsonDoc)
}
