/**
 * Native nftables on a traced host: firewalld, nftables.service, kube-proxy's nftables mode and
 * flanneld's EnableNFTables put chains into netfilter's hooks beside iptables. At each hook the
 * packet passes the base chains of that hook lowest priority first, iptables-nft's tables among
 * them at their own priorities (see stagesAt); each native base chain is evaluated here the way the
 * kernel walks it: rules in order, jump/goto/return, verdict maps, the chain's policy. An
 * expression this evaluator does not model makes its rule undecidable: the walk stops there and
 * says which rule, instead of guessing whether it matches.
 */
import type {HostSnapshot, NftChain, NftRule, NftRuleset} from '../model.js'
import {cidrContains, cidrSize, ipToInt, nthAddress, parseCidr} from '../addr.js'
import {printRule} from '../parse/nft-rule.js'
import {natRangeAddress} from './nat-pick.js'
import {EPHEMERAL_PORT_UNSEEN, ICMP_TYPE_NAMES, ctDirOf, ctTuples, ephemeralPorts, mssRewriteNote, type Hook, type PacketFacts, type RuleSet, dropTables, rangesCover, rejectAnswerOf, tablePriority} from './iptables.js'

/** The tables iptables-nft makes (family ip): iptables-save shows them, and the trace evaluates them. */
export const XTABLES = new Set(['filter', 'nat', 'mangle', 'raw', 'security'])

function readByIptables(snap: HostSnapshot, c: NftChain): boolean {
  return c.family === 'ip' && XTABLES.has(c.table) && snap.iptables !== undefined && snap.iptables.flavour !== 'legacy'
}

/**
 * The native chains an IPv4 packet passes at `hook` on this host, lowest priority first: ip and
 * inet chains of that hook; at PREROUTING also netdev ingress chains of the receiving device (or of
 * a device not captured); a bridged frame's FORWARD also bridge-family forward chains.
 */
export function nativeChainsAt(snap: HostSnapshot, hook: Hook, {inDev, bridged = false}: {inDev?: string; bridged?: boolean}): NftChain[] {
  const name = hook.toLowerCase()
  return (snap.nftables ?? []).filter(c => {
    if (readByIptables(snap, c)) return false
    if (c.family === 'ip' || c.family === 'inet') return c.hook === name
    if (c.family === 'netdev') return hook === 'PREROUTING' && !bridged && c.hook === 'ingress' && (c.device === undefined || inDev === undefined || c.device.split(',').includes(inDev))
    if (c.family === 'bridge') return bridged && hook === 'FORWARD' && c.hook === 'forward'
    return false
  }).sort(byHookOrder(snap.nftables ?? [], c => c))
}

/**
 * Netfilter's order: lowest priority first, and at equal priority the chain registered LAST first
 * (nf_hook_entries_grow inserts a hook before its equals; measured: of two output chains at
 * priority 0 loaded by one `nft -f`, the second saw the packet before the first set a mark).
 * `nft list ruleset` shows tables, and chains within them, in the order they were made. A stage
 * `made` cannot place (an iptables table whose nft chain was not read) is taken as the last made.
 */
function byHookOrder<T extends {priority: number}>(listed: NftChain[], chainOf: (x: T) => NftChain | undefined): (a: T, b: T) => number {
  const made = (x: T) => {
    const c = chainOf(x)
    const i = c === undefined ? -1 : listed.indexOf(c)
    return i < 0 ? Number.POSITIVE_INFINITY : i
  }
  return (a, b) => a.priority - b.priority || made(b) - made(a) || 0
}

/** One place a packet is judged at a hook: an iptables table or a native base chain. */
export type Stage = {priority: number, table: string} | {priority: number, chain: NftChain}

/**
 * The iptables tables (`tables`, those captured) and native chains of `kind` at `hook`, in the
 * order netfilter runs them: by priority, a netdev ingress chain first of all (it runs before the
 * IP stack sees the packet). `nat` stages are the nat tables and chains, `filter` all others.
 */
export function stagesAt(snap: HostSnapshot, hook: Hook, kind: 'filter' | 'nat', tables: readonly string[], where: {inDev?: string; bridged?: boolean}): Stage[] {
  const stages: Stage[] = tables.map(table => ({priority: tablePriority(table, hook), table}))
  for (const chain of nativeChainsAt(snap, hook, where)) {
    if ((chain.type === 'nat') !== (kind === 'nat')) continue
    stages.push({priority: chain.family === 'netdev' ? Number.NEGATIVE_INFINITY : chain.priority, chain})
  }
  // iptables-nft's own chains are in a full `nft list ruleset` (collect reads it), so when it was
  // made is known; from iptables-legacy, or without that read, iptables' table is taken to run first
  const listed = snap.nftables ?? []
  const name = hook.toLowerCase()
  return stages.sort(byHookOrder(listed, s => ('chain' in s ? s.chain
    : snap.iptables?.flavour === 'legacy' ? undefined : listed.find(c => c.family === 'ip' && c.table === s.table && c.hook === name))))
}

/**
 * A host's stages at each hook as a trace asks for them, found once per host (a trace asks at every
 * host it passes, doctor's thousands of traces ask the same hosts again): the hook's native chains,
 * and of iptables' tables those that can do anything (RuleSet.active), filter FORWARD always (the
 * trace shows its verdict even from an empty chain); a table left out would have passed the packet
 * untouched, its mark as it came. The receiving device and bridging change the stages only where
 * netdev or bridge chains exist; elsewhere each hook has one list.
 */
export class HookStages {
  /** netdev or bridge chains: the stages depend on the receiving device or on bridging */
  private readonly byWhere: boolean
  private readonly perHook = new Map<Hook, {filter?: readonly Stage[], nat?: readonly Stage[], chains?: readonly NftChain[]}>()
  private readonly stagesWhere = new Map<string, readonly Stage[]>()
  private readonly chainsWhere = new Map<string, readonly NftChain[]>()

  constructor(private readonly snap: HostSnapshot, private readonly rules: RuleSet | undefined) {
    this.byWhere = (snap.nftables ?? []).some(c => c.family === 'netdev' || c.family === 'bridge')
  }

  /** stagesAt, with the tables that can act, for a packet in by `inDev` (undefined: born here) */
  stages(hook: Hook, kind: 'filter' | 'nat', inDev: string | undefined, bridged = false): readonly Stage[] {
    if (!this.byWhere) return this.hookEntry(hook)[kind] ??= stagesAt(this.snap, hook, kind, this.liveTables(hook, kind), {inDev, bridged})
    const key = `${hook} ${kind} ${whereKey(inDev, bridged)}`
    let stages = this.stagesWhere.get(key)
    if (stages === undefined) this.stagesWhere.set(key, stages = stagesAt(this.snap, hook, kind, this.liveTables(hook, kind), {inDev, bridged}))
    return stages
  }

  /** nativeChainsAt */
  chains(hook: Hook, inDev: string | undefined, bridged = false): readonly NftChain[] {
    if (!this.byWhere) return this.hookEntry(hook).chains ??= nativeChainsAt(this.snap, hook, {inDev, bridged})
    const key = `${hook} ${whereKey(inDev, bridged)}`
    let chains = this.chainsWhere.get(key)
    if (chains === undefined) this.chainsWhere.set(key, chains = nativeChainsAt(this.snap, hook, {inDev, bridged}))
    return chains
  }

  private liveTables(hook: Hook, kind: 'filter' | 'nat'): readonly string[] {
    const rules = this.rules
    if (rules === undefined) return []
    if (kind === 'nat') return rules.active('nat', hook) ? ['nat'] : []
    return dropTables(hook).filter(t => rules.active(t, hook) || (t === 'filter' && hook === 'FORWARD'))
  }

  private hookEntry(hook: Hook): {filter?: readonly Stage[], nat?: readonly Stage[], chains?: readonly NftChain[]} {
    let entry = this.perHook.get(hook)
    if (entry === undefined) this.perHook.set(hook, entry = {})
    return entry
  }
}

function whereKey(inDev: string | undefined, bridged: boolean): string {
  return `${bridged}${inDev === undefined ? '' : ` @${inDev}`}`
}

/**
 * What an unevaluated chain may do to a packet: `decide` (a filter chain that drops by policy, or
 * has a rule that drops or rejects: only its rules could tell), `rewrite` (nat rules), `reroute`
 * (a route chain's rules), or nothing: accepting, counting and marking in a filter chain do not
 * change where the packet goes.
 */
export function mayDo(c: NftChain): 'decide' | 'rewrite' | 'reroute' | undefined {
  if (c.type === 'filter') return c.policy === 'drop' || c.drops ? 'decide' : undefined
  if (c.type === 'nat') return c.rewrites || c.drops || c.policy === 'drop' ? 'rewrite' : undefined
  if (c.type === 'route') return c.rules > 0 ? 'reroute' : undefined
  return c.rules > 0 || c.policy === 'drop' ? 'decide' : undefined
}

export function listChain(c: NftChain): string {
  return `nft list chain ${c.family} ${c.table} ${c.name}`
}

/** A rule as the trace names it: its text as `nft list` prints it, and where it sits. */
export function ruleName(r: NftRule): string {
  return `\`${r.text}\` (${r.family} ${r.table} ${r.chain}${r.handle !== undefined ? `, handle ${r.handle}` : ''})`
}

/** A NAT statement's address range or prefix as `first-last`; undefined for anything else. */
function addressRangeOf(addr: Obj): string | undefined {
  if (Array.isArray(addr.range)) return `${String(addr.range[0])}-${String(addr.range[1])}`
  if (!isObj(addr.prefix)) return undefined
  try {
    const c = parseCidr(`${String(addr.prefix.addr)}/${String(addr.prefix.len)}`)
    return `${nthAddress(c, 0)}-${nthAddress(c, cidrSize(c) - 1)}`
  } catch {
    return undefined
  }
}

// ---- evaluating a base chain

export type NftFacts = PacketFacts

/** The hook whose iptables tables a packet passed last before `hook` (none before PREROUTING or OUTPUT). */
const HOOK_BEFORE: Partial<Record<Hook, (p: PacketFacts) => Hook>> = {
  INPUT: () => 'PREROUTING',
  FORWARD: () => 'PREROUTING',
  POSTROUTING: p => p.inDev === undefined && !p.bridged ? 'OUTPUT' : 'FORWARD',
}

/**
 * The packet as a native chain of `priority` at `hook` sees it: with the marks iptables' MARK rules
 * gave it in the raw and mangle tables it passed before (iptables-nft and native chains share the
 * packet's mark), or with the mark in doubt when such a rule may or may not have set one.
 */
export function withIptablesMarks(rules: RuleSet | undefined, facts: NftFacts, hook: Hook, priority: number): NftFacts {
  // a walk that followed the mark chain by chain has iptables' marks in it already
  if (rules === undefined || facts.markFollowed === true) return facts
  const before = (['mangle', 'raw'] as const).find(t => tablePriority(t, hook) < priority && (t === 'mangle' || hook === 'PREROUTING' || hook === 'OUTPUT'))
  const at = before !== undefined ? {table: before, hook} : HOOK_BEFORE[hook] !== undefined ? {table: 'mangle', hook: HOOK_BEFORE[hook]!(facts)} : undefined
  if (at === undefined) return facts
  const r = rules.markAfter(facts, at.table, at.hook)
  // the same facts when the mark stays: a caller watching which fields are read (sync's INPUT check, by the source) sees no copy's reads
  if ('mark' in r) return r.mark === facts.mark ? facts : {...facts, mark: r.mark}
  return {...facts, markDoubt: `\`${r.doubt.raw}\` (iptables) may set it`}
}

export type NatAction = 'MASQUERADE' | 'SNAT' | 'DNAT' | 'REDIRECT'

export type NftVerdict =
  | {kind: 'accept' | 'drop'; rule?: NftRule}
  | {kind: 'queue'; rule: NftRule}
  | {kind: 'reject'; rule: NftRule; answer: {error: string, mark?: string}}
  | {kind: 'nat'; rule: NftRule; action: NatAction; toAddress?: string; toPorts?: [number, number]; randomPorts?: boolean}
  /** a rule the trace cannot decide stopped the walk: `what` says why */
  | {kind: 'unknown'; rule: NftRule; what: string}

export interface NftOutcome {
  verdict: NftVerdict
  /** the chains entered on the way, base chain first */
  path: string[]
  /** the packet's mark after the chain; undefined when a rule gave it one the trace cannot know */
  mark: number | undefined
  /** the last rule that changed the mark */
  marked?: NftRule
  /** the `notrack` rule that took the packet out of conntrack */
  notrack?: NftRule
  /** the last rule whose `return` sent the walk back (from the base chain: to its policy) */
  returned?: NftRule
  assumptions: string[]
}

type Tri = boolean | 'unknown'
type Json = unknown
type Obj = Record<string, Json>
const isObj = (v: Json): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A packet's value for a selector, typed by how nft compares it; `absent` when the packet has no such field (a port of an ICMP packet): the rule does not match. */
type Val =
  | {t: 'ip' | 'name' | 'ifname', v: string}
  | {t: 'num', v: number}
  /** a number known only to lie in a range (the client's ephemeral port): `why` says what would tell which */
  | {t: 'range', v: readonly [number, number], why: string}
  | {t: 'flags', v: string[]}
  | {t: 'concat', v: Val[]}
  /** a part of a concatenation the trace cannot know: an element that differs in another part still does not match */
  | {t: 'unknown', why: string}
type Value = Val | 'absent'

const PROTO_NAMES: Record<string, string> = {'1': 'icmp', '6': 'tcp', '17': 'udp', '132': 'sctp'}
/** nft's names of destination unreachable codes (`icmp code port-unreachable`) */
const ICMP_CODES: Record<string, number> = {'net-unreachable': 0, 'host-unreachable': 1, 'prot-unreachable': 2, 'port-unreachable': 3, 'frag-needed': 4, 'net-prohibited': 9, 'host-prohibited': 10, 'admin-prohibited': 13}
const SERVICES: Record<string, number> = {ssh: 22, domain: 53, http: 80, https: 443, bootps: 67, bootpc: 68, ntp: 123}
/** nft's reject names as the iptables REJECT path names the same errors. */
const REJECT_KINDS: Record<string, string> = {'no-route': 'net-unreachable', 'prot-unreachable': 'proto-unreachable'}
/** Statements that leave the packet and its way as they are. */
const INERT = new Set(['counter', 'log', 'limit', 'quota', 'flow', 'set'])

const rulesByChain = new WeakMap<NftRuleset, Map<string, NftRule[]>>()

function chainRules(rs: NftRuleset, family: string, table: string, chain: string): NftRule[] | undefined {
  let index = rulesByChain.get(rs)
  if (index === undefined) {
    index = new Map()
    for (const r of rs.rules) {
      const key = `${r.family} ${r.table} ${r.chain}`
      const list = index.get(key)
      if (list) list.push(r)
      else index.set(key, [r])
    }
    rulesByChain.set(rs, index)
  }
  return index.get(`${family} ${table} ${chain}`)
}

class Unknown {
  constructor(readonly what: string) {}
}

type Flow = {verdict: NftVerdict} | 'return' | 'end'

/** Evaluate base chain `c` for the packet: the verdict, the mark it leaves, the chains it went through. */
export function evaluateNftChain(c: NftChain, p: NftFacts): NftOutcome {
  return new ChainWalk(c, p).run()
}

/** nf_conntrack's hook priority at prerouting and output: chains below it see packets without their connection */
const CONNTRACK_PRIORITY = -200

/** A chain below conntrack's priority (-200) at prerouting or output, where the packet meets it before its connection. */
export function chainBeforeConntrack(c: NftChain): boolean {
  return c.priority < CONNTRACK_PRIORITY && (c.hook === 'prerouting' || c.hook === 'output') && c.family !== 'netdev' && c.family !== 'bridge'
}

class ChainWalk {
  private mark: number | undefined
  private marked?: NftRule
  private notrack?: NftRule
  private returned?: NftRule
  private readonly assumptions: string[] = []
  private readonly path: string[]
  private readonly rs: NftRuleset

  constructor(private readonly base: NftChain, private readonly p: NftFacts) {
    this.mark = p.markDoubt !== undefined ? undefined : p.mark ?? 0
    this.path = [base.name]
    this.rs = base.ruleset ?? {rules: [], sets: []}
  }

  run(): NftOutcome {
    const flow = this.chain(this.base.name, 0)
    const verdict: NftVerdict = typeof flow === 'object' ? flow.verdict : {kind: this.base.policy}
    return {verdict, path: this.path, mark: this.mark, marked: this.marked, notrack: this.notrack, returned: this.returned, assumptions: this.assumptions}
  }

  private beforeConntrack(): boolean {
    return chainBeforeConntrack(this.base)
  }

  private note(text: string): void {
    if (!this.assumptions.includes(text)) this.assumptions.push(text)
  }

  private chain(name: string, depth: number): Flow {
    if (depth > 16) return 'end' // the kernel refuses deeper jumps when the rules load
    for (const rule of chainRules(this.rs, this.base.family, this.base.table, name) ?? []) {
      if (rule.unread !== undefined) {
        // the words read before the unknown one may already say the rule cannot match
        if (this.failsBefore(rule)) continue
        return {verdict: {kind: 'unknown', rule, what: `the trace could not read the rule (${rule.unread})`}}
      }
      const flow = this.rule(rule, depth)
      if (flow instanceof Unknown) {
        // a rule that only counts or logs leaves the packet's way the same whether it matches or not
        if (rule.expr.every(s => isObj(s) && (INERT.has(Object.keys(s)[0]) || 'match' in s))) continue
        return {verdict: {kind: 'unknown', rule, what: flow.what}}
      }
      if (flow === 'next') continue
      if (flow === 'return') this.returned = rule
      return flow
    }
    return 'end'
  }

  /** Whether one of the matches a partly read rule starts with surely fails for the packet. */
  private failsBefore(rule: NftRule): boolean {
    for (const s of rule.expr) {
      if (!isObj(s) || !isObj(s.match)) return false
      if (this.match(s.match) === false) return true
    }
    return false
  }

  /** One rule: `next` when it does not match (or goes on), else where the walk goes. */
  private rule(rule: NftRule, depth: number): Flow | 'next' | Unknown {
    for (const s of rule.expr) {
      if (!isObj(s)) return new Unknown(`the statement ${JSON.stringify(s)}`)
      const [kind] = Object.keys(s)
      const v = s[kind]
      switch (kind) {
        case 'match': {
          const m = this.match(v as Obj)
          if (m instanceof Unknown) return m
          if (!m) return 'next'
          break
        }
        case 'counter': case 'log': case 'flow':
          // `flow add @ft` offloads later packets of the flow, not this one
          break
        case 'set': {
          // `add @set { ip saddr }` fills a set and matches; a limit or quota of the element's own (a meter) matches as one does
          for (const inner of isObj(v) && Array.isArray(v.stmt) ? v.stmt : []) {
            if (isObj(inner) && isObj(inner.limit)) {
              if (!this.withinRate(rule, inner.limit, ' (each element of the set its own)')) return 'next'
            } else if (isObj(inner) && !('counter' in inner)) {
              return new Unknown(`the set element's \`${Object.keys(inner)[0]}\`, whose state is in no table`)
            }
          }
          break
        }
        case 'limit':
          if (!this.withinRate(rule, v as Obj, '')) return 'next'
          break
        case 'quota': {
          const q = v as Obj
          const over = quotaOver(q, this.p.length)
          if (over === 'unknown') return new Unknown(`\`${printRule([s])}\`: whether this packet takes it over the quota`)
          this.note(`${ruleName(rule)}: a byte quota, ${String(q.used ?? 0)} ${String(q.used_unit ?? 'bytes')} of ${String(q.val)} ${String(q.val_unit ?? 'bytes')} used when the rules were read: assumed still ${over ? 'over' : 'under'} it`)
          if (over !== Boolean(q.inv)) return 'next'
          break
        }
        case 'accept': case 'drop': case 'return': case 'continue': case 'jump': case 'goto': {
          return this.verdict(s, rule, depth)
        }
        case 'reject': {
          const r = v as Obj | null
          const type = r === null ? 'port-unreachable' : r.type === 'tcp reset' ? 'tcp-reset' : String(r.expr ?? 'port-unreachable')
          return {verdict: {kind: 'reject', rule, answer: rejectAnswerOf(REJECT_KINDS[type] ?? type)}}
        }
        case 'queue': {
          const flags = [isObj(v) ? v.flags : undefined].flat()
          if (flags.includes('bypass')) {
            this.note(`${ruleName(rule)} hands the packet to a user-space program: assumed none listens, so \`bypass\` accepts it (a program there gives its own verdict)`)
            return {verdict: {kind: 'accept', rule}}
          }
          return {verdict: {kind: 'queue', rule}}
        }
        case 'vmap': {
          const target = this.lookup((v as Obj).key, (v as Obj).data, rule)
          if (target instanceof Unknown) return target
          if (target === undefined) return 'next'
          if (!isObj(target) || !['accept', 'drop', 'return', 'continue', 'jump', 'goto'].some(k => k in target)) return new Unknown(`the verdict ${JSON.stringify(target)}`)
          return this.verdict(target, rule, depth)
        }
        case 'mangle': {
          const key = (v as Obj).key
          if (isObj(key) && isObj(key['tcp option']) && key['tcp option'].name === 'maxseg') {
            const set = (v as Obj).value
            // `rt mtu` is nft_rt's TCPMSS key: the path MTU less 40, as TCPMSS --clamp-mss-to-pmtu; another expression is not known here
            const clamp = isObj(set) && isObj(set.rt) && set.rt.key === 'mtu'
            const note = mssRewriteNote(rule.text, typeof set === 'number' ? set : undefined, typeof set === 'number' || clamp || this.p.mssRewrite === undefined ? this.p : {...this.p, mssRewrite: () => false})
            if (note !== undefined) this.note(note)
          }
          if (!(isObj(key) && isObj(key.meta) && key.meta.key === 'mark')) break // ct mark, tcp options, dscp: not where the packet goes
          const value = this.value((v as Obj).value, rule)
          if (value instanceof Unknown) {
            this.mark = undefined
          } else if (value !== 'absent' && value.t === 'num') {
            this.mark = value.v >>> 0
          } else {
            this.mark = undefined
          }
          this.marked = rule
          break
        }
        case 'notrack':
          this.notrack ??= rule
          break
        case 'xt':
          // iptables-nft's `-m comment` matches every packet; its other matches and targets are iptables' own
          if (isObj(v) && v.type === 'match' && v.name === 'comment') break
          return new Unknown(`the iptables extension \`${isObj(v) ? String(v.name) : 'xt'}\` (iptables-save shows it)`)
        case 'masquerade': case 'snat': case 'dnat': case 'redirect':
          return this.nat(kind, v, rule)
        default:
          return new Unknown(`the trace does not model \`${kind}\``)
      }
    }
    return 'next'
  }

  /**
   * `fib saddr [. mark] [. iif] oif`, nft's reverse path check (nft_fib4_eval): the device of the
   * route back to the source, looked up as from lo with the packet's mark when asked; with `iif`
   * only when that is the receiving device. A local source or no route: none (`missing`).
   */
  private reversePathOif(flags: readonly string[]): Val | Unknown {
    const what = `\`fib ${flags.join(' . ')} oif\` (the route back to the source)`
    const mark = flags.includes('mark') ? this.mark : 0
    if (mark === undefined) return new Unknown(`${what}: the packet mark is unknown here`)
    const p = this.p
    const back = p.inDev === undefined ? undefined : p.routeBack?.(mark)
    if (back === undefined || (back.type === 'unicast' && back.dev === undefined)) return new Unknown(what)
    const dev = back.type === 'unicast' ? back.dev! : ''
    return {t: 'ifname', v: flags.includes('iif') && dev !== p.inDev ? '' : dev}
  }

  /** A token bucket: the first packets (up to its burst) pass, later ones may not; the traced packet is taken as one of the first. */
  private withinRate(rule: NftRule, l: Obj, whose: string): boolean {
    this.note(`\`${rule.text}\`: a rate limit${whose}; assumed the traced packet is within the rate (\`limit rate ${l.inv ? 'over ' : ''}${String(l.rate)}/${String(l.per)}\` ${l.inv ? 'does not match' : 'matches'}), as the first packets of a flow are`)
    return !l.inv
  }

  private verdict(s: Json, rule: NftRule, depth: number): Flow | 'next' {
    if (!isObj(s)) return 'next'
    if ('accept' in s) return {verdict: {kind: 'accept', rule}}
    if ('drop' in s) return {verdict: {kind: 'drop', rule}}
    if ('return' in s) return 'return'
    if ('continue' in s) return 'next'
    const jump = (s.jump ?? s.goto) as Obj | undefined
    if (jump === undefined) return 'next'
    const target = String(jump.target)
    this.path.push(target)
    const flow = this.chain(target, depth + 1)
    if (typeof flow === 'object') return flow
    this.path.pop()
    // back from a goto, the walk returns to the chain that called this one
    return 'goto' in s ? 'return' : 'next'
  }

  private nat(kind: string, v: Json, rule: NftRule): Flow | 'next' | Unknown {
    const n = isObj(v) ? v : {}
    const action = kind.toUpperCase() as NatAction
    let toAddress: string | undefined
    if (n.addr !== undefined) {
      let addr = n.addr
      if (isObj(addr) && isObj(addr.map)) {
        const found = this.lookup(addr.map.key, addr.map.data, rule)
        if (found instanceof Unknown) return found
        if (found === undefined) return 'next' // no element: the rule does not apply
        addr = found
      }
      if (typeof addr === 'string') {
        toAddress = addr
      } else if (isObj(addr) && (isObj(addr.prefix) || Array.isArray(addr.range))) {
        // nf_nat's own pick for this connection (nat-pick.ts). nft prints a range that is a whole prefix
        // as one (`dnat to 10.0.0.2-10.0.0.3` lists as 10.0.0.2/31): the same min and max to the kernel,
        // unless the `netmap` flag maps the address's host bits instead.
        const flags = [n.flags ?? []].flat()
        const range = flags.includes('netmap') ? undefined : addressRangeOf(addr)
        toAddress = range === undefined ? undefined : natRangeAddress(range, this.p, {action, persistent: flags.includes('persistent')})
        if (toAddress === undefined) {
          toAddress = isObj(addr.prefix) ? String(addr.prefix.addr) : String((addr.range as Json[])[0])
          this.note(`${ruleName(rule)} translates to an address range: the kernel picks one per connection; traced ${toAddress}`)
        }
      } else {
        return new Unknown(`the NAT address ${JSON.stringify(addr)}`)
      }
    }
    const port = n.port
    const toPorts: [number, number] | undefined = typeof port === 'number' ? [port, port]
      : isObj(port) && Array.isArray(port.range) ? [Number(port.range[0]), Number(port.range[1])] : undefined
    // nft -j writes one flag as a string, several as a list
    const randomPorts = [n.flags ?? []].flat().some(f => f === 'random' || f === 'fully-random')
    return {verdict: {kind: 'nat', rule, action, toAddress, toPorts, ...(randomPorts ? {randomPorts} : {})}}
  }

  /** A verdict map's (or map's) entry for the packet's key: undefined when it holds none. */
  private lookup(keyExpr: Json, data: Json, rule: NftRule): Json | undefined | Unknown {
    const elems = this.elements(data)
    if (elems instanceof Unknown) return elems
    const pairs = elems.map(e => Array.isArray(e) ? [unwrap(e[0]), e[1]] as const : undefined)
    if (isObj(keyExpr) && isObj(keyExpr.numgen)) {
      // numgen picks a number per connection (random, or round robin): which entry is in no table.
      // The trace takes the first; each other entry is a branch the trace follows apart (traceFlow).
      const g = keyExpr.numgen
      const entries = pairs.filter(x => x !== undefined)
      const first = entries.find(x => x[0] === Number(g.offset ?? 0)) ?? entries[0]
      const entryText = (x: readonly [Json, Json]) => `${JSON.stringify(x[0])} : ${verdictText(x[1])}`
      const inTurn = g.mode === 'inc'
      const taken = entries.find(x => x !== first && this.p.randomPick?.(`${rule.text} ⇒ ${entryText(x)}`, `\`${rule.text}\`'s entry ${entryText(x)}`, inTurn ? 'round-robin' : 'random') === true)
      if (taken !== undefined) return taken[1]
      if (Number(g.mod) > 1 && first !== undefined) {
        const others = entries.length - 1
        this.note(`${ruleName(rule)} sends each new connection to one of ${g.mod} entries, ${inTurn ? 'each connection in turn to the next' : 'picked at random'} by \`numgen ${String(g.mode)}\`: traced the first (${entryText(first)}); ` +
          (this.p.randomPick !== undefined ? 'the trace follows each entry and says where they part' : `the flow may take ${others > 1 ? `any of the other ${others}` : 'the other'}`))
      }
      return first?.[1]
    }
    const key = this.value(keyExpr, rule)
    if (key instanceof Unknown) return key
    if (key === 'absent') return undefined
    let unsure: Json | undefined
    for (const pair of pairs) {
      if (pair === undefined) continue
      const m = matchValue(key, pair[0])
      if (m === true) return pair[1]
      if (m === 'unknown') unsure ??= pair[0]
    }
    if (unsure !== undefined) return new Unknown(unknownPart(key) ?? `the key \`${JSON.stringify(unsure)}\``)
    return undefined
  }

  /** A number known only by its range against the rule's numbers: decided where all of the range or none of it matches. */
  private rangeMatch(left: Extract<Val, {t: 'range'}>, op: string, right: Json): boolean | Unknown {
    let ranges: [number, number][] = []
    if (['<', '>', '<=', '>='].includes(op)) {
      const r = numberOf(right)
      if (r === undefined) return new Unknown(`the value ${JSON.stringify(right)}`)
      ranges = [op === '<' ? [-Infinity, r - 1] : op === '<=' ? [-Infinity, r] : op === '>' ? [r + 1, Infinity] : [r, Infinity]]
    } else {
      const elems = this.elements(right)
      if (elems instanceof Unknown) return elems
      for (const e of elems.map(unwrap)) {
        const bounds = numberBounds(e)
        if (bounds === undefined) return new Unknown(`the value ${JSON.stringify(right)}`)
        ranges.push(bounds)
      }
    }
    const covered = rangesCover(ranges, left.v)
    if (covered === 'unknown') return new Unknown(left.why)
    return op === '!=' ? !covered : covered
  }

  private elements(data: Json): Json[] | Unknown {
    if (typeof data === 'string' && data.startsWith('@')) {
      const set = this.rs.sets.find(s => s.family === this.base.family && s.table === this.base.table && s.name === data.slice(1))
      if (set === undefined) return new Unknown(`the set ${data}, which the ruleset does not hold`)
      if (set.unread) return new Unknown(`the elements of ${data}, which the trace could not read`)
      return set.elem
    }
    if (isObj(data) && Array.isArray(data.set)) return data.set
    return [data]
  }

  private match(m: Obj): boolean | Unknown {
    const left = this.value(m.left, undefined)
    if (left instanceof Unknown) return left
    // a field the packet does not have (a port of an ICMP packet) ends the rule, `!=` too
    if (left === 'absent') return false
    if (left.t === 'unknown') return new Unknown(left.why)
    const op = String(m.op)
    if (left.t === 'range') return this.rangeMatch(left, op, m.right)
    if (['<', '>', '<=', '>='].includes(op)) {
      if (left.t !== 'num') return new Unknown(`\`${op}\` on a ${left.t}`)
      const r = numberOf(m.right)
      if (r === undefined) return new Unknown(`the value ${JSON.stringify(m.right)}`)
      return op === '<' ? left.v < r : op === '>' ? left.v > r : op === '<=' ? left.v <= r : left.v >= r
    }
    const elems = this.elements(m.right)
    if (elems instanceof Unknown) return elems
    let found: Tri = false
    for (const e of elems) {
      const r = matchValue(left, unwrap(e))
      if (r === true) {
        found = true
        break
      }
      if (r === 'unknown') found = 'unknown'
    }
    if (found === 'unknown') return new Unknown(`the value ${JSON.stringify(m.right)}`)
    return op === '!=' ? !found : found
  }

  /** The packet's value for a selector (or a constant, a mark expression). */
  private value(e: Json, rule: NftRule | undefined): Value | Unknown {
    const p = this.p
    if (typeof e === 'number') return {t: 'num', v: e}
    if (!isObj(e)) return new Unknown(`the value ${JSON.stringify(e)}`)
    if (isObj(e.payload)) {
      const proto = String(e.payload.protocol)
      const field = String(e.payload.field)
      if (proto === 'ip') {
        if (field === 'saddr' || field === 'daddr') return {t: 'ip', v: field === 'saddr' ? p.src : p.dst}
        if (field === 'protocol') return {t: 'name', v: p.proto}
        if (field === 'ttl' && p.ttl !== undefined) return {t: 'num', v: p.ttl}
        if (field === 'length' && p.length !== undefined) return {t: 'num', v: p.length}
        return new Unknown(`\`ip ${field}\`${field === 'length' ? ' (the packet size is unknown: give --size)' : ''}`)
      }
      if (proto === 'th' && p.proto === 'icmp') {
        // `th` reads the transport header whatever it is: an ICMP header's type and code, then its checksum
        if (field === 'sport' && p.icmpType !== undefined && p.icmpCode !== undefined) return {t: 'num', v: (p.icmpType << 8) | p.icmpCode}
        if (field === 'sport' && p.icmpType !== undefined && p.icmpType !== 3) return {t: 'num', v: p.icmpType << 8}
        return {t: 'unknown', why: `\`th ${field}\` of an ICMP packet (its ${field === 'dport' ? 'checksum' : 'type and code'})`}
      }
      if (proto === 'th' || proto === 'tcp' || proto === 'udp') {
        if (proto === 'th' ? p.proto !== 'tcp' && p.proto !== 'udp' : p.proto !== proto) return 'absent'
        if ((field === 'dport' || field === 'sport') && p.ephemeral === field) return ephemeralPort(`${proto} ${field}`, p)
        // a port the flow does not name is no listed port
        if (field === 'dport' || field === 'sport') return {t: 'num', v: (field === 'dport' ? p.dport : p.sport) ?? -1}
        if (field === 'flags' && proto === 'tcp') return {t: 'flags', v: p.state === 'NEW' ? ['syn'] : ['syn', 'ack']}
        return new Unknown(`\`${proto} ${field}\``)
      }
      // an inet chain's IPv6 matches (firewalld's `ip6 daddr { ::/96, … } reject`) carry an implied `meta nfproto ipv6`
      if (proto === 'ip6' || proto === 'icmpv6') return 'absent'
      if (proto === 'icmp' && field === 'type') return p.proto !== 'icmp' ? 'absent' : p.icmpType === undefined ? new Unknown('`icmp type` (the ICMP type is unknown)') : {t: 'num', v: p.icmpType}
      if (proto === 'icmp' && field === 'code') return p.proto !== 'icmp' ? 'absent' : p.icmpCode === undefined ? new Unknown('`icmp code` (the ICMP code is unknown)') : {t: 'num', v: p.icmpCode}
      return new Unknown(`\`${proto} ${field}\``)
    }
    if (isObj(e.meta)) {
      const key = String(e.meta.key)
      switch (key) {
        case 'iifname': case 'iif': return {t: 'ifname', v: p.inDev ?? ''}
        case 'oifname': case 'oif': return {t: 'ifname', v: p.outDev ?? ''}
        case 'l4proto': return {t: 'name', v: p.proto}
        case 'nfproto': return {t: 'name', v: 'ipv4'}
        case 'protocol': return {t: 'name', v: 'ip'}
        case 'pkttype': return {t: 'name', v: p.pktType === undefined || p.pktType === 'unicast' ? 'host' : p.pktType}
        // a forwarded packet has no socket: nft ends the rule (NFT_BREAK), `!=` too
        case 'skuid': case 'skgid': case 'cgroup': return p.inDev !== undefined && p.dstIsLocal === false ? 'absent' : new Unknown(`\`meta ${key}\` (the socket of the program that sends it)`)
        case 'mark': return this.mark === undefined ? new Unknown(`the packet mark, unknown here: ${this.marked ? `${ruleName(this.marked)} set it to a value the trace cannot know` : this.p.markDoubt ?? 'a rule may set it'}`) : {t: 'num', v: this.mark}
        default: return new Unknown(`\`meta ${key}\``)
      }
    }
    if (isObj(e.ct)) {
      const key = String(e.ct.key)
      if (this.beforeConntrack()) {
        // nf_conntrack_in has not run yet: nft_ct reads no connection, so `ct state` is invalid (untracked
        // after a notrack) and every other ct key ends the rule, `!=` too
        return key === 'state' ? {t: 'flags', v: [p.state === 'UNTRACKED' ? 'untracked' : 'invalid']} : 'absent'
      }
      if (key === 'state') return {t: 'flags', v: [p.state.toLowerCase()]}
      if (key === 'status') return {t: 'flags', v: [...(p.ctDnat ? ['dnat'] : []), ...(p.ctSnat ? ['snat'] : [])], ...{known: ['dnat', 'snat']}} as Val
      if (key === 'direction') {
        const dir = ctDirOf(p)
        return dir === undefined ? new Unknown('`ct direction` (which way this packet goes in its connection)') : {t: 'name', v: dir.toLowerCase()}
      }
      // nft -j writes `ct original ip daddr` as key `ip daddr`
      const field = key.replace(/^ip /, '')
      if ((e.ct.dir === 'original' || e.ct.dir === 'reply') && ['saddr', 'daddr', 'proto-src', 'proto-dst'].includes(field)) {
        const tuple = ctTuples(p)?.[e.ct.dir === 'original' ? 'orig' : 'repl']
        const port = field.startsWith('proto-')
        if (tuple === undefined || (port && p.proto !== 'tcp' && p.proto !== 'udp')) return new Unknown(`\`ct ${e.ct.dir} ${key}\` (the connection's addresses before this host's nat)`)
        if (!port) return {t: 'ip', v: field === 'saddr' ? tuple.src : tuple.dst}
        const tupleField = field === 'proto-src' ? 'sport' : 'dport'
        if (tuple.ephemeral === tupleField) return ephemeralPort(`ct ${e.ct.dir} ${key}`, p)
        return {t: 'num', v: tuple[tupleField] ?? -1}
      }
      return new Unknown(`\`ct ${key}\``)
    }
    if (isObj(e.fib)) {
      const flags = [e.fib.flags].flat().map(String)
      const result = String(e.fib.result)
      if (result === 'type' && flags.length === 1 && flags[0] === 'daddr') {
        return {t: 'name', v: p.dstIsLocal ? 'local' : p.pktType === 'broadcast' ? 'broadcast' : p.pktType === 'multicast' ? 'multicast' : 'unicast'}
      }
      if ((result === 'oif' || result === 'oifname') && flags.includes('saddr') && flags.every(f => ['saddr', 'mark', 'iif'].includes(f))) return this.reversePathOif(flags)
      return new Unknown(`\`fib ${flags.join(' . ')} ${result}\``)
    }
    if (Array.isArray(e.concat)) {
      const parts: Val[] = []
      for (const part of e.concat) {
        const v = this.value(part, rule)
        if (v === 'absent') return v
        parts.push(v instanceof Unknown ? {t: 'unknown', why: v.what} : v)
      }
      return {t: 'concat', v: parts}
    }
    for (const op of ['&', '|', '^'] as const) {
      const pair = e[op]
      if (!Array.isArray(pair)) continue
      const a = this.value(pair[0], rule)
      const b = this.value(pair[1], rule)
      if (a instanceof Unknown || a === 'absent') return a
      if (b instanceof Unknown || b === 'absent') return b
      if (a.t !== 'num' || b.t !== 'num') return new Unknown(`\`${op}\` on a ${a.t}`)
      return {t: 'num', v: (op === '&' ? a.v & b.v : op === '|' ? a.v | b.v : a.v ^ b.v) >>> 0}
    }
    return new Unknown(`the expression ${JSON.stringify(e)}`)
  }
}

const BYTE_UNITS: Record<string, number> = {bytes: 1, kbytes: 1024, mbytes: 1024 ** 2, gbytes: 1024 ** 3}

/**
 * Whether a packet takes a quota over (nft_overquota: what it counted, this packet included,
 * reaches the quota), from the bytes it had used when the rules were read. Without the packet's
 * size only a quota far from its end (or past it) is known.
 */
function quotaOver(q: Obj, length: number | undefined): Tri {
  const bytes = (n: Json, unit: Json) => Number(n) * (BYTE_UNITS[String(unit ?? 'bytes')] ?? Number.NaN)
  const limit = bytes(q.val, q.val_unit)
  const used = q.used === undefined ? 0 : bytes(q.used, q.used_unit)
  if (!Number.isFinite(limit) || !Number.isFinite(used)) return 'unknown'
  if (length !== undefined) return used + length >= limit
  if (used >= limit) return true
  return used + 65535 < limit ? false : 'unknown'
}

/** The client's ephemeral port, as `what` reads it: known only by the client's range. */
function ephemeralPort(what: string, p: PacketFacts): Val {
  return {t: 'range', v: ephemeralPorts(p.ephemeralRange), why: `\`${what}\` is ${EPHEMERAL_PORT_UNSEEN.needs(p)} (\`${EPHEMERAL_PORT_UNSEEN.settledBy(p)}\` would tell)`}
}

/** Why a key cannot be known: its unknown part. */
function unknownPart(v: Val): string | undefined {
  if (v.t === 'unknown' || v.t === 'range') return v.why
  return v.t === 'concat' ? v.v.map(unknownPart).find(w => w !== undefined) : undefined
}

/** A set element without its timeout or comment (`{"elem": {"val": …}}`). */
function unwrap(e: Json): Json {
  return isObj(e) && isObj(e.elem) ? e.elem.val : e
}

function verdictText(v: Json): string {
  if (!isObj(v)) return String(v)
  const [kind] = Object.keys(v)
  const target = isObj(v[kind]) ? (v[kind] as Obj).target : undefined
  return target !== undefined ? `${kind} ${String(target)}` : kind
}

/** The numbers an element stands for: a number's own, a range's ends. */
function numberBounds(e: Json): [number, number] | undefined {
  const [a, b] = isObj(e) && Array.isArray(e.range) ? e.range.map(numberOf) : [numberOf(e), numberOf(e)]
  return a === undefined || b === undefined ? undefined : [a, b]
}

function numberOf(v: Json): number | undefined {
  if (typeof v === 'number') return v
  if (typeof v !== 'string') return undefined
  if (/^0x[0-9a-f]+$/i.test(v)) return Number.parseInt(v, 16)
  if (/^\d+$/.test(v)) return Number(v)
  return SERVICES[v] ?? ICMP_TYPE_NAMES[v] ?? ICMP_CODES[v]
}

function ipInt(v: Json): number | undefined {
  try {
    return typeof v === 'string' ? ipToInt(v) : undefined
  } catch {
    return undefined
  }
}

/** Whether the packet's value is the element `e` (a value, a prefix, a range, a concatenation, a flag list). */
function matchValue(val: Val, e: Json): Tri {
  if (val.t === 'unknown') return 'unknown'
  if (val.t === 'concat') {
    if (!isObj(e) || !Array.isArray(e.concat) || e.concat.length !== val.v.length) return 'unknown'
    let all: Tri = true
    for (const [i, part] of val.v.entries()) {
      const r = matchValue(part, e.concat[i])
      if (r === false) return false
      if (r === 'unknown') all = 'unknown'
    }
    return all
  }
  if (val.t === 'flags') {
    const wanted = [e].flat().map(String)
    const known = (val as {known?: string[]}).known
    if (known !== undefined && !wanted.every(w => known.includes(w))) return 'unknown'
    return wanted.some(w => val.v.includes(w))
  }
  if (val.t === 'ip') {
    const n = ipInt(val.v)
    if (n === undefined) return 'unknown'
    if (typeof e === 'string') return ipInt(e) === undefined ? 'unknown' : ipInt(e) === n
    if (isObj(e) && isObj(e.prefix)) {
      try {
        return cidrContains(parseCidr(`${String(e.prefix.addr)}/${String(e.prefix.len)}`), n)
      } catch {
        return 'unknown'
      }
    }
    if (isObj(e) && Array.isArray(e.range)) {
      const [a, b] = e.range.map(ipInt)
      return a === undefined || b === undefined ? 'unknown' : n >= a && n <= b
    }
    return 'unknown'
  }
  if (val.t === 'range') {
    const bounds = numberBounds(e)
    return bounds === undefined ? 'unknown' : rangesCover([bounds], val.v)
  }
  if (val.t === 'num') {
    const bounds = numberBounds(e)
    return bounds === undefined ? 'unknown' : val.v >= bounds[0] && val.v <= bounds[1]
  }
  if (val.t === 'ifname') {
    // `fib … oif missing`/`exists`, as nft -j writes them
    if (typeof e === 'boolean') return e === (val.v !== '')
    if (typeof e !== 'string') return 'unknown'
    return e.endsWith('*') ? val.v.startsWith(e.slice(0, -1)) : val.v === e
  }
  // names: protocols by name or number, packet types (`host` is unicast to this host)
  const name = typeof e === 'number' ? PROTO_NAMES[String(e)] ?? String(e) : typeof e === 'string' ? PROTO_NAMES[e] ?? e : undefined
  if (name === undefined) return 'unknown'
  return name === val.v || (name === 'unicast' && val.v === 'host')
}
