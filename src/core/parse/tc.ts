/**
 * `tc qdisc show` (text or `tc -j` JSON) as the qdiscs of each device: the trace needs only which
 * devices have a clsact or ingress qdisc, the hooks tc filters and BPF programs hang from.
 */
import type {Qdisc} from '../model.js'
import {firstContentLine, looksLikeJson, tokens} from './common.js'
import {ParseError, type ParseOptions} from './errors.js'
import {eachSection} from './text.js'

export function parseQdiscs(text: string, options?: ParseOptions | string): Qdisc[] {
  return eachSection(text, options, (lines, section, ctx) => {
    const first = firstContentLine(lines, section)
    if (first === -1) return []
    if (looksLikeJson(lines[first])) return fromJson(lines.slice(first, section.end).join('\n'), ctx.source, first + 1)
    const out: Qdisc[] = []
    for (let i = first; i < section.end; i++) {
      const line = lines[i].trim()
      if (line === '') continue
      const q = fromLine(line)
      if (q === undefined) throw new ParseError(ctx.source, i + 1, `cannot read ${JSON.stringify(line)} as a \`tc qdisc show\` line`)
      out.push(q)
    }
    return out
  })
}

/** `qdisc clsact ffff: dev eth0 parent ffff:fff1` */
function fromLine(line: string): Qdisc | undefined {
  const t = tokens(line)
  const dev = t.indexOf('dev')
  if (t[0] !== 'qdisc' || t[1] === undefined || dev === -1 || t[dev + 1] === undefined) return undefined
  return {dev: t[dev + 1], kind: t[1], raw: line}
}

function fromJson(text: string, source: string, line: number): Qdisc[] {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new ParseError(source, line, 'cannot read the `tc -j qdisc show` output as JSON')
  }
  if (!Array.isArray(value)) throw new ParseError(source, line, 'expected a JSON list of qdiscs')
  return value.map(q => {
    const o = q as Record<string, unknown>
    if (typeof o?.kind !== 'string' || typeof o.dev !== 'string') throw new ParseError(source, line, `cannot read ${JSON.stringify(q).slice(0, 80)} as a qdisc: no kind or dev`)
    const where = o.root === true ? 'root' : typeof o.parent === 'string' ? `parent ${o.parent}` : ''
    return {dev: o.dev, kind: o.kind, raw: `qdisc ${o.kind} ${typeof o.handle === 'string' ? `${o.handle} ` : ''}dev ${o.dev}${where !== '' ? ` ${where}` : ''}`}
  })
}
