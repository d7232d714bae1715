/**
 * Address translation: destination NAT in PREROUTING (OUTPUT for a packet born on the host) and
 * source NAT in POSTROUTING, by iptables' nat table and native nftables nat chains alike, and conntrack undoing both for the reply. Only the first packet of a
 * connection walks the nat table; the reply is translated back by the connection entry, which is
 * why the return trace carries the forward trace's translations instead of re-reading rules.
 */
import type {HostView} from './host-view.js'
import {type Decision, type EphemeralRange, type Hook, ephemeralPorts, rangesCover} from './iptables.js'
import {type NftFacts, evaluateNftChain, listChain, ruleName, withIptablesMarks} from './nft.js'

export interface NatRecord {
  node: string
  /** which address the rule rewrote: the reply gets the opposite one translated back */
  field: 'src' | 'dst'
  /** the address before and after translation */
  from: string
  to: string
  /** the port before and after, when a DNAT/REDIRECT (or a source NAT with ports) rewrote it too */
  fromPort?: number
  toPort?: number
  /** a source NAT that gave the client's port another range: the range before (undefined: the default), for the reply's way back */
  portsBefore?: {range?: EphemeralRange}
  /** a DNAT to an address range (`A-B`): `to` is its first address, the kernel picks one per connection */
  toRange?: string
  /** a translation of the reply itself: its host tracked no connection for it, so nat took it for a new one */
  ofReply?: true
  evidence: string
}

export interface NatOutcome {
  decision: Decision
  verdict: 'masquerade' | 'snat' | 'unchanged'
  newSrc?: string
}

/**
 * The nat stages at `hook` in priority order, iptables' nat table and native nat chains alike: the
 * first whose rule translates the connection decides (the kernel runs no later nat chain for a
 * connection that has its translation); marks set on the way (kube-proxy's mark for masquerade)
 * stay on the packet. undefined when no stage has anything to say.
 */
function natDecision(view: HostView, hook: Hook, facts: NftFacts): {decision: Decision, mark: number | undefined, markDoubt?: string} | undefined {
  const rules = view.iptables
  const stages = view.hooks.stages(hook, 'nat', facts.inDev)
  if (stages.length === 0) return undefined
  const assumptions: string[] = []
  let mark = facts.mark
  let markDoubt = facts.markDoubt
  let last: Decision | undefined
  for (const stage of stages) {
    if ('table' in stage) {
      const d = rules!.evaluate('nat', hook, {...facts, mark, markDoubt})
      assumptions.push(...d.assumptions)
      // a mark the nat chain gives (KUBE-MARK-MASQ before a DNAT) stays on the packet for later hooks
      const marked = hook === 'PREROUTING' || hook === 'OUTPUT' ? rules!.markThrough({...facts, mark, markDoubt}, 'nat', hook) : undefined
      if (marked !== undefined && 'mark' in marked) mark = marked.mark
      else if (marked !== undefined) {
        assumptions.push(`packet mark unknown after nat ${hook} on ${view.name}: \`${marked.doubt.raw}\` may set one; later \`-m mark\` matches (a masquerade by mark) take it as ${hexMark(mark ?? 0)}`)
        markDoubt ??= `\`${marked.doubt.raw}\` may set one`
      }
      if (REWRITES.has(d.action)) return {decision: {...d, assumptions}, mark, markDoubt}
      last = d
      continue
    }
    const c = stage.chain
    const seen = withIptablesMarks(rules, {...facts, mark, markDoubt}, hook, stage.priority)
    const o = evaluateNftChain(c, seen)
    assumptions.push(...o.assumptions)
    // where iptables' own marks are replayed from its rules each time (withIptablesMarks), only what a native rule set is carried
    if (o.mark !== seen.mark) mark = o.mark
    const v = o.verdict
    if (v.kind === 'nat') return {decision: {action: v.action, evidence: v.rule.text, path: o.path, toAddress: v.toAddress, toPorts: v.toPorts, randomPorts: v.randomPorts, assumptions}, mark, markDoubt}
    const chain = `native nftables chain ${c.family} ${c.table} ${c.name}`
    if (v.kind === 'unknown') {
      assumptions.push(`${chain} on ${view.name}: cannot evaluate ${ruleName(v.rule)}: ${v.what}; assumed it rewrites nothing (${listChain(c)})`)
    } else if (v.kind !== 'accept') {
      assumptions.push(`${chain} on ${view.name} ${v.kind === 'queue' ? 'queues' : 'drops'} the packet ${v.rule !== undefined ? `at ${ruleName(v.rule)}` : 'by its policy'}: the trace does not model a drop in a nat chain and takes the packet on`)
    } else if (v.rule !== undefined) {
      last = {action: 'ACCEPT', evidence: v.rule.text, path: o.path, assumptions: []}
    } else if (o.returned !== undefined) {
      const text = o.returned.text
      last = {action: 'ACCEPT', evidence: text, path: o.path, assumptions: [], viaReturn: {table: c.table, chain: o.returned.chain, spec: text, raw: text}}
    }
  }
  return {decision: {...(last ?? {action: 'ACCEPT', evidence: '(no nat rule matched)', path: []}), assumptions}, mark, markDoubt}
}

function hexMark(mark: number): string {
  return `0x${mark.toString(16)}`
}

const REWRITES: ReadonlySet<string> = new Set(['MASQUERADE', 'SNAT', 'DNAT', 'REDIRECT'])

/**
 * Whether the nat table or a native nat chain has anything at `hook` for a packet coming in by
 * `inDev` (undefined: born here): where none has, the packet's facts need not be gathered.
 */
export function natAt(view: HostView, hook: Hook, inDev: string | undefined): boolean {
  return view.hooks.stages(hook, 'nat', inDev).length > 0
}

/** undefined when neither the nat table nor a native nat chain has anything in POSTROUTING. */
export function postrouting(view: HostView, facts: NftFacts, nexthop: string): NatOutcome | undefined {
  const found = natDecision(view, 'POSTROUTING', facts)
  if (found === undefined) return undefined
  const decision = found.decision
  if (decision.action === 'MASQUERADE') {
    // MASQUERADE takes the outgoing device's address, as inet_select_addr picks it.
    const newSrc = (facts.outDev !== undefined ? view.deviceAddress(facts.outDev, nexthop) : undefined) ?? view.firstGlobalAddress()
    return {decision, verdict: 'masquerade', newSrc}
  }
  if (decision.action === 'SNAT' && decision.toAddress !== undefined) return {decision, verdict: 'snat', newSrc: decision.toAddress}
  return {decision, verdict: 'unchanged'}
}

/**
 * The destination a nat PREROUTING (or OUTPUT) rule gives the packet (none: it keeps its own) and
 * the mark it leaves; undefined when no nat chain is there. REDIRECT sends it to the receiving
 * device's own address.
 */
export function destinationNat(view: HostView, hook: 'PREROUTING' | 'OUTPUT', facts: NftFacts): {decision: Decision, newDst?: string, newDport?: number, mark: number | undefined, markDoubt?: string} | undefined {
  const found = natDecision(view, hook, facts)
  if (found === undefined) return undefined
  const decision = found.decision
  const rewrites = decision.action === 'DNAT' || decision.action === 'REDIRECT'
  const newDst = decision.action === 'DNAT' ? decision.toAddress
    : decision.action === 'REDIRECT' ? (facts.inDev !== undefined ? view.deviceAddress(facts.inDev) : '127.0.0.1')
      : undefined
  const newDport = rewrites ? natPort(decision.toPorts, facts.dport) : undefined
  return {decision, mark: found.mark, markDoubt: found.markDoubt, newDst: newDst === facts.dst ? undefined : newDst, newDport: newDport === facts.dport ? undefined : newDport}
}

/**
 * The destination port a DNAT/REDIRECT range gives a new connection: the kernel keeps a port
 * already in the range (nf_nat's get_unique_tuple), else takes the first free one from its low
 * end, which is the low end for the first connection. No port (ICMP) or no range: unchanged.
 */
function natPort(range: [number, number] | undefined, port: number | undefined): number | undefined {
  if (range === undefined || port === undefined) return port
  return port >= range[0] && port <= range[1] ? port : range[0]
}

/**
 * The ports the client's port may have after a source NAT (nf_nat's get_unique_tuple): a port the
 * rule's range holds is kept, unless `--random`/`--random-fully` asks for a new one for every
 * connection; else one is picked from the range or, with none, from 1024-65535 (600-1023 or 1-511
 * for a port under 1024; checked on the kernel: MASQUERADE --random-fully gave 4913 and 55312 to
 * clients of 37xxx). undefined: the rule keeps the client's port, whose range still holds.
 */
export function snatPorts(d: Decision, client: EphemeralRange | undefined, node: string): EphemeralRange | undefined {
  const own = ephemeralPorts(client)
  if (d.toPorts !== undefined && d.randomPorts !== true && rangesCover([d.toPorts], own) === true) return undefined
  const ports: readonly [number, number] | undefined = d.toPorts ?? (d.randomPorts === true ? (own[0] >= 1024 ? [1024, 65535] : [1, 65535]) : undefined)
  return ports === undefined ? undefined : {ports, natBy: {rule: d.evidence, node}}
}

/** The translation of `field` a reply at `node` undoes: the one that made `address`, if any. */
export function reverseTranslation(records: NatRecord[], node: string, field: NatRecord['field'], address: string): NatRecord | undefined {
  return records.find(r => r.node === node && r.field === field && r.to === address && r.ofReply === undefined)
}
