import {expect} from 'chai'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {traceFlow} from '../../src/core/trace/engine.js'
import type {Trace, TraceRequest, World} from '../../src/core/trace/types.js'
import {buildDiagram, renderTraceDiagram, type DiagramFormat} from '../../src/ui/trace-diagram.js'
import {loadScenario, loadWorld} from '../fixtures/trace/load.js'

/** Goldens pin the pictures; `UPDATE_GOLDEN=1` rewrites them after a deliberate change (as for trace-render). */
const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'trace-diagram')

const CASES: {name: string, world: () => World, request: TraceRequest}[] = [
  {name: 'vxlan-pod-to-pod', world: () => loadWorld('flannel-vxlan'), request: {src: 'pod-a', dst: 'pod-b'}},
  {name: 'host-gw', world: () => loadWorld('flannel-host-gw'), request: {src: 'pod-a', dst: 'pod-b'}},
  {name: 'directrouting-via-router', world: () => loadWorld('flannel-directrouting'), request: {src: 'pod-a', dst: 'pod-d'}},
  ...['no-route', 'stale-vtep-mac', 'vni-mismatch', 'mtu-exceeded'].map(f => ({
    name: `fail-${f}`, world: () => loadScenario(`${f}.json`).world, request: loadScenario(`${f}.json`).scenario.request,
  })),
]

const FORMATS: {format: DiagramFormat, ext: string}[] = [{format: 'mermaid', ext: 'mmd'}, {format: 'dot', ext: 'dot'}]

/** A small trace by hand: the shape the engine gives, without depending on its wording. */
function handTrace(over: Partial<Trace> = {}): Trace {
  return {
    src: {kind: 'pod', name: 'pod-1a', ip: '10.244.1.2', node: 'n1'},
    dst: {kind: 'pod', name: 'pod-2a', ip: '10.244.2.2', node: 'n2'},
    flow: {proto: 'icmp'},
    disposition: 'DELIVERED',
    hops: [
      {node: 'pod-1a', in: 'local', out: 'eth0', steps: [{kind: 'route', verdict: 'ok', evidence: '10.244.0.0/16 via 10.244.1.1 dev eth0', explanation: ''}]},
      {node: 'n1', in: 'cni0', out: 'flannel.1', steps: [
        {kind: 'route', verdict: 'ok', evidence: '10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink', explanation: ''},
        {kind: 'nat', verdict: 'unchanged', evidence: '-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN', explanation: ''},
        {kind: 'neigh', verdict: 'ok', evidence: '10.244.2.0 dev flannel.1 lladdr 5a:00:00:00:00:02 PERMANENT', explanation: ''},
        {kind: 'fdb', verdict: 'ok', evidence: '5a:00:00:00:00:02 dev flannel.1 dst 192.168.100.12 self permanent', explanation: ''},
        {kind: 'encap', verdict: 'ok', evidence: '4: flannel.1: <BROADCAST,UP> mtu 1450\n    vxlan id 1 local 192.168.100.11 dev eth0 dstport 8472 nolearning', explanation: ''},
        {kind: 'route', verdict: 'ok', evidence: '192.168.100.0/24 dev eth0 proto kernel scope link src 192.168.100.11', explanation: ''},
      ]},
      {node: 'n2', in: 'flannel.1', out: 'cni0', steps: [
        {kind: 'decap', verdict: 'ok', evidence: '4: flannel.1: <BROADCAST,UP> mtu 1450\n    vxlan id 1 local 192.168.100.12 dev eth0 dstport 8472 nolearning', explanation: ''},
        {kind: 'route', verdict: 'ok', evidence: '10.244.2.0/24 dev cni0 proto kernel scope link src 10.244.2.1', explanation: ''},
      ]},
      {node: 'pod-2a', in: 'eth0', out: 'local', steps: [{kind: 'deliver', verdict: 'delivered', evidence: 'inet 10.244.2.2/24 scope global eth0', explanation: ''}]},
    ],
    returnPath: {disposition: 'DELIVERED', hops: []},
    traceroute: ['10.244.1.1', '10.244.2.0', '10.244.2.2'],
    warnings: [],
    ...over,
  }
}

describe('trace diagram', () => {
  for (const c of CASES) {
    for (const {format, ext} of FORMATS) {
      it(`draws ${c.name} as ${format}, as its golden file`, () => {
        const text = renderTraceDiagram(traceFlow(c.world(), c.request), format) + '\n'
        const file = join(GOLDEN, `${c.name}.${ext}`)
        if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
          mkdirSync(GOLDEN, {recursive: true})
          writeFileSync(file, text)
        }
        expect(text).to.equal(readFileSync(file, 'utf8'))
      })
    }
  }

  it('shows hosts, devices, the vxlan encapsulation and decapsulation, and a green end', () => {
    const d = buildDiagram(handTrace())
    expect(d.clusters.map(c => c.label)).to.deep.equal(['pod-1a', 'n1', 'n2', 'pod-2a'])
    expect(d.clusters[1].vertices.map(v => v.lines[0])).to.deep.equal(['cni0', 'flannel.1', 'eth0'])
    expect(d.clusters[2].vertices.map(v => v.lines[0])).to.deep.equal(['eth0', 'flannel.1', 'cni0'])
    const labels = d.edges.map(e => e.label)
    expect(labels).to.include('encap VNI 1 UDP 8472 → 192.168.100.12')
    expect(labels).to.include('decap VNI 1 UDP 8472')
    expect(labels).to.include('route 10.244.2.0/24 via 10.244.2.0')
    expect(d.results.at(-1)).to.include({tone: 'ok'})
    expect(d.edges.every(e => e.tone !== 'fail')).to.equal(true)
  })

  it('paints the failing step, its host and the end red', () => {
    const t = handTrace({
      disposition: 'FDB_MISSING',
      failure: {node: 'n1', step: 'fdb', evidence: '(no fdb entry)', reason: 'flannel.1 does not know where 5a:00:00:00:00:02 lives', fix: []},
    })
    t.hops = t.hops.slice(0, 2)
    t.hops[1] = {...t.hops[1], steps: [...t.hops[1].steps.slice(0, 3), {kind: 'fdb', verdict: 'drop', evidence: '(no fdb entry for 5a:00:00:00:00:02 on flannel.1)', explanation: ''}]}
    const d = buildDiagram(t)
    expect(d.clusters[1].tone).to.equal('fail')
    const failing = d.edges.filter(e => e.tone === 'fail')
    expect(failing.map(e => e.label)).to.include('✗ fdb: (no fdb entry for 5a:00:00:00:00:02 on flannel.1)')
    expect(d.results.find(v => v.id === 'result')?.lines[0]).to.equal('✗ FDB_MISSING at n1 (fdb)')
    expect(d.results.find(v => v.id === 'dst')?.lines).to.deep.equal(['pod-2a', '10.244.2.2', 'not reached'])
    expect(d.edges.find(e => e.to === 'dst')).to.include({dashed: true, tone: 'muted'})

    const mermaid = renderTraceDiagram(t, 'mermaid')
    const index = d.edges.findIndex(e => e.label.startsWith('✗ fdb'))
    expect(mermaid).to.match(new RegExp(`linkStyle ${index} stroke:#c62828`))
    expect(mermaid).to.contain('style h1 stroke:#c62828')
    expect(mermaid).to.contain('class result fail')
    const dot = renderTraceDiagram(t, 'dot')
    expect(dot).to.match(/subgraph cluster_h1 \{\n\s+label="n1"; style="rounded"; color="#c62828"/)
    expect(dot).to.match(/h1_in -> h1_out \[label="✗ fdb: [^"]*", color="#c62828"/)
  })

  it('marks a reply that fails although the request arrives', () => {
    const t = handTrace({
      returnPath: {disposition: 'NO_ROUTE', hops: handTrace().hops.slice(0, 1),
        failure: {node: 'n2', step: 'route', evidence: '(no route)', reason: 'n2 has no route back to 10.244.1.2', fix: []}},
    })
    const d = buildDiagram(t)
    const reply = d.results.find(v => v.id === 'reply')
    expect(reply?.lines[0]).to.equal('✗ reply: NO_ROUTE at n2 (route)')
    expect(d.edges.find(e => e.to === 'reply')).to.include({dashed: true, tone: 'fail'})
    expect(renderTraceDiagram(t, 'mermaid')).to.contain('result -.->|"reply"| reply')
  })

  it('escapes quotes and angle brackets for each language', () => {
    const t = handTrace({
      disposition: 'DENIED_BY_FILTER',
      failure: {node: 'n1', step: 'filter', evidence: '', reason: 'dropped by "my <rule>"', fix: []},
    })
    t.hops = t.hops.slice(0, 2)
    t.hops[1] = {...t.hops[1], out: '-', steps: [{kind: 'filter', verdict: 'drop', evidence: '-A FORWARD -m comment --comment "no <pods>" -j DROP', explanation: ''}]}
    const mermaid = renderTraceDiagram(t, 'mermaid')
    expect(mermaid).to.contain('#quot;no #lt;pods#gt;#quot;')
    expect(mermaid.split('\n').filter(l => /"[^"]*"[^|\]})]*"/.test(l) && !l.includes('#quot;'))).to.have.length(0)
    const dot = renderTraceDiagram(t, 'dot')
    expect(dot).to.contain('\\"no <pods>\\"')
    expect(dot).to.contain('dropped by \\"my <rule>\\"')
  })

  it('draws an endpoint whose namespace was not captured outside its node', () => {
    const t = handTrace()
    t.hops = t.hops.slice(1, 3)
    const d = buildDiagram(t)
    expect(d.results.map(v => v.id)).to.deep.equal(['src', 'dst', 'result'])
    expect(d.edges[0]).to.include({from: 'src', to: 'h0_in'})
  })
})
