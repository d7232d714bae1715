/**
 * A trace as a picture: one box per host the packet enters, the devices it passes inside it, the
 * vxlan encapsulation and decapsulation on the underlay, and how it ends — delivered in green, the
 * failing step and the host that holds the bad entry in red. Mermaid (for Markdown: GitHub, docs)
 * and Graphviz dot (`dot -Tpng`). Pure: a Trace in, text out.
 */
import type {Hop, Step, Trace} from '../core/trace/types.js'
import {wrapWords} from '../core/words.js'

export type DiagramFormat = 'mermaid' | 'dot'

type Tone = 'plain' | 'ok' | 'fail' | 'warn' | 'muted'

interface Vertex {
  id: string
  lines: string[]
  shape: 'device' | 'endpoint' | 'result'
  tone: Tone
}

interface Edge {
  from: string
  to: string
  label: string
  tone: Tone
  dashed: boolean
}

interface Cluster {
  id: string
  label: string
  vertices: Vertex[]
  tone: Tone
}

/** The picture, before it is written in a particular language. */
export interface Diagram {
  title: string
  clusters: Cluster[]
  /** vertices outside any host: an endpoint whose namespace was not captured, how the trace ends */
  results: Vertex[]
  edges: Edge[]
}

const RED = '#c62828'
const GREEN = '#2e7d32'
const AMBER = '#b26a00'
const GREY = '#9e9e9e'
const MAX_LABEL = 60

export function renderTraceDiagram(trace: Trace, format: DiagramFormat): string {
  const d = buildDiagram(trace)
  return format === 'mermaid' ? toMermaid(d) : toDot(d)
}

export function buildDiagram(trace: Trace): Diagram {
  const clusters: Cluster[] = []
  const edges: Edge[] = []
  const results: Vertex[] = []
  const failure = trace.failure
  const failingHop = failure ? findFailingHop(trace.hops, failure.node, failure.step) : -1
  const natWarned = new Set(trace.warnings.filter(w => w.code === 'SOURCE_NATED').map(w => w.node))
  let previousExit: string | undefined

  trace.hops.forEach((hop, i) => {
    const id = `h${i}`
    const vertices: Vertex[] = []
    const add = (v: Vertex): string => {
      vertices.push(v)
      return v.id
    }
    const decap = hop.steps.find(s => s.kind === 'decap')
    const encapAt = hop.steps.findIndex(s => s.kind === 'encap')
    const first = i === 0 && hop.in === 'local'
      ? add({id: `${id}_src`, lines: endpointLines(trace.src), shape: 'endpoint', tone: 'plain'})
      : decap
        ? add({id: `${id}_under_in`, lines: [deviceOf(decap.evidence) ?? 'underlay'], shape: 'device', tone: 'plain'})
        : add({id: `${id}_in`, lines: [hop.in], shape: 'device', tone: 'plain'})
    if (i === 0 && hop.in !== 'local') {
      // The source's own namespace was not captured: it stands outside, sending into its node.
      const src: Vertex = {id: 'src', lines: endpointLines(trace.src), shape: 'endpoint', tone: 'plain'}
      results.push(src)
      previousExit = src.id
    }
    if (previousExit) edges.push({from: previousExit, to: first, label: '', tone: 'plain', dashed: false})

    let current = first
    if (decap && !isBad(decap) && hop.in !== deviceOf(decap.evidence)) {
      const inner = add({id: `${id}_in`, lines: [hop.in], shape: 'device', tone: 'plain'})
      edges.push({from: current, to: inner, label: `decap ${vxlanText(decap.evidence)}`.trim(), tone: 'plain', dashed: false})
      current = inner
    }

    const failsHere = i === failingHop
    const failingStep = failsHere ? hop.steps.find(s => s.kind === failure!.step && isBad(s)) ?? hop.steps.find(isBad) : undefined
    const failingAt = failingStep ? hop.steps.indexOf(failingStep) : -1
    const forwardFails = failingAt >= 0 && (encapAt < 0 || failingAt < encapAt)
    const encapFails = failingAt >= 0 && encapAt >= 0 && failingAt >= encapAt
    const nat = hop.steps.find(s => s.verdict === 'masquerade' || s.verdict === 'snat' || s.verdict === 'dnat')
    const forwardLabel = forwardFails ? stepText(failingStep!) : [routeText(hop.steps), nat ? nat.verdict.toUpperCase() : ''].filter(Boolean).join(', ')
    const forwardTone: Tone = forwardFails ? 'fail' : nat && natWarned.has(hop.node) ? 'warn' : 'plain'

    if (hop.out === 'local') {
      const deliver = hop.steps.find(s => s.kind === 'deliver')
      const dst = add({id: `${id}_dst`, lines: endpointLines(trace.dst), shape: 'endpoint',
        tone: deliver?.verdict === 'delivered' ? 'ok' : 'plain'})
      edges.push({from: current, to: dst, label: forwardFails ? forwardLabel : '', tone: forwardTone, dashed: false})
      current = dst
    } else if (hop.out !== '-') {
      const out = add({id: `${id}_out`, lines: [hop.out], shape: 'device', tone: 'plain'})
      edges.push({from: current, to: out, label: forwardLabel, tone: forwardTone, dashed: false})
      current = out
      if (encapAt >= 0) {
        const encap = hop.steps[encapAt]
        const outerRoute = hop.steps.slice(encapAt + 1).find(s => s.kind === 'route')
        const fdb = hop.steps.slice(0, encapAt).reverse().find(s => s.kind === 'fdb')
        const remote = fdb ? /\bdst (\S+)/.exec(fdb.evidence)?.[1] : undefined
        const underlay = (outerRoute && deviceOf(outerRoute.evidence)) ?? deviceOf(encap.evidence) ?? 'underlay'
        const under = add({id: `${id}_under_out`, lines: [underlay], shape: 'device', tone: 'plain'})
        edges.push({from: current, to: under, label: encapFails ? stepText(failingStep!) : `encap ${vxlanText(encap.evidence)}${remote ? ` → ${remote}` : ''}`.trim(),
          tone: encapFails ? 'fail' : 'plain', dashed: false})
        current = under
      }
    }
    // With no device chosen (out '-') the failing step becomes the edge into the result, drawn below.

    clusters.push({id, label: hop.node, vertices, tone: failsHere ? 'fail' : 'plain'})
    previousExit = current
  })

  const lastHop = trace.hops.at(-1)
  if (trace.disposition === 'DELIVERED' && previousExit && lastHop && lastHop.out !== 'local') {
    // Delivered to a pod whose namespace was not captured: it waits behind its node's device.
    const dst: Vertex = {id: 'dst', lines: endpointLines(trace.dst), shape: 'endpoint', tone: 'ok'}
    results.push(dst)
    edges.push({from: previousExit, to: dst.id, label: '', tone: 'plain', dashed: false})
    previousExit = dst.id
  }
  const end = resultVertex(trace)
  results.push(end)
  if (previousExit && lastHop) {
    const lastFails = failingHop === trace.hops.length - 1 && lastHop.out === '-'
    const bad = lastFails ? lastHop.steps.find(s => s.kind === failure!.step && isBad(s)) ?? lastHop.steps.find(isBad) : undefined
    edges.push({from: previousExit, to: end.id, label: bad ? stepText(bad) : '', tone: end.tone === 'ok' ? 'ok' : end.tone, dashed: false})
  }
  if (trace.disposition !== 'DELIVERED' && previousExit && trace.dst.kind !== 'address') {
    // Where the packet was meant to go, so a short failed path still reads as a whole journey.
    const dst: Vertex = {id: 'dst', lines: [...endpointLines(trace.dst), 'not reached'], shape: 'endpoint', tone: 'muted'}
    results.push(dst)
    edges.push({from: previousExit, to: dst.id, label: '', tone: 'muted', dashed: true})
  }
  const reply = trace.returnPath
  if (trace.disposition === 'DELIVERED' && reply.disposition !== 'DELIVERED' && reply.hops.length > 0) {
    const where = reply.failure ? ` at ${reply.failure.node} (${reply.failure.step})` : ''
    const v: Vertex = {id: 'reply', lines: [`✗ reply: ${reply.disposition}${where}`, ...wrap(reply.failure?.reason ?? '')], shape: 'result', tone: 'fail'}
    results.push(v)
    edges.push({from: end.id, to: v.id, label: 'reply', tone: 'fail', dashed: true})
  }
  return {title: `${trace.src.name} → ${trace.dst.name}  ${flowText(trace)}  ${trace.disposition}`, clusters, results, edges}
}

function endpointLines(e: Trace['src']): string[] {
  return e.name !== e.ip ? [e.name, e.ip] : [e.ip]
}

function resultVertex(trace: Trace): Vertex {
  if (trace.disposition === 'DELIVERED') {
    const nat = trace.warnings.some(w => w.code === 'SOURCE_NATED')
    return {id: 'result', lines: [`✓ DELIVERED${nat ? ' (source NATed)' : ''}`], shape: 'result', tone: nat ? 'warn' : 'ok'}
  }
  const f = trace.failure
  if (!f) return {id: 'result', lines: [`? ${trace.disposition}`], shape: 'result', tone: 'warn'}
  return {id: 'result', lines: [`✗ ${trace.disposition} at ${f.node} (${f.step})`, ...wrap(f.reason)], shape: 'result', tone: 'fail'}
}

/** The hop that holds the failing step: the last one on the failure's node with a bad step of that kind. */
function findFailingHop(hops: Hop[], node: string, step: Step['kind']): number {
  let fallback = -1
  for (let i = hops.length - 1; i >= 0; i--) {
    if (hops[i].node !== node) continue
    if (hops[i].steps.some(s => s.kind === step && isBad(s))) return i
    if (fallback < 0) fallback = i
  }
  return fallback >= 0 ? fallback : hops.length - 1
}

function isBad(s: Step): boolean {
  return s.verdict === 'drop' || s.verdict === 'unknown'
}

function routeText(steps: Step[]): string {
  const route = steps.find(s => s.kind === 'route')
  if (!route) return ''
  const m = /^(?:(blackhole|unreachable|prohibit)\s+)?(\S+)(?:.*?\bvia (\S+))?/.exec(route.evidence.trim())
  if (!m || route.evidence.startsWith('(')) return ''
  return `route ${m[1] ? `${m[1]} ` : ''}${m[2]}${m[3] ? ` via ${m[3]}` : ''}`
}

/** A failing step in a few words: the table line, or what matters of it for devices. */
function stepText(s: Step): string {
  const line = s.evidence.split('\n')[0].trim()
  const link = /^\d+: ([^:@\s]+)(?:@\S+)?:.*\bmtu (\d+)/.exec(line)
  const what = s.kind === 'encap' || s.kind === 'decap' ? vxlanText(s.evidence) || line
    : s.kind === 'route' ? routeText([s]).replace(/^route /, '') || line
      : link ? `${link[1]} mtu ${link[2]}` : line
  return `✗ ${s.kind}: ${shorten(what)}`
}

function deviceOf(evidence: string): string | undefined {
  return /\bdev (\S+)/.exec(evidence)?.[1]
}

function vxlanText(evidence: string): string {
  const vni = /\bvxlan id (\d+)/.exec(evidence)?.[1]
  const port = /\bdstport (\d+)/.exec(evidence)?.[1]
  return [vni ? `VNI ${vni}` : '', port ? `UDP ${port}` : ''].filter(Boolean).join(' ')
}

function flowText(trace: Trace): string {
  const f = trace.flow
  return [f.proto, f.dport ? `port ${f.dport}` : '', f.size ? `${f.size} bytes${f.df === false ? ' without DF' : ''}` : ''].filter(Boolean).join(' ')
}

function shorten(s: string): string {
  return s.length > MAX_LABEL ? `${s.slice(0, MAX_LABEL - 1)}…` : s
}

/** Break a reason into short lines for a box (at most four). */
function wrap(text: string, width = 44): string[] {
  const lines = wrapWords(text, width)
  return lines.length > 4 ? [...lines.slice(0, 3), `${lines[3]}…`] : lines
}

// ---------------------------------------------------------------------------------------------
// Mermaid

function mermaidText(s: string): string {
  return s.replace(/&/g, '#amp;').replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;')
}

function toMermaid(d: Diagram): string {
  const out: string[] = ['flowchart LR', `  %% ${d.title.replace(/\s+/g, ' ')}`]
  const vertex = (v: Vertex): string => {
    const text = `"${v.lines.map(mermaidText).join('<br/>')}"`
    return v.shape === 'endpoint' ? `${v.id}([${text}])` : v.shape === 'result' ? `${v.id}{{${text}}}` : `${v.id}[${text}]`
  }
  for (const c of d.clusters) {
    out.push(`  subgraph ${c.id}["${mermaidText(c.label)}"]`)
    for (const v of c.vertices) out.push(`    ${vertex(v)}`)
    out.push('  end')
  }
  for (const v of d.results) out.push(`  ${vertex(v)}`)
  d.edges.forEach(e => {
    const arrow = e.dashed ? '-.->' : '-->'
    out.push(`  ${e.from} ${arrow}${e.label ? `|"${mermaidText(e.label)}"|` : ''} ${e.to}`)
  })
  out.push(`  classDef ok fill:#e8f5e9,stroke:${GREEN},color:${GREEN}`)
  out.push(`  classDef fail fill:#ffebee,stroke:${RED},color:${RED},stroke-width:2px`)
  out.push(`  classDef warn fill:#fff8e1,stroke:${AMBER},color:${AMBER}`)
  out.push(`  classDef muted fill:#fafafa,stroke:${GREY},color:${GREY},stroke-dasharray:4 3`)
  for (const tone of ['ok', 'fail', 'warn', 'muted'] as const) {
    const ids = [...d.clusters.flatMap(c => c.vertices), ...d.results].filter(v => v.tone === tone).map(v => v.id)
    if (ids.length > 0) out.push(`  class ${ids.join(',')} ${tone}`)
  }
  for (const c of d.clusters) if (c.tone === 'fail') out.push(`  style ${c.id} stroke:${RED},stroke-width:2px`)
  d.edges.forEach((e, i) => {
    if (e.tone !== 'plain') out.push(`  linkStyle ${i} stroke:${colorOf(e.tone)},color:${colorOf(e.tone)}${e.tone === 'muted' ? '' : ',stroke-width:2px'}`)
  })
  return out.join('\n')
}

// ---------------------------------------------------------------------------------------------
// Graphviz dot

function dotText(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')
}

function colorOf(tone: Tone): string {
  return tone === 'fail' ? RED : tone === 'ok' ? GREEN : tone === 'warn' ? AMBER : tone === 'muted' ? GREY : '#424242'
}

function toDot(d: Diagram): string {
  const out: string[] = [
    'digraph trace {',
    `  graph [rankdir=LR, fontname="Helvetica", fontsize=12, labelloc=t, label="${dotText(d.title)}"];`,
    '  node [fontname="Helvetica", fontsize=11, shape=box, style="rounded"];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ]
  const vertex = (v: Vertex): string => {
    const attrs = [`label="${v.lines.map(dotText).join('\\n')}"`]
    if (v.shape === 'endpoint') attrs.push('shape=oval')
    if (v.shape === 'result') attrs.push('shape=box', 'style="rounded,filled"', `fillcolor="${v.tone === 'fail' ? '#ffebee' : v.tone === 'ok' ? '#e8f5e9' : '#fff8e1'}"`)
    if (v.tone !== 'plain') attrs.push(`color="${colorOf(v.tone)}"`, `fontcolor="${colorOf(v.tone)}"`)
    if (v.tone === 'fail') attrs.push('penwidth=2')
    if (v.tone === 'muted') attrs.push('style=dashed')
    return `${v.id} [${attrs.join(', ')}];`
  }
  for (const c of d.clusters) {
    out.push(`  subgraph cluster_${c.id} {`)
    out.push(`    label="${dotText(c.label)}"; style="rounded"; color="${c.tone === 'fail' ? RED : GREY}";${c.tone === 'fail' ? ` fontcolor="${RED}"; penwidth=2;` : ''}`)
    for (const v of c.vertices) out.push(`    ${vertex(v)}`)
    out.push('  }')
  }
  for (const v of d.results) out.push(`  ${vertex(v)}`)
  for (const e of d.edges) {
    const attrs: string[] = []
    if (e.label) attrs.push(`label="${dotText(e.label)}"`)
    if (e.tone !== 'plain') attrs.push(`color="${colorOf(e.tone)}"`, `fontcolor="${colorOf(e.tone)}"`, ...(e.tone === 'muted' ? [] : ['penwidth=2']))
    if (e.dashed) attrs.push('style=dashed')
    out.push(`  ${e.from} -> ${e.to}${attrs.length ? ` [${attrs.join(', ')}]` : ''};`)
  }
  out.push('}')
  return out.join('\n')
}
