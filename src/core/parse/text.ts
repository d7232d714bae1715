/**
 * Plain-text tables as users paste them: `ip` / `bridge` output and the net-tools views of older
 * hosts (`route -n`, `arp -n`, `ifconfig`). Each function reads one section (the lines below one
 * pasted command) and recognises its form from the content; `raw` is the line as printed.
 *
 * Strict on lines, lenient on fields: a line that is not an entry (and not a known header) is an
 * error, while unknown words inside an entry are skipped, because each iproute2 release adds some.
 */
import type {Address, FdbEntry, Link, LinkKind, Neighbor, PolicyRule, Route, VxlanInfo, XdpAttachment} from '../model.js'
import {cidrContainsIp} from '../addr.js'
import {ruleFromWords, ruleWords} from './rule.js'
import {
  type OutputFilter, type Section, isAddressOrCidr, isIP, isIPv4, isIPv6, isLinkLayerAddress, isMac,
  netmaskToPrefixlen, parseUint, sections, splitLines, startsWithSpace, tokens, withPrefix,
} from './common.js'
import {type ParseOptions, ParseError, quote, resolveOptions} from './errors.js'
import {resolvePeerNames, routeType, xdpLine} from './json.js'

/** What a section parser needs: where errors point and what the pasted command filtered on. */
export interface TextContext {
  source: string
  filter: OutputFilter
}

function contextOf(section: Section, source: string, dev: string | undefined): TextContext {
  const filter = section.command?.filter ?? {}
  return {source, filter: filter.dev === undefined && dev !== undefined ? {...filter, dev} : filter}
}

function cannotRead(ctx: TextContext, i: number, line: string, what: string, detail = '', hint = ''): ParseError {
  return new ParseError(ctx.source, i + 1, `cannot read ${quote(line)} as ${what}${detail ? ` (${detail})` : ''}`, hint)
}

function firstContent(lines: string[], section: Section): string | undefined {
  for (let i = section.start; i < section.end; i++) if (lines[i].trim() !== '') return lines[i]
  return undefined
}

/** Run a section parser over every section of a text, joining the results. */
export function eachSection<T>(text: string, options: ParseOptions | string | undefined,
  parse: (lines: string[], section: Section, ctx: TextContext) => T[]): T[] {
  const {source, dev} = resolveOptions(options)
  const lines = splitLines(text)
  const out: T[] = []
  for (const section of sections(lines)) {
    for (const item of parse(lines, section, contextOf(section, source, dev))) out.push(item)
  }
  return out
}

/* ------------------------------------------------------------------------------------------ */
/* routes                                                                                        */

/** Route attributes with one argument that the model does not keep. */
const ROUTE_SKIP_ONE = new Set(['from', 'pref', 'tos', 'dsfield', 'mark', 'uid', 'realms', 'realm', 'iif',
  'expires', 'error', 'users', 'age', 'hoplimit', 'rtt', 'rttvar', 'reordering', 'window', 'cwnd',
  'initcwnd', 'initrwnd', 'ssthresh', 'features', 'quickack', 'congctl', 'fastopen_no_cookie', 'rto_min',
  'ttl-propogate', 'ttl-propagate', 'weight', 'used'])

function isRouteColumnsHeader(line: string): boolean {
  const t = line.trimStart()
  return t.startsWith('Kernel IP') || (t.startsWith('Destination') && (t.includes('Gateway') || t.includes('Next Hop')))
}

/** One `ip route` line; undefined when the line is not a route at all. */
function ipRouteLine(ctx: TextContext, i: number, line: string): Route | undefined {
  const t = tokens(line)
  let k = 0
  if (t[k] === 'Deleted') k++
  const filter = ctx.filter
  let type = routeType(filter.type ?? 'unicast')
  const typed = routeType(t[k] ?? '')
  if (typed !== undefined && t[k] !== undefined && k + 1 < t.length) {
    type = typed
    k++
  } else if (t[k] === 'nat' || t[k] === 'xresolve' || t[k] === 'unspec') {
    throw cannotRead(ctx, i, line, 'a route', `route type ${t[k]} is not supported`)
  }
  if (type === undefined) throw cannotRead(ctx, i, line, 'a route', `unknown route type ${filter.type}`)
  const dstText = t[k++]
  let dst: string
  if (dstText === 'default') dst = 'default'
  else if (dstText !== undefined && isAddressOrCidr(dstText)) dst = withPrefix(dstText)
  else if (dstText !== undefined && dstText.startsWith('0/') && parseUint(dstText.slice(2)) !== undefined) dst = `0.0.0.0${dstText.slice(1)}`
  else return undefined
  const route: Route = {dst, type, raw: line.trim()}
  for (; k < t.length; k++) {
    const key = t[k]
    const value = t[k + 1]
    switch (key) {
      case 'via': {
        let gw = value
        if (gw === 'inet' || gw === 'inet6') gw = t[++k + 1]
        if (gw === undefined || !isIP(gw)) throw cannotRead(ctx, i, line, 'a route', `via ${gw ?? 'nothing'} is not an address`)
        route.gateway = gw
        k++
        break
      }
      case 'dev':
      case 'oif':
        if (value === undefined) throw cannotRead(ctx, i, line, 'a route', 'dev without a name')
        route.dev = value
        k++
        break
      case 'src':
        if (value === undefined || !isIP(value)) throw cannotRead(ctx, i, line, 'a route', `src ${value ?? 'nothing'} is not an address`)
        route.src = value
        k++
        break
      case 'metric':
      case 'priority':
      case 'preference': {
        const m = parseUint(value)
        if (m === undefined) throw cannotRead(ctx, i, line, 'a route', `metric ${value ?? 'nothing'} is not a number`)
        route.metric = m
        k++
        break
      }
      case 'table':
        if (value === undefined) throw cannotRead(ctx, i, line, 'a route', 'table without a name')
        route.table = value
        k++
        break
      case 'proto':
      case 'protocol':
        if (value === undefined) throw cannotRead(ctx, i, line, 'a route', 'proto without a name')
        route.proto = value
        k++
        break
      case 'scope':
        if (value === undefined) throw cannotRead(ctx, i, line, 'a route', 'scope without a name')
        route.scope = value
        k++
        break
      case 'nhid': {
        const id = parseUint(value)
        if (id === undefined) throw cannotRead(ctx, i, line, 'a route', `nhid ${value ?? 'nothing'} is not a number`)
        route.nhid = id
        k++
        break
      }
      case 'onlink':
        route.onlink = true
        break
      case 'linkdown':
        route.linkdown = true
        break
      case 'lock':
        break
      case 'mtu':
      case 'advmss': {
        // `mtu 1400` or `mtu lock 1400`; the same for advmss
        if (value === 'lock') k++
        const m = parseUint(t[k + 1])
        if (m === undefined) throw cannotRead(ctx, i, line, 'a route', `${key} ${t[k + 1] ?? 'nothing'} is not a number`)
        if (m > 0) route[key] = m
        k++
        break
      }
      default:
        if (ROUTE_SKIP_ONE.has(key)) {
          k++
          if (t[k] === 'lock') k++
        }
      // other words (flags such as linkdown, offload, cache; later iproute2 additions) carry nothing the model keeps
    }
  }
  if (filter.dev !== undefined) route.dev ??= filter.dev
  // `ip route get` prints no onlink: the kernel found the gateway usable for this very destination
  if (filter.resolved && route.gateway !== undefined) route.onlink = true
  if (filter.table !== undefined && filter.table !== 'all') route.table ??= filter.table
  if (filter.proto !== undefined) route.proto ??= filter.proto
  if (filter.scope !== undefined) route.scope ??= filter.scope
  return route
}

/** A multipath route's `nexthop via X dev Y weight 1` line below its first line. */
function addNexthop(ctx: TextContext, i: number, line: string, route: Route, firstAlive: boolean): boolean {
  const t = tokens(line)
  let gateway: string | undefined
  let dev: string | undefined
  let onlink = false
  let linkdown = false
  let dead = false
  for (let k = 1; k < t.length; k++) {
    if (t[k] === 'via') {
      let gw = t[k + 1]
      if (gw === 'inet' || gw === 'inet6') gw = t[++k + 1]
      if (gw === undefined || !isIP(gw)) throw cannotRead(ctx, i, line, 'a nexthop', 'via is not an address')
      gateway = gw
      k++
    } else if (t[k] === 'dev') {
      dev = t[++k]
    } else if (t[k] === 'onlink') onlink = true
    else if (t[k] === 'linkdown') linkdown = true
    else if (t[k] === 'dead') dead = true
  }
  route.raw += `\n\t${line.trim()}`
  if (!dead) {
    const live = (route.paths ?? 1) + (firstAlive ? 0 : 1)
    if (live > 1) route.paths = live
  }
  // The model holds one path; ECMP keeps the first the kernel may pick (it skips dead nexthops),
  // the raw text keeps them all.
  if (dead || !firstAlive) return firstAlive
  delete route.gateway
  delete route.dev
  delete route.onlink
  delete route.linkdown
  if (gateway !== undefined) route.gateway = gateway
  if (dev !== undefined) route.dev = dev
  if (onlink) route.onlink = true
  if (linkdown) route.linkdown = true
  return false
}

function ipRoutes(lines: string[], section: Section, ctx: TextContext): Route[] {
  const out: Route[] = []
  let last: Route | undefined
  // whether `last` still waits for its first live nexthop (a multipath route's first line has none)
  let awaitingNexthop = false
  for (let i = section.start; i < section.end; i++) {
    const line = lines[i]
    if (startsWithSpace(line)) {
      const t = line.trim()
      if (t === '') continue
      if (t.startsWith('nexthop') && last !== undefined) awaitingNexthop = addNexthop(ctx, i, line, last, awaitingNexthop)
      // other indented lines are cache details (`ip route get`, `ip route show cache`): a learned path MTU counts
      const learned = /^cache\b.*\bmtu (?:lock )?(\d+)/.exec(t)
      if (learned !== null && last !== undefined && Number(learned[1]) > 0) {
        last.mtu = Number(learned[1])
        last.raw += ` ${t}`
      }
      continue
    }
    if (line === '') continue
    const route = ipRouteLine(ctx, i, line)
    if (route === undefined) throw cannotRead(ctx, i, line, 'a route')
    out.push(route)
    last = route
    awaitingNexthop = route.gateway === undefined && route.dev === undefined
  }
  return out
}

/** `ip rule show` lines: `PRIORITY:<tab>[not] from PREFIX ... ACTION`. */
export function rulesFromText(lines: string[], section: Section, ctx: TextContext): PolicyRule[] {
  const out: PolicyRule[] = []
  for (let i = section.start; i < section.end; i++) {
    const line = lines[i]
    if (line.trim() === '') continue
    if (!/^\s*\d+:/.test(line)) throw cannotRead(ctx, i, line, 'a rule', 'expected `PRIORITY: from ...` as `ip rule show` prints it')
    try {
      out.push(ruleFromWords(ruleWords(line.trim()), line.trim()))
    } catch (error) {
      throw cannotRead(ctx, i, line, 'a rule', (error as Error).message)
    }
  }
  return out
}

/** `ip rule show` text. */
export function parseIpRuleText(text: string, options?: ParseOptions | string): PolicyRule[] {
  return eachSection(text, options, rulesFromText)
}

function parseMetricColumn(s: string): number | undefined {
  if (s === '-' || s === '-1') return undefined
  return parseUint(s)
}

/** `route -n`, `route -A inet6 -n`, `netstat -rn`: columns named by a header line. */
function columnRoutes(lines: string[], section: Section, ctx: TextContext): Route[] {
  const out: Route[] = []
  let columns: string[] | undefined
  const hint = 'paste `route -n` (numeric) output, or `ip route`'
  for (let i = section.start; i < section.end; i++) {
    const line = lines[i]
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('Kernel IP')) continue
    if (trimmed.startsWith('Destination')) {
      columns = tokens(trimmed.replace('Next Hop', 'NextHop'))
      const has = (...names: string[]): boolean => names.some(n => columns?.includes(n))
      if (!has('Destination') || !has('Gateway', 'NextHop') || !has('Flags', 'Flag') || !has('Iface', 'If')) {
        throw cannotRead(ctx, i, line, 'a routing table header', 'expected Destination, Gateway, Flags and Iface columns', hint)
      }
      continue
    }
    if (columns === undefined) throw cannotRead(ctx, i, line, 'a route', 'no column header above it', hint)
    const t = tokens(trimmed)
    if (t.length !== columns.length) {
      throw cannotRead(ctx, i, line, 'a route', `${t.length} columns where the header has ${columns.length}`, hint)
    }
    const col = (...names: string[]): string | undefined => {
      for (const n of names) {
        const at = columns?.indexOf(n) ?? -1
        if (at !== -1) return t[at]
      }
      return undefined
    }
    const dest = col('Destination') as string
    const gatewayText = col('Gateway', 'NextHop')
    const mask = col('Genmask')
    const flags = col('Flags', 'Flag') ?? ''
    const iface = col('Iface', 'If')
    let dst: string
    if (mask !== undefined) {
      // IPv4: address plus netmask columns
      const len = netmaskToPrefixlen(mask)
      if (len === undefined) throw cannotRead(ctx, i, line, 'a route', `genmask ${mask} is not a netmask`, hint)
      if (dest === 'default') dst = 'default'
      else if (!isIPv4(dest)) throw cannotRead(ctx, i, line, 'a route', `destination ${dest} is not an address`, hint)
      else dst = dest === '0.0.0.0' && len === 0 ? 'default' : withPrefix(`${dest}/${len}`)
    } else {
      if (!isAddressOrCidr(dest)) throw cannotRead(ctx, i, line, 'a route', `destination ${dest} is not a prefix`, hint)
      dst = dest === '::/0' ? 'default' : withPrefix(dest)
    }
    const route: Route = {dst, type: 'unicast', raw: trimmed}
    const gw = gatewayText === '[::]' ? '::' : gatewayText
    if (gw !== undefined && gw !== '0.0.0.0' && gw !== '::' && gw !== '*' && gw !== '-') {
      if (!isIP(gw)) throw cannotRead(ctx, i, line, 'a route', `gateway ${gw} is not an address`, hint)
      route.gateway = gw
    }
    const noDevice = iface === undefined || iface === '*' || iface === '-'
    if (flags.includes('!')) route.type = 'unreachable'
    // /proc/net/route shows a blackhole route as an up route without a device
    else if (noDevice) route.type = 'blackhole'
    if (!noDevice) route.dev = iface
    const metricText = col('Metric', 'Met')
    const metric = metricText === undefined ? undefined : parseMetricColumn(metricText)
    if (metricText !== undefined && metric === undefined && metricText !== '-' && metricText !== '-1') {
      throw cannotRead(ctx, i, line, 'a route', `metric ${metricText} is not a number`, hint)
    }
    // ip route leaves out an IPv4 metric of 0; route -n prints it
    if (metric !== undefined && !(metric === 0 && mask !== undefined)) route.metric = metric
    if (route.type === 'unicast' && route.gateway === undefined) route.scope = 'link'
    out.push(route)
  }
  markOnlinkGateways(out)
  return out
}

/**
 * `route -n` has no column for `onlink`. The kernel accepts an IPv4 gateway outside every connected
 * prefix of the route's device only with `onlink` (flannel's `via 10.244.2.0 dev flannel.1 onlink`),
 * so a listed route whose gateway no connected route of its device covers was added that way.
 */
function markOnlinkGateways(routes: Route[]): void {
  const connected = routes.filter(r => r.type === 'unicast' && r.gateway === undefined && r.dev !== undefined && r.dst !== 'default' && isIPv4(r.dst.slice(0, r.dst.indexOf('/'))))
  for (const r of routes) {
    if (r.gateway === undefined || r.dev === undefined || !isIPv4(r.gateway)) continue
    const gateway = r.gateway
    if (!connected.some(c => c.dev === r.dev && cidrContainsIp(c.dst, gateway))) r.onlink = true
  }
}

export function routesFromText(lines: string[], section: Section, ctx: TextContext): Route[] {
  const first = firstContent(lines, section)
  if (first === undefined) return []
  return isRouteColumnsHeader(first) ? columnRoutes(lines, section, ctx) : ipRoutes(lines, section, ctx)
}

/** `ip route` / `ip r` or `route -n` output → routes. */
export function parseIpRouteText(text: string, options?: ParseOptions | string): Route[] {
  return eachSection(text, options, routesFromText)
}

/* ------------------------------------------------------------------------------------------ */
/* neighbours                                                                                    */

const NEIGH_STATES = new Set(['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE', 'FAILED', 'NOARP', 'PERMANENT', 'NONE'])
const NEIGH_SKIP_ONE = new Set(['ref', 'used', 'probes', 'proto', 'protocol', 'nud'])

const NO_DEV_HINT = 'the lines have no `dev`: paste the command line above them (`ip neigh show dev X`), or name the device'

function ipNeighLine(ctx: TextContext, i: number, line: string): Neighbor | undefined {
  const t = tokens(line)
  let k = 0
  while (t[k] === 'Deleted' || t[k] === 'miss') k++
  const dst = t[k++]
  if (dst === undefined || !isIP(dst)) return undefined
  const n: Neighbor = {dst, dev: '', state: [], raw: line.trim()}
  let dev = ctx.filter.dev
  for (; k < t.length; k++) {
    const word = t[k]
    if (word === 'dev') {
      dev = t[++k]
      if (dev === undefined) throw cannotRead(ctx, i, line, 'a neighbour', 'dev without a name')
    } else if (word === 'lladdr') {
      const ll = t[++k]
      if (ll === undefined || NEIGH_STATES.has(ll)) throw cannotRead(ctx, i, line, 'a neighbour', 'lladdr without an address')
      n.lladdr = ll.toLowerCase()
    } else if (NEIGH_STATES.has(word)) {
      n.state.push(word)
    } else if (NEIGH_SKIP_ONE.has(word)) {
      k++
    }
  }
  if (dev === undefined) throw cannotRead(ctx, i, line, 'a neighbour', 'no dev', NO_DEV_HINT)
  n.dev = dev
  return n
}

function isArpHeader(line: string): boolean {
  const t = line.trimStart()
  return t.startsWith('Address') && t.includes('HWtype')
}

/** `arp -n` columns: Address HWtype HWaddress Flags Mask Iface, with empty columns left blank. */
function arpLine(ctx: TextContext, i: number, line: string): Neighbor {
  const t = tokens(line)
  const hint = 'paste `arp -n` (numeric) output, or `ip neigh`'
  if (t.length < 2) throw cannotRead(ctx, i, line, 'an arp entry', '', hint)
  const dst = t[0]
  if (!isIPv4(dst)) throw cannotRead(ctx, i, line, 'an arp entry', `${dst} is not an address`, hint)
  const dev = t[t.length - 1]
  const n: Neighbor = {dst, dev, state: [], raw: line.trim()}
  if (t.includes('(incomplete)')) {
    n.state.push('INCOMPLETE')
    return n
  }
  const macAt = t.findIndex((w, k) => k > 0 && k < t.length - 1 && isLinkLayerAddress(w))
  if (macAt === -1) throw cannotRead(ctx, i, line, 'an arp entry', 'no hardware address', hint)
  n.lladdr = t[macAt].toLowerCase()
  const flags = macAt + 1 < t.length - 1 ? t[macAt + 1] : ''
  // ATF_PERM (M) is a static entry; ATF_COM (C) resolved, in some reachable-ish state arp cannot tell
  n.state.push(flags.includes('M') ? 'PERMANENT' : flags.includes('C') ? 'REACHABLE' : 'NONE')
  return n
}

/** `arp -a` / `arp -an`: `? (10.244.1.2) at 0a:58:0a:f4:01:02 [ether] on cni0`. */
function arpBsdLine(ctx: TextContext, i: number, line: string): Neighbor | undefined {
  const t = tokens(line)
  if (t.length < 4 || t[2] !== 'at' || !t[1].startsWith('(') || !t[1].endsWith(')')) return undefined
  const dst = t[1].slice(1, -1)
  if (!isIPv4(dst)) throw cannotRead(ctx, i, line, 'an arp entry', `${dst} is not an address`)
  const on = t.indexOf('on')
  const dev = on === -1 ? ctx.filter.dev : t[on + 1]
  if (dev === undefined) throw cannotRead(ctx, i, line, 'an arp entry', 'no interface', NO_DEV_HINT)
  const n: Neighbor = {dst, dev, state: [], raw: line.trim()}
  if (t[3] === '<incomplete>') n.state.push('INCOMPLETE')
  else if (isLinkLayerAddress(t[3])) {
    n.lladdr = t[3].toLowerCase()
    n.state.push(t.includes('PERM') ? 'PERMANENT' : 'REACHABLE')
  } else throw cannotRead(ctx, i, line, 'an arp entry', `${t[3]} is not a hardware address`)
  return n
}

export function neighborsFromText(lines: string[], section: Section, ctx: TextContext): Neighbor[] {
  const out: Neighbor[] = []
  const first = firstContent(lines, section)
  if (first === undefined) return out
  const arp = isArpHeader(first)
  for (let i = section.start; i < section.end; i++) {
    const line = lines[i]
    const trimmed = line.trim()
    if (trimmed === '') continue
    if (isArpHeader(line) || trimmed.startsWith('arp: ') || trimmed.startsWith('Entries:')) continue
    const bsd = arpBsdLine(ctx, i, line)
    if (bsd) {
      out.push(bsd)
      continue
    }
    if (arp) {
      out.push(arpLine(ctx, i, line))
      continue
    }
    const n = ipNeighLine(ctx, i, line)
    if (n === undefined) throw cannotRead(ctx, i, line, 'a neighbour')
    out.push(n)
  }
  return out
}

/** `ip neigh` or `arp -n` / `arp -an` output → neighbours. */
export function parseIpNeighText(text: string, options?: ParseOptions | string): Neighbor[] {
  return eachSection(text, options, neighborsFromText)
}

/* ------------------------------------------------------------------------------------------ */
/* fdb                                                                                           */

const FDB_FLAGS = new Set(['self', 'router', 'extern_learn', 'offload', 'sticky', 'locked', 'permanent', 'static', 'stale'])
const FDB_SKIP_ONE = new Set(['port', 'vni', 'src_vni', 'nhid', 'link-netnsid', 'used'])

function fdbLine(ctx: TextContext, i: number, line: string): FdbEntry | undefined {
  const t = tokens(line)
  let k = 0
  if (t[k] === 'Deleted') k++
  const mac = t[k++]
  if (mac === undefined || !isMac(mac)) return undefined
  const entry: FdbEntry = {mac: mac.toLowerCase(), dev: '', flags: [], raw: line.trim()}
  let dev = ctx.filter.dev
  for (; k < t.length; k++) {
    const word = t[k]
    const value = t[k + 1]
    if (word === 'dev') {
      if (value === undefined) throw cannotRead(ctx, i, line, 'an fdb entry', 'dev without a name')
      dev = value
      k++
    } else if (word === 'dst') {
      if (value === undefined || !isIP(value)) throw cannotRead(ctx, i, line, 'an fdb entry', `dst ${value ?? 'nothing'} is not an address`)
      entry.dst = value
      k++
    } else if (word === 'vlan') {
      const v = parseUint(value)
      if (v === undefined) throw cannotRead(ctx, i, line, 'an fdb entry', `vlan ${value ?? 'nothing'} is not a number`)
      entry.vlan = v
      k++
    } else if (word === 'master') {
      // `master` alone is the NTF_MASTER flag; `master br0` names the bridge
      if (value === undefined || FDB_FLAGS.has(value)) entry.flags.push('master')
      else {
        entry.master = value
        k++
      }
    } else if (word === 'via') {
      if (value === 'ifindex') {
        const n = parseUint(t[k + 2])
        if (n !== undefined) entry.via = n
        k += 2
      } else {
        if (value !== undefined) entry.via = value
        k++
      }
    } else if (FDB_FLAGS.has(word)) {
      entry.flags.push(word)
    } else if (FDB_SKIP_ONE.has(word)) {
      k++
    }
  }
  if (dev === undefined) throw cannotRead(ctx, i, line, 'an fdb entry', 'no dev', NO_DEV_HINT.replace('ip neigh', 'bridge fdb'))
  entry.dev = dev
  return entry
}

export function fdbFromText(lines: string[], section: Section, ctx: TextContext): FdbEntry[] {
  const out: FdbEntry[] = []
  for (let i = section.start; i < section.end; i++) {
    const line = lines[i]
    if (line.trim() === '') continue
    const entry = fdbLine(ctx, i, line)
    if (entry === undefined) throw cannotRead(ctx, i, line, 'an fdb entry')
    out.push(entry)
  }
  return out
}

/** `bridge fdb show` output → fdb entries. */
export function parseBridgeFdbText(text: string, options?: ParseOptions | string): FdbEntry[] {
  return eachSection(text, options, fdbFromText)
}

/* ------------------------------------------------------------------------------------------ */
/* links and addresses                                                                           */

const KIND_WORDS = new Set(['vlan', 'veth', 'vcan', 'vxcan', 'dummy', 'ifb', 'macvlan', 'macvtap', 'bridge', 'bond',
  'team', 'ipoib', 'ip6tnl', 'ipip', 'sit', 'vxlan', 'gre', 'gretap', 'erspan', 'ip6gre', 'ip6gretap', 'ip6erspan',
  'vti', 'vti6', 'vrf', 'nlmon', 'ipvlan', 'ipvtap', 'lowpan', 'geneve', 'bareudp', 'amt', 'macsec', 'hsr', 'xfrm',
  'gtp', 'rmnet', 'netkit', 'wireguard', 'tun', 'can', 'openvswitch', 'virt_wifi', 'batadv'])
const MODEL_KINDS = new Set<LinkKind>(['veth', 'bridge', 'vxlan', 'tun', 'dummy', 'ipip', 'wireguard', 'vrf', 'openvswitch', 'macvlan', 'ipvlan'])
/** the header word after the mtu that says an XDP program is attached, and how */
const XDP_HEADER_WORDS: Record<string, XdpAttachment['mode']> = {xdp: 'driver', xdpgeneric: 'generic', xdpoffload: 'offload', xdpmulti: 'multi'}

export interface LinksAndAddresses {
  links: Link[]
  addresses: Address[]
  /** the text printed only some devices (`ip addr show flannel.1`): the others are unknown */
  someDevicesOnly?: boolean
}

/** Where the `-d` details start on a line: the rest is per-device tuning the model does not keep. */
function cutAt(line: string, markers: string[]): string {
  let end = line.length
  for (const m of markers) {
    const at = line.indexOf(m)
    if (at !== -1 && at < end) end = at
  }
  return line.slice(0, end).trimEnd()
}

const KERNEL_VXLAN_PORT = 8472

function vxlanFromText(ctx: TextContext, i: number, line: string): VxlanInfo {
  const t = tokens(line)
  let id: number | undefined
  let port: number | undefined
  const info: Partial<VxlanInfo> = {learning: true}
  for (let k = 1; k < t.length; k++) {
    const value = t[k + 1]
    switch (t[k]) {
      case 'id': id = parseUint(value); k++; break
      case 'local': info.local = value; k++; break
      case 'dev': info.dev = value; k++; break
      case 'dstport': port = parseUint(value); k++; break
      case 'srcport':
      case 'port': k += 2; break // the source port range; iproute2 before 3.12 called it `port`
      case 'nolearning': info.learning = false; break
      case 'learning': info.learning = true; break
      case 'df':
        if (value === 'set' || value === 'inherit') info.df = value
        k++
        break
      case 'l2miss': info.l2miss = true; break
      default:
    }
  }
  if (id === undefined) throw cannotRead(ctx, i, line, 'vxlan details', 'no id')
  if (info.local !== undefined && !isIP(info.local)) throw cannotRead(ctx, i, line, 'vxlan details', 'local is not an address')
  // iproute2 before 3.12 prints no dstport; the kernel's default (its udp_port parameter) is 8472
  const out: VxlanInfo = port === undefined ? {id, port: KERNEL_VXLAN_PORT, portAssumed: true, learning: info.learning ?? true} : {id, port, learning: info.learning ?? true}
  if (info.local !== undefined) out.local = info.local
  if (info.dev !== undefined) out.dev = info.dev
  if (info.df !== undefined) out.df = info.df
  if (info.l2miss) out.l2miss = true
  return out
}

interface LinkDraft {
  link: Link
  linkName?: string
  flags: string[]
  linkType?: string
  kindWord?: string
  rawLines: string[]
}

function finishLink(d: LinkDraft): {link: Link, linkName?: string} {
  const l = d.link
  if (d.flags.includes('LOOPBACK') || d.linkType === 'loopback') l.kind = 'loopback'
  else if (d.kindWord !== undefined) l.kind = MODEL_KINDS.has(d.kindWord as LinkKind) ? d.kindWord as LinkKind : 'other'
  else l.kind = d.linkType === 'ether' ? 'ether' : 'other'
  l.raw = d.rawLines.join('\n')
  return {link: l, linkName: d.linkName}
}

/** `5: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN ...`. */
function linkHeader(ctx: TextContext, i: number, line: string, t: string[]): LinkDraft {
  const what = 'a link header'
  const index = parseUint(t[0].slice(0, -1))
  let name = t[1].slice(0, -1)
  const flagsWord = t[2]
  if (index === undefined || name === '' || flagsWord === undefined || !flagsWord.startsWith('<') || !flagsWord.endsWith('>')) {
    throw cannotRead(ctx, i, line, what)
  }
  const draft: LinkDraft = {
    link: {name, index, kind: 'other', mtu: 0, up: false, raw: ''},
    flags: flagsWord.length > 2 ? flagsWord.slice(1, -1).split(',') : [],
    rawLines: [line.trim()],
  }
  const at = name.lastIndexOf('@')
  if (at > 0) {
    const peer = name.slice(at + 1)
    name = name.slice(0, at)
    draft.link.name = name
    const peerIndex = peer.startsWith('if') ? parseUint(peer.slice(2)) : undefined
    if (peerIndex !== undefined) draft.link.peerIndex = peerIndex
    else if (peer !== 'NONE') draft.linkName = peer
  }
  let mtu: number | undefined
  for (let k = 3; k < t.length; k++) {
    const value = t[k + 1]
    if (t[k] === 'mtu') {
      mtu = parseUint(value)
      if (mtu === undefined) throw cannotRead(ctx, i, line, what, `mtu ${value ?? 'nothing'} is not a number`)
      k++
    } else if (t[k] === 'master' && value !== undefined) {
      draft.link.master = value
      k++
    } else if (t[k] === 'state' && value !== undefined) {
      draft.link.operstate = value
      k++
    } else if (XDP_HEADER_WORDS[t[k]] !== undefined) {
      draft.link.xdp = {mode: XDP_HEADER_WORDS[t[k]]}
    }
  }
  if (mtu === undefined) throw cannotRead(ctx, i, line, what, 'no mtu')
  draft.link.mtu = mtu
  draft.link.up = draft.flags.includes('UP')
  draft.link.lowerUp = draft.flags.includes('LOWER_UP')
  return draft
}

/** `inet 10.244.1.1/24 brd 10.244.1.255 scope global cni0` (t[0] is inet or inet6). */
function ipAddressLine(ctx: TextContext, i: number, line: string, t: string[], dev: string): Address {
  const what = 'an address'
  const family = t[0] === 'inet' ? 4 : 6
  let k = 1
  let localText = t[k++]
  if (localText === undefined) throw cannotRead(ctx, i, line, what)
  let peer: string | undefined
  if (t[k] === 'peer') {
    const peerText = t[k + 1]
    if (peerText === undefined) throw cannotRead(ctx, i, line, what, 'peer without an address')
    const slash = peerText.indexOf('/')
    peer = slash === -1 ? peerText : peerText.slice(0, slash)
    localText = `${localText}${slash === -1 ? '' : peerText.slice(slash)}`
    k += 2
  }
  const slash = localText.indexOf('/')
  const local = slash === -1 ? localText : localText.slice(0, slash)
  const prefixlen = slash === -1 ? (family === 4 ? 32 : 128) : parseUint(localText.slice(slash + 1))
  const validLocal = family === 4 ? isIPv4(local) : isIPv6(local)
  if (!validLocal || prefixlen === undefined || prefixlen > (family === 4 ? 32 : 128)) {
    throw cannotRead(ctx, i, line, what, `${localText} is not an address with a prefix length`)
  }
  if (peer !== undefined && !isIP(peer)) throw cannotRead(ctx, i, line, what, `peer ${peer} is not an address`)
  const address: Address = {dev, family, local, prefixlen, raw: line.trim()}
  if (peer !== undefined) address.peer = peer
  for (; k < t.length; k++) {
    if (t[k] === 'scope' && t[k + 1] !== undefined) {
      address.scope = t[k + 1]
      break
    }
  }
  return address
}

/** `eth0@if2   UP   192.168.100.11/24 fe80::1/64` from `ip -br addr`. */
const OPERSTATES = new Set(['UP', 'DOWN', 'UNKNOWN', 'LOWERLAYERDOWN', 'DORMANT', 'NOTPRESENT', 'TESTING'])

function briefAddresses(ctx: TextContext, i: number, line: string, t: string[]): Address[] {
  const at = t[0].lastIndexOf('@')
  const dev = at > 0 ? t[0].slice(0, at) : t[0]
  const out: Address[] = []
  for (let k = 2; k < t.length; k++) {
    const cidr = t[k]
    if (cidr === 'peer') {
      // `10.99.0.1 peer 10.99.0.2/32`: the length printed belongs to the local address
      const last = out[out.length - 1]
      const peerText = t[++k] ?? ''
      const slash = peerText.indexOf('/')
      const peer = slash === -1 ? peerText : peerText.slice(0, slash)
      const len = slash === -1 ? undefined : parseUint(peerText.slice(slash + 1))
      if (last === undefined || !isIP(peer)) throw cannotRead(ctx, i, line, 'brief addresses', 'peer without an address')
      last.peer = peer
      if (len !== undefined && len <= (last.family === 4 ? 32 : 128)) last.prefixlen = len
      continue
    }
    if (isLinkLayerAddress(cidr) || cidr.startsWith('<')) {
      throw cannotRead(ctx, i, line, 'brief addresses', '`ip -br link` has no mtu or kind',
        'paste `ip -d link` (or `ip addr`) instead of the brief form')
    }
    const slash = cidr.indexOf('/')
    const local = slash === -1 ? cidr : cidr.slice(0, slash)
    const family = isIPv4(local) ? 4 : isIPv6(local) ? 6 : undefined
    const prefixlen = slash === -1 ? (family === 4 ? 32 : 128) : parseUint(cidr.slice(slash + 1))
    if (family === undefined || prefixlen === undefined || prefixlen > (family === 4 ? 32 : 128)) {
      throw cannotRead(ctx, i, line, 'brief addresses', `${cidr} is not an address with a prefix length`)
    }
    out.push({dev, family, local, prefixlen, raw: line.trim()})
  }
  return out
}

/** `ip addr`, `ip link`, `ip -d link`, `ip -o addr|link`, `ip -br addr`. */
function ipLinkDump(lines: string[], section: Section, ctx: TextContext): LinksAndAddresses {
  const links: Array<{link: Link, linkName?: string}> = []
  const addresses: Address[] = []
  let current: LinkDraft | undefined
  let sawLinkLayer = false
  const flush = (): void => {
    if (current) links.push(finishLink(current))
    current = undefined
  }
  const handle = (i: number, line: string): void => {
    const t = tokens(line)
    if (t.length === 0) return
    if (!startsWithSpace(line)) {
      const numbered = t[0].endsWith(':') && parseUint(t[0].slice(0, -1)) !== undefined
      if (numbered && t[1] !== undefined && t[1].endsWith(':')) {
        flush()
        current = linkHeader(ctx, i, line, t)
        sawLinkLayer = false
        return
      }
      if (numbered && (t[2] === 'inet' || t[2] === 'inet6')) { // ip -o addr
        flush()
        addresses.push(ipAddressLine(ctx, i, t.slice(2).join(' '), t.slice(2), t[1]))
        return
      }
      if (t.length >= 2 && OPERSTATES.has(t[1])) { // ip -br addr
        flush()
        addresses.push(...briefAddresses(ctx, i, line, t))
        return
      }
      throw cannotRead(ctx, i, line, 'an `ip addr` / `ip link` line')
    }
    const word = t[0]
    if (word === 'valid_lft' || word === 'altname' || word === 'alias' || word === 'prop') return
    if (current === undefined) {
      throw cannotRead(ctx, i, line, 'an `ip addr` / `ip link` line', 'no device header above it')
    }
    if (word.startsWith('link/')) {
      current.linkType = word.slice(5)
      if (t[1] !== undefined && isLinkLayerAddress(t[1])) current.link.mac = t[1].toLowerCase()
      current.rawLines.push(`    ${cutAt(line.trim(), [' promiscuity '])}`)
      sawLinkLayer = true
      return
    }
    if (word === 'inet' || word === 'inet6') {
      addresses.push(ipAddressLine(ctx, i, line, t, current.link.name))
      return
    }
    if (sawLinkLayer && current.kindWord === undefined && KIND_WORDS.has(word)) {
      current.kindWord = word
      if (word === 'vxlan') {
        current.link.vxlan = vxlanFromText(ctx, i, line)
        current.rawLines.push(`    ${cutAt(line.trim(), [' addrgenmode ', ' numtxqueues ', ' gso_max_size '])}`)
      }
    }
    if (word === 'prog/xdp') {
      // `prog/xdp id 97 name fcf_pass tag … jited`: the header's word said how it is attached
      const x = current.link.xdp ?? {mode: 'driver'}
      const id = parseUint(t[t.indexOf('id') + 1] ?? '')
      if (t.includes('id') && id !== undefined) x.progId = id
      if (t.includes('name') && t[t.indexOf('name') + 1] !== undefined) x.progName = t[t.indexOf('name') + 1]
      current.link.xdp = x
      current.rawLines.push(`    ${xdpLine(x)}`)
      return
    }
    if (word === 'bridge_slave') {
      const h = t.indexOf('hairpin')
      if (h !== -1 && t[h + 1] === 'on') current.link.hairpin = true
    }
    if (word === 'bridge') {
      const v = t.indexOf('vlan_filtering')
      if (v !== -1 && t[v + 1] === '1') {
        current.link.vlanFiltering = true
        current.rawLines.push('    bridge vlan_filtering 1')
      }
    }
    // other detail lines: vf, ...
  }
  for (let i = section.start; i < section.end; i++) {
    const line = lines[i]
    if (line.includes('\\') && !startsWithSpace(line)) {
      // ip -o: one device per line, its lines joined with backslashes
      const parts = line.split('\\')
      handle(i, parts[0])
      for (let p = 1; p < parts.length; p++) handle(i, ` ${parts[p]}`)
    } else handle(i, line)
  }
  flush()
  return {links: resolvePeerNames(links), addresses}
}

/* ifconfig --------------------------------------------------------------------------------- */

function isIfconfigHeader(line: string): boolean {
  if (startsWithSpace(line)) return false
  const t = tokens(line)
  return (t.length >= 2 && t[0].endsWith(':') && t[1].startsWith('flags=')) ||
    (t.length >= 3 && t[1] === 'Link' && t[2].startsWith('encap:'))
}

interface IfconfigDraft {
  name: string
  headerLine: number
  flags: string[]
  mtu?: number
  mac?: string
  kind: LinkKind
  raw: string
}

/** Both net-tools styles: 2.x `inet 10.0.0.1  netmask 255.255.255.0` and 1.60 `inet addr:10.0.0.1`. */
function ifconfigDump(lines: string[], section: Section, ctx: TextContext): LinksAndAddresses {
  const links: Link[] = []
  const addresses: Address[] = []
  let current: IfconfigDraft | undefined
  const hint = 'paste the whole `ifconfig -a` output, or `ip addr`'
  const flush = (): void => {
    if (current === undefined) return
    const base = current.name
    // an alias (eth0:1) is an address on eth0, not a device
    if (!base.includes(':')) {
      if (current.mtu === undefined) {
        throw cannotRead(ctx, current.headerLine, lines[current.headerLine], 'an ifconfig device', 'no mtu in its block', hint)
      }
      const link: Link = {name: base, kind: current.kind, mtu: current.mtu, up: current.flags.includes('UP'), raw: current.raw}
      // ifconfig prints RUNNING for a device with carrier (IFF_RUNNING); `ip link` calls one without NO-CARRIER, state DOWN
      if (link.up && !current.flags.includes('RUNNING')) link.operstate = 'DOWN'
      if (current.mac !== undefined) link.mac = current.mac
      links.push(link)
    }
    current = undefined
  }
  const devOf = (name: string): string => {
    const colon = name.indexOf(':')
    return colon === -1 ? name : name.slice(0, colon)
  }
  for (let i = section.start; i < section.end; i++) {
    const line = lines[i]
    const t = tokens(line)
    if (t.length === 0) continue
    if (!startsWithSpace(line)) {
      if (!isIfconfigHeader(line)) throw cannotRead(ctx, i, line, 'an ifconfig line', '', hint)
      flush()
      if (t[1].startsWith('flags=')) {
        const open = t[1].indexOf('<')
        const close = t[1].indexOf('>')
        const flags = open !== -1 && close > open ? t[1].slice(open + 1, close).split(',').filter(f => f !== '') : []
        const mtuAt = t.indexOf('mtu')
        const mtu = mtuAt === -1 ? undefined : parseUint(t[mtuAt + 1])
        if (mtuAt !== -1 && mtu === undefined) throw cannotRead(ctx, i, line, 'an ifconfig header', 'bad mtu', hint)
        current = {name: t[0].slice(0, -1), headerLine: i, flags, mtu, kind: flags.includes('LOOPBACK') ? 'loopback' : 'other', raw: line.trim()}
      } else {
        const encap = t[2].slice('encap:'.length)
        const hw = t.indexOf('HWaddr')
        current = {
          name: t[0], headerLine: i, flags: [], raw: line.trim(),
          kind: encap === 'Local' ? 'loopback' : encap === 'Ethernet' ? 'ether' : 'other',
        }
        if (hw !== -1 && t[hw + 1] !== undefined && isLinkLayerAddress(t[hw + 1])) current.mac = t[hw + 1].toLowerCase()
      }
      continue
    }
    if (current === undefined) throw cannotRead(ctx, i, line, 'an ifconfig line', 'no device header above it', hint)
    const word = t[0]
    const dev = devOf(current.name)
    if (word === 'inet' && t[1] !== undefined && t[1].startsWith('addr:')) {
      // inet addr:10.0.0.1  Bcast:10.0.0.255  Mask:255.255.255.0   (or P-t-P:peer)
      const local = t[1].slice(5)
      const maskWord = t.find(w => w.startsWith('Mask:'))
      const peerWord = t.find(w => w.startsWith('P-t-P:'))
      const prefixlen = maskWord === undefined ? undefined : netmaskToPrefixlen(maskWord.slice(5))
      if (!isIPv4(local) || prefixlen === undefined) throw cannotRead(ctx, i, line, 'an ifconfig address', '', hint)
      const a: Address = {dev, family: 4, local, prefixlen, raw: line.trim()}
      if (peerWord !== undefined && isIPv4(peerWord.slice(6))) a.peer = peerWord.slice(6)
      addresses.push(a)
    } else if (word === 'inet') {
      // inet 10.0.0.1  netmask 255.255.255.0  broadcast 10.0.0.255   (or destination peer)
      const local = t[1] ?? ''
      const maskAt = t.indexOf('netmask')
      const prefixlen = maskAt === -1 ? undefined : netmaskToPrefixlen(t[maskAt + 1] ?? '')
      if (!isIPv4(local) || prefixlen === undefined) throw cannotRead(ctx, i, line, 'an ifconfig address', '', hint)
      const a: Address = {dev, family: 4, local, prefixlen, raw: line.trim()}
      const destAt = t.indexOf('destination')
      if (destAt !== -1 && isIPv4(t[destAt + 1] ?? '')) a.peer = t[destAt + 1]
      addresses.push(a)
    } else if (word === 'inet6' && t[1] === 'addr:') {
      // inet6 addr: fe80::1/64 Scope:Link
      const cidr = t[2] ?? ''
      const slash = cidr.indexOf('/')
      const local = slash === -1 ? cidr : cidr.slice(0, slash)
      const prefixlen = slash === -1 ? 128 : parseUint(cidr.slice(slash + 1))
      if (!isIPv6(local) || prefixlen === undefined || prefixlen > 128) throw cannotRead(ctx, i, line, 'an ifconfig address', '', hint)
      const a: Address = {dev, family: 6, local, prefixlen, raw: line.trim()}
      const scope = t.find(w => w.startsWith('Scope:'))
      if (scope !== undefined) a.scope = scope.slice(6).toLowerCase()
      addresses.push(a)
    } else if (word === 'inet6') {
      // inet6 fe80::1  prefixlen 64  scopeid 0x20<link>
      const local = t[1] ?? ''
      const lenAt = t.indexOf('prefixlen')
      const prefixlen = lenAt === -1 ? undefined : parseUint(t[lenAt + 1])
      if (!isIPv6(local) || prefixlen === undefined || prefixlen > 128) throw cannotRead(ctx, i, line, 'an ifconfig address', '', hint)
      const a: Address = {dev, family: 6, local, prefixlen, raw: line.trim()}
      const scopeWord = t[t.indexOf('scopeid') + 1]
      if (t.includes('scopeid') && scopeWord !== undefined) {
        const open = scopeWord.indexOf('<')
        if (open !== -1 && scopeWord.endsWith('>')) a.scope = scopeWord.slice(open + 1, -1).split(',')[0]
      }
      addresses.push(a)
    } else if (word === 'ether' || word === 'infiniband') {
      if (t[1] !== undefined && isLinkLayerAddress(t[1])) current.mac = t[1].toLowerCase()
      if (current.kind === 'other' && word === 'ether') current.kind = 'ether'
    } else if (word === 'loop') {
      current.kind = 'loopback'
    } else if (t.some(w => w.startsWith('MTU:'))) {
      // UP BROADCAST RUNNING MULTICAST  MTU:1500  Metric:1
      const mtuWord = t.find(w => w.startsWith('MTU:')) as string
      const mtu = parseUint(mtuWord.slice(4))
      if (mtu === undefined) throw cannotRead(ctx, i, line, 'an ifconfig flags line', 'bad MTU', hint)
      current.mtu = mtu
      current.flags = t.filter(w => !w.includes(':'))
      if (current.flags.includes('LOOPBACK')) current.kind = 'loopback'
    }
    // RX/TX counters, txqueuelen, interrupts: nothing the model keeps
  }
  flush()
  return {links, addresses}
}

export function addrsFromText(lines: string[], section: Section, ctx: TextContext): LinksAndAddresses {
  const first = firstContent(lines, section)
  if (first === undefined) return {links: [], addresses: []}
  return isIfconfigHeader(first) ? ifconfigDump(lines, section, ctx) : ipLinkDump(lines, section, ctx)
}

function joinDumps(text: string, options: ParseOptions | string | undefined): LinksAndAddresses {
  const parts = eachSection(text, options, (lines, section, ctx) => [addrsFromText(lines, section, ctx)])
  return {links: parts.flatMap(p => p.links), addresses: parts.flatMap(p => p.addresses)}
}

/** `ip addr` or `ifconfig` output → links and addresses. */
export function parseIpAddrText(text: string, options?: ParseOptions | string): LinksAndAddresses {
  return joinDumps(text, options)
}

/** `ip -d link` (or `ip link`, `ip addr`, `ifconfig`) output → links. */
export function parseIpLinkText(text: string, options?: ParseOptions | string): Link[] {
  return joinDumps(text, options).links
}

