/**
 * One entry point per table. Each accepts what a snapshot file may hold — `-j` JSON or plain text
 * in any of the forms the table's commands print — and recognises which, per pasted command.
 */
import type {FdbEntry, Iptables, Link, Neighbor, PolicyRule, Route} from '../model.js'
import {firstContentLine, listsSomeDevices, looksLikeJson, type Section, sections, splitLines} from './common.js'
import {type ParseOptions, resolveOptions} from './errors.js'
import {addrsFromJson, fdbFromJsonDoc, linksFromJson, neighborsFromJson, parseJsonDocument, routesFromJson, rulesFromJson} from './json.js'
import {parseIptablesSave} from './iptables.js'
import {parseSysctl} from './sysctl.js'
import {type LinksAndAddresses, type TextContext, addrsFromText, fdbFromText, neighborsFromText, routesFromText, rulesFromText} from './text.js'

export {ParseError, type ParseOptions} from './errors.js'
export * from './json.js'
export {
  type LinksAndAddresses, parseBridgeFdbText, parseIpAddrText, parseIpLinkText, parseIpNeighText, parseIpRouteText, parseIpRuleText,
} from './text.js'
export {normaliseSysctlKey} from './sysctl.js'
export {parseNftRuleset} from './nft.js'
export {parseQdiscs} from './tc.js'
export {parseIpsets} from './ipset.js'
export {isIP, isIPv4, isIPv6, isMac} from './common.js'

/** Per section: JSON when it starts like JSON, otherwise the text form the content shows. */
function parseEach<T>(text: string, options: ParseOptions | string | undefined, what: string,
  fromJson: (doc: ReturnType<typeof parseJsonDocument>) => T[],
  fromText: (lines: string[], section: Section, ctx: TextContext) => T[]): T[] {
  const {source, dev} = resolveOptions(options)
  const lines = splitLines(text)
  const out: T[] = []
  for (const section of sections(lines)) {
    const sectionFilter = section.command?.filter ?? {}
    const filter = sectionFilter.dev === undefined && dev !== undefined ? {...sectionFilter, dev} : sectionFilter
    const first = firstContentLine(lines, section)
    if (first === -1) continue
    const items = looksLikeJson(lines[first])
      ? fromJson({...parseJsonDocument(lines, section, source, what), filter})
      : fromText(lines, section, {source, filter})
    for (const item of items) out.push(item)
  }
  return out
}

/** `ip route` / `ip r` / `route -n` / `netstat -rn` text, or `ip -j route` JSON. */
export function parseRoutes(text: string, options?: ParseOptions | string): Route[] {
  return parseEach(text, options, 'routes', routesFromJson, routesFromText)
}

/** `ip rule show` text or `ip -j rule show` JSON. */
export function parseRules(text: string, options?: ParseOptions | string): PolicyRule[] {
  return parseEach(text, options, 'rules', rulesFromJson, rulesFromText)
}

/**
 * The IPv4 rules of an `ip rule` file, or undefined when it holds IPv6's alone. `ip rule` prints
 * IPv4's; `ip -6 rule` (pasted below its command line, or seen by a `from`/`to` prefix only IPv6
 * has) is IPv6's, whose `from all lookup 100` must not steer an IPv4 packet.
 */
export function parseIPv4Rules(text: string, options?: ParseOptions | string): PolicyRule[] | undefined {
  const lines = splitLines(text)
  const kept: PolicyRule[] = []
  let any = false
  for (const section of sections(lines)) {
    if (firstContentLine(lines, section) === -1) continue
    any = true
    if (section.command?.ipv6Only) continue
    const from = section.command === undefined ? section.start : section.command.line - 1
    // the section's own lines, its prompt with them, so its line numbers and filter stay its own
    const rules = parseRules(lines.map((l, i) => (i >= from && i < section.end ? l : '')).join('\n'), options)
    if (rules.some(r => (r.from?.includes(':') ?? false) || (r.to?.includes(':') ?? false))) continue
    for (const r of rules) kept.push(r)
  }
  return kept.length === 0 && any ? undefined : kept
}

/** `ip neigh` / `arp -n` / `arp -an` text, or `ip -j neigh` JSON. */
export function parseNeighbors(text: string, options?: ParseOptions | string): Neighbor[] {
  return parseEach(text, options, 'neighbours', neighborsFromJson, neighborsFromText)
}

/** `ip addr` / `ifconfig` text (also `ip -o`, `ip -br addr`), or `ip -j addr` JSON. */
export function parseAddrs(text: string, options?: ParseOptions | string): LinksAndAddresses {
  const parts = parseEach(text, options, 'addresses', doc => [addrsFromJson(doc)],
    (lines, section, ctx) => [addrsFromText(lines, section, ctx)])
  const out = parts.length === 1 ? parts[0] : {links: parts.flatMap(p => p.links), addresses: parts.flatMap(p => p.addresses)}
  // `ip -6 addr` lists the devices with an IPv6 address, and no IPv4 address of any
  return listsSomeDevicesOnly(text) || ipv4Part(out.addresses, a => a.family === 6).ipv6Only ? {...out, someDevicesOnly: true} : out
}

/**
 * A table's IPv4 entries. `ip route show table all` and `ip neigh` print IPv6 entries too, which
 * never carry an IPv4 packet; a table of IPv6 entries alone (`ip -6 route`, `ip -j -6 neigh` saved
 * without their command line) says nothing of IPv4's: `ipv6Only`, and its IPv4 part is unknown.
 * `inAnyListing`: IPv6 entries the kernel keeps for itself, which a listing of both families shows
 * as well (a neighbour table's multicast ones): alone, they make no `-6` listing.
 */
export function ipv4Part<T>(entries: T[], isIPv6Entry: (e: T) => boolean, inAnyListing: (e: T) => boolean = () => false): {entries: T[], ipv6Only: boolean} {
  const v4 = entries.filter(e => !isIPv6Entry(e))
  return {entries: v4.length === entries.length ? entries : v4, ipv6Only: v4.length === 0 && entries.some(e => !inAnyListing(e))}
}

/**
 * A neighbour entry the kernel makes for an IPv6 multicast group a device joins (`ff02::2 … NOARP`):
 * every IPv6-enabled device has some, so `ip neigh` of a pod that has sent nothing yet lists them
 * and no IPv4 entry.
 */
export function isIPv6MulticastNeighbor(n: {dst: string}): boolean {
  return /^ff[0-9a-f]{2}:/i.test(n.dst)
}

/**
 * The filter every paste of a route text was narrowed by (`ip route show dev flannel.1` →
 * `dev flannel.1`), or undefined when one printed every route of its table (a `table` choice
 * names which table, not which routes).
 */
export function routeFilterOfAll(text: string): string | undefined {
  const lines = splitLines(text)
  const pasted = sections(lines).filter(section => firstContentLine(lines, section) !== -1)
  let narrowed: string | undefined
  for (const section of pasted) {
    const f = section.command?.filter
    const words = f === undefined ? [] : (['dev', 'proto', 'scope', 'type'] as const).filter(k => f[k] !== undefined).map(k => `${k} ${f[k]}`)
    if (section.command?.pipe !== undefined) words.push(section.command.pipe)
    if (section.command?.ipv6Only) words.push('-6')
    if (section.command?.routeGet !== undefined) words.push(`get ${section.command.routeGet}`.trim())
    if (words.length === 0) return undefined
    narrowed ??= words.join(' ')
  }
  return narrowed
}

/**
 * The devices every paste of a neighbour or fdb text was narrowed to (`ip neigh show dev
 * flannel.1`; `bridge fdb show br cni0` gives `cni0` and marks its ports by `master:`), or
 * undefined when one printed every device's entries.
 */
export function entryDevicesOfAll(text: string, entries: ReadonlyArray<{dev: string}>): string[] | undefined {
  const lines = splitLines(text)
  const devices = new Set<string>()
  let narrowed = false
  for (const section of sections(lines)) {
    if (firstContentLine(lines, section) === -1) continue
    narrowed = true
    const f = section.command?.filter
    const dev = f?.dev ?? (f?.master !== undefined ? `master:${f.master}` : undefined)
    // `ip -6 neigh`: no device's IPv4 neighbours are known; `ip neigh show nud permanent`: no device's whole table
    if (section.command?.ipv6Only || f?.someEntries !== undefined) continue
    if (dev !== undefined) devices.add(dev)
    // `ip neigh | grep flannel.1`: which lines a pipe kept is unknown; the devices it shows are taken as shown whole
    else if (section.command?.pipe !== undefined) for (const e of entries) devices.add(e.dev)
    else return undefined
  }
  return narrowed ? [...devices] : undefined
}

/**
 * Whether every paste in an `ip addr` / `ip link` / `ifconfig` text printed only some devices
 * (`ip addr show flannel.1`): the other devices, and their addresses, are then unknown.
 */
export function listsSomeDevicesOnly(text: string): boolean {
  const lines = splitLines(text)
  const pasted = sections(lines).filter(section => firstContentLine(lines, section) !== -1)
  return pasted.length > 0 && pasted.every(section => listsSomeDevices(section.command))
}

/** `ip -d link` text (or anything parseAddrs reads), or `ip -d -j link` JSON. */
export function parseLinks(text: string, options?: ParseOptions | string): Link[] {
  return parseEach(text, options, 'links', linksFromJson, (lines, section, ctx) => addrsFromText(lines, section, ctx).links)
}

/** `bridge fdb` text or `bridge -j fdb` JSON. */
export function parseFdb(text: string, options?: ParseOptions | string): FdbEntry[] {
  return parseEach(text, options, 'fdb entries', fdbFromJsonDoc, fdbFromText)
}

/** `iptables-save` (or `iptables -S`) output. */
export function parseIptables(text: string, options?: ParseOptions | string): Iptables {
  return parseIptablesSave(text, options)
}

/** `sysctl -a` style `key = value` lines, or a JSON object of key to value. */
export function parseSysctls(text: string, options?: ParseOptions | string): Record<string, string> {
  return parseSysctl(text, options)
}
