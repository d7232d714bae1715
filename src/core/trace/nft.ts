/**
 * Native nftables on a traced host: firewalld, nftables.service or flanneld's EnableNFTables put
 * chains into netfilter's hooks beside iptables. The trace reads iptables rules (iptables-nft's
 * tables included) but does not evaluate native nftables rules, so at every hook it asks which
 * such chains see the packet: one that drops by policy decides the packet unseen (the trace stops
 * there, INSUFFICIENT_INFO), one with rules is an assumption the trace names.
 */
import type {HostSnapshot, NftChain} from '../model.js'
import type {Hook} from './iptables.js'

/** The tables iptables-nft makes (family ip): iptables-save shows them, and the trace evaluates them. */
const XTABLES = new Set(['filter', 'nat', 'mangle', 'raw', 'security'])

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
  }).sort((a, b) => a.priority - b.priority)
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
