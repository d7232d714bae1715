/**
 * What iptables' FORWARD does with pod traffic, read from iptables-save: doctor's FORWARD_DROP and
 * migrate's preflight ask the same question. Pure.
 */
import {cidrOverlaps, parseCidr} from './addr.js'
import type {HostSnapshot, IptablesRule} from './model.js'

/** Accepts at the top of FORWARD: they work whatever the chain holds (appended, they would sit behind a final REJECT). */
export const forwardAcceptHint = (net: string): string[] => [`iptables -I FORWARD 1 -s ${net} -j ACCEPT`, `iptables -I FORWARD 1 -d ${net} -j ACCEPT`]

/**
 * What FORWARD (following jumps) does first with traffic to or from `subnet`: a rule accepts it, a
 * rule drops or rejects it (a host firewall's final `-j REJECT`), or neither and the policy decides.
 * Only plain address matches count: a rule with other matches (state, mark, ports) may not fire, and
 * a drop limited by interface or negation may not concern pods, so neither decides here.
 */
export function forwardVerdict(h: HostSnapshot, subnet: string): {verdict: 'ACCEPT'} | {verdict: 'DROP', rule: IptablesRule} | undefined {
  const rules = h.iptables?.rules.filter(r => r.table === 'filter') ?? []
  const chains = new Set(h.iptables?.chains.filter(c => c.table === 'filter').map(c => c.name) ?? [])
  const seen = new Set<string>()
  const walk = (chain: string): ReturnType<typeof forwardVerdict> => {
    if (seen.has(chain)) return undefined
    seen.add(chain)
    for (const r of rules.filter(x => x.chain === chain)) {
      const words = r.spec.split(/\s+/)
      const target = words[words.indexOf('-j') + 1]
      const val = (flag: string) => {
        const i = words.indexOf(flag)
        return i >= 0 && words[i - 1] !== '!' ? words[i + 1] : undefined
      }
      const s = val('-s')
      const d = val('-d')
      const other = words.some((w, i) => w.startsWith('-') && !['-s', '-d', '-j', '-m', '--comment', '-i', '-o', '--reject-with'].includes(w) && !(w === '-m' || words[i - 1] === '-m'))
      if (other) continue
      const covers = (x: string | undefined) => x === undefined || cidrOverlaps(parseCidr(x), parseCidr(subnet))
      // a rule about other sources or other destinations says nothing about pod traffic as a whole
      if (!covers(s) || !covers(d)) continue
      if (target === 'ACCEPT') return {verdict: 'ACCEPT'}
      if (target === 'DROP' || target === 'REJECT') {
        if (!words.includes('!') && !words.includes('-i') && !words.includes('-o')) return {verdict: 'DROP', rule: r}
        continue
      }
      if (target === 'RETURN') return undefined
      if (target && chains.has(target)) {
        const v = walk(target)
        if (v !== undefined) return v
      }
      // `iptables -S FORWARD` pasted: a chain it jumps to is not listed, and may accept
      if (target && !chains.has(target) && partial && !NON_ACCEPTING_TARGETS.has(target)) return {verdict: 'ACCEPT'}
    }
    return undefined
  }
  const partial = h.iptables?.covers !== undefined
  return walk('FORWARD')
}

/** Extension targets (not chains) that never accept a packet themselves. */
const NON_ACCEPTING_TARGETS = new Set(['DROP', 'REJECT', 'RETURN', 'LOG', 'NFLOG', 'ULOG', 'MARK', 'CONNMARK', 'CT', 'NOTRACK', 'TRACE',
  'TCPMSS', 'AUDIT', 'CHECKSUM', 'CLASSIFY', 'DSCP', 'TOS', 'TTL', 'HL', 'SET', 'SECMARK', 'CONNSECMARK', 'NFQUEUE', 'QUEUE', 'LED', 'IDLETIMER'])
