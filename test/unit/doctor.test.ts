import {expect} from 'chai'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {checksumOffloadSuspects, diagnose, hostChecks, isFlannelLess, isNetworkFix, migrateOnNodesRead, podToNodeChecks, rulesChecks, setFixes, type DoctorFinding, type DoctorReport, type PairResult} from '../../src/services/doctor.js'
import {parseNftRuleset} from '../../src/core/parse/nft.js'
import {ROOT} from '../helpers/cli.js'
import {labFixLine, renderDoctor} from '../../src/ui/doctor.js'
import type {LoadedSource} from '../../src/services/collect.js'
import {knownPeers} from '../../src/services/collect.js'
import type {Lease} from '../../src/store/store.js'
import type {Command, Runner} from '../../src/adapters/runner.js'
import {applyPatches, loadScenario, loadWorld} from '../fixtures/trace/load.js'

/** A finding made by hand, its commands run on its node. */
function onNode(f: Omit<DoctorFinding, 'fix' | 'fixes'>, commands: string[]): DoctorFinding {
  return setFixes({...f, fix: [], fixes: []}, commands.map(command => ({node: f.node, command})))
}

const leases = [
  {subnet: '10.244.1.0/24', publicIP: '192.168.100.11', vtepMac: '8e:6a:3c:4f:a1:01'},
  {subnet: '10.244.2.0/24', publicIP: '192.168.100.12', vtepMac: 'd6:12:9b:77:c2:02'},
]

describe('doctor host checks', () => {
  const vxlan = loadWorld('flannel-vxlan')

  it('a healthy vxlan world with its leases: no findings', () => {
    expect(hostChecks(vxlan, leases)).to.deep.equal([])
  })

  it('on a hand-run node (static peers, its store holding its own lease alone) the entries of its `peer add` peers are not stale', () => {
    // node1 read alone, as `flannelctl doctor` on that host reads it; node2 is its static peer
    const podsOf1 = new Set(vxlan.pods.filter(p => p.node === 'node1').map(p => p.netns))
    const alone = {...vxlan, hosts: vxlan.hosts.filter(h => h.name === 'node1' || podsOf1.has(h.name)), pods: vxlan.pods.filter(p => p.node === 'node1'), partial: true}
    const own: Lease = {subnet: '10.244.1.0/24', publicIP: '192.168.100.11', publicIPv6: null, backendType: 'vxlan', backendData: {VtepMAC: '8e:6a:3c:4f:a1:01'}}
    // before: STALE_ROUTE, STALE_NEIGH and STALE_FDB for node2, with `del` fixes that cut the peer off (sync puts them back)
    expect(hostChecks(alone, knownPeers({leases: [own]})).map(f => f.code)).to.include.members(['STALE_ROUTE', 'STALE_NEIGH', 'STALE_FDB'])
    const statics = [{subnet: '10.244.2.0/24', publicIP: '192.168.100.12', vtepMAC: 'd6:12:9b:77:c2:02'}]
    expect(hostChecks(alone, knownPeers({leases: [own], staticPeers: statics}))).to.deep.equal([])
    expect(knownPeers(undefined)).to.equal(undefined)
  })

  it('a lab node\'s static peer is that node\'s alone: its entries are not stale there, and another node neither lacks them nor may keep them', () => {
    // lab (3 nodes, peer add on n1 of 10.244.200.0/24): doctor --lab called n1's entries for it
    // STALE_ROUTE, STALE_NEIGH and STALE_FDB, with `del` fixes that cut the peer off
    const entries = (host: string) => [
      {host, op: 'add' as const, table: 'routes', value: {dst: '10.244.200.0/24', type: 'unicast', gateway: '10.244.200.0', dev: 'flannel.1', onlink: true, raw: '10.244.200.0/24 via 10.244.200.0 dev flannel.1 onlink'}},
      {host, op: 'add' as const, table: 'neighbors', value: {dst: '10.244.200.0', dev: 'flannel.1', state: ['PERMANENT'], lladdr: '02:aa:bb:cc:dd:ee', raw: '10.244.200.0 dev flannel.1 lladdr 02:aa:bb:cc:dd:ee PERMANENT'}},
      {host, op: 'add' as const, table: 'fdb', value: {mac: '02:aa:bb:cc:dd:ee', dev: 'flannel.1', flags: ['self', 'permanent'], dst: '192.168.100.50', raw: '02:aa:bb:cc:dd:ee dev flannel.1 dst 192.168.100.50 self permanent'}}]
    const lab = applyPatches(vxlan, entries('node1'))
    const leased = leases.map(l => ({...l, publicIPv6: null, backendType: 'vxlan', backendData: {VtepMAC: l.vtepMac}})) as unknown as Lease[]
    const statics = [{subnet: '10.244.200.0/24', publicIP: '192.168.100.50', vtepMAC: '02:aa:bb:cc:dd:ee', node: 'node1'}]
    expect(hostChecks(lab, knownPeers({leases: leased})).map(f => `${f.code} ${f.node}`)).to.include.members(['STALE_ROUTE node1', 'STALE_NEIGH node1', 'STALE_FDB node1'])
    expect(hostChecks(lab, knownPeers({leases: leased, staticPeers: statics}))).to.deep.equal([])
    // node2's copy of them is stale: node1's peer is no peer of node2's
    const both = applyPatches(lab, entries('node2'))
    expect(hostChecks(both, knownPeers({leases: leased, staticPeers: statics})).map(f => `${f.code} ${f.node}`)).to.have.members(['STALE_ROUTE node2', 'STALE_NEIGH node2', 'STALE_FDB node2'])
  })

  it('a host with no pod bridge and no vxlan device is no flannel node (doctor on the machine running a lab, --lab forgotten)', () => {
    // before: "1 host, 0 pods … healthy", exit 0, on a machine with no pod network at all
    const plain = {name: 'vm', links: [{name: 'lo', kind: 'loopback', mtu: 65536, up: true}, {name: 'eth0', kind: 'device', mtu: 1500, up: true}],
      addresses: [{dev: 'eth0', family: 4, local: '10.0.0.5', prefixlen: 24, scope: 'global', raw: ''}]}
    expect(isFlannelLess({hosts: [plain], pods: [], partial: true} as unknown as typeof vxlan)).to.equal(true)
    expect(isFlannelLess(vxlan)).to.equal(false)
    const node1 = vxlan.hosts.filter(h => h.name === 'node1')
    expect(isFlannelLess({...vxlan, hosts: node1})).to.equal(false)
  })

  it('a VTEP re-created with a new MAC that its lease does not announce: the owner is told to publish it, the peers why their fix would not hold', () => {
    // node2's flannel.1 came back with a new MAC; the store and node1's entries still hold the old one
    const w = applyPatches(vxlan, [{host: 'node2', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {mac: '02:00:00:00:00:99',
      raw: '4: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default\n    link/ether 02:00:00:00:00:99 brd ff:ff:ff:ff:ff:ff'}}])
    const findings = hostChecks(w, leases)
    const unpublished = findings.find(f => f.code === 'VTEP_MAC_NOT_PUBLISHED')
    expect(unpublished, JSON.stringify(findings)).to.include({node: 'node2', severity: 'error'})
    expect(unpublished!.evidence).to.contain('02:00:00:00:00:99')
    expect(unpublished!.fix[0]).to.match(/^flannelctl sync\b/)
    const drift = findings.find(f => f.code === 'VTEP_MAC_DRIFT')
    expect(drift).to.include({node: 'node1'})
    expect(drift!.message).to.contain('lease still announces the old MAC')
  })

  it('a STALE_FDB for the MAC a VTEP_MAC_DRIFT on its node removes already is left out by the MAC both carry, not by the evidence\'s words', () => {
    // node2's flannel.1 re-created (new MAC), no store: node1's neighbour and fdb entry keep the old MAC
    const w = applyPatches(vxlan, [{host: 'node2', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {mac: '02:00:00:00:00:99'}}])
    // the same entries, their lines worded otherwise (neither says `lladdr MAC`, nor starts with the MAC)
    const reworded = applyPatches(w, [
      {host: 'node1', op: 'update', table: 'neighbors', where: {dev: 'flannel.1', dst: '10.244.2.0'}, value: {raw: '(the neighbour of node2\'s VTEP, read as JSON)'}},
      {host: 'node1', op: 'update', table: 'fdb', where: {dev: 'flannel.1', mac: 'd6:12:9b:77:c2:02'}, value: {raw: '(an fdb entry, read as JSON)'}},
    ])
    for (const world of [w, reworded]) {
      const findings = hostChecks(world)
      expect(findings.map(f => f.code)).to.include('VTEP_MAC_DRIFT').and.not.include('STALE_FDB')
      expect(findings.find(f => f.code === 'VTEP_MAC_DRIFT')).to.include({node: 'node1', peer: 'node2', mac: 'd6:12:9b:77:c2:02'})
    }
    // an fdb entry of another MAC whose line reads like the drifted one's is still stale
    const lookalike = applyPatches(w, [{host: 'node1', op: 'add', table: 'fdb',
      value: {mac: '0a:00:00:00:00:77', dev: 'flannel.1', dst: '192.168.100.12', flags: ['self', 'permanent'], raw: 'd6:12:9b:77:c2:02 dev flannel.1 dst 192.168.100.12 self permanent'}}])
    expect(hostChecks(lookalike).filter(f => f.code === 'STALE_FDB').map(f => f.mac)).to.deep.equal(['0a:00:00:00:00:77'])
  })

  it('cni0 larger than flannel.1 is an error only while peer routes go through flannel.1 (not on a host-gw node keeping its VTEP mid-migration)', () => {
    const big = applyPatches(vxlan, [{host: 'node1', op: 'update', table: 'links', where: {name: 'cni0'}, value: {mtu: 1500,
      raw: '3: cni0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default'}}])
    expect(hostChecks(big, leases).find(f => f.code === 'MTU_MISMATCH')).to.include({node: 'node1', severity: 'error'})
    const hostgwKeepingVtep = applyPatches(big, [
      {host: 'node1', op: 'remove', table: 'routes', where: {dst: '10.244.2.0/24'}},
      {host: 'node1', op: 'add', table: 'routes', value: {dst: '10.244.2.0/24', type: 'unicast', gateway: '192.168.100.12', dev: 'eth0', raw: '10.244.2.0/24 via 192.168.100.12 dev eth0'}},
      {host: 'node1', op: 'add', table: 'routes', value: {dst: '10.244.1.0', type: 'local', dev: 'flannel.1', table: 'local', raw: 'local 10.244.1.0 dev flannel.1 table local proto kernel scope host src 10.244.1.0'}},
    ])
    expect(hostChecks(hostgwKeepingVtep, leases).map(f => f.code)).to.not.include('MTU_MISMATCH')
  })

  it('without the store\'s leases nothing is said about what they announce', () => {
    const w = applyPatches(vxlan, [{host: 'node2', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {mac: '02:00:00:00:00:99'}}])
    const codes = hostChecks(w).map(f => f.code)
    expect(codes).to.not.include('VTEP_MAC_NOT_PUBLISHED')
    expect(codes).to.include('VTEP_MAC_DRIFT')
  })
})

describe('doctor host checks: FORWARD', () => {
  const vxlan = loadWorld('flannel-vxlan')
  const jump = {table: 'filter', chain: 'FORWARD', spec: '-m comment --comment "flanneld forward" -j FLANNEL-FWD', raw: '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD'}
  const forwardRule = (spec: string) => ({host: 'node1', op: 'add' as const, table: 'iptables.rules', value: {table: 'filter', chain: 'FORWARD', spec, raw: `-A FORWARD ${spec}`}})
  const withFirst = (spec: string) => applyPatches(vxlan, [
    {host: 'node1', op: 'remove', table: 'iptables.rules', where: {chain: 'FORWARD', spec: jump.spec}},
    forwardRule(spec), {host: 'node1', op: 'add', table: 'iptables.rules', value: jump},
  ])

  it('a host firewall\'s final REJECT before the FLANNEL-FWD jump (what a later sync appends behind it): FORWARD_DROP naming the rule, accepts inserted at the top', () => {
    const f = hostChecks(withFirst('-j REJECT --reject-with icmp-host-prohibited')).filter(x => x.code === 'FORWARD_DROP')
    expect(f.map(x => x.node)).to.deep.equal(['node1'])
    expect(f[0].evidence).to.equal('-A FORWARD -j REJECT --reject-with icmp-host-prohibited')
    // what it drops is the pod network's traffic through the node, the network its accepts name, not the node's /24
    expect(f[0].message).to.equal('a FORWARD rule drops pod traffic through node1 (10.244.0.0/16) before any rule accepts it (a host firewall\'s catch-all?)')
    expect(hostChecks(withFirst('-d 10.244.1.0/24 -j DROP')).find(x => x.code === 'FORWARD_DROP')?.message).to.match(/^a FORWARD rule drops pod traffic through node1 \(to 10\.244\.1\.0\/24\)/)
    // two ways: the accepts ahead of it (recommended: the rule keeps dropping the rest), or the rule deleted
    expect(f[0].fix).to.deep.equal(['iptables -I FORWARD 1 -s 10.244.0.0/16 -j ACCEPT', 'iptables -I FORWARD 1 -d 10.244.0.0/16 -j ACCEPT',
      'iptables -D FORWARD -j REJECT --reject-with icmp-host-prohibited'])
    expect(f[0].fixes.map(x => [x.option?.choice, x.option?.recommended])).to.deep.equal([[1, true], [1, true], [2, undefined]])
  })

  it('a drop limited to another interface, or to traffic that is not the pods\', does not count', () => {
    expect(hostChecks(withFirst('-i wlan0 -j DROP')).map(x => x.code)).to.not.include('FORWARD_DROP')
    expect(hostChecks(withFirst('-s 192.0.2.0/24 -j DROP')).map(x => x.code)).to.not.include('FORWARD_DROP')
  })

  it('policy DROP and the jump gone: FORWARD_DROP fixed by sync or by accepts at the top', () => {
    const w = applyPatches(vxlan, [{host: 'node1', op: 'remove', table: 'iptables.rules', where: {chain: 'FORWARD', spec: jump.spec}}])
    const f = hostChecks(w).find(x => x.code === 'FORWARD_DROP')
    expect(f?.evidence).to.equal(':FORWARD DROP')
    expect(f?.message).to.equal('FORWARD policy is DROP and no rule accepts pod traffic through node1 (10.244.0.0/16)')
    expect(f?.fix[0]).to.match(/^flannelctl sync\b/)
    // the sync or the same accepts by hand: two ways, not three steps
    expect(f?.fixes.map(x => x.option?.choice)).to.deep.equal([1, 2, 2])
    // the pod network, as flanneld's FLANNEL-FWD accepts it, in the words trace prints for the same drop:
    // the node's /24 let its own pods' traffic through but not what it forwards for other nodes' pods
    const report = diagnose(w, 'test')
    const denied = report.pairs.find(p => p.disposition === 'DENIED_BY_FILTER' && p.node === 'node1')
    expect(f?.fix.slice(1)).to.deep.equal(['iptables -I FORWARD 1 -s 10.244.0.0/16 -j ACCEPT', 'iptables -I FORWARD 1 -d 10.244.0.0/16 -j ACCEPT'])
    expect(denied?.fix.map(x => x.command)).to.deep.equal(f?.fix.slice(1))
    // a network the store's net-conf names is what both say
    const told = diagnose({...w, network: '10.244.0.0/15'}, 'test')
    expect(told.findings.find(x => x.code === 'FORWARD_DROP')?.fix.slice(1)).to.deep.equal(['iptables -I FORWARD 1 -s 10.244.0.0/15 -j ACCEPT', 'iptables -I FORWARD 1 -d 10.244.0.0/15 -j ACCEPT'])
    expect(told.pairs.find(p => p.disposition === 'DENIED_BY_FILTER')?.fix.map(x => x.command)).to.deep.equal(['iptables -I FORWARD 1 -s 10.244.0.0/15 -j ACCEPT', 'iptables -I FORWARD 1 -d 10.244.0.0/15 -j ACCEPT'])
  })

  it('policy DROP and accepts for the node\'s own /24 only: FORWARD_DROP saying what is dropped (what it forwards for other nodes\' pods); FLANNEL-FWD\'s accepts for the network are none', () => {
    // lab fcd3a n1 (kernel): with `-s/-d 10.244.23.0/24 -j ACCEPT` and policy DROP doctor said nothing; a NodePort's DNAT to n2's pod is dropped there
    const w = applyPatches(vxlan, [
      {host: 'node1', op: 'remove', table: 'iptables.rules', where: {chain: 'FORWARD', spec: jump.spec}},
      forwardRule('-s 10.244.1.0/24 -j ACCEPT'), forwardRule('-d 10.244.1.0/24 -j ACCEPT'),
    ])
    const f = hostChecks(w).filter(x => x.code === 'FORWARD_DROP')
    expect(f.map(x => x.node)).to.deep.equal(['node1'])
    expect(f[0].message).to.equal('FORWARD policy is DROP on node1 and its FORWARD accepts only pod traffic from 10.244.1.0/24, to 10.244.1.0/24: the rest of 10.244.0.0/16 is dropped, what this node forwards for other nodes\' pods (a NodePort\'s DNAT to a pod on another node, and its replies)')
    expect(f[0].fix.slice(1)).to.deep.equal(['iptables -I FORWARD 1 -s 10.244.0.0/16 -j ACCEPT', 'iptables -I FORWARD 1 -d 10.244.0.0/16 -j ACCEPT'])
    // the same accepts beside FLANNEL-FWD (it accepts the network): nothing dropped, nothing said
    const beside = applyPatches(vxlan, [forwardRule('-s 10.244.1.0/24 -j ACCEPT')])
    expect(hostChecks(beside).map(x => x.code)).to.not.include('FORWARD_DROP')
  })

  /** node1 with a host firewall loaded by `nft -f` beside iptables' FORWARD (captured in a lab node) */
  const withNative = (ruleset: string) => {
    const w = structuredClone(vxlan)
    w.hosts.find(h => h.name === 'node1')!.nftables = parseNftRuleset(readFileSync(join(ROOT, 'test', 'fixtures', 'nft-build', ruleset), 'utf8'))
    return w
  }

  it('a native nftables forward chain that drops pod traffic, whatever FLANNEL-FWD accepts: FORWARD_DROP naming the chain or the rule, with accepts at its top', () => {
    const [policy, ...more] = hostChecks(withNative('forward-debian.json')).filter(x => x.code === 'FORWARD_DROP')
    expect(more).to.deep.equal([])
    expect(policy).to.include({node: 'node1', severity: 'error', evidence: 'table inet filter chain forward { type filter hook forward priority 0; policy drop; }'})
    expect(policy.message).to.equal('nftables chain inet filter forward (hook forward, priority 0) drops forwarded pod traffic (icmp 10.244.1.2 → 10.244.0.2 (NEW) cni0 → flannel.1) by its policy drop: '
      + 'every base chain on the forward hook must accept a packet, so flannel\'s accepts (iptables FORWARD) do not overrule it')
    expect(policy.fix).to.deep.equal(['nft insert rule inet filter forward ip saddr 10.244.0.0/16 accept', 'nft insert rule inet filter forward ip daddr 10.244.0.0/16 accept'])
    const [reject] = hostChecks(withNative('forward-ip-reject.json')).filter(x => x.code === 'FORWARD_DROP')
    expect(reject.evidence).to.equal('ip daddr 10.244.0.0/16 reject')
    expect(reject.fix.at(-1)).to.equal('nft delete rule ip fw podfw handle 3')
    expect(reject.fixes.at(-1)?.option).to.include({choice: 2})
    expect(reject.fixes[0].option).to.include({choice: 1, recommended: true})
    for (const quiet of ['forward-accept.json', 'forward-ct-est.json', 'forward-eth9.json']) {
      expect(hostChecks(withNative(quiet)).map(x => x.code), quiet).to.not.include('FORWARD_DROP')
    }
  })
})

describe('doctor host checks: the same VTEP address on several nodes', () => {
  it('every node announcing it is told which of its addresses the others share a segment with, one command at a time', () => {
    const nat = (host: string) => [
      {host, op: 'update' as const, table: 'links', where: {name: 'flannel.1'}, value: {vxlan: {id: 1, local: '10.0.2.15', dev: 'eth1', port: 8472, learning: false}}},
      {host, op: 'add' as const, table: 'addresses', value: {dev: 'eth1', family: 4, local: '10.0.2.15', prefixlen: 24, scope: 'global', raw: 'inet 10.0.2.15/24 scope global eth1'}},
    ]
    const findings = hostChecks(applyPatches(loadWorld('flannel-vxlan'), [...nat('node1'), ...nat('node2')])).filter(f => f.code === 'DUPLICATE_PUBLIC_IP')
    expect(findings.map(f => f.node)).to.deep.equal(['node1', 'node2'])
    expect(findings[0].fix[0]).to.equal('flannelctl reset --release')
    expect(findings[0].fix[1]).to.match(/^flannelctl init --iface eth0 --public-ip 192\.168\.100\.11\b/)
    expect(findings[1].fix[1]).to.match(/^flannelctl init --iface eth0 --public-ip 192\.168\.100\.12\b/)
  })

  it('a node given another node\'s address (init --public-ip): only it is named, and its fix keeps the owner\'s lease; no DUPLICATE_SUBNET "reset --release" that would delete it', () => {
    const w = applyPatches(loadWorld('flannel-vxlan'), [
      {host: 'node2', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {vxlan: {id: 1, local: '192.168.100.11', dev: 'eth0', port: 8472, learning: false}}},
      {host: 'node2', op: 'update', table: 'addresses', where: {dev: 'cni0'}, value: {local: '10.244.1.1', raw: 'inet 10.244.1.1/24 brd 10.244.1.255 scope global cni0'}},
    ])
    const findings = hostChecks(w).filter(f => f.code.startsWith('DUPLICATE'))
    expect(findings.map(f => `${f.code} ${f.node}`)).to.deep.equal(['DUPLICATE_PUBLIC_IP node2'])
    expect(findings[0].message).to.equal('node2 announces 192.168.100.11, which is node1\'s address, not its own: it took node1\'s lease and subnet (--public-ip of another node?)')
    expect(findings[0].fix).to.deep.equal(['flannelctl reset   # not --release: the lease is node1\'s', 'flannelctl init --iface eth0 --public-ip 192.168.100.12   # the address its peers reach it on'])
  })
})

describe('doctor host checks: a node behind a peer\'s move', () => {
  it('node2 moved to a new subnet (reset --release, init) and node1 has not synced: its sync leads every fix, the commands by hand follow', () => {
    // node2's bridge and lease are on 10.244.7.0/24 now; node1 keeps its route and neighbour for 10.244.2.0/24
    const w = applyPatches(loadWorld('flannel-vxlan'), [
      {host: 'node2', op: 'update', table: 'addresses', where: {dev: 'cni0'}, value: {local: '10.244.7.1', raw: 'inet 10.244.7.1/24 brd 10.244.7.255 scope global cni0'}},
    ])
    const moved = [leases[0], {...leases[1], subnet: '10.244.7.0/24'}]
    const findings = hostChecks(w, moved).filter(f => f.node === 'node1')
    expect(findings.map(f => f.code)).to.deep.equal(['STALE_ROUTE', 'STALE_NEIGH', 'MISSING_ROUTE'])
    const sync = 'flannelctl sync   # node1 has not synced since node2\'s lease moved to 10.244.7.0/24: it replaces the old entries; or by hand:'
    for (const f of findings) expect(f.fix[0], f.code).to.equal(sync)
    const [route, neigh, missing] = findings
    expect(route.message).to.equal('route to 10.244.2.0/24 via flannel.1, but no node or lease holds that subnet (node2\'s, before its lease moved to 10.244.7.0/24)')
    expect(route.fix.slice(1)).to.deep.equal(['ip route del 10.244.2.0/24'])
    expect(neigh.fix.slice(1)).to.deep.equal(['ip neigh del 10.244.2.0 dev flannel.1'])
    expect(missing.message).to.equal('no route to node2\'s pod subnet 10.244.7.0/24: node2\'s lease moved there from 10.244.2.0/24, and node1 has not synced since')
    expect(missing.fix.slice(1)).to.deep.equal(['ip route replace 10.244.7.0/24 via 10.244.7.0 dev flannel.1 onlink',
      'ip neigh replace 10.244.7.0 lladdr d6:12:9b:77:c2:02 dev flannel.1 nud permanent', 'bridge fdb append d6:12:9b:77:c2:02 dev flannel.1 dst 192.168.100.12 self permanent'])
    // without the store, nothing says node2 moved: a stale entry and a missing route, fixed one by one, as before
    expect(hostChecks(w).filter(f => f.node === 'node1').some(f => f.fix[0] === sync)).to.equal(false)
  })

  it('node1 built by a flanneld before 0.9 (its VTEP made with l2miss): no flannelctl sync leads, the entries by hand are the fix', () => {
    const w = applyPatches(loadWorld('flannel-vxlan'), [
      {host: 'node2', op: 'update', table: 'addresses', where: {dev: 'cni0'}, value: {local: '10.244.7.1', raw: 'inet 10.244.7.1/24 brd 10.244.7.255 scope global cni0'}},
      {host: 'node1', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {vxlan: {id: 1, local: '192.168.100.11', dev: 'eth0', port: 8472, learning: false, l2miss: true}}},
    ])
    const findings = hostChecks(w, [leases[0], {...leases[1], subnet: '10.244.7.0/24'}]).filter(f => f.node === 'node1')
    expect(findings.map(f => f.code)).to.deep.equal(['STALE_ROUTE', 'STALE_NEIGH', 'MISSING_ROUTE'])
    // before: `flannelctl sync   # node1 has not synced since …` led all three
    expect(findings.map(f => f.fix)).to.deep.equal([['ip route del 10.244.2.0/24'], ['ip neigh del 10.244.2.0 dev flannel.1'],
      ['ip route replace 10.244.7.0/24 via 10.244.7.0 dev flannel.1 onlink', 'ip neigh replace 10.244.7.0 lladdr d6:12:9b:77:c2:02 dev flannel.1 nud permanent',
        'bridge fdb append d6:12:9b:77:c2:02 dev flannel.1 dst 192.168.100.12 self permanent']])
    expect(findings[2].message).to.contain('node2\'s lease moved there from 10.244.2.0/24')
  })

  it('read on node1 alone (lab exec n1 -- flannelctl doctor): node2, known by its lease only, is named by its address, not `lease SUBNET` (kernel: "lease 10.244.61.0/24\'s lease moved to 10.244.61.0/24")', () => {
    const vxlan = loadWorld('flannel-vxlan')
    const alone = {...vxlan, hosts: vxlan.hosts.filter(h => h.name === 'node1'), pods: vxlan.pods.filter(p => p.node === 'node1'), partial: true}
    const findings = hostChecks(alone, [leases[0], {...leases[1], subnet: '10.244.7.0/24'}])
    expect(findings.map(f => f.message)).to.deep.equal([
      'route to 10.244.2.0/24 via flannel.1, but no node or lease holds that subnet (192.168.100.12\'s, before its lease moved to 10.244.7.0/24)',
      'neighbour 10.244.2.0 on flannel.1 belongs to no node or lease (192.168.100.12\'s, before its lease moved to 10.244.7.0/24)',
      'no route to 192.168.100.12\'s pod subnet 10.244.7.0/24: 192.168.100.12\'s lease moved there from 10.244.2.0/24, and node1 has not synced since',
    ])
    expect(findings[2].fix[0]).to.equal('flannelctl sync   # node1 has not synced since 192.168.100.12\'s lease moved to 10.244.7.0/24: it replaces the old entries; or by hand:')
  })

  it('a pair failing on that node: its sync leads that node\'s fixes there too', () => {
    const w = applyPatches(loadWorld('flannel-vxlan'), [
      {host: 'node2', op: 'update', table: 'addresses', where: {dev: 'cni0'}, value: {local: '10.244.7.1', raw: 'inet 10.244.7.1/24 brd 10.244.7.255 scope global cni0'}},
      {host: 'node1', op: 'remove', table: 'fdb', where: {mac: 'd6:12:9b:77:c2:02', dev: 'flannel.1'}},
    ])
    const report = diagnose(w, 'test', [leases[0], {...leases[1], subnet: '10.244.7.0/24'}])
    const atNode1 = report.pairs.filter(p => p.fix.some(f => f.node === 'node1'))
    expect(atNode1, JSON.stringify(report.pairs)).to.not.deep.equal([])
    for (const p of atNode1) expect(p.fix.find(f => f.node === 'node1')?.command).to.match(/^flannelctl sync {3}# node1 has not synced since node2's lease moved to 10\.244\.7\.0\/24/)
  })
})

describe('doctor host checks: a host-gw node behind a peer\'s move', () => {
  const hostGw = loadWorld('flannel-host-gw')
  const hostGwLeases = [{subnet: '10.244.1.0/24', publicIP: '192.168.100.11'}, {subnet: '10.244.2.0/24', publicIP: '192.168.100.12'}]
  const moved = applyPatches(hostGw, [
    {host: 'node2', op: 'update', table: 'addresses', where: {dev: 'cni0'}, value: {local: '10.244.7.1', raw: 'inet 10.244.7.1/24 brd 10.244.7.255 scope global cni0'}},
  ])
  const movedLeases = [hostGwLeases[0], {...hostGwLeases[1], subnet: '10.244.7.0/24'}]

  it('its route via the underlay to the peer\'s old subnet is STALE_ROUTE, and its sync leads the fixes (lab fcd3b: n2 reset --release + init, doctor saw only the missing route)', () => {
    const findings = hostChecks(moved, movedLeases).filter(f => f.node === 'node1')
    expect(findings.map(f => f.code)).to.deep.equal(['STALE_ROUTE', 'MISSING_ROUTE'])
    const sync = 'flannelctl sync   # node1 has not synced since node2\'s lease moved to 10.244.7.0/24: it replaces the old entries; or by hand:'
    const [route, missing] = findings
    expect(route.message).to.equal('route to 10.244.2.0/24 via 192.168.100.12 (node2) on eth0, but no node or lease holds that subnet (node2\'s, before its lease moved to 10.244.7.0/24)')
    expect(route.evidence).to.equal('10.244.2.0/24 via 192.168.100.12 dev eth0')
    expect(route.fix).to.deep.equal([sync, 'ip route del 10.244.2.0/24 via 192.168.100.12 dev eth0'])
    expect(missing.fix).to.deep.equal([sync, 'ip route replace 10.244.7.0/24 via 192.168.100.12 dev eth0'])
  })

  it('nothing stale: a healthy node; a route via the underlay to a router, or outside the network', () => {
    expect(hostChecks(hostGw, hostGwLeases).map(f => f.code)).to.not.include('STALE_ROUTE')
    const foreign = applyPatches(hostGw, [
      {host: 'node1', op: 'add', table: 'routes', value: {dst: '10.244.9.0/24', type: 'unicast', gateway: '192.168.100.1', dev: 'eth0', raw: '10.244.9.0/24 via 192.168.100.1 dev eth0'}},
      {host: 'node1', op: 'add', table: 'routes', value: {dst: '172.16.0.0/24', type: 'unicast', gateway: '192.168.100.12', dev: 'eth0', raw: '172.16.0.0/24 via 192.168.100.12 dev eth0'}},
    ])
    expect(hostChecks(foreign, hostGwLeases).map(f => f.code)).to.not.include('STALE_ROUTE')
  })
})

describe('doctor host checks: a node whose address changed under its lease', () => {
  it('is named from the lease, with the sync that moves the lease (vxlan here; host-gw alike, checked on a lab)', () => {
    const w = applyPatches(loadWorld('flannel-vxlan'), [{host: 'node2', op: 'update', table: 'addresses', where: {dev: 'eth0', local: '192.168.100.12'},
      value: {local: '192.168.100.22', raw: 'inet 192.168.100.22/24 brd 192.168.100.255 scope global eth0'}}])
    const leases = [{subnet: '10.244.1.0/24', publicIP: '192.168.100.11'}, {subnet: '10.244.2.0/24', publicIP: '192.168.100.12'}]
    const f = hostChecks(w, leases).filter(x => x.code === 'LEASE_ADDRESS_GONE')
    expect(f).to.deep.equal([{code: 'LEASE_ADDRESS_GONE', severity: 'error', node: 'node2',
      message: 'the store\'s lease for node2\'s subnet 10.244.2.0/24 names 192.168.100.12, which no host has (node2\'s eth0 has 192.168.100.22: its address changed?): peers send its pods\' traffic there',
      evidence: 'lease 10.244.2.0/24 PublicIP 192.168.100.12',
      fix: ['flannelctl sync --public-ip 192.168.100.22   # the lease moves to 192.168.100.22, same subnet; peers follow on their next sync'],
      fixes: [{node: 'node2', command: 'flannelctl sync --public-ip 192.168.100.22   # the lease moves to 192.168.100.22, same subnet; peers follow on their next sync'}]}])
    expect(hostChecks(loadWorld('flannel-vxlan'), leases).filter(x => x.code === 'LEASE_ADDRESS_GONE')).to.deep.equal([])
  })

  it('a node serving a subnet no lease holds (its lease expired or deleted): LEASE_MISSING, fixed by its own sync', () => {
    // kernel (3-node lab): n3's lease file deleted from the store; doctor said healthy while n1's sync --dry-run planned to drop its routes to n3
    const w = loadWorld('flannel-vxlan')
    const f = hostChecks(w, [{subnet: '10.244.1.0/24', publicIP: '192.168.100.11'}]).filter(x => x.code === 'LEASE_MISSING')
    expect(f).to.deep.equal([{code: 'LEASE_MISSING', severity: 'error', node: 'node2',
      message: 'no lease in the store holds node2\'s subnet 10.244.2.0/24 (expired, deleted, or the store lost it): its pods still answer, but each peer\'s next sync removes its routes to them, and a new host may lease the subnet',
      evidence: 'cni0 10.244.2.0/24; no lease 10.244.2.0-24 in the store',
      fix: ['flannelctl sync   # leases its subnet again'], fixes: [{node: 'node2', command: 'flannelctl sync   # leases its subnet again'}]}])
    // every subnet leased, no store read, or an empty store (nothing to compare with): nothing said
    const all = [{subnet: '10.244.1.0/24', publicIP: '192.168.100.11'}, {subnet: '10.244.2.0/24', publicIP: '192.168.100.12'}]
    for (const leases of [all, undefined, []]) expect(hostChecks(w, leases).filter(x => x.code === 'LEASE_MISSING')).to.deep.equal([])
  })
})

describe('doctor host checks: a peer subnet null-routed', () => {
  it('a blackhole route where the peer route was: MISSING_ROUTE names it as the evidence, not "no matching route"', () => {
    // kernel (3-node lab): ip route replace blackhole <n2's subnet> on n1; doctor said "(no matching route)"
    const w = applyPatches(loadWorld('flannel-vxlan'), [
      {host: 'node1', op: 'remove', table: 'routes', where: {dst: '10.244.2.0/24'}},
      {host: 'node1', op: 'add', table: 'routes', value: {dst: '10.244.2.0/24', type: 'blackhole', raw: 'blackhole 10.244.2.0/24'}},
    ])
    const f = hostChecks(w).find(x => x.code === 'MISSING_ROUTE')!
    expect(f.message).to.equal('no route to node2\'s pod subnet 10.244.2.0/24 but a blackhole route: its pods\' packets are discarded on node1')
    expect(f.evidence).to.equal('blackhole 10.244.2.0/24')
    // the route sync (or the hand-made one) replaces it in place
    expect(f.fixes.map(x => x.command)).to.include('ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink')
  })
})

describe('doctor host checks: devices set down', () => {
  const vxlan = loadWorld('flannel-vxlan')

  it('flannel.1 set down, its routes gone: DEVICE_DOWN, and the MISSING_ROUTE fix brings it up before routing through it', () => {
    const w = applyPatches(vxlan, [
      {host: 'node1', op: 'update', table: 'links', where: {name: 'flannel.1'}, value: {up: false, operstate: 'DOWN', raw: '4: flannel.1: <BROADCAST,MULTICAST> mtu 1450 qdisc noqueue state DOWN mode DEFAULT group default'}},
      {host: 'node1', op: 'remove', table: 'routes', where: {dst: '10.244.2.0/24'}},
    ])
    const findings = hostChecks(w)
    expect(findings.find(f => f.code === 'DEVICE_DOWN')?.fix[0]).to.equal('ip link set flannel.1 up')
    const missing = findings.find(f => f.code === 'MISSING_ROUTE')!
    // two ways, as structured options (before, the sync was a comment on the route): sync, or by hand the device up first, then the route and the entries behind it
    expect(missing.fixes.map(f => `${f.option?.choice}${f.option?.recommended ? '*' : ''} ${f.command}`)).to.deep.equal([
      '1* flannelctl sync',
      '2 ip link set flannel.1 up',
      '2 ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
      '2 ip neigh replace 10.244.2.0 lladdr d6:12:9b:77:c2:02 dev flannel.1 nud permanent',
      '2 bridge fdb append d6:12:9b:77:c2:02 dev flannel.1 dst 192.168.100.12 self permanent',
    ])
    expect(missing.fixes[1].option!.why).to.equal('by hand: the route, with the neighbour and fdb entries behind it')
  })

  it('a bridge that is up without carrier (no pods plugged in yet) is not down', () => {
    const w = applyPatches(vxlan, [{host: 'node1', op: 'update', table: 'links', where: {name: 'cni0'}, value: {operstate: 'DOWN'}}])
    expect(hostChecks(w).map(f => f.code)).to.not.include('DEVICE_DOWN')
  })
})

describe('doctor host checks: DirectRouting and missing entries', () => {
  const dr = loadWorld('flannel-directrouting')
  const directRouting = {type: 'vxlan', directRouting: true}

  it('a DirectRouting world as built: direct routes on the segment, vxlan across the router, no findings', () => {
    expect(hostChecks(dr, undefined, directRouting)).to.deep.equal([])
  })

  it('a peer on the segment routed through the tunnel although the network has DirectRouting: the direct route is the fix', () => {
    const w = applyPatches(dr, [
      {host: 'node1', op: 'remove', table: 'routes', where: {dst: '10.244.2.0/24'}},
      {host: 'node1', op: 'add', table: 'routes', value: {dst: '10.244.2.0/24', type: 'unicast', gateway: '10.244.2.0', dev: 'flannel.1', onlink: true, raw: '10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink'}},
    ])
    const findings = hostChecks(w, undefined, directRouting)
    expect(findings.map(f => `${f.code}@${f.node}`)).to.deep.equal(['DIRECT_ROUTING_NOT_APPLIED@node1'])
    // sync (recommended: it switches every peer on the segment), or this route by hand, as two ways (before: the route with a comment `# or flannelctl sync`)
    expect(findings[0].fixes.map(f => `${f.option?.choice}${f.option?.recommended ? '*' : ''} ${f.command}`)).to.deep.equal([
      '1* flannelctl sync', '2 ip route replace 10.244.2.0/24 via 192.168.100.12 dev eth0'])
    // without DirectRouting in the network config the tunnel route is what flannel builds
    expect(hostChecks(w, undefined, {type: 'vxlan', directRouting: false}).map(f => f.code)).to.not.include('DIRECT_ROUTING_NOT_APPLIED')
  })

  it('a host-gw node with a peer behind the router: migrate is the fix, on the nodes doctor read (inside one host it would move that host alone)', () => {
    const w = applyPatches(dr, [
      {host: 'node1', op: 'remove', table: 'links', where: {name: 'flannel.1'}},
      {host: 'node1', op: 'remove', table: 'routes', where: {dst: '10.244.3.0/24'}},
    ])
    // with its default route via a router not read, whether that router routes the subnet on is an assumption, not a missing route
    expect(hostChecks(w, undefined, {type: 'host-gw', directRouting: false}).filter(f => f.node === 'node1' && f.peerSubnet === '10.244.3.0/24').map(f => f.code)).to.deep.equal(['ASSUMED'])
    const noDefault = applyPatches(w, [{host: 'node1', op: 'remove', table: 'routes', where: {dst: 'default'}}])
    const missing = hostChecks(noDefault, undefined, {type: 'host-gw', directRouting: false}).filter(f => f.code === 'MISSING_ROUTE' && f.node === 'node1')
    expect(missing).to.have.length(1)
    expect(missing[0].fix).to.deep.equal(['flannelctl migrate --backend vxlan --directrouting   # direct routes on the segment, vxlan across the router'])
    expect(migrateOnNodesRead(missing, '--lab demo')[0].fix).to.deep.equal(['flannelctl migrate --backend vxlan --directrouting --lab demo --yes   # direct routes on the segment, vxlan across the router'])
    expect(migrateOnNodesRead(missing, undefined)).to.deep.equal(missing)
    // the network's, run from here: by its scope, not by its text
    expect(missing[0].fixes).to.deep.equal([{node: 'node1', command: missing[0].fix[0], scope: 'network'}])
    expect(isNetworkFix(missing[0].fixes[0])).to.equal(true)
    expect(isNetworkFix({node: 'node1', command: 'ip route replace 10.244.3.0/24 via 192.168.200.13 dev eth0'})).to.equal(false)
  })

  it('a migrate shared by several findings is printed once, from here; --json keeps it on each finding, as each pair keeps its fix', () => {
    const migrate = 'flannelctl migrate --backend vxlan --directrouting --lab seg --yes   # direct routes on the segment, vxlan across the router'
    const missing = (node: string, peer: string) => setFixes({code: 'MISSING_ROUTE', severity: 'error', node, message: `no route to ${peer}'s pod subnet`, evidence: '(no matching route)', fix: [], fixes: []},
      [{node, command: migrate, scope: 'network'}])
    const report: DoctorReport = {source: 'lab seg', nodes: ['n1', 'n2', 'n3'], pods: [], sampled: false, pairs: [], rules: {}, healthy: false,
      findings: [missing('n1', 'n3'), missing('n2', 'n3'), missing('n3', 'n1'), missing('n3', 'n2'),
        onNode({code: 'FORWARDING_DISABLED', severity: 'error', node: 'n2', message: 'net.ipv4.ip_forward is 0'}, ['sysctl -w net.ipv4.ip_forward=1'])]}
    const text = renderDoctor(report, {color: false})
    expect(text.split(migrate)).to.have.length(2)
    expect(text).to.contain(`  fix from here, once for 4 findings (n1, n2, n3 MISSING_ROUTE): ${migrate}`)
    // a host's own fix stays with its host
    expect(text).to.contain('    fix [n2]: sysctl -w net.ipv4.ip_forward=1')
    expect(text).to.not.match(/fix \[n\d\]: flannelctl migrate/)
    expect(labFixLine(report, 'seg')).to.equal('In the lab, run each fix on its host: flannelctl lab exec --name seg HOST -- COMMAND (a flannelctl migrate from here, as printed)')
    // the migrate alone is run from here: nothing to run on a host
    expect(labFixLine({...report, findings: report.findings.filter(f => f.code === 'MISSING_ROUTE')}, 'seg')).to.equal(undefined)
  })

  it('doctor --lab closes with how to run a fix on its host only when it printed one', () => {
    const fine: PairResult = {from: 'pod-2a', to: 'pod-1a', disposition: 'DELIVERED', fix: [{node: 'n1', command: 'ip -6 route get fd00:100::12'}], warnings: []}
    const report: DoctorReport = {source: 'lab demo', nodes: ['n1', 'n2'], pods: ['pod-1a', 'pod-2a'], sampled: false, pairs: [fine], rules: {}, healthy: true,
      findings: [setFixes({code: 'MIGRATION_UNFINISHED', severity: 'warning', node: 'store', message: 'a migration … stopped', fix: [], fixes: []},
        [{node: 'store', command: 'flannelctl migrate --backend vxlan --lab demo --yes', scope: 'network'}]),
      onNode({code: 'LEASES_OFF_CONFIG', severity: 'warning', node: 'store', message: 'no lease fits the network config'}, [])]}
    // a pair that is fine keeps the commands that would read its unread return path: not printed, nothing to run
    expect(renderDoctor(report, {color: false})).to.not.contain('ip -6 route get')
    expect(labFixLine(report, 'demo')).to.equal(undefined)
    const bad: PairResult = {...fine, disposition: 'NO_ROUTE', fix: [{node: 'n1', command: 'ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink'}]}
    expect(labFixLine({...report, pairs: [bad]}, 'demo')).to.equal('In the lab, run each fix on its host: flannelctl lab exec HOST -- COMMAND (a flannelctl migrate from here, as printed)')
    // a kubectl command for a controller's rule runs where kubectl works, not through lab exec
    const policy: PairResult = {...fine, disposition: 'DENIED_BY_FILTER', fix: [{node: 'n1', command: 'kubectl get networkpolicy -A   # allow it', scope: 'cluster'}]}
    expect(labFixLine({...report, pairs: [policy]}, 'demo')).to.equal(undefined)
    // a read, it is printed as what to look at
    expect(renderDoctor({...report, pairs: [policy], healthy: false}, {color: false})).to.contain('    check [in the cluster, where kubectl works; the rule is on n1]: kubectl get networkpolicy -A')
  })

  it('a peer whose neighbour and fdb entries are both gone: the MISSING_NEIGH fix writes both', () => {
    const w = applyPatches(loadWorld('flannel-vxlan'), [
      {host: 'node1', op: 'remove', table: 'neighbors', where: {dst: '10.244.2.0', dev: 'flannel.1'}},
      {host: 'node1', op: 'remove', table: 'fdb', where: {mac: 'd6:12:9b:77:c2:02', dev: 'flannel.1'}},
    ])
    const missing = hostChecks(w).find(f => f.code === 'MISSING_NEIGH')
    expect(missing?.fix).to.deep.equal([
      'ip neigh replace 10.244.2.0 lladdr d6:12:9b:77:c2:02 dev flannel.1 nud permanent',
      'bridge fdb append d6:12:9b:77:c2:02 dev flannel.1 dst 192.168.100.12 self permanent',
    ])
  })
})

describe('doctor: pods reaching their own node', () => {
  const vxlan = loadWorld('flannel-vxlan')

  it('a healthy world: nothing to say', () => {
    expect(podToNodeChecks(vxlan)).to.deep.equal([])
  })

  it('a host firewall dropping what comes in from the pod bridge: POD_TO_NODE on that node, fixed by deleting the rule; pod pairs stay green', () => {
    const w = applyPatches(vxlan, [{host: 'node1', op: 'add', table: 'iptables.rules', value: {table: 'filter', chain: 'INPUT', spec: '-i cni0 -j DROP', raw: '-A INPUT -i cni0 -j DROP'}}])
    const report = diagnose(w, 'test')
    expect(report.pairs.every(p => p.disposition === 'DELIVERED')).to.equal(true)
    const f = report.findings.filter(x => x.code === 'POD_TO_NODE')
    expect(f.map(x => x.node)).to.deep.equal(['node1'])
    expect(f[0].fix).to.deep.equal(['iptables -D INPUT -i cni0 -j DROP'])
    expect(report.healthy).to.equal(false)
  })

  it('a kube-proxy rule dropping it: the kubectl fix is marked a cluster command by the trace\'s scope (clusterFixes), not by its text; printed as the cluster\'s, left out of lab exec', () => {
    const w = applyPatches(vxlan, [
      {host: 'node1', op: 'add', table: 'iptables.chains', value: {table: 'filter', name: 'KUBE-FIREWALL', policy: '-'}},
      {host: 'node1', op: 'add', table: 'iptables.rules', value: {table: 'filter', chain: 'INPUT', spec: '-i cni0 -j KUBE-FIREWALL', raw: '-A INPUT -i cni0 -j KUBE-FIREWALL'}},
      {host: 'node1', op: 'add', table: 'iptables.rules', value: {table: 'filter', chain: 'KUBE-FIREWALL', spec: '-j DROP', raw: '-A KUBE-FIREWALL -j DROP'}},
    ])
    const report = diagnose(w, 'test')
    const f = report.findings.find(x => x.code === 'POD_TO_NODE')!
    expect(f.fix[0]).to.match(/^kubectl get services,endpointslices -A/)
    expect(f.clusterFixes).to.deep.equal([f.fix[0]])
    // the Service (recommended) or the deletion, a workaround, as two ways (before: steps, the workaround a comment on the deletion)
    expect(f.fix[1]).to.equal('iptables -D KUBE-FIREWALL -j DROP')
    expect(f.fixes.map(x => x.option?.choice)).to.deep.equal([1, 2])
    const text = renderDoctor(report, {color: false})
    expect(text).to.contain(`      either (recommended): change the Service: kube-proxy writes this rule from it, so a change there lasts\n        [in the cluster, where kubectl works; the rule is on node1]: ${f.fix[0]}`)
    expect(text).to.contain(`      or: delete the rule, a temporary workaround only: kube-proxy (KUBE-FIREWALL: kubelet) owns KUBE-FIREWALL and puts the rule back at its next sync\n        [node1]: ${f.fix[1]}`)
    // only the workaround is a host command: the lab line is still printed, for it
    expect(labFixLine({...report, pairs: [], findings: [setFixes({...f}, [f.fixes[0]])]}, 'demo')).to.equal(undefined)
    expect(labFixLine({...report, pairs: [], findings: [f]}, 'demo')).to.match(/^In the lab, run each fix on its host/)
  })
})

describe('doctor report', () => {
  const vxlan = loadWorld('flannel-vxlan')

  it('pairs of two places sharing a fix that is a choice: one "fix for the 2 above, one of 2 ways" line, not a "for the 2 above" line over a "one of 2 ways" line', () => {
    // two nodes whose flannel.1 disagree on the port, no store: the request and the reply fail at either node, with the same two ways
    const {world} = loadScenario('port-mismatch.json')
    const text = renderDoctor(diagnose(world, 'test'), {color: false})
    expect(text).to.contain('    pairs: pod-b→pod-a, pod-b→pod-a2, pod-c→pod-a, pod-c→pod-a2\n    fix for the 2 above, one of 2 ways:\n      either: node1\'s flannel.1 to UDP port 4789')
    expect(text).to.not.contain('fix for the 2 above:')
  })

  it('groups the pairs one cause breaks, even though each pair\'s reason names its own addresses', () => {
    // FORWARD policy DROP with nothing accepting: every pair through node1 fails, each reason naming its addresses
    const w = applyPatches(vxlan, [{host: 'node1', op: 'remove', table: 'iptables.rules', where: {table: 'filter', chain: 'FORWARD'}}])
    const report = diagnose(w, 'test')
    const bad = report.pairs.filter(p => p.disposition === 'DENIED_BY_FILTER')
    expect(new Set(bad.map(p => p.reason)).size, 'the reasons differ').to.be.greaterThan(1)
    const text = renderDoctor(report, {color: false})
    expect(text.match(/DENIED_BY_FILTER[^\n]* at node1:/g), text).to.have.length(1)
  })

  it('keeps causes apart that need different fixes', () => {
    const pair = (from: string, to: string, command: string): PairResult => ({from, to, disposition: 'NO_ROUTE', node: 'n1', reason: `no route for ${to}`, fix: [{node: 'n1', command}], warnings: []})
    const report: DoctorReport = {source: 'test', nodes: ['n1'], pods: ['a', 'b', 'c'], sampled: false, findings: [], healthy: false,
      pairs: [pair('a', 'b', 'ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink'), pair('a', 'c', 'ip route replace 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink')]}
    expect(renderDoctor(report, {color: false}).match(/NO_ROUTE at n1/g)).to.have.length(2)
  })
})

describe('doctor --ping: vxlan checksum offload as the suspect of a disagreement', () => {
  const vxlan = loadWorld('flannel-vxlan')
  const ethtool = (offload: 'on' | 'off'): Runner & {asked: Command[]} => {
    const asked: Command[] = []
    return {target: {kind: 'local'} as Runner['target'], asked, run: async (cmd: Command) => {
      asked.push(cmd)
      return {stdout: `Features for flannel.1:\ntx-checksumming: on\n\ttx-checksum-ip-generic: ${offload}\n`, stderr: '', exitCode: 0}
    }}
  }
  const source = (runner: Runner): LoadedSource => ({kind: 'lab', description: 'test', world: vxlan, inventory: {nodes: [], pods: []} as unknown as LoadedSource['inventory'],
    live: [{name: 'node1', role: 'node', runner}], captured: [], unread: []})
  const pair = (ping: boolean): PairResult => ({from: 'pod-a', to: 'pod-b', disposition: 'DELIVERED', fix: [], warnings: [], ping})

  it('pings that fail where the tables deliver over flannel.1 with the offload on: the sender is told how to turn it off', async () => {
    const findings = await checksumOffloadSuspects(source(ethtool('on')), [pair(false)])
    expect(findings.map(f => `${f.code}@${f.node}`)).to.deep.equal(['VXLAN_CHECKSUM_OFFLOAD@node1'])
    expect(findings[0].fix[0]).to.match(/^ethtool -K flannel\.1 tx-checksum-ip-generic off\b/)
  })

  it('asks nothing when the pings agree, and says nothing when the offload is off already', async () => {
    const quiet = ethtool('on')
    expect(await checksumOffloadSuspects(source(quiet), [pair(true)])).to.deep.equal([])
    expect(quiet.asked).to.deep.equal([])
    expect(await checksumOffloadSuspects(source(ethtool('off')), [pair(false)])).to.deep.equal([])
  })
})

describe('doctor: where flannel\'s rules are (EnableNFTables)', () => {
  const vxlan = loadWorld('flannel-vxlan')
  /** node1 as a node in nftables mode: flanneld's table (as `nft list ruleset` printed it), no FLANNEL-* chains; FORWARD's policy as given. */
  const nftNode1 = (policy: string) => {
    const w = structuredClone(vxlan)
    const h = w.hosts.find(x => x.name === 'node1')!
    const ipt = h.iptables!
    h.iptables = {...ipt, chains: ipt.chains.filter(c => !c.name.startsWith('FLANNEL')).map(c => (c.name === 'FORWARD' ? {...c, policy} : c)),
      rules: ipt.rules.filter(r => !r.chain.startsWith('FLANNEL') && !r.spec.includes('FLANNEL'))}
    h.nftables = parseNftRuleset(readFileSync(join(ROOT, 'test', 'fixtures', 'nft-build', 'flanneld.nft'), 'utf8'))
    return w
  }

  it('names each node\'s place; one not where the store\'s config says, or in both, is a warning fixed by sync', () => {
    expect(rulesChecks(nftNode1('ACCEPT'), true)).to.deep.equal({rules: {node1: 'nftables', node2: 'iptables'}, findings: [
      {code: 'RULES_MODE_MISMATCH', severity: 'warning', node: 'node2', message: 'node2 keeps flannel\'s rules in iptables, but the network config says "EnableNFTables": true (nftables): it has not synced since the config changed',
        fix: ['flannelctl sync   # moves them where the network config says (EnableNFTables), then removes the others'],
        fixes: [{node: 'node2', command: 'flannelctl sync   # moves them where the network config says (EnableNFTables), then removes the others'}]}]})
    expect(rulesChecks(nftNode1('ACCEPT')).findings, 'the config not read: nothing to compare with').to.deep.equal([])
    const both = structuredClone(vxlan)
    both.hosts[0].nftables = nftNode1('ACCEPT').hosts[0].nftables
    expect(rulesChecks(both, false).findings.map(f => `${f.node} ${f.code}`)).to.deep.equal([`${both.hosts[0].name} RULES_IN_BOTH`])
    // `nft flush ruleset` on node1: forwarding still works, so only this says that masquerading is gone
    const flushed = nftNode1('ACCEPT')
    flushed.hosts.find(h => h.name === 'node1')!.nftables = []
    const missing = rulesChecks(flushed, true)
    expect(missing.rules.node1).to.equal('none')
    expect(missing.findings.map(f => `${f.node} ${f.code} ${f.severity} ${f.fix}`)).to.deep.equal([
      'node1 RULES_MISSING warning flannelctl sync   # writes them again where the network config says (EnableNFTables)',
      'node2 RULES_MODE_MISMATCH warning flannelctl sync   # moves them where the network config says (EnableNFTables), then removes the others'])
    const text = renderDoctor(diagnose(nftNode1('ACCEPT'), 'test', undefined, undefined, true), {color: false})
    expect(text).to.contain('Flannel rules: node1 nftables, node2 iptables')
  })

  it('`iptables -t nat -F` on an iptables node: its masquerade is gone while every pod pair works; a warning says so, fixed by sync', () => {
    const flushed = structuredClone(vxlan)
    const ipt = flushed.hosts.find(h => h.name === 'node2')!.iptables!
    ipt.rules = ipt.rules.filter(r => r.table !== 'nat')
    expect(rulesChecks(flushed, false).findings).to.deep.equal([{code: 'MASQ_MISSING', severity: 'warning', node: 'node2',
      message: 'node2\'s FLANNEL-POSTRTG is empty and POSTROUTING no longer jumps to it (`iptables -t nat -F`, a firewall\'s restart?): its pods\' traffic leaving the network is not masqueraded, so hosts outside it cannot answer',
      fix: ['flannelctl sync   # writes the chain and its jump again'], fixes: [{node: 'node2', command: 'flannelctl sync   # writes the chain and its jump again'}]}])
    const unjumped = structuredClone(vxlan)
    const ipt2 = unjumped.hosts.find(h => h.name === 'node2')!.iptables!
    ipt2.rules = ipt2.rules.filter(r => r.chain !== 'POSTROUTING')
    expect(rulesChecks(unjumped, false).findings.map(f => f.message)).to.have.length(1).and.satisfy((m: string[]) => m[0].includes('is not jumped to from POSTROUTING'))
    expect(rulesChecks(vxlan, false).findings).to.deep.equal([])
  })

  it('FORWARD policy DROP on an nftables node: flanneld\'s accepts do not overrule it, and sync does not cure it', () => {
    const f = hostChecks(nftNode1('DROP')).find(x => x.code === 'FORWARD_DROP' && x.node === 'node1')
    expect(f?.message).to.contain('the accepts in flanneld\'s nftables table flannel-ipv4 do not overrule iptables\' FORWARD')
    expect(f?.fix).to.deep.equal(['iptables -I FORWARD 1 -s 10.244.0.0/16 -j ACCEPT', 'iptables -I FORWARD 1 -d 10.244.0.0/16 -j ACCEPT'])
  })
})
