import {expect} from 'chai'
import {planNode, type NodeIntent} from '../../src/core/planner.js'
import type {HostSnapshot, IptablesRule} from '../../src/core/model.js'
import {forwardJump, forwardRules, masqJump, masqRules, FWD_CHAIN, MASQ_CHAIN} from '../../src/core/flannel.js'

const NET = '10.244.0.0/16'
const SUBNET = '10.244.1.0/24'

const intent: NodeIntent = {
  network: NET, subnet: SUBNET, backend: {type: 'host-gw', vni: 1, port: 8472, directRouting: false}, iface: 'eth0', publicIP: '192.168.100.11',
  vtepMAC: '02:00:00:00:00:01', bridge: 'cni0', mtu: 1500, ipMasq: true, peers: [], onLinkPeers: new Set(), subnetFile: '/x/subnet.env',
  cniConfDir: '/x/cni', cniPlugin: 'bridge', ownedRoutes: [],
}

const rule = (table: string, chain: string, spec: string): IptablesRule => ({table, chain, spec, raw: `-A ${chain} ${spec}`})

/** A host as init left it, with `fwd` as FLANNEL-FWD's rules. */
function host(fwd: string[]): HostSnapshot {
  return {
    name: 'n1',
    links: [{name: 'eth0', kind: 'ether', mtu: 1500, up: true, raw: ''}, {name: 'cni0', kind: 'bridge', mtu: 1500, up: true, raw: ''}],
    addresses: [{dev: 'cni0', family: 4, local: '10.244.1.1', prefixlen: 24, raw: ''}],
    routes: [], neighbors: [], fdb: [], sysctls: {'net.ipv4.ip_forward': '1'},
    iptables: {
      chains: [{table: 'filter', name: FWD_CHAIN}, {table: 'nat', name: MASQ_CHAIN}],
      rules: [
        rule('filter', 'FORWARD', forwardJump().spec), ...fwd.map(s => rule('filter', FWD_CHAIN, s)),
        rule('nat', 'POSTROUTING', masqJump().spec), ...masqRules(NET, SUBNET).map(r => rule('nat', MASQ_CHAIN, r.spec)),
      ],
    },
  }
}

const iptablesOps = (snap: HostSnapshot) => planNode(intent, snap, {}).ops.filter(o => o.tool === 'iptables')
const own = forwardRules(NET).map(r => r.spec)
const foreign = '-s 172.31.0.0/16 -j ACCEPT'

describe('planner: rules of others in flannel\'s chains', () => {
  it('a rule someone appended after flannel\'s is theirs: no drift, kept', () => {
    expect(iptablesOps(host([...own, foreign]))).to.deep.equal([])
  })

  it('a rewrite (one of flannel\'s rules gone) keeps the foreign rule, after flannel\'s', () => {
    const [op] = iptablesOps(host([own[1], foreign]))
    expect(op).to.deep.include({tool: 'iptables', table: 'filter'})
    expect((op as {lines: string[]}).lines).to.deep.equal([`:${FWD_CHAIN} - [0:0]`, ...own.map(s => `-A ${FWD_CHAIN} ${s}`), `-A ${FWD_CHAIN} ${foreign}`])
  })

  it('a rule someone put above flannel\'s stays above: no drift; a rewrite (a stale flannel rule) keeps it there', () => {
    const drop = '-s 10.244.7.0/24 -j DROP'
    expect(iptablesOps(host([drop, ...own, foreign]))).to.deep.equal([])
    const stale = '-s 10.99.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT'
    const [op] = iptablesOps(host([drop, ...own, stale, foreign]))
    expect((op as {lines: string[]}).lines).to.deep.equal([`:${FWD_CHAIN} - [0:0]`, ...[drop, ...own, foreign].map(s => `-A ${FWD_CHAIN} ${s}`)])
  })

  it('another lease rewrites the masquerade rules around an operator\'s RETURN, which stays before the MASQUERADE it exempts from', () => {
    const exempt = '-d 10.99.0.0/16 -j RETURN'
    const oldRules = masqRules(NET, '10.244.9.0/24').map(r => r.spec)
    const snap = host(own)
    snap.iptables!.rules = [...snap.iptables!.rules.filter(r => r.chain !== MASQ_CHAIN),
      ...[...oldRules.slice(0, 4), exempt, ...oldRules.slice(4)].map(s => rule('nat', MASQ_CHAIN, s))]
    const [op] = iptablesOps(snap)
    const now = masqRules(NET, SUBNET).map(r => r.spec)
    expect((op as {lines: string[]}).lines).to.deep.equal([`:${MASQ_CHAIN} - [0:0]`, ...[...now.slice(0, 4), exempt, ...now.slice(4)].map(s => `-A ${MASQ_CHAIN} ${s}`)])
  })
})
