/**
 * One nftables rule in both of nft's forms: the JSON statements of `nft -j list ruleset` printed
 * the way `nft list ruleset` prints the rule, and a text rule read back into those JSON statements.
 * The reader knows the expressions that decide where a packet goes (addresses, protocols, ports,
 * interfaces, conntrack state, marks, sets and verdict maps, NAT); a rule with anything else is
 * returned unread, so the trace can say it could not evaluate it instead of guessing.
 */

type Json = unknown
type Obj = Record<string, Json>

const isObj = (v: Json): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The meta keys nft prints without `meta` (`iifname "cni0"`, `mark`), as nft 1.0 does. */
const BARE_META = new Set(['iifname', 'oifname', 'iif', 'oif'])
const MARK_KEYS = new Set(['mark'])

// ---- printing JSON as nft prints it

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`
}

function keyName(e: Json): string | undefined {
  if (!isObj(e)) return undefined
  if (isObj(e.meta)) return String(e.meta.key)
  if (isObj(e.ct)) return `ct ${String(e.ct.key)}`
  for (const op of ['&', '|', '^']) if (Array.isArray(e[op])) return keyName((e[op] as Json[])[0])
  return undefined
}

/** A value printed in the style of the expression it is compared with (marks in hex, interface names quoted). */
function printValue(v: Json, style: string | undefined): string {
  if (typeof v === 'number') return style !== undefined && MARK_KEYS.has(style) || style === 'ct mark' ? hex(v) : String(v)
  if (typeof v === 'string') {
    if (v.startsWith('@')) return v
    return style !== undefined && (BARE_META.has(style) || style === 'ifname') ? `"${v}"` : v
  }
  if (Array.isArray(v)) return v.map(x => printValue(x, style)).join(',')
  if (!isObj(v)) return JSON.stringify(v)
  if (isObj(v.prefix)) return `${String(v.prefix.addr)}/${String(v.prefix.len)}`
  if (Array.isArray(v.range)) return `${printValue(v.range[0], style)}-${printValue(v.range[1], style)}`
  if (Array.isArray(v.set)) return `{ ${v.set.map(x => printSetItem(x, style)).join(', ')} }`
  if (Array.isArray(v.concat)) return v.concat.map(x => printExpr(x)).join(' . ')
  if (isObj(v.elem)) return printValue(v.elem.val, style)
  return printExpr(v)
}

function printSetItem(x: Json, style: string | undefined): string {
  if (Array.isArray(x) && x.length === 2) return `${printValue(x[0], style)} : ${printStatement(x[1]) ?? printValue(x[1], undefined)}`
  return printValue(x, style)
}

function printExpr(e: Json): string {
  if (!isObj(e)) return printValue(e, undefined)
  if (isObj(e.payload)) return `${String(e.payload.protocol)} ${String(e.payload.field)}`
  if (isObj(e.meta)) return BARE_META.has(String(e.meta.key)) ? String(e.meta.key) : `meta ${String(e.meta.key)}`
  if (isObj(e.ct)) return `ct ${e.ct.dir !== undefined ? `${String(e.ct.dir)} ` : ''}${String(e.ct.key)}`
  if (isObj(e.fib)) return `fib ${(e.fib.flags as string[] | undefined ?? []).join(' . ')} ${String(e.fib.result)}`
  if (isObj(e.numgen)) return `numgen ${String(e.numgen.mode)} mod ${String(e.numgen.mod)}${e.numgen.offset ? ` offset ${String(e.numgen.offset)}` : ''}`
  if (Array.isArray(e.concat)) return e.concat.map(printExpr).join(' . ')
  for (const op of ['&', '|', '^']) {
    const pair = e[op]
    if (Array.isArray(pair)) return `${printExpr(pair[0])} ${op} ${printValue(pair[1], keyName(pair[0]))}`
  }
  if (isObj(e.map)) return `${printExpr(e.map.key)} map ${printValue(e.map.data, undefined)}`
  if (isObj(e['tcp option'])) return `tcp option ${String(e['tcp option'].name)} ${String(e['tcp option'].field ?? '')}`.trim()
  if (isObj(e.rt)) return `rt ${String(e.rt.key)}`
  return printValue(e, undefined)
}

function printNat(kind: string, s: Json): string {
  if (!isObj(s)) return kind
  const family = s.family !== undefined ? ` ${String(s.family)}` : ''
  const addr = s.addr !== undefined ? printValue(s.addr, undefined) : ''
  const port = s.port !== undefined ? `:${printValue(s.port, undefined)}` : ''
  const flags = s.flags !== undefined ? ` ${[s.flags].flat().join(',')}` : ''
  if (addr === '' && port === '') return `${kind}${flags}`
  return `${kind}${addr !== '' ? family : ''} to ${addr}${port}${flags}`
}

/** One statement as nft prints it; undefined when the object is not a statement this printer knows. */
function printStatement(s: Json): string | undefined {
  if (!isObj(s)) return undefined
  const [kind] = Object.keys(s)
  const v = s[kind]
  switch (kind) {
    case 'match': {
      const m = v as Obj
      const style = keyName(m.left)
      const binop = isObj(m.left) && ['&', '|', '^'].some(op => op in (m.left as Obj))
      const op = m.op === '==' || m.op === 'in' ? (binop ? '== ' : '') : `${String(m.op)} `
      // `fib … oif missing`: nft -j writes the existence check as a boolean
      const right = isObj(m.left) && isObj(m.left.fib) && typeof m.right === 'boolean' ? (m.right ? 'exists' : 'missing') : m.right
      return `${printExpr(m.left)} ${op}${printValue(right, style)}`
    }
    case 'accept': case 'drop': case 'return': case 'continue': case 'notrack':
      return kind
    case 'jump': case 'goto':
      return `${kind} ${String((v as Obj).target)}`
    case 'counter':
      return isObj(v) && v.packets !== undefined ? `counter packets ${String(v.packets)} bytes ${String(v.bytes)}` : 'counter'
    case 'log':
      return isObj(v) && v.prefix !== undefined ? `log prefix "${String(v.prefix)}"` : 'log'
    case 'limit': {
      const l = v as Obj
      return `limit rate ${l.inv ? 'over ' : ''}${String(l.rate)}/${String(l.per)}${l.burst !== undefined && l.burst !== 5 ? ` burst ${String(l.burst)} packets` : ''}`
    }
    case 'reject': {
      if (!isObj(v)) return 'reject'
      if (v.type === 'tcp reset') return 'reject with tcp reset'
      if (v.expr === undefined || v.expr === 'port-unreachable') return 'reject'
      return `reject with ${String(v.type)} ${String(v.expr ?? 'port-unreachable')}`
    }
    case 'queue':
      return isObj(v) && v.num !== undefined ? `queue num ${String(v.num)}` : 'queue'
    case 'quota': {
      const q = v as Obj
      return `quota ${q.inv ? 'over ' : ''}${String(q.val)} ${String(q.val_unit ?? 'bytes')}${q.used !== undefined ? ` used ${String(q.used)} ${String(q.used_unit ?? 'bytes')}` : ''}`
    }
    case 'set': {
      const u = v as Obj
      const stmts = Array.isArray(u.stmt) ? u.stmt.map(x => printStatement(x) ?? JSON.stringify(x)).join(' ') : ''
      return `${String(u.op)} ${String(u.set)} { ${printExpr(u.elem)}${stmts !== '' ? ` ${stmts}` : ''} }`
    }
    case 'masquerade': case 'snat': case 'dnat': case 'redirect':
      return printNat(kind, v)
    case 'mangle': {
      const m = v as Obj
      return `${printExpr(m.key)} set ${printValue(m.value, keyName(m.key))}`
    }
    case 'vmap': {
      const m = v as Obj
      return `${printExpr(m.key)} vmap ${printValue(m.data, undefined)}`
    }
    case 'xt':
      return `xt ${String((v as Obj).type)} "${String((v as Obj).name)}"`
    default:
      return undefined
  }
}

/** The rule as `nft list ruleset` prints it; a statement this printer does not know shows as its JSON. */
export function printRule(expr: Json[], comment?: string): string {
  const words = expr.map(s => printStatement(s) ?? JSON.stringify(s))
  if (comment !== undefined) words.push(`comment "${comment}"`)
  return words.join(' ')
}

// ---- reading the text form into JSON statements

const PAYLOAD_FIELDS: Record<string, readonly string[]> = {
  ip: ['saddr', 'daddr', 'protocol', 'ttl', 'length'],
  tcp: ['sport', 'dport', 'flags'],
  udp: ['sport', 'dport'],
  th: ['sport', 'dport'],
  icmp: ['type'],
  ip6: ['saddr', 'daddr', 'nexthdr'],
  icmpv6: ['type'],
}
const META_KEYS = new Set(['iifname', 'oifname', 'iif', 'oif', 'l4proto', 'nfproto', 'mark', 'pkttype', 'protocol', 'skuid', 'skgid', 'cgroup'])
const RELATIONS = new Set(['==', '!=', '<', '>', '<=', '>='])

class Unread extends Error {}

/** Words of a rule line: quoted strings kept whole, braces, commas, colons and dots of concatenations as words of their own. */
function words(line: string): string[] {
  const out: string[] = []
  const re = /"[^"]*"|[{},]|\s+|[^\s{},"]+(?:,[^\s{},"]+)*/g
  for (const m of line.matchAll(re)) {
    if (/^\s+$/.test(m[0])) continue
    out.push(m[0])
  }
  return out
}

class Reader {
  i = 0
  constructor(readonly w: string[]) {}
  peek(k = 0): string | undefined {
    return this.w[this.i + k]
  }
  next(): string {
    const t = this.w[this.i++]
    if (t === undefined) throw new Unread('the rule ends too early')
    return t
  }
  done(): boolean {
    return this.i >= this.w.length
  }
}

function scalar(t: string): Json {
  if (t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1)
  if (/^0x[0-9a-f]+$/i.test(t)) return Number.parseInt(t, 16)
  if (/^\d+$/.test(t)) return Number(t)
  const prefix = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(t)
  if (prefix) return {prefix: {addr: prefix[1], len: Number(prefix[2])}}
  const range = /^([\d.]+)-([\d.]+)$/.exec(t)
  if (range) return {range: [scalar(range[1]), scalar(range[2])]}
  return t
}

/** A value: a scalar, `a,b` (flag lists), `{ a, b-c, 10.0.0.0/8 }` or a map's `{ k : verdict, ... }`; `.` joins a concatenation's parts. */
function readValue(r: Reader, mapped = false): Json {
  if (r.peek() === '{') {
    r.next()
    const items: Json[] = []
    while (r.peek() !== '}') {
      const key = readConcatValue(r)
      // an element's own comment, timeout or expiry says nothing about what it matches
      while (['comment', 'timeout', 'expires'].includes(r.peek() ?? '')) r.i += 2
      if (r.peek() === ':') {
        r.next()
        const target = r.next()
        items.push([key, target === 'jump' || target === 'goto' ? {[target]: {target: r.next()}} : ['accept', 'drop', 'return', 'continue'].includes(target) ? {[target]: null} : scalar(target)])
      } else {
        if (mapped) throw new Unread('a map without values')
        items.push(key)
      }
      if (r.peek() === ',') r.next()
      else if (r.peek() !== '}') throw new Unread(`unexpected "${r.peek() ?? ''}" in a set`)
    }
    r.next()
    return {set: items}
  }
  const t = r.next()
  if (t.includes(',')) return t.split(',').map(scalar)
  return scalar(t)
}

function readConcatValue(r: Reader): Json {
  const parts = [scalar(r.next())]
  while (r.peek() === '.') {
    r.next()
    parts.push(scalar(r.next()))
  }
  return parts.length === 1 ? parts[0] : {concat: parts}
}

/** A selector (`ip saddr`, `meta mark`, `ct state`, `fib daddr type`, `numgen random mod 2`), with `& MASK`; undefined when the next words are not one. */
function readSelector(r: Reader): Json | undefined {
  const t = r.peek()
  if (t === undefined) return undefined
  let e: Json | undefined
  if (PAYLOAD_FIELDS[t] !== undefined && PAYLOAD_FIELDS[t].includes(r.peek(1) ?? '')) {
    r.next()
    e = {payload: {protocol: t, field: r.next()}}
  } else if (t === 'meta' && META_KEYS.has(r.peek(1) ?? '')) {
    r.next()
    e = {meta: {key: r.next()}}
  } else if (BARE_META.has(t) || t === 'mark') {
    r.next()
    e = {meta: {key: t}}
  } else if (t === 'ct' && ['state', 'status', 'mark', 'direction'].includes(r.peek(1) ?? '')) {
    r.next()
    e = {ct: {key: r.next()}}
  } else if (t === 'ct' && (r.peek(1) === 'original' || r.peek(1) === 'reply')) {
    // `ct original ip daddr`, `ct reply proto-src`
    r.next()
    const dir = r.next()
    const family = r.peek() === 'ip' ? `${r.next()} ` : ''
    const key = r.next()
    if (!['saddr', 'daddr', 'proto-src', 'proto-dst'].includes(key)) throw new Unread(`"ct ${dir} ${key}" is not an expression the trace reads`)
    e = {ct: {key: `${family}${key}`, dir}}
  } else if (t === 'fib') {
    r.next()
    const flags = [r.next()]
    while (r.peek() === '.') {
      r.next()
      flags.push(r.next())
    }
    e = {fib: {result: r.next(), flags}}
  } else if (t === 'numgen') {
    r.next()
    const mode = r.next()
    if (r.next() !== 'mod') throw new Unread('numgen without mod')
    const mod = Number(r.next())
    let offset = 0
    if (r.peek() === 'offset') {
      r.next()
      offset = Number(r.next())
    }
    e = {numgen: {mode, mod, offset}}
  }
  if (e === undefined) return undefined
  if (r.peek() === '.') {
    const parts = [e]
    while (r.peek() === '.') {
      r.next()
      const more = readSelector(r)
      if (more === undefined) throw new Unread('a concatenation of something unknown')
      parts.push(...(isObj(more) && Array.isArray(more.concat) ? more.concat : [more]))
    }
    return {concat: parts}
  }
  if (['&', '|', '^'].includes(r.peek() ?? '')) {
    const op = r.next()
    return {[op]: [e, scalar(r.next())]}
  }
  return e
}

const NAT_FLAGS: ReadonlySet<string> = new Set(['random', 'fully-random', 'persistent'])

function readNat(r: Reader): Json {
  const out: Obj = {}
  if (r.peek() === 'ip') {
    r.next()
    out.family = 'ip'
  }
  if (r.peek() === 'to') {
    r.next()
    const target = r.next()
    const colon = target.lastIndexOf(':')
    const addr = colon === -1 ? target : target.slice(0, colon)
    const port = colon === -1 ? undefined : target.slice(colon + 1)
    if (addr !== '') out.addr = scalar(addr)
    if (port !== undefined) out.port = scalar(port)
  }
  const flags: string[] = []
  // nft lists several as one word: `masquerade random,persistent`
  while ((r.peek() ?? '').split(',').every(f => NAT_FLAGS.has(f))) flags.push(...r.next().split(','))
  if (flags.length > 0) out.flags = flags.length === 1 ? flags[0] : flags
  return Object.keys(out).length === 0 ? null : out
}

function readStatement(r: Reader): Json {
  const t = r.next()
  switch (t) {
    case 'accept': case 'drop': case 'return': case 'continue': case 'notrack':
      return {[t]: null}
    case 'jump': case 'goto':
      return {[t]: {target: r.next()}}
    case 'counter': {
      const c: Obj = {}
      while (r.peek() === 'packets' || r.peek() === 'bytes') c[r.next()] = Number(r.next())
      return {counter: Object.keys(c).length > 0 ? c : null}
    }
    case 'log': {
      const l: Obj = {}
      while (['prefix', 'level', 'group', 'flags'].includes(r.peek() ?? '')) {
        const k = r.next()
        l[k] = scalar(r.next())
      }
      return {log: Object.keys(l).length > 0 ? l : null}
    }
    case 'limit': {
      if (r.next() !== 'rate') throw new Unread('limit without rate')
      const inv = r.peek() === 'over' ? (r.next(), true) : false
      const [rate, per] = r.next().split('/')
      const l: Obj = {rate: Number(rate), burst: 5, per, ...(inv ? {inv: true} : {})}
      if (r.peek() === 'burst') {
        r.next()
        l.burst = Number(r.next())
        if (r.peek() === 'packets') r.next()
      }
      return {limit: l}
    }
    case 'reject': {
      if (r.peek() !== 'with') return {reject: null}
      r.next()
      const type = r.next()
      if (type === 'tcp') {
        r.next()
        return {reject: {type: 'tcp reset'}}
      }
      if (r.peek() === 'type') r.next()
      return {reject: {type, expr: r.next()}}
    }
    case 'queue': {
      const q: Obj = {}
      while (['num', 'bypass', 'fanout'].includes(r.peek() ?? '')) {
        const k = r.next()
        if (k === 'num') q.num = scalar(r.next())
        else q.flags = k
      }
      return {queue: Object.keys(q).length > 0 ? q : null}
    }
    case 'masquerade': case 'snat': case 'dnat': case 'redirect':
      return {[t]: readNat(r)}
    case 'comment':
      r.next()
      return undefined
    default: {
      // name the whole selector: `meta skuid`, `ct mark`, `tcp option`
      const selector = ['meta', 'ct', 'tcp', 'udp', 'ip', 'ip6', 'th', 'icmp', 'icmpv6', 'fib', 'rt', 'socket', 'osf'].includes(t) && r.peek() !== undefined ? `${t} ${r.peek()}` : t
      throw new Unread(`"${selector}" is not an expression the trace reads`)
    }
  }
}

/**
 * A rule line of `nft list ruleset` (its `# handle N` taken off first) as JSON statements, or the
 * reason it could not be read.
 */
export function readRule(line: string): {expr: Json[], comment?: string, unread?: string} {
  const r = new Reader(words(line))
  const expr: Json[] = []
  let comment: string | undefined
  try {
    while (!r.done()) {
      if (r.peek() === 'comment') {
        r.next()
        comment = String(scalar(r.next()))
        continue
      }
      const left = readSelector(r)
      if (left === undefined) {
        expr.push(readStatement(r))
        continue
      }
      const t = r.peek()
      if (t === 'set') {
        r.next()
        const valueSel = readSelector(r)
        expr.push({mangle: {key: left, value: valueSel ?? scalar(r.next())}})
        continue
      }
      if (t === 'vmap') {
        r.next()
        expr.push({vmap: {key: left, data: r.peek() === '{' ? readValue(r, true) : r.next()}})
        continue
      }
      let op = '=='
      if (t !== undefined && RELATIONS.has(t)) op = r.next()
      let right = readValue(r)
      // `fib … oif missing`/`exists` is an existence check, a boolean in nft -j
      if (isObj(left) && isObj(left.fib) && (right === 'missing' || right === 'exists')) right = right === 'exists'
      const flagged = isObj(left) && (isObj(left.ct) && (left.ct.key === 'state' || left.ct.key === 'status') || isObj(left.payload) && left.payload.field === 'flags')
      expr.push({match: {op: flagged && op === '==' ? 'in' : op, left, right}})
    }
  } catch (error) {
    // what was read before the unknown word still tells the trace when the rule cannot match
    if (error instanceof Unread) return {unread: error.message, expr}
    throw error
  }
  return {expr: expr.filter(e => e !== undefined), ...(comment !== undefined ? {comment} : {})}
}

/** The elements of a set or map in the text form (`elements = { 10.96.0.10 . tcp . 80 : goto svc, ... }`). */
export function readElements(text: string): Json[] | undefined {
  const r = new Reader(words(text))
  try {
    const v = readValue(r)
    return isObj(v) && Array.isArray(v.set) ? v.set : undefined
  } catch (error) {
    if (error instanceof Unread) return undefined
    throw error
  }
}
