/**
 * flanneld's native nftables mode (`EnableNFTables` in the net-conf), as data: the tables, chains
 * and rules its pkg/trafficmngr/nftables writes (through knftables), read back from `nft -j`, and
 * the `nft -f` lines that make a host hold them. Pure: the host adapter runs nft.
 *
 * flanneld (nftables.go) on start: `add table ip flannel-ipv4 { comment "rules for flannel-ipv4" ; }`
 * and the same for `ip6 flannel-ipv6` (always both, even on an IPv4-only network); with ip-masq a
 * nat chain `postrtg` (hook postrouting, priority 100 = srcnat) flushed and refilled with six
 * rules; then a filter chain `forward` (hook forward, priority 0 = filter) flushed and refilled with
 * two accepts. Each chain is one transaction, so it is never seen half-written. Its CleanUp (run
 * when it starts in iptables mode) deletes both tables whole.
 *
 * Where flannelctl differs, on purpose:
 * - a chain already as wanted is left alone (flanneld rewrites it on every start): a resync plans nothing;
 * - a rule someone added to flanneld's chain stays where it is among flanneld's, above them too (flanneld's flush drops it),
 *   also one only shaped like flanneld's (flannelRulesOf);
 * - a policy other than accept on flanneld's chain is set back to accept, in place (flanneld's
 *   `add chain` names no policy, so it leaves one set by hand);
 * - the `postrtg` chain is deleted when masquerading is turned off (flanneld leaves the old one);
 * - a switch of mode adds the new rules before removing the old (flanneld, on start, cleans the
 *   other mode up first). flanneld's iptables clean-up also misses: it looks for FLANNEL-FWD in the
 *   nat table (it is in filter), and cannot delete FLANNEL-POSTRTG while POSTROUTING jumps to it
 *   (it flushes it); flannelctl removes both chains with their jumps;
 * - `fully-random` is always asked for, as the iptables rules always say --random-fully (flanneld
 *   first asks `nft --check` whether the kernel takes it, and leaves it out where not; there the
 *   batch fails with nft's own error instead).
 */
import {FlannelctlError, ExitCode} from '../errors.js'
import type {Op} from './ops.js'
import type {HostSnapshot} from './model.js'
import {FWD_CHAIN, MASQ_CHAIN, foreignRuleSlots} from './flannel.js'
import {printRule} from './parse/nft-rule.js'
import {nftJsonItems} from './parse/nft.js'

export const NFT_TABLE_V4 = 'flannel-ipv4'
export const NFT_TABLE_V6 = 'flannel-ipv6'
export const NFT_MASQ_CHAIN = 'postrtg'
export const NFT_FWD_CHAIN = 'forward'
/** flanneld's two tables, by family: the only nftables objects flannelctl creates or deletes. */
export const FLANNEL_NFT_TABLES: readonly {family: 'ip' | 'ip6'; name: string}[] = [
  {family: 'ip', name: NFT_TABLE_V4},
  {family: 'ip6', name: NFT_TABLE_V6},
]
export const NFT_MANUAL_MASQ_COMMENT = 'flannelctl manual masq'

export interface FlannelNftRule {
  handle: number
  /** the rule in nft's syntax as flannelctl writes it; undefined: a rule this reader cannot spell (someone else's) */
  text?: string
}

export interface FlannelNftChain {
  name: string
  /** base chain properties; absent for a regular chain */
  type?: string
  hook?: string
  priority?: number
  policy?: string
  rules: FlannelNftRule[]
}

export interface FlannelNftTable {
  family: string
  name: string
  chains: FlannelNftChain[]
}

/** One chain flanneld makes: its head (as knftables writes it) and its rules in order. */
interface WantedChain {
  name: string
  type: 'nat' | 'filter'
  hook: 'postrouting' | 'forward'
  priority: number
  comment: string
  rules: string[]
}

export interface NftIntent {
  network: string
  subnet: string
  /** flanneld's ip-masq rules */
  ipMasq: boolean
  /** the hand-run flanneld's narrowed SNAT (static peers without ip-masq): pod traffic leaving the network, not via this bridge */
  manualMasqBridge?: string
}

/** flanneld's masquerade rules (addMasqRules), in its order and spelling (knftables.Concat of its words). */
export function nftMasqRules(network: string, subnet: string): string[] {
  return [
    // kube-proxy's mark: flanneld matches the whole mark here (iptables mode: 0x4000/0x4000)
    'meta mark 0x4000 return',
    `ip saddr ${subnet} ip daddr ${network} return`,
    `ip saddr ${network} ip daddr ${subnet} return`,
    `ip saddr != ${subnet} ip daddr ${network} return`,
    `ip saddr ${network} ip daddr != 224.0.0.0/4 masquerade fully-random`,
    `ip saddr != ${network} ip daddr ${network} masquerade fully-random`,
  ]
}

export function nftForwardRules(network: string): string[] {
  return [`ip saddr ${network} accept`, `ip daddr ${network} accept`]
}

/** The iptables mode's manualMasqRule in nft's words. */
export function nftManualMasqRule(network: string, subnet: string, bridge: string): string {
  return `ip saddr ${subnet} ip daddr != ${network} oifname != "${bridge}" masquerade comment "${NFT_MANUAL_MASQ_COMMENT}"`
}

function wantedChains(intent: NftIntent): WantedChain[] {
  const nat = intent.ipMasq ? nftMasqRules(intent.network, intent.subnet) : []
  if (intent.manualMasqBridge !== undefined) nat.push(nftManualMasqRule(intent.network, intent.subnet, intent.manualMasqBridge))
  const chains: WantedChain[] = []
  if (nat.length > 0) {
    chains.push({name: NFT_MASQ_CHAIN, type: 'nat', hook: 'postrouting', priority: 100, comment: 'chain to manage traffic masquerading by flannel', rules: nat})
  }
  chains.push({name: NFT_FWD_CHAIN, type: 'filter', hook: 'forward', priority: 0, comment: 'chain to accept flannel traffic', rules: nftForwardRules(intent.network)})
  return chains
}

/**
 * Which rules of one of flanneld's chains flanneld (or flannelctl) wrote: those `wanted` now, the
 * narrowed SNAT (by its comment), and each whole set flanneld writes for a network and subnet (its
 * six masquerade rules, its two accepts), as an earlier lease or network left them. A rule someone
 * added that is only shaped like one of flanneld's (`ip saddr 10.99.0.0/16 accept`, a RETURN that
 * keeps a service range's sources) is theirs: a rewrite keeps it, reset names it.
 */
export function flannelRulesOf(rules: readonly FlannelNftRule[], wanted: readonly string[] = []): (rule: FlannelNftRule) => boolean {
  const texts = rules.flatMap(r => (r.text === undefined ? [] : [r.text]))
  const cidr = '\\d+\\.\\d+\\.\\d+\\.\\d+/\\d+'
  // each set that one of the rules could belong to: a RETURN's two addresses are the subnet and the network, either way round
  const sets = texts.flatMap(text => {
    const pair = new RegExp(`^ip saddr (${cidr}) ip daddr (${cidr}) return$`).exec(text)
    if (pair) return [nftMasqRules(pair[2], pair[1]), nftMasqRules(pair[1], pair[2])]
    const accept = new RegExp(`^ip saddr (${cidr}) accept$`).exec(text)
    return accept ? [nftForwardRules(accept[1])] : []
  })
  const whole = [...wanted, ...sets.filter(set => set.every(rule => texts.some(text => writtenAs(text, rule)))).flat()]
  return r => r.text !== undefined && (r.text.endsWith(` comment "${NFT_MANUAL_MASQ_COMMENT}"`) || whole.some(rule => writtenAs(r.text!, rule)))
}

/** `printed` is flanneld's `rule`, also as flanneld writes it where the kernel has no fully-random. */
function writtenAs(printed: string, rule: string): boolean {
  return sameRule(printed, rule) || sameRule(printed, rule.replace(/ fully-random$/, ''))
}

const tableRef = (family: string, name: string) => `${family} ${name}`

/** A rule as written and as `nft list` prints it back: nft pads a mark to 8 hex digits (0x4000 → 0x00004000). */
function sameRule(printed: string, written: string): boolean {
  const canonical = (text: string) => text.replace(/\b0x0*([0-9a-f])/g, '0x$1')
  return canonical(printed) === canonical(written)
}

function addTable(family: string, name: string): string {
  return `add table ${tableRef(family, name)} { comment "rules for ${name}" ; }`
}

function addChain(c: WantedChain): string {
  return `add chain ${tableRef('ip', NFT_TABLE_V4)} ${c.name} { type ${c.type} hook ${c.hook} priority ${c.priority} ; comment "${c.comment}" ; }`
}

function headFits(have: FlannelNftChain, want: WantedChain): boolean {
  return have.type === want.type && have.hook === want.hook && have.priority === want.priority
}

/**
 * The lines that make `have` (absent: undefined) the chain flanneld makes, or none when it is. A
 * chain not read ('unknown') gets flanneld's own transaction, which holds whatever was there:
 * added rules would otherwise be there twice.
 */
function ensureChain(have: FlannelNftChain | 'unknown' | undefined, want: WantedChain): string[] {
  const chain = `${tableRef('ip', NFT_TABLE_V4)} ${want.name}`
  const adds = want.rules.map(r => `add rule ${chain} ${r}`)
  if (have === undefined) return [addChain(want), ...adds]
  if (have === 'unknown') return [addChain(want), `flush chain ${chain}`, ...adds]
  // A base chain's type, hook and priority cannot change: it is made again (deleting takes its rules).
  if (!headFits(have, want)) return [`delete chain ${chain}`, addChain(want), ...adds]
  // A policy can: set back in place (`policy drop` on flanneld's chain), the rules in it stay.
  const policy = (have.policy ?? 'accept') === 'accept' ? [] : [`add chain ${chain} { type ${want.type} hook ${want.hook} priority ${want.priority} ; policy accept ; }`]
  const ours = flannelRulesOf(have.rules, want.rules)
  const own = have.rules.filter(ours)
  if (own.length === want.rules.length && want.rules.every((rule, i) => sameRule(own[i].text!, rule))) return policy
  // flanneld's own transaction: flush and refill
  if (own.length === have.rules.length) return [...policy, `flush chain ${chain}`, ...adds]
  // Someone else's rules stay where they are among flanneld's, above them too (foreignRuleSlots):
  // the old flannel rules go, and each wanted one goes in before the first of theirs that came after
  // more of flanneld's rules than it has before it, else at the end.
  const slots = foreignRuleSlots(have.rules, ours, r => want.rules.findIndex(w => sameRule(r.text!, w)), want.rules.length)
  const anchor = (i: number) => have.rules.find((_, j) => slots[j] !== undefined && slots[j]! > i)
  return [
    ...policy,
    ...own.map(r => `delete rule ${chain} handle ${r.handle}`),
    ...want.rules.map((r, i) => {
      const before = anchor(i)
      return before === undefined ? `add rule ${chain} ${r}` : `insert rule ${chain} position ${before.handle} ${r}`
    }),
  ]
}

/**
 * The ops that give this host flanneld's nftables objects for `intent`. `tables`: what the host
 * holds of flanneld's tables (undefined: not read, planned as absent).
 */
export function planNftables(intent: NftIntent, tables: FlannelNftTable[] | undefined): Op[] {
  const ops: Op[] = []
  const find = (family: string, name: string) => tables?.find(t => t.family === family && t.name === name)
  for (const t of FLANNEL_NFT_TABLES) {
    if (!find(t.family, t.name)) ops.push({tool: 'nft', lines: [addTable(t.family, t.name)], why: `flanneld's ${t.family === 'ip' ? 'IPv4' : 'IPv6'} table (EnableNFTables)`})
  }
  const v4 = flannelV4Table(tables)
  const wanted = wantedChains(intent)
  for (const want of wanted) {
    const lines = ensureChain(tables === undefined ? 'unknown' : v4?.chains.find(c => c.name === want.name), want)
    if (lines.length > 0) {
      ops.push({tool: 'nft', lines, why: want.name === NFT_MASQ_CHAIN ? 'masquerade pod traffic leaving the network, keep pod-to-pod sources' : 'accept forwarded pod traffic'})
    }
  }
  if (!wanted.some(w => w.name === NFT_MASQ_CHAIN) && v4?.chains.some(c => c.name === NFT_MASQ_CHAIN)) {
    ops.push({tool: 'nft', lines: [`delete chain ${tableRef('ip', NFT_TABLE_V4)} ${NFT_MASQ_CHAIN}`], why: 'this host masquerades nothing now (ip-masq off)'})
  }
  return ops
}

/** Deleting flanneld's tables (flanneld's CleanUp): everything in them goes. Only its two table names, never another table. */
export function removeNftables(tables: FlannelNftTable[] | undefined, why: string): Op[] {
  return FLANNEL_NFT_TABLES.filter(t => tables?.some(x => x.family === t.family && x.name === t.name))
    .map(t => ({tool: 'nft' as const, lines: [`delete table ${tableRef(t.family, t.name)}`], why}))
}

/** What reset says about flanneld's nftables tables beyond deleting them. */
export function nftResetWarnings(tables: FlannelNftTable[] | undefined, readProblem: string | undefined): string[] {
  if (readProblem !== undefined) {
    return [`nftables could not be read (${readProblem}): flanneld's tables, where this host has them, stay; delete them as root: ${FLANNEL_NFT_TABLES.map(t => `nft delete table ${t.family} ${t.name}`).join('; ')}`]
  }
  return (tables ?? []).flatMap(t => t.chains.flatMap(c => {
    const ours = flannelRulesOf(c.rules)
    const theirs = c.rules.filter(r => !ours(r))
    const texts = theirs.map(r => r.text ?? `handle ${r.handle}`)
    return theirs.length === 0 ? [] : [`${othersRulesGo(texts.length, `chain ${c.name} of ${t.family} ${t.name}`, 'the table')} (${texts.slice(0, 2).join('; ')}${texts.length > 2 ? '; …' : ''})`]
  }))
}

/** Rules someone else put in a chain of flannel's that goes (reset, a switch of EnableNFTables): `N rules not flannel's in WHERE go with WHAT`. */
export function othersRulesGo(n: number, where: string, withWhat: string): string {
  return `${n} rule${n === 1 ? '' : 's'} not flannel's in ${where} go${n === 1 ? 'es' : ''} with ${withWhat}`
}

/**
 * What the host read printed: `nft -j list tables`, then `nft -j list table FAMILY NAME` of each of
 * flanneld's tables it lists, one JSON document a line. Other tables are not read.
 */
export function parseFlannelNftRead(text: string): FlannelNftTable[] {
  const tables: FlannelNftTable[] = []
  const ours = (family: unknown, name: unknown) => FLANNEL_NFT_TABLES.some(t => t.family === family && t.name === name)
  const tableOf = (family: string, name: string) => {
    let t = tables.find(x => x.family === family && x.name === name)
    if (t === undefined) tables.push(t = {family, name, chains: []})
    return t
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    let doc: unknown
    try {
      doc = JSON.parse(line)
    } catch (error) {
      throw new FlannelctlError(`nft -j printed what is not JSON (${(error as Error).message}): ${line.slice(0, 80)}`,
        'check that nft is the nftables command-line tool (nft --version)', ExitCode.failed)
    }
    const items = (doc as {nftables?: unknown})?.nftables
    if (!Array.isArray(items)) continue
    for (const item of items as Record<string, unknown>[]) {
      const table = item?.table as {family?: string; name?: string} | undefined
      if (table && ours(table.family, table.name)) tableOf(table.family!, table.name!)
      const chain = item?.chain as {family?: string; table?: string; name?: string; type?: string; hook?: string; prio?: number; policy?: string} | undefined
      if (chain?.name !== undefined && ours(chain.family, chain.table)) {
        const t = tableOf(chain.family!, chain.table!)
        if (!t.chains.some(c => c.name === chain.name)) {
          t.chains.push({name: chain.name, type: chain.type, hook: chain.hook, priority: chain.prio, policy: chain.policy, rules: []})
        }
      }
      const rule = item?.rule as {family?: string; table?: string; chain?: string; handle?: number; expr?: unknown; comment?: string} | undefined
      if (rule?.chain !== undefined && ours(rule.family, rule.table)) {
        const t = tableOf(rule.family!, rule.table!)
        let c = t.chains.find(x => x.name === rule.chain)
        if (c === undefined) t.chains.push(c = {name: rule.chain, rules: []})
        c.rules.push({handle: rule.handle ?? 0, text: Array.isArray(rule.expr) ? printRule(rule.expr as Record<string, unknown>[], rule.comment) : undefined})
      }
    }
  }
  return tables
}

/** flanneld's IPv4 table among those a host read holds (its chains are flannel's rules). */
export function flannelV4Table(tables: FlannelNftTable[] | undefined): FlannelNftTable | undefined {
  return tables?.find(t => t.family === 'ip' && t.name === NFT_TABLE_V4)
}

/** Where a host keeps flannel's rules, as its tables show: unknown where a side was not read. */
export type RulesMode = 'iptables' | 'nftables' | 'both' | 'none' | 'unknown'

export function rulesMode(h: HostSnapshot): RulesMode {
  const inIptables = h.iptables === undefined ? undefined : h.iptables.chains.some(c => c.name === FWD_CHAIN || c.name === MASQ_CHAIN)
  const inNft = h.flannelNft !== undefined ? flannelV4Table(h.flannelNft) !== undefined
    : h.nftables !== undefined ? h.nftables.some(c => c.family === 'ip' && c.table === NFT_TABLE_V4) : undefined
  if (inIptables && inNft) return 'both'
  if (inIptables) return 'iptables'
  if (inNft) return 'nftables'
  return inIptables === false && inNft === false ? 'none' : 'unknown'
}

/**
 * The iptables tables `ops` deletes one of flannel's chains from (`-X CHAIN`). On an nf_tables host
 * (iptables-nft) each is an nftables table, `ip nat` or `ip filter`, which iptables creates for
 * the first rule written to it and never deletes: the ones to look at once flannel's chains go.
 */
export function iptablesTablesLosingChains(ops: Op[]): string[] {
  return [...new Set(iptablesChainsDeleted(ops).map(c => c.table))]
}

/** The iptables chains `ops` deletes (`-X CHAIN` in an iptables-restore batch), with their tables. */
export function iptablesChainsDeleted(ops: Op[]): {table: string, chain: string}[] {
  return ops.flatMap(op => (op.tool === 'iptables' ? op.lines.flatMap(l => (l.startsWith('-X ') ? [{table: op.table, chain: l.slice(3).trim()}] : [])) : []))
}

/**
 * `ops` with each iptables-nft table that holds nothing but flannel's chain and jump deleted whole
 * instead: every other chain a base chain with policy accept and no rule, and nothing else (no set,
 * no other object). Such a table changes no packet's fate, and iptables never deletes one, so
 * without this a reset or a switch to nftables left `ip nat` and `ip filter` behind, empty. One
 * `delete table` in place of the iptables lines removes chain, jump and table at once: a reset
 * killed half-way and run again finds either all of it or nothing. A rule, a chain, a drop policy
 * or any other object of someone else's keeps the table, and the iptables lines. `listings` holds
 * `nft -j list table ip NAME` by table name; a table not listed (absent, unreadable) is left alone.
 */
export function deletingEmptiedIptablesTables(ops: Op[], listings: Map<string, string>): Op[] {
  const emptied = new Set(iptablesTablesLosingChains(ops).filter(table => {
    const lines = ops.flatMap(op => (op.tool === 'iptables' && op.table === table ? op.lines : []))
    const deleted = new Set(iptablesChainsDeleted(ops).filter(c => c.table === table).map(c => c.chain))
    // the same plan writing to the table (a chain kept, a jump added) keeps it
    if (lines.some(l => l.startsWith('-A ') || l.startsWith('-I ') || (l.startsWith(':') && !deleted.has(l.slice(1).split(' ')[0])))) return false
    const jumpsRemoved = new Map<string, number>()
    for (const l of lines) {
      const chain = /^-D (\S+) /.exec(l)?.[1]
      if (chain !== undefined) jumpsRemoved.set(chain, (jumpsRemoved.get(chain) ?? 0) + 1)
    }
    const listing = listings.get(table)
    return listing !== undefined && holdsOnly(listing, table, deleted, jumpsRemoved)
  }))
  const done = new Set<string>()
  return ops.flatMap((op): Op[] => {
    if (op.tool !== 'iptables' || !emptied.has(op.table)) return [op]
    if (done.has(op.table)) return []
    done.add(op.table)
    return [{tool: 'nft', lines: [`delete table ${tableRef('ip', op.table)}`], why: `${op.why}: iptables' ${op.table} table (an nftables table under iptables-nft) holds nothing else, so it goes whole`}]
  })
}

function holdsOnly(listing: string, table: string, deleted: Set<string>, jumpsRemoved: Map<string, number>): boolean {
  const items = nftJsonItems(listing)
  if (items === undefined) return false
  const baseChains = new Set<string>()
  const rulesLeft = new Map<string, number>()
  let seenTable = false
  for (const item of items as Record<string, Record<string, unknown> | undefined>[]) {
    const [kind, ...more] = Object.keys(item ?? {})
    const body = item[kind]
    if (more.length > 0 || body === undefined || (kind !== 'metainfo' && (body.family !== 'ip' || (body.table ?? body.name) !== table))) return false
    if (kind === 'metainfo') continue
    if (kind === 'table') {
      seenTable = true
    } else if (kind === 'chain') {
      if (deleted.has(String(body.name))) continue
      if (body.hook === undefined || body.policy !== 'accept') return false
      baseChains.add(String(body.name))
    } else if (kind === 'rule') {
      const chain = String(body.chain)
      if (deleted.has(chain)) continue
      // only flannel's jump, which the plan deletes: a rule jumping to a chain that goes with it
      const jumpsToDeleted = Array.isArray(body.expr) && (body.expr as Record<string, {target?: string} | undefined>[])
        .some(e => deleted.has(String(e.jump?.target ?? e.goto?.target)))
      if (!jumpsToDeleted) return false
      rulesLeft.set(chain, (rulesLeft.get(chain) ?? 0) + 1)
    } else {
      return false
    }
  }
  return seenTable && [...rulesLeft].every(([chain, n]) => baseChains.has(chain) && n <= (jumpsRemoved.get(chain) ?? 0))
}
