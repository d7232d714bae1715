import {expect} from 'chai'
import {traceFlow} from '../../src/core/trace/engine.js'
import type {World} from '../../src/core/trace/types.js'
import type {HostSnapshot, PolicyRule, Route} from '../../src/core/model.js'
import {parseRules} from '../../src/core/parse/index.js'
import {loadWorld} from '../fixtures/trace/load.js'

const DEFAULT_RULES = '0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n'

/** flannel-vxlan with node1's rules (`ip rule show` text, the defaults added) and extra routes. */
function withPolicy(rules: string, routes: Partial<Route>[] = [], edit?: (node1: HostSnapshot) => void): World {
  const w = structuredClone(loadWorld('flannel-vxlan'))
  const node1 = w.hosts.find(h => h.name === 'node1')!
  node1.rules = parseRules(DEFAULT_RULES + rules) as PolicyRule[]
  for (const r of routes) node1.routes!.push({type: 'unicast', raw: '', ...r} as Route)
  edit?.(node1)
  return w
}

const route = (raw: string, r: Partial<Route>): Partial<Route> => ({raw, ...r})

describe('trace: policy routing (ip rule)', () => {
  it('a world without rules traces as before, and the kernel\'s default rules change nothing', () => {
    const plain = loadWorld('flannel-vxlan')
    const before = traceFlow(plain, {src: 'pod-a', dst: 'pod-b'})
    expect(before.disposition).to.equal('DELIVERED')
    expect(traceFlow(withPolicy(''), {src: 'pod-a', dst: 'pod-b'})).to.deep.equal(before)
  })

  it('iif cni0 looks up a table with an unreachable default: the pod\'s packet is NULL_ROUTED on the node', () => {
    const w = withPolicy('100:\tfrom all iif cni0 lookup 100\n', [route('unreachable default table 100', {dst: 'default', type: 'unreachable', table: '100'})])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('NULL_ROUTED')
    expect(t.failure!.node).to.equal('node1')
    expect(t.failure!.evidence).to.equal('unreachable default table 100')
    expect(t.failure!.reason).to.contain('100:\tfrom all iif cni0 lookup 100')
    expect(t.failure!.fix.map(f => f.command)).to.include.members(['ip route del unreachable default table 100', 'ip rule del pref 100'])
  })

  it('a rule for the pod\'s source address to a blackhole table: NULL_ROUTED; another pod is not affected', () => {
    const w = withPolicy('100:\tfrom 10.244.1.34 lookup 100\n', [route('blackhole default table 100', {dst: 'default', type: 'blackhole', table: '100'})])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('NULL_ROUTED')
    expect(t.failure!.reason).to.contain('blackhole')
    expect(traceFlow(w, {src: 'pod-a2', dst: 'pod-b'}).disposition).to.equal('DELIVERED')
  })

  it('a rule to a table with a working route: delivered through that table, the rule named in the route step', () => {
    const w = withPolicy('100:\tfrom all iif cni0 lookup 100\n', [
      route('10.244.2.0/24 via 10.244.2.0 dev flannel.1 table 100 onlink', {dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'flannel.1', onlink: true, table: '100'}),
      route('unreachable 10.244.2.0/24', {dst: '10.244.2.0/24', type: 'unreachable'}),
    ], n => (n.routes = n.routes!.filter(r => !(r.dst === '10.244.2.0/24' && r.table === undefined && r.type === 'unicast'))))
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition, t.failure?.reason).to.equal('DELIVERED')
    const step = t.hops.find(h => h.node === 'node1')!.steps.find(s => s.kind === 'route')!
    expect(step.evidence).to.equal('10.244.2.0/24 via 10.244.2.0 dev flannel.1 table 100 onlink')
    expect(step.explanation).to.contain('chosen by the policy rule `100:\tfrom all iif cni0 lookup 100`')
  })

  it('a rule action ends the lookup (unreachable rule), a throw route and suppress_prefixlength go on', () => {
    const dead = withPolicy('50:\tfrom all to 10.244.2.0/24 unreachable\n')
    const t = traceFlow(dead, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('NULL_ROUTED')
    expect(t.failure!.evidence).to.equal('50:\tfrom all to 10.244.2.0/24 unreachable')
    expect(t.failure!.fix.map(f => f.command)).to.include('ip rule del pref 50')
    const on = withPolicy('50:\tfrom all lookup 100\n60:\tfrom all lookup main suppress_prefixlength 0\n', [
      route('throw 10.244.2.0/24 table 100', {dst: '10.244.2.0/24', type: 'throw', table: '100'}),
    ])
    expect(traceFlow(on, {src: 'pod-a', dst: 'pod-b'}).disposition).to.equal('DELIVERED')
  })

  it('a fwmark rule sees the mark a MARK rule surely gives; one that may or may not match is an ASSUMED 0', () => {
    const unreachable = [route('unreachable default table 100', {dst: 'default', type: 'unreachable', table: '100'})]
    const marking = (spec: string) => withPolicy('100:\tfrom all fwmark 0x1 lookup 100\n', unreachable,
      n => n.iptables!.rules.push({table: 'mangle', chain: 'PREROUTING', spec, raw: `-A PREROUTING ${spec}`}))
    // the pod's packet comes in on cni0: the kernel marks it 0x1 and the rule sends it to table 100
    const sure = traceFlow(marking('-i cni0 -j MARK --set-xmark 0x1/0xffffffff'), {src: 'pod-a', dst: 'pod-b'})
    expect(sure.disposition).to.equal('NULL_ROUTED')
    expect(sure.failure!.evidence).to.equal('unreachable default table 100')
    expect(sure.warnings.filter(x => x.message.includes('fwmark'))).to.have.length(0)
    // an ipset decides whether it is marked: not in the tables, so mark 0 is assumed and said
    const t = traceFlow(marking('-i cni0 -m set --match-set SOME src -j MARK --set-xmark 0x1/0xffffffff'), {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('DELIVERED')
    const assumed = t.warnings.filter(x => x.code === 'ASSUMED' && x.message.includes('fwmark'))
    expect(assumed, JSON.stringify(t.warnings)).to.have.length(1)
    expect(assumed[0].message).to.contain('--set-xmark 0x1').and.contain('assumed 0')
    // no rule sets a mark: 0 is known, nothing to warn about
    const quiet = withPolicy('100:\tfrom all fwmark 0x1 lookup 100\n', unreachable)
    expect(traceFlow(quiet, {src: 'pod-a', dst: 'pod-b'}).warnings.filter(x => x.message.includes('fwmark'))).to.have.length(0)
  })

  it('a rule that looks up a table whose routes were not read: INSUFFICIENT_INFO naming `ip route show table N`', () => {
    const w = withPolicy('100:\tfrom all iif cni0 lookup 200\n')
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure!.node).to.equal('node1')
    expect(t.failure!.fix.map(f => f.command)).to.deep.equal(['ip route show table 200'])
    // every table read (`table all` has the local table): an absent table is empty, the lookup goes on
    const all = withPolicy('100:\tfrom all iif cni0 lookup 200\n', [route('local 10.244.1.1 dev cni0 table local proto kernel scope host src 10.244.1.1', {dst: '10.244.1.1/32', type: 'local', dev: 'cni0', table: 'local'})])
    expect(traceFlow(all, {src: 'pod-a', dst: 'pod-b'}).disposition).to.equal('DELIVERED')
  })

  it('proxy ARP asks the route for the requester\'s address: a from-rule to a blackhole table leaves the pod\'s gateway unanswered', () => {
    const w = structuredClone(loadWorld('calico'))
    const cal1 = w.hosts.find(h => h.name === 'cal1')!
    cal1.rules = parseRules(DEFAULT_RULES + '100:\tfrom 10.233.64.2 lookup 100\n')
    cal1.routes!.push({dst: 'default', type: 'blackhole', table: '100', raw: 'blackhole default table 100'})
    expect(traceFlow(loadWorld('calico'), {src: 'web-0', dst: 'db-0'}).disposition).to.equal('DELIVERED')
    const t = traceFlow(w, {src: 'web-0', dst: 'db-0'})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure!.reason).to.contain('100:\tfrom 10.233.64.2 lookup 100').and.contain('blackhole default table 100')
    expect(t.failure!.fix.map(f => f.command)).to.include('ip rule del pref 100')
  })

  it('rp_filter looks the source up through the rules (iif lo): a rule to an unreachable table fails the check', () => {
    const w = structuredClone(loadWorld('flannel-vxlan'))
    const node2 = w.hosts.find(h => h.name === 'node2')!
    node2.rules = parseRules(DEFAULT_RULES + '100:\tfrom all to 10.244.1.34 lookup 100\n')
    node2.routes!.push({dst: 'default', type: 'unreachable', table: '100', raw: 'unreachable default table 100'})
    node2.sysctls!['net.ipv4.conf.all.rp_filter'] = '1'
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('REVERSE_PATH_FILTERED')
    expect(t.failure!.node).to.equal('node2')
    expect(t.failure!.reason).to.contain('100:\tfrom all to 10.244.1.34 lookup 100')
  })
})
