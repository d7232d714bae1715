/**
 * Routing policy rules: one line of `ip rule show` as words. The JSON form (`ip -j rule show`) is
 * first written back as the line `ip rule show` prints, so both forms go through the one reader
 * here and keep that line as `raw`.
 */
import type {PolicyRule, RuleAction} from '../model.js'

/** Table ids iproute2 names (rt_tables): a route's `table` and a rule's `lookup` use the same names. */
const TABLE_NAMES: Record<string, string> = {254: 'main', 255: 'local', 253: 'default'}

export function tableName(t: string): string {
  return TABLE_NAMES[t] ?? t
}

function num(text: string): number | undefined {
  const n = text.startsWith('0x') ? Number.parseInt(text.slice(2), 16) : Number(text)
  return Number.isFinite(n) && /^(0x[0-9a-f]+|\d+)$/i.test(text) ? n : undefined
}

function range(text: string): [number, number] | undefined {
  const [a, b] = text.split('-')
  const lo = num(a)
  const hi = b === undefined ? lo : num(b)
  return lo === undefined || hi === undefined ? undefined : [lo, hi]
}

/** `from 10.1.2.3` is a host: the prefix length is the address's. */
function prefix(text: string): string | undefined {
  if (text === 'all' || text === '0/0' || text === 'default' || text === '::/0') return undefined
  return text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`
}

const ACTIONS = new Set<RuleAction>(['blackhole', 'unreachable', 'prohibit', 'nop'])
/** Words ip prints that do not change which packets a rule matches or what it does. */
const IGNORED = new Set(['protocol', 'proto', 'realms', 'map-to', 'nat'])
/** Selectors taking a value that the tracer cannot decide for a packet. */
const UNDECIDABLE = new Set(['uidrange', 'tun_id', 'flowlabel', 'dscp'])

/**
 * A rule from its words (`100:` first). Throws (a message for the caller's ParseError) without a
 * priority; a word it does not know is kept in `other`, which the trace cannot decide, rather than
 * reading the rule as something it is not.
 */
export function ruleFromWords(words: string[], raw: string): PolicyRule {
  const head = /^(\d+):$/.exec(words[0] ?? '')
  if (!head) throw new Error('a rule starts with its priority (`100:`)')
  const rule: PolicyRule = {priority: Number(head[1]), action: 'lookup', raw}
  let acted = false
  for (let i = 1; i < words.length; i++) {
    const w = words[i]
    const value = words[i + 1]
    const need = (): string => {
      if (value === undefined) throw new Error(`${w} without a value`)
      i++
      return value
    }
    switch (w) {
      case 'not': rule.not = true; break
      case 'from': { const p = prefix(need()); if (p) rule.from = p; break }
      case 'to': { const p = prefix(need()); if (p) rule.to = p; break }
      case 'iif': rule.iif = need(); break
      case 'oif': rule.oif = need(); break
      case '[detached]': rule.detached = true; break
      case 'fwmark': {
        const [m, mask] = need().split('/')
        rule.fwmark = num(m)
        if (rule.fwmark === undefined) throw new Error(`fwmark ${value} is not a number`)
        if (mask !== undefined) rule.fwmask = num(mask)
        break
      }
      case 'tos': case 'dsfield': rule.tos = num(need()); break
      case 'ipproto': rule.ipproto = need(); break
      case 'sport': rule.sport = range(need()); break
      case 'dport': rule.dport = range(need()); break
      case 'l3mdev': rule.l3mdev = true; break
      case 'lookup': case 'table': {
        // `ip rule show` prints an l3mdev rule as `lookup [l3mdev-table]`
        const t = need()
        if (t === '[l3mdev-table]') rule.l3mdev = true
        else rule.table = tableName(t)
        rule.action = 'lookup'
        acted = true
        break
      }
      case 'goto': rule.goto = num(need()); rule.action = 'goto'; acted = true; break
      case 'suppress_prefixlength': case 'suppress_prefixlen': rule.suppressPrefixlength = num(need()); break
      case 'suppress_ifgroup': rule.suppressIfgroup = need(); break
      default:
        if (ACTIONS.has(w as RuleAction)) {
          rule.action = w as RuleAction
          acted = true
        } else if (UNDECIDABLE.has(w)) {
          (rule.other ??= []).push(`${w} ${need()}`)
        } else if (IGNORED.has(w)) {
          need()
        } else {
          // a selector of a newer iproute2: kept, so the trace says it cannot decide the rule
          (rule.other ??= []).push(w)
        }
    }
  }
  // `ip rule` prints a rule without an action (FR_ACT_UNSPEC) as a lookup of table 0 at most
  if (!acted || (rule.action === 'lookup' && rule.table === undefined)) rule.table ??= 'main'
  return rule
}

/** The words of one `ip rule show` line, `[detached]` kept as a word of its own. */
export function ruleWords(line: string): string[] {
  return line.replace(/:\s*/, ': ').trim().split(/\s+/)
}

/** The line `ip rule show` prints for an entry of `ip -j rule show`. */
export function ruleLineFromJson(o: Record<string, unknown>): string {
  const out: string[] = [`${o.priority}:`]
  const s = (k: string) => (o[k] === undefined || o[k] === null ? undefined : String(o[k]))
  if ('not' in o) out.push('not')
  out.push('from', s('src') === undefined ? 'all' : s('srclen') !== undefined ? `${s('src')}/${s('srclen')}` : s('src')!)
  if (s('dst') !== undefined) out.push('to', s('dstlen') !== undefined ? `${s('dst')}/${s('dstlen')}` : s('dst')!)
  if (s('tos') !== undefined) out.push('tos', s('tos')!)
  if (s('dsfield') !== undefined) out.push('dsfield', s('dsfield')!)
  if (s('fwmark') !== undefined) out.push('fwmark', s('fwmask') !== undefined ? `${s('fwmark')}/${s('fwmask')}` : s('fwmark')!)
  if (s('iif') !== undefined) out.push('iif', s('iif')!, ...(o.iif_detached !== undefined ? ['[detached]'] : []))
  if (s('oif') !== undefined) out.push('oif', s('oif')!, ...(o.oif_detached !== undefined ? ['[detached]'] : []))
  if ('l3mdev' in o) out.push('l3mdev')
  if (s('uid_start') !== undefined) out.push('uidrange', `${s('uid_start')}-${s('uid_end')}`)
  if (s('tun_id') !== undefined) out.push('tun_id', s('tun_id')!)
  if (s('ipproto') !== undefined) out.push('ipproto', s('ipproto')!)
  for (const p of ['sport', 'dport']) {
    if (s(p) !== undefined) out.push(p, s(p)!)
    else if (s(`${p}_start`) !== undefined) out.push(p, `${s(`${p}_start`)}-${s(`${p}_end`)}`)
  }
  if (s('table') !== undefined) out.push('lookup', s('table')!)
  if (s('suppress_prefixlen') !== undefined) out.push('suppress_prefixlength', s('suppress_prefixlen')!)
  if (s('suppress_ifgroup') !== undefined) out.push('suppress_ifgroup', s('suppress_ifgroup')!)
  if (s('goto') !== undefined) out.push('goto', s('goto')!)
  if ('nop' in o) out.push('nop')
  if (s('action') !== undefined) out.push(s('action')!)
  return out.join(' ').replace(/^(\d+): /, '$1:\t')
}
