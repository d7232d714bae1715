/**
 * Source NAT in POSTROUTING, and conntrack undoing it for the reply. Only the first packet of a
 * connection walks the nat table; the reply is translated back by the connection entry, which is
 * why the return trace carries the forward trace's translations instead of re-reading rules.
 */
import type {HostView} from './host-view.js'
import type {Decision, PacketFacts} from './iptables.js'

export interface NatRecord {
  node: string
  /** the source before and after translation */
  from: string
  to: string
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

/** The translation a reply arriving at `node` for `dst` undoes, if any. */
export function reverseTranslation(records: NatRecord[], node: string, dst: string): NatRecord | undefined {
  return records.find(r => r.node === node && r.to === dst)
}
