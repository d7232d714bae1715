import {expect} from 'chai'
import {traceFlow} from '../../src/core/trace/engine.js'
import type {World} from '../../src/core/trace/types.js'
import type {HostSnapshot, PolicyRule, Route} from '../../src/core/model.js'
import {parseRules} from '../../src/core/parse/index.js'
import {loadWorld} from '../fixtures/trace/load.js'
import {join} from 'node:path'
import type {Trace, TraceRequest} from '../../src/core/trace/types.js'
import {loadSource} from '../../src/services/collect.js'
import {parseIpRouteText, parseBridgeFdbText} from '../../src/core/parse/text.js'
import {parseBridgeFdbJson} from '../../src/core/parse/json.js'
import {formatFdb} from '../../src/core/parse/format.js'
import {PolicyRouter, RouteTable} from '../../src/core/trace/routes.js'
import {besidesQdiscs} from '../helpers/qdiscs.js'

const SNAPSHOTS = join(import.meta.dirname, '..', 'fixtures', 'snapshots')

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
  it('a world whose rules were not read traces as with the kernel\'s default rules, and says that guess of each host it routes on', () => {
    const plain = loadWorld('flannel-vxlan')
    const before = traceFlow(plain, {src: 'pod-a', dst: 'pod-b'})
    expect(before.disposition).to.equal('DELIVERED')
    expect(traceFlow(withPolicy(''), {src: 'pod-a', dst: 'pod-b'})).to.deep.equal(before)
    const unread = structuredClone(plain)
    for (const h of unread.hosts) delete h.rules
    const t = traceFlow(unread, {src: 'pod-a', dst: 'pod-b'})
    const guess = (w: Trace['warnings'][number]) => w.code === 'ASSUMED' && /^the rules of \S+ were not captured: assumed the kernel's default rules alone/.test(w.message)
    // (before: nothing said; a prohibit rule shows in no route)
    expect({...t, warnings: t.warnings.filter(w => !guess(w))}).to.deep.equal(before)
    expect(t.warnings.filter(guess).map(w => w.node)).to.have.members(['pod-a', 'node1', 'node2', 'pod-b'])
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

/**
 * Snapshots collected (`flannelctl collect`, `ip -j rule`/`ip -j route`) from namespaces built by
 * hand: a has eth0 (192.168.61.1, main's default via r) and eth1 (192.168.62.1, table 100's
 * default via r), r routes to b (192.168.63.2); vxlan0 on a has no `local`, b's VTEP is
 * 192.168.63.2. Each expectation is what the kernel did there (tx counters of eth0/eth1 during a
 * ping, tcpdump on b, traceroute).
 */
describe('trace against the kernel: policy rules for the outer vxlan packet, the sender and ICMP errors', () => {
  const trace = async (snapshot: string, req: TraceRequest) =>
    traceFlow((await loadSource({snapshot: join(SNAPSHOTS, snapshot)})).world, req)
  const outDev = (t: Trace, node: string) => t.hops.filter(h => h.node === node).map(h => `${h.in}>${h.out}`)
  const outerRoute = (t: Trace) => t.hops[0].steps.filter(s => s.kind === 'route')[1]

  it('a vxlan device without `local` looks its outer route up without a source: `from <its address>` does not match', async () => {
    // `100: from 192.168.61.1 lookup 100`: ping 10.50.0.2 leaves by eth0, tcpdump on b shows 192.168.61.1
    const t = await trace('policy-vxlan-from', {src: 'a', dst: '10.50.0.2'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(outerRoute(t).evidence).to.equal('default via 192.168.61.254 dev eth0')
    expect(t.hops[0].steps.find(s => s.kind === 'encap')!.explanation).to.contain('UDP 192.168.61.1 → 192.168.63.2:4789')
      .and.contain('vxlan0 has no `local`, so its route is looked up without a source')
    expect(outDev(t, 'r')).to.deep.equal(['a0>b0'])
  })

  it('flannel\'s device (`local` and `dev eth0`): a `from <local>` rule sends the outer packet by eth1, `dev` binds nothing', async () => {
    // vxlan0 `local 192.168.61.1 dev eth0`, `100: from 192.168.61.1 lookup 100`: ping 10.50.0.2 leaves by eth1
    const t = await trace('policy-vxlan-local', {src: 'a', dst: '10.50.0.2'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(outerRoute(t).evidence).to.equal('default via 192.168.62.254 dev eth1 table 100')
    expect(outerRoute(t).explanation).to.contain('chosen by the policy rule `100:\tfrom 192.168.61.1 lookup 100`')
      .and.contain('vxlan0\'s `dev eth0` does not bind the outer packet to eth0, only an fdb entry\'s `via` does')
  })

  it('a node\'s ping has no source at its lookup; a TCP connect looks again from the source it got', async () => {
    // kernel: ping 192.168.63.2 leaves by eth0; `echo > /dev/tcp/192.168.63.2/80` and traceroute by eth1
    const ping = await trace('policy-vxlan-from', {src: 'a', dst: '192.168.63.2'})
    expect(outDev(ping, 'a')).to.deep.equal(['local>eth0'])
    expect(ping.src.ip).to.equal('192.168.61.1')
    const w = besidesQdiscs(ping.warnings).find(x => x.code === 'ASSUMED' && x.node === 'a')!
    expect(w.message).to.contain('`100:\tfrom 192.168.61.1 lookup 100` sends by `default via 192.168.62.254 dev eth1 table 100`')
      .and.contain('`ip route get 192.168.63.2 from 192.168.61.1` on a')
    const tcp = await trace('policy-vxlan-from', {src: 'a', dst: '192.168.63.2', proto: 'tcp', dport: 80})
    expect(outDev(tcp, 'a')).to.deep.equal(['local>eth1'])
    expect(tcp.hops[0].steps[0].explanation).to.contain('chosen by the policy rule `100:\tfrom 192.168.61.1 lookup 100`')
  })

  it('a mark mangle OUTPUT gives a node\'s ping has its route looked up again, from its source: the `from` rule applies', async () => {
    // `100: from 192.168.61.1 lookup 100`, mangle OUTPUT -d 192.168.63.2 -j MARK --set-mark 0x9: ping leaves by eth1 (eth0 without the MARK rule)
    const t = await trace('policy-output-mark', {src: 'a', dst: '192.168.63.2'})
    expect(t.hops[0].out).to.equal('eth1')
    expect(t.hops[0].steps[0].explanation).to.contain('mangle OUTPUT gave it mark 0x9, so the kernel looked the route up again, from 192.168.61.1')
    expect(besidesQdiscs(t.warnings.filter(x => x.code === 'ASSUMED'))).to.deep.equal([])
  })

  it('the outer packet keeps the inner packet\'s mark: a fwmark rule sends it by table 100', async () => {
    // mangle OUTPUT -d 10.50.0.2 -j MARK --set-mark 0x7, `100: from all fwmark 0x7 lookup 100`: ping leaves by eth1
    const t = await trace('policy-vxlan-mark', {src: 'a', dst: '10.50.0.2'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(outerRoute(t).evidence).to.equal('default via 192.168.62.254 dev eth1 table 100')
    expect(outerRoute(t).explanation).to.contain('chosen by the policy rule `100:\tfrom all fwmark 0x7 lookup 100`')
    expect(t.hops[0].steps.find(s => s.kind === 'encap')!.explanation).to.contain('UDP 192.168.62.1 → 192.168.63.2')
      .and.contain('it keeps the inner packet\'s mark 0x7')
    expect(besidesQdiscs(t.warnings.filter(x => x.code === 'ASSUMED'))).to.deep.equal([])
  })

  it('an fdb entry `via eth1` binds the outer lookup to eth1: an `oif eth1` rule matches it', async () => {
    // `100: from all oif eth1 lookup 100`, fdb `… dst 192.168.63.2 via eth1`: ping leaves by eth1 and is answered
    const t = await trace('policy-vxlan-via-oif', {src: 'a', dst: '10.50.0.2'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(outerRoute(t).evidence).to.equal('default via 192.168.62.254 dev eth1 table 100')
    expect(outerRoute(t).explanation).to.contain('`100:\tfrom all oif eth1 lookup 100`')
    expect(outDev(t, 'r')).to.deep.equal(['a1>b0'])
  })

  it('bound to eth1 without a route out of it, the kernel ARPs for the VTEP on eth1: NEIGHBOR_MISSING, fixed by the entry without `via`', async () => {
    // kernel: ping fails, `ip neigh` on a shows 192.168.63.2 dev eth1 INCOMPLETE; the printed fix makes it pass
    const t = await trace('policy-vxlan-via', {src: 'a', dst: '10.50.0.2'})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure!.node).to.equal('a')
    expect(t.failure!.reason).to.contain('binds vxlan0\'s outer packets').and.contain('to eth1 with `via`')
    expect(outerRoute(t).evidence).to.contain('the kernel takes 192.168.63.2 as on-link on eth1')
    expect(t.failure!.fix.map(f => f.command)).to.deep.equal([`bridge fdb replace ${t.hops[0].steps.find(s => s.kind === 'fdb')!.evidence.split(' ')[0]} dev vxlan0 dst 192.168.63.2 self permanent`])
  })

  it('a bound lookup that fails on a null route takes the VTEP as on-link too, as `ip route get … oif` shows', async () => {
    // kernel (r, `300: from all oif b0 lookup 300` with an unreachable, blackhole or prohibit default, or a prohibit rule):
    // `ip route get 192.168.63.2 oif b0` answers `192.168.63.2 dev b0`, not an error
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'policy-vxlan-via-oif')})
    const a = world.hosts.find(h => h.name === 'a')!
    a.routes = a.routes!.map(r => r.table === '100' && r.dst === 'default' ? {dst: 'default', type: 'unreachable', table: '100', raw: 'unreachable default table 100'} : r)
    const t = traceFlow(world, {src: 'a', dst: '10.50.0.2'})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(outerRoute(t).evidence).to.equal('(no usable route to 192.168.63.2 out of eth1 (`unreachable default table 100`): the kernel takes 192.168.63.2 as on-link on eth1, the device the flow is bound to)')
  })

  it('ipproto/dport rules match the outer packet; a router\'s time-exceeded goes back by its policy rules', async () => {
    // a: `100: from all ipproto udp dport 4789 lookup 100` (ping 10.50.0.2 leaves by eth1);
    // r: `200: from all to 192.168.61.0/24 iif lo lookup 200` (via a's eth1): traceroute prints 1 192.168.62.254
    const vx = await trace('policy-vxlan-icmp', {src: 'a', dst: '10.50.0.2'})
    expect(outerRoute(vx).evidence).to.equal('default via 192.168.62.254 dev eth1 table 100')
    const probe = await trace('policy-vxlan-icmp', {src: 'a', dst: '192.168.63.2'})
    expect(outDev(probe, 'a')).to.deep.equal(['local>eth0'])
    expect(probe.traceroute).to.deep.equal(['192.168.62.254', '192.168.63.2'])
  })

  it('with icmp_errors_use_inbound_ifaddr=1 the error has its source before the lookup: a `from` rule to an unreachable table silences the hop', async () => {
    // r: `300: from 192.168.61.254 lookup 300` (unreachable default): traceroute prints `1 *`; with the sysctl at 0 the same rule
    // does not see the error (no source yet) and traceroute prints `1 192.168.61.254`
    const t = await trace('policy-icmp-inbound', {src: 'a', dst: '192.168.63.2'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.traceroute).to.deep.equal(['*', '192.168.63.2'])
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'policy-icmp-inbound')})
    world.hosts.find(h => h.name === 'r')!.sysctls!['net.ipv4.icmp_errors_use_inbound_ifaddr'] = '0'
    expect(traceFlow(world, {src: 'a', dst: '192.168.63.2'}).traceroute).to.deep.equal(['192.168.61.254', '192.168.63.2'])
  })

  it('flannel lab: pods marked on cni0 for a table with an unreachable default lose their vxlan packets, which keep the mark', async () => {
    // n1: mangle PREROUTING -i cni0 -j MARK --set-mark 0x7, `100: from all fwmark 0x7 lookup 100` (pod route via flannel.1,
    // unreachable default): pod-1a's ping to pod-2a is lost (`ip route get 192.168.100.12 mark 7`: No route to host); both fixes run make it pass
    const t = await trace('policy-flannel-mark', {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition).to.equal('NULL_ROUTED')
    expect(t.failure!.reason).to.contain('the outer vxlan packet (192.168.100.11 → 192.168.100.12, UDP 8472, mark 0x7 kept from the inner packet)')
    // no route for the VTEP into the tunnel itself (circular)
    expect(t.failure!.fix.map(f => f.command)).to.deep.equal(['ip route del unreachable default table 100', 'ip rule del pref 100'])
  })

  it('wg-quick\'s rules: `suppress_prefixlength 0` keeps main\'s specific routes, `not fwmark` sends the rest (the outer packet too) to its table', async () => {
    // `10: from all lookup main suppress_prefixlength 0`, `20: not from all fwmark 0xca6c lookup 51820`: both pings leave by eth1
    const t = await trace('policy-vxlan-wg', {src: 'a', dst: '10.50.0.2'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops[0].steps[0].explanation).to.contain('chosen by the policy rule `10:\tfrom all lookup main suppress_prefixlength 0`')
    expect(outerRoute(t).evidence).to.equal('default via 192.168.62.254 dev eth1 table 51820')
    expect(outerRoute(t).explanation).to.contain('`20:\tnot from all fwmark 0xca6c lookup 51820`')
    expect(outDev(await trace('policy-vxlan-wg', {src: 'a', dst: '192.168.63.2'}), 'a')).to.deep.equal(['local>eth1'])
  })
})

describe('policy routing pieces: a bound flow, fdb `via`, a source port the trace cannot know', () => {
  it('a lookup bound to a device takes only routes out of it, null routes still', () => {
    const routes = parseIpRouteText('default via 192.168.61.254 dev eth0\n10.0.0.0/8 via 192.168.62.254 dev eth1\n192.168.61.0/24 dev eth0 scope link\n192.168.62.0/24 dev eth1 scope link\nblackhole 10.9.0.0/16\n')
    const t = new RouteTable(routes)
    expect(t.lookup('10.1.2.3', 'eth0')?.raw).to.equal('default via 192.168.61.254 dev eth0')
    expect(t.lookup('10.1.2.3', 'eth1')?.raw).to.equal('10.0.0.0/8 via 192.168.62.254 dev eth1')
    expect(t.lookup('10.9.0.1', 'eth0')?.type).to.equal('blackhole')
    expect(t.lookup('8.8.8.8', 'eth1')).to.equal(undefined)
  })

  it('reads `via` of an fdb entry from both forms', () => {
    expect(parseBridgeFdbJson('[{"mac":"5e:98:c3:99:46:7c","ifname":"vxlan0","dst":"192.168.63.2","viaIf":"eth1","flags":["self"],"state":"permanent"}]')[0].via).to.equal('eth1')
    expect(parseBridgeFdbJson('[{"mac":"5e:98:c3:99:46:7c","ifname":"vxlan0","dst":"192.168.63.2","viaIfIndex":7,"flags":["self"]}]')[0].via).to.equal(7)
    const [text] = parseBridgeFdbText('5e:98:c3:99:46:7c dev vxlan0 dst 192.168.63.2 via eth1 self permanent\n')
    expect(text).to.include({via: 'eth1', dst: '192.168.63.2'})
    expect(formatFdb(text)).to.equal('5e:98:c3:99:46:7c dev vxlan0 dst 192.168.63.2 via eth1 self permanent')
  })

  it('an `oif` rule matches a flow bound to that device and no other; a sport rule for the outer packet is ASSUMED not to match', () => {
    const rules = parseRules(DEFAULT_RULES + '100:\tfrom all oif eth1 lookup 100\n110:\tfrom all ipproto udp sport 1000-2000 lookup 100\n') as PolicyRule[]
    const routes = parseIpRouteText('default via 192.168.61.254 dev eth0\n192.168.61.0/24 dev eth0 scope link\n192.168.62.0/24 dev eth1 scope link\n') as Route[]
    routes.push({dst: 'default', gateway: '192.168.62.254', dev: 'eth1', type: 'unicast', table: '100', raw: 'default via 192.168.62.254 dev eth1 table 100'})
    const p = new PolicyRouter(routes, rules, new RouteTable(routes))
    const flow = {dst: '192.168.63.2', src: '0.0.0.0', iif: 'lo', proto: 'udp', dport: 4789, oifKnown: true}
    expect(p.lookup({...flow, oif: 'eth1'}).rule?.priority).to.equal(100)
    const free = p.lookup({...flow, sportDoubt: 'hashed'})
    expect(free.route?.raw).to.equal('default via 192.168.61.254 dev eth0')
    expect(free.notes).to.deep.equal(['`110:\tfrom all ipproto udp sport 1000-2000 lookup 100`: hashed: assumed it is outside 1000-2000, so the rule does not apply (`ip route get 192.168.63.2 ipproto udp sport PORT dport 4789` with the port tcpdump shows tells)'])
  })
})

describe('policy routing: `sport`/`dport` rules on the client\'s ephemeral port', () => {
  // a TCP connect() looks its route up again once the kernel picked the port (ip_route_newports):
  // `ip rule add sport 32768-60999 lookup 100` steers every connection of a default client (checked on 6.x)
  const toTable100 = '100:\tfrom all sport 40000-50000 lookup 100\n'
  const unreachable = route('unreachable 10.244.2.0/24 table 100', {dst: '10.244.2.0/24', type: 'unreachable', table: '100'})
  const web: TraceRequest = {src: 'pod-a', dst: 'pod-b', proto: 'tcp', dport: 80}
  const assumed = (t: Trace) => t.warnings.filter(w => w.code === 'ASSUMED').map(w => w.message)

  it('a rule holding the whole range steers the request; one holding none of it does not, silently', () => {
    const all = traceFlow(withPolicy('100:\tfrom all sport 1024-65535 lookup 100\n', [unreachable]), web)
    expect(all.disposition).to.equal('NULL_ROUTED')
    expect(all.failure!.evidence).to.equal('unreachable 10.244.2.0/24 table 100')
    const none = traceFlow(withPolicy('100:\tfrom all sport 1000-2000 lookup 100\n', [unreachable]), web)
    expect(none.disposition).to.equal('DELIVERED')
    expect(assumed(none).join('\n')).to.not.contain('client\'s source port')
  })

  it('a rule holding part of it: the port is ASSUMED outside, and the warning names the route a port inside takes', () => {
    const t = traceFlow(withPolicy(toTable100, [unreachable]), web)
    expect(t.disposition).to.equal('DELIVERED')
    expect(assumed(t)).to.include('`100:\tfrom all sport 40000-50000 lookup 100` tests the packet\'s source port, the client\'s source port, which its kernel picks from ' +
      'net.ipv4.ip_local_port_range (32768-60999 by default); 10001 of its 28232 ports are in 40000-50000: assumed it is outside, so the rule does not apply and the packet takes ' +
      '`10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink`; from a port in 40000-50000 it takes `unreachable 10.244.2.0/24 table 100` (`ss -tun` on the client shows the port)')
    // where both ways end at the same route, the port does not matter: nothing to say
    const same = traceFlow(withPolicy(toTable100, [route('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink table 100', {dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'flannel.1', onlink: true, table: '100'})]), web)
    expect(same.disposition).to.equal('DELIVERED')
    expect(assumed(same).join('\n')).to.not.contain('client\'s source port')
    // ICMP has no port: a port rule does not match it
    expect(assumed(traceFlow(withPolicy(toTable100, [unreachable]), {src: 'pod-a', dst: 'pod-b'})).join('\n')).to.not.contain('client\'s source port')
  })

  it('the reply\'s `dport` is the client\'s port: judged by the same range on the way back', () => {
    const back = route('unreachable 10.244.1.0/24 table 100', {dst: '10.244.1.0/24', type: 'unreachable', table: '100'})
    const rule = '100:\tfrom all iif flannel.1 dport 32768-60999 lookup 100\n'
    // node1's loose rp_filter looks the request's source up as the reply's lookup goes: from the device the
    // request leaves by (flannel.1; the kernel's oif, checked: a rule `iif m0` steers a router's check of what it
    // forwards out of m0) with the ports swapped, so the rule sends that lookup to the unreachable route too
    expect(traceFlow(withPolicy(rule, [back]), web).disposition).to.equal('REVERSE_PATH_FILTERED')
    const noRp = (n: HostSnapshot) => { n.sysctls = {...n.sysctls, 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.cni0.rp_filter': '0'} }
    const all = traceFlow(withPolicy(rule, [back], noRp), web)
    expect(all.disposition).to.equal('DELIVERED')
    expect(all.returnPath.disposition).to.equal('NULL_ROUTED')
    const part = traceFlow(withPolicy('100:\tfrom all iif flannel.1 dport 40000-50000 lookup 100\n', [back], noRp), web)
    expect(part.returnPath.disposition).to.equal('DELIVERED')
    expect(assumed(part).some(m => m.startsWith('`100:\tfrom all iif flannel.1 dport 40000-50000 lookup 100` tests the packet\'s destination port, the client\'s source port'))).to.equal(true)
  })

  it('the client\'s own ip_local_port_range decides: a node\'s narrowed range inside the rule\'s ports is steered, outside it not', () => {
    const narrowed = (range: string) => withPolicy(toTable100, [unreachable], n => { n.sysctls = {...n.sysctls, 'net.ipv4.ip_local_port_range': range} })
    const inside = traceFlow(narrowed('40000\t40100'), {src: 'node1', dst: 'pod-b', proto: 'tcp', dport: 80})
    expect(inside.disposition).to.equal('NULL_ROUTED')
    const outside = traceFlow(narrowed('50001 50100'), {src: 'node1', dst: 'pod-b', proto: 'tcp', dport: 80})
    expect(outside.disposition).to.equal('DELIVERED')
    const split = traceFlow(narrowed('49901 50100'), {src: 'node1', dst: 'pod-b', proto: 'tcp', dport: 80})
    expect(assumed(split).some(m => m.includes('net.ipv4.ip_local_port_range (49901-50100 on node1); 100 of its 200 ports are in 40000-50000'))).to.equal(true)
    // pod-a is the client, in a namespace of its own whose range was not read: node1's says nothing of it
    expect(traceFlow(narrowed('40000 40100'), web).disposition).to.equal('DELIVERED')
  })
})

describe('policy routing: l3mdev rules', () => {
  // the kernel adds `1000: from all lookup [l3mdev-table]` with its first VRF; `ip -j rule` prints {"l3mdev":null}
  it('reads both forms, and on a host without a VRF device the rule matches nothing, silently', () => {
    const [fromText] = parseRules('1000:\tfrom all lookup [l3mdev-table]\n')
    expect(fromText).to.include({l3mdev: true, action: 'lookup'})
    const [fromJson] = parseRules('[{"priority":1000,"src":"all","l3mdev":null}]')
    expect(fromJson).to.include({l3mdev: true})
    const t = traceFlow(withPolicy('1000:\tfrom all lookup [l3mdev-table]\n'), {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.warnings.filter(w => w.message.includes('l3mdev'))).to.deep.equal([])
  })

  it('with links of a kind the reader does not know (a VRF may hide there), the rule is ASSUMED not to match', () => {
    const w = withPolicy('1000:\tfrom all lookup [l3mdev-table]\n', [], n => n.links!.push({name: 'vrf-blue', kind: 'other', mtu: 65575, up: true, raw: '9: vrf-blue: <NOARP,MASTER,UP,LOWER_UP> mtu 65575'}))
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.warnings.some(x => x.code === 'ASSUMED' && x.message.includes('whether the flow passes a VRF'))).to.equal(true)
  })
})
