import {expect} from 'chai'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {traceFlow} from '../../src/core/trace/engine.js'
import {readsOnly, type TraceRequest, type World} from '../../src/core/trace/types.js'
import {renderTrace} from '../../src/ui/trace-render.js'
import {FIXTURES, applyPatches, loadScenario, loadWorld} from '../fixtures/trace/load.js'
import {loadSource} from '../../src/services/collect.js'

/** Golden files pin the human view; `UPDATE_GOLDEN=1` rewrites them after a deliberate change. */
const CASES: {name: string, world: () => World, request: TraceRequest}[] = [
  {name: 'vxlan-pod-to-pod', world: () => loadWorld('flannel-vxlan'), request: {src: 'pod-a', dst: 'pod-b'}},
  {name: 'vxlan-node-to-pod-tcp', world: () => loadWorld('flannel-vxlan'), request: {src: 'node1', dst: 'pod-c', proto: 'tcp', dport: 8080, size: 1400}},
  {name: 'vxlan-pod-to-pod-no-df', world: () => loadWorld('flannel-vxlan'), request: {src: 'pod-a', dst: 'pod-b', size: 1500, noDf: true}},
  {name: 'host-gw', world: () => loadWorld('flannel-host-gw'), request: {src: 'pod-a', dst: 'pod-b'}},
  {name: 'host-gw-partial-snapshot', world: () => loadWorld('flannel-host-gw-partial'), request: {src: 'pod-a', dst: 'pod-b'}},
  {name: 'directrouting-via-router', world: () => loadWorld('flannel-directrouting'), request: {src: 'pod-a', dst: 'pod-d'}},
  {name: 'old-flannel', world: () => loadWorld('flannel-old'), request: {src: 'pod-a', dst: 'pod-b'}},
  {name: 'calico', world: () => loadWorld('calico'), request: {src: 'web-0', dst: 'db-0'}},
  {name: 'docker-masquerade', world: () => loadWorld('docker-masq'), request: {src: 'web', dst: 'host2'}},
  // the hand-run setup's naive rule: delivered, so the SOURCE_NATED warning carries the rule's deletion
  {name: 'naive-masquerade', world: () => applyPatches(loadWorld('flannel-vxlan'), [
    {host: 'node1', op: 'remove', table: 'iptables.rules', where: {chain: 'POSTROUTING'}},
    {host: 'node1', op: 'add', table: 'iptables.rules', value: {table: 'nat', chain: 'POSTROUTING', spec: '-s 10.244.1.0/24 ! -o docker0 -j MASQUERADE', raw: '-A POSTROUTING -s 10.244.1.0/24 ! -o docker0 -j MASQUERADE'}},
  ]), request: {src: 'pod-a', dst: 'pod-b'}},
  // neighbor-missing is docs/trace.md's example of the output (doc-commands.test.ts holds the doc to it)
  ...['denied-by-filter', 'stale-vtep-mac', 'mtu-exceeded', 'exits-network', 'denied-reply-unknown', 'neighbor-missing'].map(f => ({
    name: `fail-${f}`, world: () => loadScenario(`${f}.json`).world, request: loadScenario(`${f}.json`).scenario.request,
  })),
]

const ANSI = /\u001B\[/

describe('trace render', () => {
  for (const c of CASES) {
    it(`renders ${c.name} as its golden file`, () => {
      const text = renderTrace(traceFlow(c.world(), c.request), {color: false}) + '\n'
      const file = join(FIXTURES, 'golden', `${c.name}.txt`)
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) writeFileSync(file, text)
      expect(text).to.equal(readFileSync(file, 'utf8'))
      expect(ANSI.test(text)).to.equal(false)
    })
  }

  // captured from hand-built hosts by collect: kube-proxy's random pick, in iptables mode one endpoint the
  // client itself behind a hairpin-off port; in nftables mode (numgen) one endpoint's port dropped by FORWARD;
  // TCP's path MTU and a controller's rule
  for (const [golden, snapshot, request] of [
    ['kube-proxy-random-pick', 'old-flannel-kube-proxy', {src: 'o1p1', dst: '10.96.0.10', proto: 'tcp', dport: 80}],
    ['kube-proxy-nft-numgen', 'lab-kube-proxy-nft-numgen', {src: 'pod-1a', dst: '10.96.0.10', proto: 'tcp', dport: 80}],
    // TCP over a narrower link whose "fragmentation needed" is dropped on the way back: a path MTU black hole
    ['tcp-pmtu-black-hole', 'router-pmtu-black-hole', {src: 'a', dst: 'b', proto: 'tcp', dport: 80, size: 1400}],
    // a Calico policy drop: the kubectl fix is the cluster's, labelled so
    ['calico-policy-cluster-fix', 'calico-policy-mark', {src: 'k1p1', dst: 'k2p1', proto: 'tcp', dport: 81}],
    // a reply a raw NOTRACK keeps from being mapped back on the host that DNATed its request
    ['reply-nat-not-undone', 'router-output-dnat-reply-untracked', {src: 'r2', dst: '10.91.3.1', proto: 'tcp', dport: 80}],
  ] as const) {
    it(`renders ${golden} (snapshot ${snapshot}) as its golden file`, async () => {
      const {world} = await loadSource({snapshot: join(FIXTURES, '..', 'snapshots', snapshot)})
      const text = renderTrace(traceFlow(world, request), {color: false}) + '\n'
      const file = join(FIXTURES, 'golden', `${golden}.txt`)
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) writeFileSync(file, text)
      expect(text).to.equal(readFileSync(file, 'utf8'))
    })
  }

  it('shows the failure with where, why, evidence and fixes', () => {
    const {world, scenario} = loadScenario('no-route.json')
    const text = renderTrace(traceFlow(world, scenario.request), {color: false})
    expect(text).to.contain('Disposition: NO_ROUTE')
    expect(text).to.contain('  where:    node1 (route)')
    expect(text).to.contain('  evidence: (no route to 10.244.2.5 in table main)')
    expect(text).to.contain('  Fix (on node1): ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink')
  })

  it('a reply that ran out of tables keeps its reads under its own "Find out", not among the request\'s fixes', () => {
    const {world, scenario} = loadScenario('denied-reply-unknown.json')
    const t = traceFlow(world, scenario.request)
    expect(t.returnPath.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure!.fix.map(f => f.command)).to.not.include('ip neigh show dev flannel.1')
    const [outbound, back] = renderTrace(t, {color: false}).split('Return path:')
    expect(outbound).to.not.contain('ip neigh show')
    expect(back).to.contain('  Find out (on node2): ip neigh show dev flannel.1')
  })

  it('a read among a fault\'s fixes is printed as a check: what to look at, not what mends it', async () => {
    const {world} = await loadSource({snapshot: join(FIXTURES, '..', 'snapshots', 'lab-vxlan-peer-moved-new-mac')})
    const text = renderTrace(traceFlow(world, {src: 'n2', dst: 'pod-2a'}), {color: false})
    expect(text).to.contain('Disposition: NO_ROUTE')
    expect(text).to.contain('  Check (on n2): ip -4 addr show type bridge   # the node\'s pod subnet now; re-create pod-2a in it')
    expect(text).to.not.match(/Fix \(on n2\): ip -4 addr show/)
  })

  it('tells a read from a command that changes the host', () => {
    const reads = ['ip neigh show 10.1.0.5', 'ip -4 addr show type bridge', 'ip -d link show eth0', 'ip route get 10.1.0.5 from 10.2.0.1 iif eth0',
      'ip -br addr show to 10.1.0.5', 'bridge fdb show dev flannel.1', 'bridge -d link show master cni0', 'tc filter show dev eth0 ingress',
      'ping -c 1 10.1.0.5', 'ss -lnt \'sport = :80\'', 'nft -a list chain inet filter forward', 'iptables -t nat -S POSTROUTING',
      'kubectl get networkpolicy -A', 'bpftool net show dev eth0', 'conntrack -L -d 10.1.0.5', 'grep FLANNEL_SUBNET /run/flannel/subnet.env']
    const changes = ['ip route replace 10.1.0.0/24 via 10.1.0.0 dev flannel.1 onlink', 'ip link set vethb up', 'ip neigh replace 10.1.0.0 lladdr 0e:00:00:00:00:01 dev flannel.1 nud permanent',
      'bridge fdb del 0e:00:00:00:00:01 dev flannel.1', 'iptables -I FORWARD -d 10.1.0.0/16 -j ACCEPT', 'nft insert rule inet filter forward accept',
      'sysctl -w net.ipv4.ip_forward=1', 'flannelctl sync', 'kubectl delete networkpolicy deny -n a', 'ip route del 10.1.0.0/24', 'ip link show-me-not']
    expect(reads.filter(c => !readsOnly({node: 'n', command: c}))).to.deep.equal([])
    expect(changes.filter(c => readsOnly({node: 'n', command: c}))).to.deep.equal([])
  })

  it('a reply whose start was not read says so, in words true of a live source as of a snapshot', () => {
    const t = traceFlow(loadWorld('flannel-vxlan'), {src: 'pod-a', dst: 'pod-b'})
    const text = renderTrace({...t, returnPath: {...t.returnPath, disposition: 'INSUFFICIENT_INFO', hops: []}}, {color: false})
    // before: "(the reply starts outside the snapshot)", on a live trace of this host alone too
    expect(text).to.contain('Return path: INSUFFICIENT_INFO (the reply starts on a host whose tables were not read)')
  })

  it('paints only when asked', () => {
    const t = traceFlow(loadWorld('flannel-vxlan'), {src: 'pod-a', dst: 'pod-b'})
    const plain = renderTrace(t, {color: false})
    const painted = renderTrace(t, {color: true})
    expect(ANSI.test(plain)).to.equal(false)
    expect(ANSI.test(painted)).to.equal(true)
    expect(painted.replace(/\u001B\[[0-9;]*m/g, '')).to.equal(plain)
  })
})
