/**
 * A trace's fix run on the tables (fix-apply.ts): what each command leaves, and the promise that
 * holds every fix trace gives to the fault it was given for. The fix's world is traced again; the
 * fault must be gone from that way, and whatever stops the packet there must be named.
 */
import {expect} from 'chai'
import {readdirSync} from 'node:fs'
import {join} from 'node:path'
import {traceFlow} from '../../src/core/trace/engine.js'
import {worldAfterFixes} from '../../src/core/trace/fix-apply.js'
import type {Fix, World} from '../../src/core/trace/types.js'
import {loadSource} from '../../src/services/collect.js'
import {applyPatches, loadWorld} from '../fixtures/trace/load.js'

const SNAPSHOTS = join(import.meta.dirname, '..', 'fixtures', 'snapshots')
const on = (node: string, ...commands: string[]): Fix[] => commands.map(command => ({node, command}))
const host = (w: World | undefined, name: string) => w?.hosts.find(h => h.name === name)

describe('a fix run on the tables', () => {
  const vxlan = loadWorld('flannel-vxlan')

  it('routes: replace takes the slot of the same prefix, table and metric; del needs a match', () => {
    const w = worldAfterFixes(vxlan, on('node1', 'ip route replace 10.244.2.0/24 via 192.168.100.12 dev eth0', 'ip route replace 10.99.0.0/16 dev eth0 table 7'))
    const routes = host(w, 'node1')!.routes!
    expect(routes.filter(r => r.dst === '10.244.2.0/24').map(r => r.raw)).to.deep.equal(['10.244.2.0/24 via 192.168.100.12 dev eth0'])
    expect(routes.find(r => r.dst === '10.99.0.0/16')).to.deep.include({table: '7', dev: 'eth0', scope: 'link'})
    expect(host(worldAfterFixes(vxlan, on('node1', 'ip route del 10.244.2.0/24 via 10.244.2.0')), 'node1')!.routes!.some(r => r.dst === '10.244.2.0/24')).to.equal(false)
    // an IPv4 default route takes the IPv4 default's place, not an IPv6 one's (both print `default`)
    const dual = {...vxlan, hosts: vxlan.hosts.map(h => h.name === 'node1' ? {...h, routes: [{dst: 'default', type: 'unicast' as const, gateway: 'fe80::1', dev: 'eth0', raw: 'default via fe80::1 dev eth0 proto ra metric 1024 pref medium'}, ...h.routes!]} : h)}
    const defaults = host(worldAfterFixes(dual, on('node1', 'ip route replace default via 192.168.100.1')), 'node1')!.routes!.filter(r => r.dst === 'default').map(r => r.raw)
    expect(defaults).to.include('default via fe80::1 dev eth0 proto ra metric 1024 pref medium').and.to.include('default via 192.168.100.1')
    // the kernel: "No such process"; "File exists"
    expect(worldAfterFixes(vxlan, on('node1', 'ip route del 10.77.0.0/24'))).to.equal(undefined)
    expect(worldAfterFixes(vxlan, on('node1', 'ip route add 10.244.2.0/24 dev eth0'))).to.equal(undefined)
    // "Nexthop has invalid gateway": no connected route reaches it (onlink says the link does)
    expect(worldAfterFixes(vxlan, on('node1', 'ip route replace 10.99.0.0/16 via 10.77.0.1 dev eth0'))).to.equal(undefined)
    expect(worldAfterFixes(vxlan, on('node1', 'ip route replace 10.99.0.0/16 via 10.77.0.1 dev eth0 onlink'))).to.not.equal(undefined)
  })

  it('neighbours and fdb entries: replace, append, del', () => {
    const w = worldAfterFixes(vxlan, on('node1',
      'ip neigh replace 10.244.2.0 lladdr AA:bb:cc:dd:ee:01 dev flannel.1 nud permanent',
      'bridge fdb replace aa:bb:cc:dd:ee:01 dev flannel.1 dst 192.168.100.12 self permanent',
      'bridge fdb append 00:00:00:00:00:00 dev flannel.1 dst 192.168.100.13 self permanent'))
    const node1 = host(w, 'node1')!
    expect(node1.neighbors!.filter(n => n.dst === '10.244.2.0' && n.dev === 'flannel.1')).to.deep.equal([
      {dst: '10.244.2.0', dev: 'flannel.1', lladdr: 'aa:bb:cc:dd:ee:01', state: ['PERMANENT'], raw: '10.244.2.0 dev flannel.1 lladdr aa:bb:cc:dd:ee:01 PERMANENT'}])
    expect(node1.fdb!.filter(e => e.mac === 'aa:bb:cc:dd:ee:01').map(e => e.dst)).to.deep.equal(['192.168.100.12'])
    expect(node1.fdb!.filter(e => e.mac === '00:00:00:00:00:00').map(e => e.dst)).to.include('192.168.100.13')
    expect(worldAfterFixes(vxlan, on('node1', 'ip neigh del 10.9.9.9 dev flannel.1'))).to.equal(undefined)
  })

  it('sysctls: ip_forward is conf.all.forwarding, and writing it sets every device\'s', () => {
    const off = {...vxlan, hosts: vxlan.hosts.map(h => h.name === 'node1' ? {...h, sysctls: {...h.sysctls, 'net.ipv4.ip_forward': '0', 'net.ipv4.conf.eth0.forwarding': '0'}} : h)}
    const s = host(worldAfterFixes(off, on('node1', 'sysctl -w net.ipv4.ip_forward=1')), 'node1')!.sysctls!
    expect([s['net.ipv4.ip_forward'], s['net.ipv4.conf.all.forwarding'], s['net.ipv4.conf.eth0.forwarding']]).to.deep.equal(['1', '1', '1'])
    const dev = host(worldAfterFixes(off, on('node1', 'sysctl -w net.ipv4.conf.eth0.rp_filter=2')), 'node1')!.sysctls!
    expect([dev['net.ipv4.conf.eth0.rp_filter'], dev['net.ipv4.ip_forward']]).to.deep.equal(['2', '0'])
  })

  it('iptables rules: -I puts the rule first (or at N), -A last, -D takes it out; a table the dump left out is made', () => {
    const rules = (w: World | undefined, table: string, chain: string) => host(w, 'node1')!.iptables!.rules.filter(r => r.table === table && r.chain === chain).map(r => r.raw)
    const w = worldAfterFixes(vxlan, on('node1',
      'iptables -t nat -I POSTROUTING -s 10.244.1.2/32 -d 10.244.1.2/32 -j MASQUERADE',
      'iptables -A FLANNEL-FWD -s 10.9.0.0/16 -j DROP',
      'iptables -I FLANNEL-FWD 2 -d 10.8.0.0/16 -j ACCEPT',
      'iptables -t mangle -A FORWARD -j MARK --set-xmark 0x1/0x1'))
    expect(rules(w, 'nat', 'POSTROUTING')[0]).to.equal('-A POSTROUTING -s 10.244.1.2/32 -d 10.244.1.2/32 -j MASQUERADE')
    expect(rules(w, 'filter', 'FLANNEL-FWD')).to.deep.equal([
      '-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
      '-A FLANNEL-FWD -d 10.8.0.0/16 -j ACCEPT',
      '-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
      '-A FLANNEL-FWD -s 10.9.0.0/16 -j DROP'])
    expect(rules(w, 'mangle', 'FORWARD')).to.deep.equal(['-A FORWARD -j MARK --set-xmark 0x1/0x1'])
    expect(host(w, 'node1')!.iptables!.chains).to.deep.include({table: 'mangle', name: 'FORWARD', policy: 'ACCEPT'})
    const gone = worldAfterFixes(w!, on('node1', 'iptables -t nat -D POSTROUTING -s 10.244.1.2/32 -d 10.244.1.2/32 -j MASQUERADE'))
    expect(rules(gone, 'nat', 'POSTROUTING')).to.deep.equal(rules(vxlan, 'nat', 'POSTROUTING'))
    // the kernel: "Index of insertion too big", "No chain/target/match by that name", "Bad rule"
    expect(worldAfterFixes(vxlan, on('node1', 'iptables -I FLANNEL-FWD 4 -j ACCEPT'))).to.equal(undefined)
    expect(worldAfterFixes(vxlan, on('node1', 'iptables -A KUBE-FORWARD -j ACCEPT'))).to.equal(undefined)
    expect(worldAfterFixes(vxlan, on('node1', 'iptables -t nat -D POSTROUTING -j MASQUERADE'))).to.equal(undefined)
    // a pasted `iptables -S FORWARD` shows no other chain: where a rule lands in one is not known
    const pasted = {...vxlan, hosts: vxlan.hosts.map(h => h.name === 'node1' ? {...h, iptables: {...h.iptables!, covers: [{table: 'filter', chain: 'FORWARD'}]}} : h)}
    expect(worldAfterFixes(pasted, on('node1', 'iptables -I FORWARD -j ACCEPT'))).to.not.equal(undefined)
    expect(worldAfterFixes(pasted, on('node1', 'iptables -t nat -I POSTROUTING -j RETURN'))).to.equal(undefined)
  })

  it('what the tables do not show is not guessed: a bridge deleted, a vxlan device without its MAC, an nft rule added, a sync, a read, a kubectl command', () => {
    for (const fix of [...on('node1', 'ip link del cni0', 'ip link add flannel.9 type vxlan id 9 dstport 8472', 'ip link set flannel.1 address 0e:00:00:00:00:09', 'nft insert rule ip filter FORWARD accept', 'ip route show table 100', 'ip route replace 10.1.0.0/16 via GATEWAY dev DEVICE'),
      {node: 'node1', command: 'flannelctl sync', sync: 'peer' as const}, {node: 'node1', command: 'kubectl get networkpolicy -A', scope: 'cluster' as const}]) {
      expect(worldAfterFixes(vxlan, [fix]), fix.command).to.equal(undefined)
    }
  })

  it('a device set up gets its carrier as the kernel gives it, and its subnet\'s routes back', async () => {
    // n1's cni0 is up without carrier: both its ports (vetha to p1a, vethb to p1b) are down; the pods' ends are up
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'overlay-bridge-no-carrier')})
    const w = worldAfterFixes(world, on('n1', 'ip link set vethb up'))!
    const link = (h: string, dev: string) => host(w, h)!.links!.find(l => l.name === dev)!
    expect(link('n1', 'vethb')).to.deep.include({up: true, lowerUp: true, operstate: 'UP'})
    expect(link('n1', 'vethb').raw).to.match(/^6: vethb@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue master cni0 state UP /)
    // the pod's end and the bridge get their carrier with it; the other port stays down
    expect(link('p1b', 'eth0')).to.deep.include({up: true, lowerUp: true})
    expect(link('n1', 'cni0').raw).to.match(/^3: cni0: <BROADCAST,MULTICAST,UP,LOWER_UP> .* state UP /)
    expect(link('n1', 'vetha')).to.deep.include({up: false})
    expect(host(w, 'n1')!.routes!.filter(r => r.dev === 'cni0' && r.table === undefined).map(r => r.raw)).to.deep.equal(['10.93.1.0/24 dev cni0 proto kernel scope link src 10.93.1.1'])
    expect(traceFlow(w, {src: 'p2a', dst: 'p1b'}).disposition).to.equal('DELIVERED')
    // a veth whose other end was not read: its carrier is unknown
    const {world: underlay} = await loadSource({snapshot: join(SNAPSHOTS, 'lab-underlay-down')})
    expect(worldAfterFixes(underlay, on('n2', 'ip link set eth0 up'))).to.equal(undefined)
    // an MTU's fix is not run: the same oversized packet, refused then with "fragmentation needed", is the fix working
    expect(worldAfterFixes(world, on('n1', 'ip link set cni0 mtu 1400'))).to.equal(undefined)
  })

  it('a vxlan device made anew: deleted with its entries, added down with its MAC, its address, set up', async () => {
    // matched on the kernel: a lab's n1 broken with `lab break n1 wrong-vni`, the fix run, the tables collected
    // again: links, IPv4 addresses, routes, neighbours and fdb entries as this gives them
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'overlay-vxlan-vni-and-port-differ')})
    const t = traceFlow(world, {src: 'n2', dst: 'p1b'})
    expect(t.failure!.fix.map(f => f.command.split(' ').slice(0, 3).join(' '))).to.deep.equal(
      ['ip link del', 'ip link add', 'ip addr add', 'ip link set', 'ip neigh replace', 'bridge fdb append', 'ip route replace'])
    const n1 = host(worldAfterFixes(world, t.failure!.fix), 'n1')!
    const vx = n1.links!.find(l => l.name === 'flannel.1')!
    expect(vx).to.deep.include({up: true, lowerUp: true, operstate: 'UNKNOWN', mac: '0e:00:00:00:00:01', mtu: 1450})
    expect(vx.vxlan).to.deep.equal({id: 1, local: '10.92.0.1', dev: 'eth0', port: 4789, learning: false})
    expect(vx.raw.split('\n')[0]).to.match(/^\d+: flannel\.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN /)
    expect(n1.addresses!.filter(a => a.dev === 'flannel.1' && a.family === 4).map(a => `${a.local}/${a.prefixlen}`)).to.deep.equal(['10.93.1.0/32'])
    expect(n1.routes!.filter(r => r.dev === 'flannel.1').map(r => r.raw)).to.have.members([
      'local 10.93.1.0 dev flannel.1 table local proto kernel scope host src 10.93.1.0', '10.93.2.0/24 via 10.93.2.0 dev flannel.1 onlink'])
    expect(n1.neighbors!.filter(n => n.dev === 'flannel.1').map(n => n.raw)).to.deep.equal(['10.93.2.0 dev flannel.1 lladdr 0e:00:00:00:00:02 PERMANENT'])
    expect(n1.fdb!.filter(e => e.dev === 'flannel.1').map(e => e.dst)).to.deep.equal(['10.92.0.2'])
    expect(traceFlow(worldAfterFixes(world, t.failure!.fix)!, {src: 'n2', dst: 'p1b'}).disposition).to.equal('DELIVERED')
    // the kernel: "Cannot find device"; "File exists"
    expect(worldAfterFixes(world, on('n1', 'ip link del flannel.9'))).to.equal(undefined)
    expect(worldAfterFixes(world, on('n1', 'ip addr add 10.92.0.1/24 dev eth0'))).to.equal(undefined)
  })

  it('of several ways, the recommended one runs', () => {
    const ways: Fix[] = [
      {node: 'node1', command: 'ip route replace 10.77.0.0/16 dev eth0', option: {choice: 1, why: 'one'}},
      {node: 'node1', command: 'ip route replace 10.78.0.0/16 dev eth0', option: {choice: 2, why: 'two', recommended: true}},
    ]
    const routes = host(worldAfterFixes(vxlan, ways), 'node1')!.routes!
    expect(routes.some(r => r.dst === '10.78.0.0/16')).to.equal(true)
    expect(routes.some(r => r.dst === '10.77.0.0/16')).to.equal(false)
  })
})

describe('a tunnel\'s outer packet routed back into the tunnel', () => {
  it('is dropped as a circular route (vxlan_xmit_one), a LOOP whose fix deletes that route', () => {
    const w = applyPatches(loadWorld('flannel-vxlan'), [{host: 'node1', op: 'add', table: 'routes',
      value: {dst: '192.168.100.12/32', type: 'unicast', gateway: '10.244.2.0', dev: 'flannel.1', onlink: true, raw: '192.168.100.12 via 10.244.2.0 dev flannel.1 onlink'}}])
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.disposition).to.equal('LOOP')
    expect(t.failure).to.deep.include({node: 'node1', step: 'encap', evidence: '192.168.100.12 via 10.244.2.0 dev flannel.1 onlink'})
    expect(t.failure!.reason).to.contain('circular route')
    expect(t.failure!.fix.map(f => f.command)).to.deep.equal(['ip route del 192.168.100.12 via 10.244.2.0'])
  })
})

describe('property: every fix the tables can run mends its fault (every snapshot, every endpoint pair)', function () {
  this.timeout(120000)

  it('traced again on the tables the fix leaves, the fault is gone from its way, and a stop met there is named', async () => {
    const violations: string[] = []
    let checked = 0
    for (const snapshot of readdirSync(SNAPSHOTS).sort()) {
      const {world, inventory} = await loadSource({snapshot: join(SNAPSHOTS, snapshot)})
      const endpoints = [...world.pods.map(p => p.name), ...inventory.nodes.filter(n => n.unread === undefined).map(n => n.name)]
      for (const src of endpoints) {
        for (const dst of endpoints.filter(d => d !== src)) {
          let t
          try {
            t = traceFlow(world, {src, dst})
          } catch {
            continue
          }
          const top = t.failure ?? t.returnPath.failure
          const fixed = top === undefined ? undefined : worldAfterFixes(world, top.fix)
          if (top === undefined || fixed === undefined) continue
          checked++
          const again = traceFlow(fixed, {src, dst})
          const where = `${snapshot} ${src} → ${dst} (${t.disposition}/${t.returnPath.disposition}, fix: ${top.fix.map(f => `${f.node}: ${f.command}`).join('; ')})`
          const way = top === t.failure ? again.failure : again.returnPath.failure
          if (way !== undefined && way.node === top.node && way.evidence === top.evidence) violations.push(`${where}: still stops at ${top.node}'s \`${top.evidence}\``)
          // (the other way's own stop, if any, is a fault of its own, listed beside this one)
          const other = top === t.failure ? t.returnPath.failure : t.failure
          for (const stop of [again.failure, again.returnPath.failure]) {
            if (stop === undefined || [top, other].some(k => k !== undefined && k.node === stop.node && k.evidence === stop.evidence)) continue
            if (!top.reason.includes(`${stop.node}'s \`${stop.evidence}\``)) violations.push(`${where}: then stops at ${stop.node}'s \`${stop.evidence}\`, not named`)
          }
        }
      }
    }
    expect(violations).to.deep.equal([])
    expect(checked).to.be.above(200)
  })
})
