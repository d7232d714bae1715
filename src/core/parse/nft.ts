/**
 * `nft list ruleset` (text or `nft -j` JSON) as its base chains: the chains hooked into netfilter,
 * each with its hook, priority and policy, and the ruleset's rules and sets, which the trace
 * evaluates (see trace/nft.ts). A rule of the text form the reader does not understand is kept
 * as unread, so the trace names it instead of guessing.
 */
import type {NftChain, NftRule, NftRuleset, NftSet} from '../model.js'
import {printRule, readElements, readRule} from './nft-rule.js'
import {firstContentLine, looksLikeJson, sections, splitLines} from './common.js'
import {ParseError, resolveOptions, type ParseOptions} from './errors.js'

/** nft's priority names (ip, ip6, inet, netdev, arp families) as numbers. */
const PRIORITY_NAMES: Record<string, number> = {raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100}

export function parseNftRuleset(text: string, options?: ParseOptions | string): NftChain[] {
  const {source} = resolveOptions(options)
  const lines = splitLines(text)
  const out: NftChain[] = []
  for (const section of sections(lines)) {
    const first = firstContentLine(lines, section)
    if (first === -1) continue
    const chains = looksLikeJson(lines[first])
      ? fromJson(lines.slice(first, section.end).join('\n'), source, first + 1)
      : fromText(lines, first, section.end, source)
    out.push(...chains)
  }
  return out
}

interface JsonChain {
  family?: string
  table?: string
  name?: string
  type?: string
  hook?: string
  prio?: number
  policy?: string
  dev?: string | string[]
}

/**
 * The items of one `nft -j` document (`{"nftables": [...]}`); undefined when the text is not JSON or
 * holds no such array. For readers that skip what they cannot read; a paste is an error instead (fromJson).
 */
export function nftJsonItems(text: string): unknown[] | undefined {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    return undefined
  }
  const items = (doc as {nftables?: unknown} | null)?.nftables
  return Array.isArray(items) ? items : undefined
}

function fromJson(text: string, source: string, line: number): NftChain[] {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (error) {
    throw new ParseError(source, line, `not valid JSON (${(error as Error).message})`, 'paste the whole output of nft -j list ruleset')
  }
  const items = (doc as {nftables?: unknown})?.nftables
  if (!Array.isArray(items)) throw new ParseError(source, line, 'JSON without an "nftables" array: not the output of nft -j list ruleset')
  const chains: NftChain[] = []
  const facts = new ChainFacts()
  const ruleset: NftRuleset = {rules: [], sets: []}
  for (const item of items as Record<string, unknown>[]) {
    const set = (item?.set ?? item?.map) as {family?: string; table?: string; name?: string; map?: string; elem?: unknown[]} | undefined
    if (set?.name !== undefined && set.family !== undefined && set.table !== undefined) {
      ruleset.sets.push({family: set.family, table: set.table, name: set.name, ...(item?.map !== undefined ? {map: String(set.map)} : {}), elem: set.elem ?? []})
    }
    const c = item?.chain as JsonChain | undefined
    if (c?.hook !== undefined && c.family !== undefined && c.table !== undefined && c.name !== undefined) {
      const device = Array.isArray(c.dev) ? c.dev.join(',') : c.dev
      chains.push(chainOf(c.family, c.table, c.name, c.type ?? 'filter', c.hook, c.prio ?? 0, c.policy, device))
    }
    const r = item?.rule as {family?: string; table?: string; chain?: string; handle?: number; comment?: string; expr?: unknown} | undefined
    if (r?.chain !== undefined && r.family !== undefined && r.table !== undefined) {
      const expr = Array.isArray(r.expr) ? r.expr : []
      ruleset.rules.push({family: r.family, table: r.table, chain: r.chain, ...(r.handle !== undefined ? {handle: r.handle} : {}), expr, text: printRule(expr, r.comment)})
      // verdicts sit in the statements, in verdict maps (`vmap`) too: the statement names are JSON keys
      const text = JSON.stringify(r.expr ?? [])
      facts.addRule(`${r.family} ${r.table}`, r.chain, {
        // iptables-nft's own rules show as `xt` targets by name
        drops: /"(drop|reject|queue)":|"name":"(DROP|REJECT|NFQUEUE)"/.test(text),
        rewrites: /"(snat|dnat|masquerade|redirect)":|"name":"(SNAT|DNAT|MASQUERADE|REDIRECT)"/.test(text),
        jumps: jumpsIn(text),
        maps: [...text.matchAll(/"@([^"]+)"/g)].map(m => m[1]),
      })
    }
  }
  return facts.complete(chains, ruleset)
}

interface RuleFacts {
  drops: boolean
  rewrites: boolean
  /** the chains it jumps or goes to, by statement or in an inline verdict map */
  jumps: string[]
  /** the named sets and maps it looks up (`vmap @service-ips`): a verdict map's jumps are its own */
  maps: string[]
}

/** `"jump":{"target":"X"}` / `"goto":…` in a rule's (or a map's elements') JSON. */
function jumpsIn(json: string): string[] {
  return [...json.matchAll(/"(?:jump|goto)":\{"target":"([^"]+)"\}/g)].map(m => m[1])
}

/**
 * Each chain's rules, and what a base chain can do through the chains it reaches: the one walk
 * of jumps and gotos, through inline and named verdict maps, made once as the ruleset is read.
 * The trace's view of a chain it cannot evaluate (drops, rewrites) and the build side's question
 * whether a forward chain reads the mark (rulesReached) both rest on it.
 */
class ChainFacts {
  private readonly byChain = new Map<string, {rules: number; drops: boolean; rewrites: boolean; jumps: Set<string>; maps: Set<string>}>()

  addRule(table: string, chain: string, r: RuleFacts): void {
    const key = `${table} ${chain}`
    const f = this.byChain.get(key) ?? {rules: 0, drops: false, rewrites: false, jumps: new Set<string>(), maps: new Set<string>()}
    f.rules++
    f.drops ||= r.drops
    f.rewrites ||= r.rewrites
    for (const j of r.jumps) f.jumps.add(j)
    for (const m of r.maps) f.maps.add(m)
    this.byChain.set(key, f)
  }

  complete(chains: NftChain[], ruleset: NftRuleset): NftChain[] {
    const mapJumps = new Map(ruleset.sets.map(x => [`${x.family} ${x.table} ${x.name}`, jumpsIn(JSON.stringify(x.elem))]))
    for (const c of chains) {
      c.ruleset = ruleset
      const table = `${c.family} ${c.table}`
      c.rules = this.byChain.get(`${table} ${c.name}`)?.rules ?? 0
      const seen = new Set<string>()
      const walk = (name: string) => {
        if (seen.has(name)) return
        seen.add(name)
        const f = this.byChain.get(`${table} ${name}`)
        if (f === undefined) return
        if (f.drops) c.drops = true
        if (f.rewrites) c.rewrites = true
        for (const j of f.jumps) walk(j)
        for (const m of f.maps) for (const j of mapJumps.get(`${table} ${m}`) ?? []) walk(j)
      }
      walk(c.name)
      c.reaches = [...seen]
    }
    return chains
  }
}

/** The rules base chain `c` walks: its own and those of every chain it reaches (NftChain.reaches). */
export function rulesReached(c: NftChain): NftRule[] {
  const reached = new Set(c.reaches ?? [c.name])
  return (c.ruleset?.rules ?? []).filter(r => r.family === c.family && r.table === c.table && reached.has(r.chain))
}

/** `table inet fw {` / `chain fwd {` / `type filter hook forward priority filter + 10; policy drop;` / rules / `}`. */
function fromText(lines: string[], start: number, end: number, source: string): NftChain[] {
  const chains: NftChain[] = []
  const facts = new ChainFacts()
  const ruleset: NftRuleset = {rules: [], sets: []}
  let table: {family: string; name: string} | undefined
  let block: {kind: string; name: string; set?: NftSet} | undefined
  for (let i = start; i < end; i++) {
    // `nft -a list ruleset` ends table, chain, set and rule lines with their handle
    const handled = /^(.*?)\s*# handle (\d+)$/.exec(lines[i].trim())
    const line = handled ? handled[1] : lines[i].trim()
    if (line === '' || line.startsWith('#')) continue
    const opens = /^(table|chain|set|map|flowtable|ct \w+|counter|quota|limit|secmark|synproxy)\s+(.*?)\s*\{$/.exec(line)
    if (table === undefined) {
      const t = /^table\s+(?:(ip|ip6|inet|arp|bridge|netdev)\s+)?(\S+)\s*\{$/.exec(line)
      if (!t) throw new ParseError(source, i + 1, `expected "table FAMILY NAME {", found "${line.slice(0, 80)}"`, 'paste the whole output of nft list ruleset')
      table = {family: t[1] ?? 'ip', name: t[2]}
      continue
    }
    if (block === undefined) {
      if (line === '}') {
        table = undefined
        continue
      }
      if (!opens) continue // a table-level statement (flags, comment)
      block = {kind: opens[1], name: opens[2]}
      if (opens[1] === 'set' || opens[1] === 'map') {
        block.set = {family: table.family, table: table.name, name: opens[2], elem: []}
        ruleset.sets.push(block.set)
      }
      continue
    }
    if (line === '}') {
      block = undefined
      continue
    }
    if (block.set !== undefined) {
      const type = /^type\s+.*?(?::\s*(\S+))?$/.exec(line)
      if (block.kind === 'map' && type?.[1] !== undefined) block.set.map = type[1]
      if (!line.startsWith('elements')) continue
      // a long element list runs over several lines, up to its closing brace
      let text = line.replace(/^elements\s*=\s*/, '')
      while (depth(text) > 0 && i + 1 < end) text += ` ${lines[++i].trim()}`
      const elem = readElements(text)
      if (elem === undefined) block.set.unread = true
      else block.set.elem.push(...elem)
      continue
    }
    if (block.kind !== 'chain') continue
    const base = /^type\s+(\w+)\s+hook\s+(\w+)(?:\s+device(?:s\s*=\s*\{([^}]*)\}|\s+"?([^";\s]+)"?))?\s+priority\s+([^;]+);(?:\s*policy\s+(\w+);)?/.exec(line)
    if (base) {
      chains.push(chainOf(table.family, table.name, block.name, base[1], base[2], priorityOf(base[5]), base[6], (base[3] ?? base[4])?.replace(/["\s]/g, '')))
      continue
    }
    if (/^(policy|comment|devices?)\b/.test(line)) continue
    const read = readRule(line)
    const rule: NftRule = {family: table.family, table: table.name, chain: block.name, ...(handled ? {handle: Number(handled[2])} : {}),
      expr: read.expr, text: line, ...(read.unread !== undefined ? {unread: read.unread} : {})}
    ruleset.rules.push(rule)
    // a comment's words are not statements
    const words = line.replace(/"[^"]*"/g, '""')
    facts.addRule(`${table.family} ${table.name}`, block.name, {
      drops: /\b(drop|reject|queue|nfqueue)\b/i.test(words),
      rewrites: /\b(snat|dnat|masquerade|redirect)\b/i.test(words),
      jumps: [...words.matchAll(/\b(?:jump|goto)\s+([^\s;,}]+)/g)].map(m => m[1]),
      maps: [...words.matchAll(/@([^\s;,}]+)/g)].map(m => m[1]),
    })
  }
  return facts.complete(chains, ruleset)
}

/** How many braces are still open in `text`. */
function depth(text: string): number {
  let d = 0
  for (const c of text.replace(/"[^"]*"/g, '')) d += c === '{' ? 1 : c === '}' ? -1 : 0
  return d
}

/** `filter + 10`, `mangle - 5`, `-150`, `dstnat`. */
function priorityOf(text: string): number {
  const m = /^\s*(-?\d+|[a-z]+)\s*(?:([+-])\s*(\d+))?\s*$/.exec(text)
  if (!m) return 0
  const base = /^-?\d+$/.test(m[1]) ? Number(m[1]) : PRIORITY_NAMES[m[1]] ?? 0
  return base + (m[2] === undefined ? 0 : (m[2] === '-' ? -1 : 1) * Number(m[3]))
}

function chainOf(family: string, table: string, name: string, type: string, hook: string, priority: number, policy: string | undefined, device: string | undefined): NftChain {
  return {
    family, table, name, type, hook, priority,
    policy: policy === 'drop' ? 'drop' : 'accept',
    ...(device ? {device} : {}),
    rules: 0,
    drops: false,
    rewrites: false,
    raw: `table ${family} ${table} chain ${name} { type ${type} hook ${hook}${device ? ` device ${device}` : ''} priority ${priority}; policy ${policy === 'drop' ? 'drop' : 'accept'}; }`,
  }
}
