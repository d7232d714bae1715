/**
 * Address translation: destination NAT in PREROUTING (OUTPUT for a packet born on the host) and
 * source NAT in POSTROUTING, and conntrack undoing both for the reply. Only the first packet of a
 * connection walks the nat table; the reply is translated back by the connection entry, which is
 * why the return trace carries the forward trace's translations instead of re-reading rules.
 */
import type {HostView} from './host-view.js'
import type {Decision, PacketFacts} from './iptables.js'

export interface NatRecord {
  node: string
  /** which address the rule rewrote: the reply gets the opposite one translated back */
  field: 'src' | 'dst'
  /** the address before and after translation */
  from: string
  to: string
  /** the port before and after, when a DNAT/REDIRECT rewrote it too */
  fromPort?: number
  toPort?: number
  evidence: string
}

export interface NatOutcome {
  decision: Decision
  verdict: 'masquerade' | 'snat' | 'unchanged'
  newSrc?: string
}

/** undefined when the nat table has nothing in POSTROUTING (or was not captured). */
export function postrouting(view: HostView, facts: PacketFacts, nexthop: string): NatOutcome | undefined {
  const rules = view.iptables
  if (rules === undefined || !rules.active('nat', 'POSTROUTING')) return undefined
  const decision = rules.evaluate('nat', 'POSTROUTING', facts)
  if (decision.action === 'MASQUERADE') {
    // MASQUERADE takes the outgoing device's address, as inet_select_addr picks it.
    const newSrc = (facts.outDev !== undefined ? view.deviceAddress(facts.outDev, nexthop) : undefined) ?? view.firstGlobalAddress()
    return {decision, verdict: 'masquerade', newSrc}
  }
  if (decision.action === 'SNAT' && decision.toAddress !== undefined) return {decision, verdict: 'snat', newSrc: decision.toAddress}
  return {decision, verdict: 'unchanged'}
}

/**
 * The destination a nat PREROUTING (or OUTPUT) rule gives the packet (none: it keeps its own);
 * undefined when the chain is empty. REDIRECT sends it to the receiving device's own address.
 */
export function destinationNat(view: HostView, hook: 'PREROUTING' | 'OUTPUT', facts: PacketFacts): {decision: Decision, newDst?: string, newDport?: number} | undefined {
  const rules = view.iptables
  if (rules === undefined || !rules.active('nat', hook)) return undefined
  const decision = rules.evaluate('nat', hook, facts)
  const rewrites = decision.action === 'DNAT' || decision.action === 'REDIRECT'
  const newDst = decision.action === 'DNAT' ? decision.toAddress
    : decision.action === 'REDIRECT' ? (facts.inDev !== undefined ? view.deviceAddress(facts.inDev) : '127.0.0.1')
      : undefined
  const newDport = rewrites ? natPort(decision.toPorts, facts.dport) : undefined
  return {decision, newDst: newDst === facts.dst ? undefined : newDst, newDport: newDport === facts.dport ? undefined : newDport}
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

/** The translation of `field` a reply at `node` undoes: the one that made `address`, if any. */
export function reverseTranslation(records: NatRecord[], node: string, field: NatRecord['field'], address: string): NatRecord | undefined {
  return records.find(r => r.node === node && r.field === field && r.to === address)
}
