/**
 * A trace for people: one block per hop, each step as `kind  verdict  evidence` with its
 * explanation under it, then the verdict, the predicted traceroute, the reply's fate, warnings
 * and, for a failure, where, why and the command that fixes it. Colour only when asked for.
 */
import type {Endpoint, Hop, Step, Trace} from '../core/trace/types.js'
import {fixPartLines, fixPlace, readsOnly, type Fix, type FixStep} from '../core/trace/types.js'
import {sourceNatFixes} from '../core/trace/fixes.js'

export interface RenderOptions {
  color: boolean
}

const CODES = {bold: '1', dim: '2', red: '31', green: '32', yellow: '33', cyan: '36'} as const
type Style = keyof typeof CODES

const KIND_WIDTH = 8
const VERDICT_WIDTH = 12
const EVIDENCE_COLUMN = 2 + KIND_WIDTH + VERDICT_WIDTH
const EXPLANATION_COLUMN = 2 + KIND_WIDTH

export function renderTrace(trace: Trace, options: RenderOptions): string {
  const paint = (style: Style, s: string): string => options.color ? `\u001B[${CODES[style]}m${s}\u001B[0m` : s
  const verdictStyle = (v: Step['verdict']): Style | undefined =>
    v === 'drop' ? 'red' : v === 'assumed' || v === 'unknown' || v === 'exit' ? 'yellow' : v === 'masquerade' || v === 'snat' || v === 'dnat' || v === 'de-nat' ? 'cyan' : 'green'

  const lines: string[] = []
  lines.push(`${endpoint(trace.src)} → ${endpoint(trace.dst)}  ${flowText(trace)}`)

  const hopBlock = (hop: Hop): void => {
    lines.push(`${paint('bold', hop.node)} (${hop.in} → ${hop.out})`)
    for (const s of hop.steps) {
      const [first, ...more] = s.evidence.split('\n').map(l => l.trim())
      const verdict = s.verdict.padEnd(VERDICT_WIDTH)
      const style = verdictStyle(s.verdict)
      lines.push(`  ${s.kind.padEnd(KIND_WIDTH)}${style ? paint(style, verdict) : verdict}${first}`.trimEnd())
      for (const m of more) lines.push(`${' '.repeat(EVIDENCE_COLUMN)}${m}`)
      lines.push(paint('dim', `${' '.repeat(EXPLANATION_COLUMN)}${s.explanation}`))
    }
  }

  lines.push('')
  for (const hop of trace.hops) hopBlock(hop)
  lines.push('')
  const delivered = trace.disposition === 'DELIVERED'
  lines.push(`Disposition: ${paint(delivered ? 'green' : trace.failure ? 'red' : 'yellow', trace.disposition)}`)
  if (trace.failure) {
    const f = trace.failure
    lines.push(`  where:    ${f.node} (${f.step})`)
    lines.push(`  why:      ${f.reason}`)
    const [first, ...more] = f.evidence.split('\n').map(l => l.trim())
    lines.push(`  evidence: ${first}`)
    for (const m of more) lines.push(`            ${m}`)
    lines.push(...fixLines(f.fix, fixLabel(trace.disposition), paint))
  }
  lines.push(`Traceroute:  ${trace.traceroute.length > 0 ? tracerouteLine(trace.traceroute, trace.disposition === 'LOOP') : '(no hop answers)'}`)

  const rp = trace.returnPath
  if (rp.hops.length === 0) {
    lines.push(`Return path: ${rp.disposition} (the reply starts on a host whose tables were not read)`)
    if (rp.failure !== undefined) lines.push(`  why:      ${rp.failure.reason}`)
  } else {
    const path = rp.hops.map(h => h.node).filter((n, i, all) => i === 0 || all[i - 1] !== n).join(' → ')
    lines.push(`Return path: ${paint(rp.disposition === 'DELIVERED' ? 'green' : 'red', rp.disposition)}  ${path}`)
    if (rp.failure) {
      lines.push(`  where:    ${rp.failure.node} (${rp.failure.step})`)
      lines.push(`  why:      ${rp.failure.reason}`)
      lines.push(...fixLines(rp.failure.fix, fixLabel(rp.disposition), paint))
    }
  }
  if (trace.warnings.length > 0) {
    lines.push('Warnings:')
    // A rewritten source is delivered, so no failure carries its fix: the warning does.
    const natFixes = sourceNatFixes(trace)
    for (const w of trace.warnings) {
      lines.push(`  ${paint('yellow', w.code)}  ${w.node}: ${w.message}`)
      if (w.code !== 'SOURCE_NATED') continue
      for (const f of natFixes.filter(f => f.node === w.node)) lines.push(`    Fix (${fixPlace(f)}): ${paint('bold', f.command)}`)
    }
  }
  return lines.join('\n')
}

function endpoint(e: Endpoint): string {
  if (e.kind === 'pod') return `${e.name === e.ip ? e.ip : `${e.name} ${e.ip}`}${e.node ? ` (on ${e.node})` : ''}`
  if (e.kind === 'node') return `${e.name} ${e.ip}`
  return e.ip
}

function flowText(t: Trace): string {
  const parts: string[] = [t.flow.proto]
  if (t.flow.dport !== undefined) parts.push(`dport ${t.flow.dport}`)
  if (t.flow.size !== undefined) parts.push(`${t.flow.size} bytes${t.flow.df === false ? ' without DF' : ''}`)
  return parts.join(', ')
}

/**
 * A failure's fixes, one a line; a node's commands by hand go under its sync, as its alternative
 * (run after it, their deletions would fail on entries it removed), not as further steps. Fixes
 * that are ways of one choice go under their way's "either"/"or" line.
 */
function fixLines(fixes: Fix[], label: string, paint: (style: 'bold', s: string) => string): string[] {
  // a read among a fault's fixes is what to look at, not what mends it
  const stepLines = (step: FixStep, head: string, indent: string) => [
    `${indent}${head === 'Fix ' && readsOnly(step.fix) ? 'Check ' : head}(${fixPlace(step.fix)}): ${paint('bold', step.fix.command)}`,
    ...step.byHand.map(f => `${indent}  Instead (${fixPlace(f)}): ${paint('bold', f.command)}`),
  ]
  return fixPartLines(fixes, label, '  ', (step, inWay) => inWay ? stepLines(step, '', '      ') : stepLines(step, `${label} `, '  '))
}

/** A failure's commands fix it; where the tables ran out (INSUFFICIENT_INFO) they read what would settle it. */
function fixLabel(disposition: string): string {
  return disposition === 'INSUFFICIENT_INFO' ? 'Find out' : 'Fix'
}

/**
 * The predicted hops on one line; a loop's hops, which repeat up to traceroute's 30th probe, as
 * their first round and how far they go on (`10.91.1.1  10.91.2.2  10.91.1.1  … repeating to hop 30`).
 * Measured: each router answered 6 probes, then printed `*` until its token bucket (icmp_ratelimit,
 * one a second per destination) refilled.
 */
function tracerouteLine(hops: string[], loop: boolean): string {
  for (let cycle = 1; loop && cycle <= 8 && cycle * 3 < hops.length; cycle++) {
    // the shortest tail that repeats with this period, over at least three periods
    let start = hops.length - cycle
    while (start > 0 && hops[start - 1] === hops[start - 1 + cycle]) start--
    if (hops.length - start >= cycle * 3) {
      return `${hops.slice(0, start + cycle + 1).join('  ')}  … repeating to hop ${hops.length} (each router's ICMP rate limit turns its answers into * after about 6)`
    }
  }
  return hops.join('  ')
}
