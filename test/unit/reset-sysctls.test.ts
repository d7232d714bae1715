/** reset puts back the sysctls init set (NodeRecord.sysctlsBefore), unless something else on the host needs them. */
import {expect} from 'chai'
import {planReset, planSysctlRestore} from '../../src/core/planner.js'
import type {HostSnapshot, Link} from '../../src/core/model.js'
import {parseNftRuleset} from '../../src/core/parse/nft.js'

const own = {bridge: 'cni0', vxlanDev: 'flannel.1'}
const link = (name: string, kind: string, extra: Partial<Link> = {}): Link => ({name, kind, mtu: 1500, up: true, raw: name, ...extra})
const host = (more: Partial<HostSnapshot> = {}): HostSnapshot => ({
  name: 'n1', sysctls: {'net.ipv4.ip_forward': '1'},
  links: [link('eth0', 'veth'), link('cni0', 'bridge'), link('flannel.1', 'vxlan')],
  addresses: [{dev: 'eth0', family: 4, local: '192.168.100.11', prefixlen: 24, raw: ''}, {dev: 'cni0', family: 4, local: '10.244.8.1', prefixlen: 24, raw: ''}],
  routes: [{dst: '10.244.22.0/24', gateway: '10.244.22.0', dev: 'flannel.1', type: 'unicast', raw: ''}],
  ...more,
} as HostSnapshot)

describe('reset and the sysctls init set', () => {
  it('ip_forward init switched on goes back off when only flannel\'s own bridge and VTEP forward', () => {
    const r = planSysctlRestore({'net.ipv4.ip_forward': '0'}, host(), own)
    expect(r.ops).to.deep.equal([{tool: 'sysctl', key: 'net.ipv4.ip_forward', value: '0', why: 'flannelctl\'s init set it; it was 0 before, and nothing else here needs it'}])
    // what it cannot see (a route someone relies on) is the operator's: said, with the way to keep it on
    expect(r.notes).to.deep.equal(['note: net.ipv4.ip_forward goes back to 0, as init found it, since nothing read here needs it; to keep this host forwarding: sysctl -w net.ipv4.ip_forward=1 afterwards (and persist it in /etc/sysctl.d)'])
  })

  it('nothing when init found it on already, or it is back at its value', () => {
    expect(planSysctlRestore({}, host(), own)).to.deep.equal({ops: [], notes: []})
    expect(planSysctlRestore({'net.ipv4.ip_forward': '0'}, host({sysctls: {'net.ipv4.ip_forward': '0'}}), own)).to.deep.equal({ops: [], notes: []})
  })

  it('stays on, and says why, while docker0, another overlay or another CNI\'s routed veths need it', () => {
    const docker = host({links: [...host().links!, link('docker0', 'bridge')], addresses: [...host().addresses!, {dev: 'docker0', family: 4, local: '172.17.0.1', prefixlen: 16, raw: ''}]} as Partial<HostSnapshot>)
    const r = planSysctlRestore({'net.ipv4.ip_forward': '0'}, docker, own)
    expect(r.ops).to.deep.equal([])
    expect(r.notes).to.deep.equal(['note: net.ipv4.ip_forward stays 1, though flannelctl\'s init set it (it was 0): docker0 (a bridge with 172.17.0.1/16: what is behind it is routed through this host) needs it'])
    // a bridge without an address (a plain L2 switch) routes nothing
    expect(planSysctlRestore({'net.ipv4.ip_forward': '0'}, host({links: [...host().links!, link('br-l2', 'bridge')]}), own).ops).to.have.length(1)
    const wg = planSysctlRestore({'net.ipv4.ip_forward': '0'}, host({links: [...host().links!, link('wg0', 'wireguard')]}), own)
    expect(wg.notes[0]).to.contain('wg0 (a wireguard device) needs it')
    const calico = host({links: [...host().links!, link('cali1234', 'veth')], routes: [...host().routes!, {dst: '10.233.64.5', dev: 'cali1234', type: 'unicast', scope: 'link', raw: ''}]} as Partial<HostSnapshot>)
    expect(planSysctlRestore({'net.ipv4.ip_forward': '0'}, calico, own).notes[0]).to.contain('cali1234 (routed veths: another CNI\'s pods) needs it')
  })

  it('stays on while other software\'s rules forward through it: FORWARD accepts or chains (kube-proxy, docker, a router\'s), a masquerade not flannel\'s', () => {
    // before: switched off, whatever FORWARD and POSTROUTING held besides flannel's
    const rule = (table: string, chain: string, spec: string) => ({table, chain, spec, raw: `-A ${chain} ${spec}`})
    const flannels = [rule('filter', 'FORWARD', '-m comment --comment "flanneld forward" -j FLANNEL-FWD'), rule('nat', 'POSTROUTING', '-m comment --comment "flanneld masq" -j FLANNEL-POSTRTG')]
    const withRules = (...rules: ReturnType<typeof rule>[]) => host({iptables: {rules: [...flannels, ...rules], chains: []}} as unknown as Partial<HostSnapshot>)
    const restore = (h: HostSnapshot) => planSysctlRestore({'net.ipv4.ip_forward': '0'}, h, own)
    expect(restore(withRules()).ops).to.have.length(1)
    // rules that need no forwarding
    expect(restore(withRules(rule('filter', 'FORWARD', '-s 203.0.113.0/24 -j DROP'), rule('filter', 'FORWARD', '-j LOG'))).ops).to.have.length(1)
    const kube = restore(withRules(rule('filter', 'FORWARD', '-m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD')))
    expect(kube.ops).to.deep.equal([])
    expect(kube.notes).to.deep.equal(['note: net.ipv4.ip_forward stays 1, though flannelctl\'s init set it (it was 0): a FORWARD chain with rules of other software (-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD) needs it'])
    const router = restore(withRules(rule('filter', 'FORWARD', '-i eth1 -o eth0 -j ACCEPT'), rule('filter', 'FORWARD', '-i eth0 -o eth1 -j ACCEPT'), rule('filter', 'FORWARD', '-j DOCKER-USER')))
    expect(router.notes[0]).to.contain('(-A FORWARD -i eth1 -o eth0 -j ACCEPT; -A FORWARD -i eth0 -o eth1 -j ACCEPT; …)')
    const gateway = restore(withRules(rule('nat', 'POSTROUTING', '-o eth0 -j MASQUERADE')))
    expect(gateway.notes[0]).to.contain('a masquerade of other software (-A POSTROUTING -o eth0 -j MASQUERADE: this host NATs traffic it forwards) needs it')
  })

  it('stays on for an nftables-only firewall that forwards: a forward chain that accepts, a masquerade (before: iptables alone was read)', () => {
    // `nft -j list table inet fw` and `… ip gw` of a router built with nft alone, as the host read holds them
    const fw = [{table: {family: 'inet', name: 'fw', handle: 7}},
      {chain: {family: 'inet', table: 'fw', name: 'forward', handle: 1, type: 'filter', hook: 'forward', prio: 0, policy: 'drop'}},
      {chain: {family: 'inet', table: 'fw', name: 'input', handle: 2, type: 'filter', hook: 'input', prio: 0, policy: 'accept'}},
      {rule: {family: 'inet', table: 'fw', chain: 'forward', handle: 3, expr: [{match: {op: '==', left: {meta: {key: 'iifname'}}, right: 'wg0'}}, {match: {op: '==', left: {meta: {key: 'oifname'}}, right: 'eth0'}}, {accept: null}]}},
      {rule: {family: 'inet', table: 'fw', chain: 'forward', handle: 4, expr: [{match: {op: 'in', left: {ct: {key: 'state'}}, right: ['established', 'related']}}, {accept: null}]}},
      {rule: {family: 'inet', table: 'fw', chain: 'input', handle: 5, expr: [{match: {op: '==', left: {payload: {protocol: 'tcp', field: 'dport'}}, right: 22}}, {drop: null}]}}]
    const gw = [{table: {family: 'ip', name: 'gw', handle: 8}},
      {chain: {family: 'ip', table: 'gw', name: 'post', handle: 1, type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept'}},
      {rule: {family: 'ip', table: 'gw', chain: 'post', handle: 2, expr: [{match: {op: '==', left: {meta: {key: 'oifname'}}, right: 'eth0'}}, {masquerade: null}]}}]
    const dropsOnly = [{table: {family: 'inet', name: 'fw', handle: 7}},
      {chain: {family: 'inet', table: 'fw', name: 'forward', handle: 1, type: 'filter', hook: 'forward', prio: 0, policy: 'accept'}},
      {rule: {family: 'inet', table: 'fw', chain: 'forward', handle: 3, expr: [{match: {op: '==', left: {meta: {key: 'iifname'}}, right: 'eth9'}}, {drop: null}]}}]
    const withNft = (items: unknown[]) => host({nftables: parseNftRuleset(JSON.stringify({nftables: items}))})
    const restore = (h: HostSnapshot) => planSysctlRestore({'net.ipv4.ip_forward': '0'}, h, own)
    const r = restore(withNft([...fw, ...gw]))
    expect(r.ops).to.deep.equal([])
    expect(r.notes).to.deep.equal(['note: net.ipv4.ip_forward stays 1, though flannelctl\'s init set it (it was 0): '
      + 'an nftables forward chain of other software that accepts (inet fw forward: iifname "wg0" oifname "eth0" accept; ct state established,related accept), '
      + 'an nftables masquerade of other software (ip gw post: oifname "eth0" masquerade: this host NATs traffic it forwards) need it'])
    // a forward chain that only drops needs no forwarding; the input chain is no forward chain
    expect(restore(withNft(dropsOnly)).ops).to.have.length(1)
    expect(restore(withNft(fw.filter(x => !('rule' in x) || x.rule.chain === 'input'))).ops).to.have.length(1)
  })

  it('in a VNI migration stopped midway, the other VTEP (the same MAC and address) goes with reset and keeps nothing on', () => {
    const vtep = (name: string, id: number, mac: string) => link(name, 'vxlan', {mac, vxlan: {id, local: '192.168.100.11', dev: 'eth0', port: 8472, learning: false}})
    const mid = host({links: [link('eth0', 'veth'), link('cni0', 'bridge'), vtep('flannel.1', 1, '26:a4:39:90:02:9a'), vtep('flannel.9', 9, '26:a4:39:90:02:9a'),
      vtep('flannel.7', 7, '02:00:00:00:00:07')]} as Partial<HostSnapshot>)
    const ops = planReset({network: '0.0.0.0/0', backend: {type: 'vxlan', vni: 1, port: 0, directRouting: false}, iface: 'eth0', bridge: 'cni0',
      subnetFile: '/x/subnet.env', cniConfDir: '/x/cni', ownedRoutes: [], subnet: '10.244.8.0/24'}, mid)
    const deleted = ops.flatMap(op => op.tool === 'ip' && op.args[0] === 'link' ? [op.args[2]] : [])
    // before: flannel.9 stayed, and ip_forward with it ("flannel.9 (a vxlan device) needs it"); flannel.7, with another MAC, is not flannelctl's
    expect(deleted).to.deep.equal(['flannel.1', 'flannel.9', 'cni0'])
    expect(planSysctlRestore({'net.ipv4.ip_forward': '0'}, mid, own).notes).to.deep.equal(['note: net.ipv4.ip_forward stays 1, though flannelctl\'s init set it (it was 0): flannel.7 (a vxlan device) needs it'])
  })

  it('a record of an older flannelctl does not say: left as it is, and said', () => {
    expect(planSysctlRestore(undefined, host(), own)).to.deep.equal({ops: [], notes: [
      'note: net.ipv4.ip_forward stays 1: this host\'s record was written by an older flannelctl, which did not note whether init switched it on (if nothing else here forwards: sysctl -w net.ipv4.ip_forward=0)']})
    expect(planSysctlRestore(undefined, host({sysctls: {'net.ipv4.ip_forward': '0'}}), own).notes).to.deep.equal([])
  })
})
