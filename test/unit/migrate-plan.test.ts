import {expect} from 'chai'
import fc from 'fast-check'
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {
  planSteps, beginMigration, reverseMigration, withStepState, withStepDone, migrationPhase, parseMigrationRecord,
  outsiderNote, loosenWrites, restoreWrites, rpFilterKey, offLinkPairs, describeOffLink, offLinkRefusal, backendChangeWarning, hostChecks, describeSteps, renderSteps, backendLabelInFull,
  effectiveRpFilter, vtepsOf, migrationLabels, migrateFlags, sameBackend, type MigrationBackend, type MigrationRecord,
} from '../../src/core/migrate-plan.js'
import {planNode, type NodeIntent} from '../../src/core/planner.js'
import type {HostSnapshot, Link, Route} from '../../src/core/model.js'
import {FileStore} from '../../src/store/file-store.js'
import {tempDirHooks} from '../helpers/temp-dir.js'

const vxlan: MigrationBackend = {type: 'vxlan', vni: 1, port: 8472, directRouting: false}
const dr: MigrationBackend = {...vxlan, directRouting: true}
const hostgw: MigrationBackend = {...vxlan, type: 'host-gw'}
const vxlan2: MigrationBackend = {...vxlan, vni: 2}
const dr2: MigrationBackend = {...dr, vni: 2}
const NOW = '2026-01-01T00:00:00.000Z'

const nodes = (count: number) => Array.from({length: count}, (_, i) => ({
  name: `n${i + 1}`, publicIP: `192.168.100.${11 + i}`, subnet: `10.244.${i + 1}.0/24`, iface: 'eth0', bridge: 'cni0',
}))

const kinds = (r: MigrationRecord) => r.steps.map(s => `${s.kind}${s.node ? `@${s.node.split('.')[3]}` : ''}`)

/**
 * Run every step's state change, checking after each that the network can still carry traffic.
 * `loose` tracks which nodes have rp_filter loose (a rollback starts with what the first run left).
 */
function simulate(record: MigrationRecord, from: number = record.done, stop: number = record.steps.length, loose = new Set<string>()): MigrationRecord {
  let r = record
  for (let i = from; i < stop; i++) {
    r = withStepDone(withStepState(r, i), i, NOW)
    const step = r.steps[i]
    if (step.kind === 'loosen-rp-filter') loose.add(step.node!)
    if (step.kind === 'restore-rp-filter') loose.delete(step.node!)
    checkForwarding(r, i, loose)
  }
  return r
}

function looseAfter(r: MigrationRecord): Set<string> {
  const loose = new Set<string>()
  for (const s of r.steps.slice(0, r.done)) {
    if (s.kind === 'loosen-rp-filter') loose.add(s.node!)
    if (s.kind === 'restore-rp-filter') loose.delete(s.node!)
  }
  return loose
}

function checkForwarding(r: MigrationRecord, i: number, loose: Set<string>): void {
  const after = `after step ${i + 1} (${r.steps[i].kind})`
  // Someone encapsulates (a node routes the vxlan way) with a VNI: every node must have that VNI's device to decapsulate.
  for (const vni of new Set(r.nodes.filter(n => n.routes.type === 'vxlan').map(n => n.routes.vni))) {
    expect(r.nodes.every(n => vtepsOf(n).some(v => v.vni === vni)), `${after}: a VTEP for VNI ${vni} is missing`).to.equal(true)
  }
  // Nodes differ only while rp_filter is loose on all of them.
  if (new Set(r.nodes.map(n => JSON.stringify(n.routes))).size > 1) {
    expect(r.nodes.every(n => loose.has(n.publicIP)), `${after}: nodes differ while one has strict rp_filter`).to.equal(true)
  }
}

describe('migrate plan: steps', () => {
  it('vxlan → host-gw: loosen, switch node by node, commit, remove flannel.1, restore', () => {
    const r = beginMigration({id: 'a', now: NOW, from: vxlan, to: hostgw, nodes: nodes(3)})
    expect(kinds(r)).to.deep.equal([
      'loosen-rp-filter@11', 'loosen-rp-filter@12', 'loosen-rp-filter@13',
      'switch-routes@11', 'switch-routes@12', 'switch-routes@13', 'commit-config',
      'remove-old@11', 'remove-old@12', 'remove-old@13',
      'restore-rp-filter@11', 'restore-rp-filter@12', 'restore-rp-filter@13', 'finish'])
    expect(r.nodes.every(n => n.vxlanDevice && n.routes === vxlan)).to.equal(true)
  })

  it('host-gw → vxlan: every VTEP and its peers\' entries exist before the first route points at one', () => {
    const r = beginMigration({id: 'a', now: NOW, from: hostgw, to: vxlan, nodes: nodes(2)})
    expect(kinds(r)).to.deep.equal([
      'loosen-rp-filter@11', 'loosen-rp-filter@12', 'add-vxlan-device@11', 'add-vxlan-device@12',
      'add-vxlan-peers@11', 'add-vxlan-peers@12', 'switch-routes@11', 'switch-routes@12', 'commit-config',
      'restore-rp-filter@11', 'restore-rp-filter@12', 'finish'])
  })

  it('vxlan → vxlan DirectRouting keeps the devices and removes on-link peers\' entries at the end', () => {
    const r = beginMigration({id: 'a', now: NOW, from: vxlan, to: dr, nodes: nodes(2)})
    expect(kinds(r).filter(k => k.startsWith('add-'))).to.deep.equal([])
    expect(kinds(r).filter(k => k.startsWith('remove-old'))).to.have.length(2)
  })

  it('a new VNI: flannel.2 on every node before any route uses it, routes node by node, flannel.1 removed last', () => {
    const r = beginMigration({id: 'a', now: NOW, from: vxlan, to: vxlan2, nodes: nodes(2)})
    expect(kinds(r)).to.deep.equal([
      'loosen-rp-filter@11', 'loosen-rp-filter@12', 'add-vxlan-device@11', 'add-vxlan-device@12',
      'add-vxlan-peers@11', 'add-vxlan-peers@12', 'switch-routes@11', 'switch-routes@12', 'commit-config',
      'remove-old@11', 'remove-old@12', 'restore-rp-filter@11', 'restore-rp-filter@12', 'finish'])
    const end = simulate(r)
    expect(end.nodes.map(n => vtepsOf(n))).to.deep.equal([[{vni: 2, port: 8472}], [{vni: 2, port: 8472}]])
  })

  it('host-gw has no VNI: moving to vxlan on another VNI builds only that device, and the way back keeps it', () => {
    const r = beginMigration({id: 'a', now: NOW, from: hostgw, to: vxlan2, nodes: nodes(2)})
    expect(r.from).to.deep.equal({...hostgw, vni: 2})
    expect(kinds(r).filter(k => k.startsWith('remove-old'))).to.deep.equal([])
    const back = beginMigration({id: 'b', now: NOW, from: vxlan2, to: hostgw, nodes: nodes(2)})
    expect(back.to).to.deep.equal({...hostgw, vni: 2})
    expect(simulate(back).nodes.every(n => n.routes.vni === 2 && vtepsOf(n).length === 0)).to.equal(true)
  })

  it('every step keeps the network forwarding, in any direction, and ends on the target', () => {
    const backends = fc.constantFrom(vxlan, dr, hostgw, vxlan2, dr2)
    fc.assert(fc.property(backends, backends, fc.integer({min: 1, max: 6}), (from, to, count) => {
      fc.pre(JSON.stringify(from) !== JSON.stringify(to))
      const started = beginMigration({id: 'a', now: NOW, from, to, nodes: nodes(count)})
      const end = simulate(started)
      expect(end.state).to.equal('done')
      expect(end.finishedAt).to.equal(NOW)
      expect(end.nodes.every(n => JSON.stringify(n.routes) === JSON.stringify(started.to))).to.equal(true)
      expect(end.nodes.every(n => n.vxlanDevice === (to.type === 'vxlan' && !to.directRouting) && n.extraVtep === undefined)).to.equal(true)
    }), {numRuns: 300})
  })

  it('a rollback from any point (running or finished) keeps forwarding and ends where it began', () => {
    const backends = fc.constantFrom(vxlan, dr, hostgw, vxlan2, dr2)
    fc.assert(fc.property(backends, backends, fc.integer({min: 1, max: 5}), fc.nat(), (from, to, count, at) => {
      fc.pre(JSON.stringify(from) !== JSON.stringify(to))
      const started = beginMigration({id: 'a', now: NOW, from, to, nodes: nodes(count)})
      const stopAt = at % (started.steps.length + 1)
      let midway = simulate(started, 0, stopAt)
      // the steps saved rp_filter values as they loosened them
      midway = {...midway, nodes: midway.nodes.map((n, i) => (i < Math.min(stopAt, count) ? {...n, rpFilter: {all: '1'}} : n))}
      const back = reverseMigration(midway, 'b', NOW)
      expect(back.rollbackOf).to.equal('a')
      expect(back.from).to.deep.equal(started.to)
      expect(back.to).to.deep.equal(started.from)
      if (midway.state === 'running') expect(back.nodes.map(n => n.rpFilter)).to.deep.equal(midway.nodes.map(n => n.rpFilter))
      else expect(back.nodes.every(n => n.rpFilter === undefined)).to.equal(true)
      const end = simulate(back, 0, back.steps.length, midway.state === 'running' ? looseAfter(midway) : new Set())
      expect(end.nodes.every(n => JSON.stringify(n.routes) === JSON.stringify(started.from))).to.equal(true)
      expect(end.nodes.every(n => n.extraVtep === undefined)).to.equal(true)
    }), {numRuns: 500})
  })
})

describe('migrate plan: a node\'s phase', () => {
  const start = beginMigration({id: 'a', now: NOW, from: vxlan, to: hostgw, nodes: nodes(3)})

  it('is the old backend until the node switches, keeping flannel.1 until removal', () => {
    expect(migrationPhase(start, '192.168.100.12')).to.deep.include({backend: vxlan, keepVxlanDevice: true})
    const switched = withStepState(start, 4) // switch-routes of n2
    expect(migrationPhase(switched, '192.168.100.12')).to.deep.include({backend: hostgw, keepVxlanDevice: true})
    expect(migrationPhase(switched, '192.168.100.12')!.note).to.match(/routes the new way \(host-gw\), keeping flannel\.1/)
    expect(migrationPhase(switched, '192.168.100.11')!.backend).to.equal(vxlan)
    const removed = withStepState(simulate(start, 0, 8), 8) // remove-old of n2
    expect(migrationPhase(removed, '192.168.100.12')).to.deep.include({backend: hostgw, keepVxlanDevice: false})
  })

  it('is nothing when no migration runs or the node is not part of it', () => {
    expect(migrationPhase(undefined, '192.168.100.11')).to.equal(undefined)
    expect(migrationPhase(start, '10.0.0.1')).to.equal(undefined)
    expect(migrationPhase(simulate(start), '192.168.100.11')).to.equal(undefined)
  })

  it('a host that joined after the migration began is told it is not part of it and what it follows', () => {
    expect(outsiderNote(start, '192.168.100.99', vxlan)).to.equal('migration vxlan → host-gw in progress (step 0 of 14) across n1, n2, n3; '
      + 'this host joined after it began and follows the net-conf (vxlan): sync again once it finishes (an agent does so by itself)')
    expect(outsiderNote(start, '192.168.100.11', vxlan), 'a node of the migration has its phase').to.equal(undefined)
    expect(outsiderNote(simulate(start), '192.168.100.99', hostgw), 'finished').to.equal(undefined)
    expect(outsiderNote(undefined, '192.168.100.99', hostgw)).to.equal(undefined)
  })

  it('withStepDone counts and withStepState of loosen/commit changes no node', () => {
    expect(withStepState(start, 0).nodes).to.deep.equal(start.nodes)
    expect(withStepState(start, 6).nodes).to.deep.equal(start.nodes)
    expect(withStepDone(start, 0, NOW).done).to.equal(1)
    expect(withStepDone(withStepDone(start, 3, NOW), 1, NOW).done).to.equal(4)
  })
})

describe('migrate plan: stored record', () => {
  it('round-trips and refuses what it cannot read', () => {
    const r = beginMigration({id: 'a', now: NOW, from: vxlan, to: hostgw, nodes: nodes(2)})
    expect(parseMigrationRecord(JSON.stringify(r))).to.deep.equal(r)
    expect(parseMigrationRecord(undefined)).to.equal(undefined)
    expect(parseMigrationRecord('')).to.equal(undefined)
    expect(() => parseMigrationRecord('{')).to.throw(/not JSON/)
    expect(() => parseMigrationRecord(JSON.stringify({...r, version: 2}))).to.throw(/understands/)
    expect(() => parseMigrationRecord(JSON.stringify({...r, done: 99}))).to.throw(/understands/)
    expect(() => parseMigrationRecord(JSON.stringify({...r, steps: [{kind: 'switch-routes', node: '10.9.9.9'}]}))).to.throw(/understands/)
  })
})

describe('migrate plan: rp_filter', () => {
  it('loosens `all` always and strict devices, and restores only what changed and still exists', () => {
    expect(loosenWrites({all: '1', eth0: '1', cni0: '0', 'flannel.1': '2'})).to.deep.equal([{dev: 'all', value: '2'}, {dev: 'eth0', value: '2'}])
    // `all` covers a device made later (flannel.1 inherits default's value)
    expect(loosenWrites({all: '0', eth0: '0'})).to.deep.equal([{dev: 'all', value: '2'}])
    expect(loosenWrites({all: '0', default: '1', eth0: '0'})).to.deep.equal([{dev: 'all', value: '2'}])
    // no filtering anywhere: all=2 would turn loose filtering on, so nothing is written
    expect(loosenWrites({all: '0', default: '0', eth0: '0', cni0: '0'})).to.deep.equal([])
    expect(loosenWrites({all: '0', default: '2', eth0: '1'})).to.deep.equal([{dev: 'eth0', value: '2'}])
    expect(loosenWrites({all: '2', eth0: '2'})).to.deep.equal([])
    expect(restoreWrites({all: '1', eth0: '1', 'flannel.1': '1', cni0: '0'}, {all: '2', eth0: '2', cni0: '0'}))
      .to.deep.equal([{dev: 'all', value: '1'}, {dev: 'eth0', value: '1'}])
    expect(rpFilterKey('flannel.1')).to.equal('net.ipv4.conf.flannel/1.rp_filter')
    expect(effectiveRpFilter({all: '0', eth0: '1'}, 'eth0')).to.equal(1)
    expect(effectiveRpFilter({all: '2', eth0: '1'}, 'eth0')).to.equal(2)
  })
})

describe('migrate plan: preflight', () => {
  it('names the pairs host-gw cannot serve', () => {
    const off = offLinkPairs([
      {from: 'n1', to: 'n2', toIP: '192.168.100.12'},
      {from: 'n1', to: 'n3', toIP: '192.168.200.13', gateway: '192.168.100.1', dev: 'eth0'},
      {from: 'n3', to: 'n1', toIP: '192.168.100.11', failed: true},
    ])
    expect(off.map(describeOffLink)).to.deep.equal(['n1 → n3 (192.168.200.13 via 192.168.100.1 dev eth0)', 'n3 → n1 (192.168.100.11): no route'])
  })

  it('backend set warns of the loss a change of backend brings while nodes differ, and names the migrate that avoids it', () => {
    const done = backendChangeWarning(vxlan, hostgw, false)!
    expect(done).to.match(/^the backend changed from vxlan to host-gw: each node switches on its next sync/)
    expect(done).to.include('set it back (flannelctl backend set vxlan --no-directrouting) and let migrate move the nodes: flannelctl migrate --backend host-gw --lab NAME (or --inventory FILE) --yes')
    expect(backendChangeWarning(hostgw, dr, true)).to.include('the backend would change from host-gw to vxlan + DirectRouting').and.include('flannelctl migrate --backend vxlan --directrouting --lab NAME')
    expect(backendChangeWarning(vxlan, dr, false)).to.include('set it back (flannelctl backend set vxlan --no-directrouting)')
    // a new VNI keeps its own warning; nothing changed, nothing said; a udp network is no flannelctl node's
    expect(backendChangeWarning(vxlan, vxlan2, false)).to.match(/^the VNI changed from 1 to 2/)
    // a lab's store named: the commands name the lab
    expect(backendChangeWarning(vxlan, vxlan2, false, 'et')).to.include('set it back (flannelctl backend set vxlan --vni 1 --lab et) and let migrate move the nodes: flannelctl migrate --vni 2 --lab et --yes')
    expect(backendChangeWarning(vxlan, hostgw, false, 'et')).to.include('(flannelctl backend set vxlan --no-directrouting --lab et)').and.include('flannelctl migrate --backend host-gw --lab et --yes')
    // a new port alone: both migrates it names run as printed, on the same nodes (the second one too, not this host alone)
    expect(backendChangeWarning(vxlan, {...vxlan, port: 4789}, true, 'et')).to.include('flannelctl migrate --vni 2 --port 4789 --lab et --yes (a new port goes with a new VNI: two devices on one VNI would have one name), then back to VNI 1: flannelctl migrate --vni 1 --lab et --yes (the port stays 4789)')
    expect(backendChangeWarning(hostgw, hostgw, false)).to.equal(undefined)
    expect(backendChangeWarning({...vxlan, type: 'udp'}, vxlan, false)).to.equal(undefined)
  })

  it('refuses host-gw with the pairs, and points at vxlan with DirectRouting unless the network already has it', () => {
    const off = [{from: 'n1', to: 'n3', toIP: '192.168.200.13', gateway: '192.168.100.1', dev: 'eth0'}]
    const fromVxlan = offLinkRefusal(off, 2, vxlan, '--lab seg')
    expect(fromVxlan.message).to.equal('host-gw needs every peer on-link, and 1 of 2 node pairs are not: n1 → n3 (192.168.200.13 via 192.168.100.1 dev eth0)')
    expect(fromVxlan.hint).to.include('flannelctl migrate --backend vxlan --directrouting --lab seg')
    const fromDr = offLinkRefusal(off, 2, dr, '--lab seg')
    expect(fromDr.hint).to.not.include('flannelctl migrate')
    expect(fromDr.hint).to.include('the network already has it: vxlan VNI 1 port 8472 + DirectRouting')
  })

  it('reports forwarding, a FORWARD policy that drops pod traffic, and strict rp_filter', () => {
    const snap: HostSnapshot = {
      name: 'n1', sysctls: {'net.ipv4.ip_forward': '0'},
      iptables: {chains: [{table: 'filter', name: 'FORWARD', policy: 'DROP'}], rules: []},
    }
    const checks = hostChecks('n1', snap, {all: '0', eth0: '1'}, '10.244.0.0/16')
    expect(checks.map(c => [c.check, c.ok])).to.deep.equal([['forwarding', false], ['forward-policy', false], ['rp-filter', true]])
    expect(checks[2].message).to.include('strict on eth0')
    // strict through all=1 alone: named, with why its own 0 does not count
    const byAll = hostChecks('n1', snap, {all: '1', default: '0', eth0: '1', 'flannel.1': '0'}, '10.244.0.0/16')
    expect(byAll[2].message).to.equal('rp_filter all=1 default=0 eth0=1 flannel.1=0 (strict on eth0, flannel.1 by all=1: loosened to 2 while nodes differ, restored after)')
    const ok = hostChecks('n1', {...snap, sysctls: {'net.ipv4.ip_forward': '1'}, iptables: {chains: snap.iptables!.chains,
      rules: [{table: 'filter', chain: 'FORWARD', spec: '-m comment --comment "flanneld forward" -j FLANNEL-FWD', raw: ''}]}}, {all: '0'}, '10.244.0.0/16')
    expect(ok.every(c => c.ok)).to.equal(true)
  })

  it('on a node in nftables mode (EnableNFTables) iptables\' FORWARD decides for itself, and sync does not change it', () => {
    const flannelNft = [{family: 'ip', name: 'flannel-ipv4', chains: []}]
    const forward = (rules: string[]): HostSnapshot => ({name: 'n1', sysctls: {'net.ipv4.ip_forward': '1'}, flannelNft,
      iptables: {chains: [{table: 'filter', name: 'FORWARD', policy: 'DROP'}], rules: rules.map(spec => ({table: 'filter', chain: 'FORWARD', spec, raw: `-A FORWARD ${spec}`}))}})
    const check = (snap: HostSnapshot) => hostChecks('n1', snap, {all: '0'}, '10.244.0.0/16').find(c => c.check === 'forward-policy')!
    const docker = check(forward([]))
    expect(docker.ok).to.equal(false)
    expect(docker.message).to.equal('iptables FORWARD policy DROP and no iptables rule accepts pod traffic (10.244.0.0/16): flanneld\'s nftables accepts do not overrule it, nor does sync (iptables -I FORWARD 1 -s 10.244.0.0/16 -j ACCEPT; iptables -I FORWARD 1 -d 10.244.0.0/16 -j ACCEPT)')
    // the accepts doctor prints, run
    expect(check(forward(['-d 10.244.0.0/16 -j ACCEPT', '-s 10.244.0.0/16 -j ACCEPT']))).to.deep.include({ok: true, message: 'iptables FORWARD policy DROP, pod traffic (10.244.0.0/16) accepted'})
    // a firewall's catch-all REJECT before any accept
    expect(check(forward(['-j REJECT --reject-with icmp-host-prohibited', '-s 10.244.0.0/16 -j ACCEPT']))).to.deep.include({ok: false,
      message: 'iptables FORWARD drops pod traffic (10.244.0.0/16) before any rule accepts it: -A FORWARD -j REJECT --reject-with icmp-host-prohibited'})
    // iptables-nft with no filter table at all (nothing but flanneld's nftables rules): no iptables-save problem
    expect(check({name: 'n1', flannelNft, iptables: {chains: [], rules: []}})).to.deep.include({ok: true, message: 'no iptables FORWARD chain (nothing there drops)'})
  })
})

describe('migrate plan: how the steps read', () => {
  it('shows each node\'s route commands for the target, direct where on-link under DirectRouting', () => {
    const r = beginMigration({id: 'a', now: NOW, from: vxlan, to: dr, nodes: nodes(3)})
    const views = describeSteps(r, {
      rpFilterNow: {'192.168.100.11': {all: '1', eth0: '1'}},
      vtepMACs: {},
      onLink: {'192.168.100.11': ['192.168.100.12']},
    })
    const n1switch = views.find(v => v.kind === 'switch-routes' && v.node === 'n1')!
    expect(n1switch.commands).to.deep.equal([
      'ip route replace 10.244.2.0/24 via 192.168.100.12 dev eth0',
      'ip route replace 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink',
    ])
    expect(views[0].commands).to.deep.equal(['sysctl -w net.ipv4.conf.all.rp_filter=2', 'sysctl -w net.ipv4.conf.eth0.rp_filter=2'])
    const text = renderSteps(views).join('\n')
    expect(text).to.match(/ 4\. n1 +peer routes → vxlan \+ DirectRouting/)
    expect(text.match(/# `ip route replace` swaps/g)).to.have.length(1)
  })

  it('a new VNI: no strict rp_filter reads as none (0 is off, not loose), and the last steps name the VNIs', () => {
    const r = beginMigration({id: 'a', now: NOW, from: vxlan, to: vxlan2, nodes: nodes(2)})
    const views = describeSteps(r, {rpFilterNow: {'192.168.100.11': {all: '0', default: '0', eth0: '0'}}, vtepMACs: {}, onLink: {}})
    expect(views[0].title).to.equal('rp_filter: none is strict, nothing to loosen; remember the values')
    expect(views.find(v => v.kind === 'restore-rp-filter')!.why).to.match(/^every node is on VNI 2 alone again/)
    expect(views.find(v => v.kind === 'finish')!.why).to.equal('`migrate --rollback` can still return to vxlan VNI 1 the same way')
    // what the network already uses, when migrate has nothing to do: the VNI asked for is named
    expect(backendLabelInFull(vxlan2)).to.equal('vxlan VNI 2 port 8472')
    expect(backendLabelInFull(dr2)).to.equal('vxlan VNI 2 port 8472 + DirectRouting')
    expect(backendLabelInFull(hostgw)).to.equal('host-gw')
  })
})

// ---- the planner's transitional state ------------------------------------------------------------

const link = (name: string, kind: Link['kind'], extra: Partial<Link> = {}): Link => ({name, kind, mtu: 1500, up: true, raw: '', ...extra})
const route = (dst: string, extra: Partial<Route>): Route => ({dst, type: 'unicast', raw: '', ...extra})
const MAC2 = '02:00:00:00:00:02'

function intent(backend: MigrationBackend, keepVxlanDevice?: boolean): NodeIntent {
  return {
    network: '10.244.0.0/16', subnet: '10.244.1.0/24', backend, iface: 'eth0', publicIP: '192.168.100.11', vtepMAC: '02:00:00:00:00:01',
    bridge: 'cni0', mtu: 1450, ipMasq: true,
    peers: [{subnet: '10.244.2.0/24', publicIP: '192.168.100.12', backendType: 'vxlan', vtepMAC: MAC2}],
    onLinkPeers: new Set(['192.168.100.12']), subnetFile: '/x/subnet.env', cniConfDir: '/x/cni', cniPlugin: 'bridge', ownedRoutes: [],
    keepVxlanDevice,
  }
}

/** A node built for vxlan: flannel.1 with one peer's neighbour, fdb entry and route. */
function vxlanNode(): HostSnapshot {
  return {
    name: 'n1',
    links: [link('eth0', 'ether'), link('cni0', 'bridge', {mtu: 1450}),
      link('flannel.1', 'vxlan', {mtu: 1450, mac: '02:00:00:00:00:01', vxlan: {id: 1, local: '192.168.100.11', dev: 'eth0', port: 8472, learning: false}})],
    addresses: [
      {dev: 'cni0', family: 4, local: '10.244.1.1', prefixlen: 24, raw: ''},
      {dev: 'flannel.1', family: 4, local: '10.244.1.0', prefixlen: 32, raw: ''},
    ],
    routes: [route('10.244.2.0/24', {gateway: '10.244.2.0', dev: 'flannel.1', onlink: true})],
    neighbors: [{dst: '10.244.2.0', dev: 'flannel.1', lladdr: MAC2, state: ['PERMANENT'], raw: ''}],
    fdb: [{mac: MAC2, dev: 'flannel.1', dst: '192.168.100.12', flags: ['self', 'permanent'], raw: ''}],
    sysctls: {'net.ipv4.ip_forward': '1'},
  }
}

const shell = (ops: ReturnType<typeof planNode>['ops']) => ops.filter(o => o.tool === 'ip' || o.tool === 'bridge')
  .map(o => `${o.tool} ${(o as {args: string[]}).args.join(' ')}`)

describe('planner: keepVxlanDevice (transitional state)', () => {
  it('host-gw routes while flannel.1, its neighbours and fdb entries stay', () => {
    const ops = shell(planNode(intent(hostgw, true), vxlanNode(), {}).ops)
    expect(ops).to.deep.equal(['ip route replace 10.244.2.0/24 via 192.168.100.12 dev eth0'])
  })

  it('without it, host-gw removes the device and its entries after the route moved', () => {
    const ops = shell(planNode(intent(hostgw), vxlanNode(), {}).ops)
    expect(ops[0]).to.equal('ip route replace 10.244.2.0/24 via 192.168.100.12 dev eth0')
    expect(ops).to.include('bridge fdb del 02:00:00:00:00:02 dev flannel.1 dst 192.168.100.12 self')
    expect(ops).to.include('ip neigh del 10.244.2.0 dev flannel.1')
    expect(ops.at(-1)).to.equal('ip link del flannel.1')
  })

  it('on a host-gw node it builds the VTEP and every peer\'s entries but leaves routes direct', () => {
    const snap = vxlanNode()
    snap.links = snap.links!.filter(l => l.name !== 'flannel.1')
    snap.addresses = snap.addresses!.filter(a => a.dev !== 'flannel.1')
    snap.routes = [route('10.244.2.0/24', {gateway: '192.168.100.12', dev: 'eth0'})]
    snap.neighbors = []
    snap.fdb = []
    const ops = shell(planNode({...intent(hostgw, true), peers: [{...intent(hostgw).peers[0], backendType: 'vxlan'}]}, snap, {}).ops)
    expect(ops).to.deep.equal([
      'ip link add flannel.1 address 02:00:00:00:00:01 mtu 1450 type vxlan id 1 local 192.168.100.11 dev eth0 dstport 8472 nolearning',
      'ip addr add 10.244.1.0/32 dev flannel.1',
      'ip link set flannel.1 up',
      'ip neigh replace 10.244.2.0 lladdr 02:00:00:00:00:02 dev flannel.1 nud permanent',
      'bridge fdb replace 02:00:00:00:00:02 dev flannel.1 dst 192.168.100.12 self permanent',
    ])
  })

  it('DirectRouting with it keeps the on-link peer\'s entries; without, removes them', () => {
    expect(shell(planNode(intent(dr, true), vxlanNode(), {}).ops)).to.deep.equal(['ip route replace 10.244.2.0/24 via 192.168.100.12 dev eth0'])
    expect(shell(planNode(intent(dr), vxlanNode(), {}).ops)).to.deep.equal([
      'ip route replace 10.244.2.0/24 via 192.168.100.12 dev eth0',
      'bridge fdb del 02:00:00:00:00:02 dev flannel.1 dst 192.168.100.12 self',
      'ip neigh del 10.244.2.0 dev flannel.1',
    ])
  })
})

describe('planner: a peer that is not on-link', () => {
  // a second peer behind a router: its public IP is not on eth0's segment
  const farPeer = {subnet: '10.244.3.0/24', publicIP: '192.168.200.13', backendType: 'host-gw' as const}
  const hostgwNode = (): HostSnapshot => ({
    ...vxlanNode(),
    links: [link('eth0', 'ether'), link('cni0', 'bridge', {mtu: 1450})],
    addresses: [{dev: 'cni0', family: 4, local: '10.244.1.1', prefixlen: 24, raw: ''}],
    routes: [],
    neighbors: [],
    fdb: [],
  })
  const twoPeers = (backend: MigrationBackend): NodeIntent => ({...intent(backend), peers: [{...intent(backend).peers[0], backendType: 'host-gw', vtepMAC: undefined}, farPeer]})

  it('host-gw: no route to it (the kernel would refuse it and stop the batch), the others still routed, and a warning', () => {
    const plan = planNode(twoPeers(hostgw), hostgwNode(), {})
    expect(shell(plan.ops)).to.deep.equal(['ip route replace 10.244.2.0/24 via 192.168.100.12 dev eth0'])
    expect(plan.ownedRoutes).to.deep.equal(['10.244.2.0/24'])
    expect(plan.warnings).to.deep.equal(['peer 10.244.3.0/24 (192.168.200.13) is not on-link from eth0, so no route to it: host-gw reaches only peers on this node\'s segment; use vxlan (with DirectRouting) to reach it'])
  })

  it('host-gw: the route recorded while it was on-link goes', () => {
    const snap = hostgwNode()
    snap.routes = [route('10.244.2.0/24', {gateway: '192.168.100.12', dev: 'eth0'}), route('10.244.3.0/24', {gateway: '192.168.200.13', dev: 'eth0', onlink: true})]
    const plan = planNode({...twoPeers(hostgw), ownedRoutes: ['10.244.2.0/24', '10.244.3.0/24']}, snap, {})
    expect(shell(plan.ops)).to.deep.equal(['ip route del 10.244.3.0/24 via 192.168.200.13 dev eth0'])
  })

  it('vxlan: a host-gw peer behind the router gets no direct route either', () => {
    const plan = planNode({...intent(vxlan), peers: [intent(vxlan).peers[0], farPeer]}, vxlanNode(), {})
    expect(shell(plan.ops)).to.deep.equal([])
    expect(plan.warnings).to.have.length(1)
    expect(plan.warnings[0]).to.include('192.168.200.13')
  })
})

describe('planner: a peer whose store entry is unreadable (damaged in place)', () => {
  const noPeers = (backend: MigrationBackend): NodeIntent => ({...intent(backend), peers: [], unreadablePeers: ['10.244.2.0/24']})

  it('vxlan: its route, neighbour and fdb entry stay; without the damaged entry they go', () => {
    expect(shell(planNode(noPeers(vxlan), vxlanNode(), {}).ops)).to.deep.equal([])
    expect(shell(planNode({...noPeers(vxlan), unreadablePeers: []}, vxlanNode(), {}).ops)).to.deep.equal([
      'ip route del 10.244.2.0/24 via 10.244.2.0 dev flannel.1',
      'bridge fdb del 02:00:00:00:00:02 dev flannel.1 dst 192.168.100.12 self',
      'ip neigh del 10.244.2.0 dev flannel.1',
    ])
  })

  it('vxlan: the IPv6 entries `ip neigh show nud all` lists on the device (multicast, NOARP) are no peer\'s and stop nothing', () => {
    const snap = vxlanNode()
    snap.neighbors = [...snap.neighbors!, {dst: 'ff02::1:ffc6:48ae', dev: 'flannel.1', lladdr: '33:33:ff:c6:48:ae', state: ['NOARP'], raw: 'ff02::1:ffc6:48ae dev flannel.1 lladdr 33:33:ff:c6:48:ae NOARP'}]
    expect(shell(planNode(noPeers(vxlan), snap, {}).ops)).to.deep.equal([])
  })

  it('host-gw: its route via the underlay stays and stays owned, so it goes once the entry is deleted', () => {
    const snap: HostSnapshot = {...vxlanNode(), links: [link('eth0', 'ether'), link('cni0', 'bridge', {mtu: 1450})], routes: [route('10.244.2.0/24', {gateway: '192.168.100.12', dev: 'eth0'})], neighbors: [], fdb: []}
    const kept = planNode({...noPeers(hostgw), ownedRoutes: ['10.244.2.0/24']}, snap, {})
    expect(shell(kept.ops)).to.deep.equal([])
    expect(kept.ownedRoutes).to.deep.equal(['10.244.2.0/24'])
    expect(shell(planNode({...noPeers(hostgw), unreadablePeers: [], ownedRoutes: kept.ownedRoutes}, snap, {}).ops)).to.deep.equal(['ip route del 10.244.2.0/24 via 192.168.100.12 dev eth0'])
  })
})

describe('planner: the vxlan device this node made before', () => {
  // vxlanNode() with its device made for VNI 4096
  const madeFor4096 = (): HostSnapshot => {
    const snap = vxlanNode()
    snap.links = snap.links!.map(l => l.name === 'flannel.1' ? {...l, name: 'flannel.4096', vxlan: {...l.vxlan!, id: 4096}} : l)
    snap.addresses = snap.addresses!.map(a => a.dev === 'flannel.1' ? {...a, dev: 'flannel.4096'} : a)
    snap.routes = [route('10.244.2.0/24', {gateway: '10.244.2.0', dev: 'flannel.4096', onlink: true})]
    snap.neighbors = snap.neighbors!.map(n => ({...n, dev: 'flannel.4096'}))
    snap.fdb = snap.fdb!.map(f => ({...f, dev: 'flannel.4096'}))
    return snap
  }

  it('host-gw removes it although the network\'s VNI names another device', () => {
    const ops = shell(planNode({...intent(hostgw), formerVxlanDevices: ['flannel.4096']}, madeFor4096(), {}).ops)
    expect(ops[0]).to.equal('ip route replace 10.244.2.0/24 via 192.168.100.12 dev eth0')
    expect(ops.at(-1)).to.equal('ip link del flannel.4096')
  })

  it('a new VNI builds the new device, moves the routes, then removes the old one', () => {
    const plan = planNode({...intent(vxlan), formerVxlanDevices: ['flannel.4096']}, madeFor4096(), {})
    const ops = shell(plan.ops)
    expect(ops[0]).to.match(/^ip link add flannel\.1 .* type vxlan id 1 /)
    expect(ops).to.include('ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink')
    expect(ops.at(-1)).to.equal('ip link del flannel.4096')
    const removal = plan.ops.find(o => o.tool === 'ip' && (o as {args: string[]}).args.join(' ') === 'link del flannel.4096')
    expect(removal).to.have.property('why', 'the network\'s VNI 1 uses flannel.1 now')
  })

  it('a device recreated for another port gets every peer\'s entries back in the same run', () => {
    const snap = vxlanNode()
    snap.links = snap.links!.map(l => l.name === 'flannel.1' ? {...l, vxlan: {...l.vxlan!, port: 4789}} : l)
    expect(shell(planNode(intent(vxlan), snap, {}).ops)).to.deep.equal([
      'ip link del flannel.1',
      'ip link add flannel.1 address 02:00:00:00:00:01 mtu 1450 type vxlan id 1 local 192.168.100.11 dev eth0 dstport 8472 nolearning',
      'ip addr add 10.244.1.0/32 dev flannel.1',
      'ip link set flannel.1 up',
      'ip neigh replace 10.244.2.0 lladdr 02:00:00:00:00:02 dev flannel.1 nud permanent',
      'bridge fdb replace 02:00:00:00:00:02 dev flannel.1 dst 192.168.100.12 self permanent',
      'ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
    ])
  })

  it('the device it uses now is kept', () => {
    expect(shell(planNode({...intent(vxlan), formerVxlanDevices: ['flannel.1']}, vxlanNode(), {}).ops)).to.deep.equal([])
  })
})

describe('migrate plan: a new VNI', () => {
  const start = beginMigration({id: 'a', now: NOW, from: vxlan, to: vxlan2, nodes: nodes(3)})
  const at = (kind: string, node: string) => start.steps.findIndex(s => s.kind === kind && s.node === node)
  /** the record as step `index` is about to run: every step before it done */
  const before = (index: number) => withStepState(simulate(start, 0, index), index)

  it('a node keeps flannel.1 for its routes and gets flannel.2 beside it, then routes via flannel.2 keeping flannel.1, then only flannel.2', () => {
    const added = before(at('add-vxlan-device', '192.168.100.12'))
    expect(migrationPhase(added, '192.168.100.12')).to.deep.include({backend: vxlan, keepVxlanDevice: true, extraVtep: {vni: 2, port: 8472}, vxlanDevices: ['flannel.1', 'flannel.2']})
    expect(migrationPhase(added, '192.168.100.12')!.note).to.equal('migration vxlan VNI 1 → vxlan VNI 2 in progress (step 4 of 20): '
      + 'this node routes the old way (vxlan VNI 1), keeping flannel.2 for peers that switched')
    const switched = before(at('switch-routes', '192.168.100.12'))
    expect(migrationPhase(switched, '192.168.100.12')).to.deep.include({backend: vxlan2, keepVxlanDevice: true, extraVtep: {vni: 1, port: 8472}})
    expect(migrationPhase(switched, '192.168.100.12')!.note).to.match(/routes the new way \(vxlan VNI 2\), keeping flannel\.1 for peers not yet switched$/)
    expect(migrationPhase(switched, '192.168.100.13')).to.deep.include({backend: vxlan, extraVtep: {vni: 2, port: 8472}})
    const removed = before(at('remove-old', '192.168.100.12'))
    expect(migrationPhase(removed, '192.168.100.12')!.extraVtep).to.equal(undefined)
    expect(migrationPhase(removed, '192.168.100.13')!.extraVtep).to.deep.equal({vni: 1, port: 8472})
  })

  it('rolled back after some nodes removed flannel.1: those build it again before any route goes back to it', () => {
    const midway = simulate(start, 0, at('remove-old', '192.168.100.12') + 1)
    const back = reverseMigration(midway, 'b', NOW)
    expect(kinds(back).filter(k => k.startsWith('add-vxlan-device'))).to.deep.equal(['add-vxlan-device@11', 'add-vxlan-device@12', 'add-vxlan-device@13'])
    const rebuilt = withStepState(back, back.steps.findIndex(s => s.kind === 'add-vxlan-device' && s.node === '192.168.100.11'))
    expect(rebuilt.nodes[0]).to.deep.include({routes: vxlan2, extraVtep: {vni: 1, port: 8472}})
  })

  it('the stored record keeps the second device, and refuses one it cannot read', () => {
    const added = withStepState(start, at('add-vxlan-device', '192.168.100.11'))
    expect(parseMigrationRecord(JSON.stringify(added))).to.deep.equal(added)
    const bad = {...added, nodes: added.nodes.map(n => ({...n, extraVtep: {vni: 'two', port: 8472}}))}
    expect(() => parseMigrationRecord(JSON.stringify(bad))).to.throw(/understands/)
  })

  it('reads with the VNI (and port) where they change, and names the flags that finish it', () => {
    const port4789 = {...vxlan2, port: 4789}
    expect(migrationLabels(start)).to.deep.equal({from: 'vxlan VNI 1', to: 'vxlan VNI 2'})
    expect(migrationLabels({from: vxlan, to: port4789})).to.deep.equal({from: 'vxlan VNI 1 port 8472', to: 'vxlan VNI 2 port 4789'})
    expect(migrationLabels({from: vxlan, to: hostgw})).to.deep.equal({from: 'vxlan', to: 'host-gw'})
    // from host-gw, which has no VNI: the VNI (and port) where they are not flannel's defaults, as `--vni 2` asked
    expect(migrationLabels({from: hostgw, to: vxlan2})).to.deep.equal({from: 'host-gw', to: 'vxlan VNI 2'})
    expect(migrationLabels({from: hostgw, to: {...vxlan, port: 4789}})).to.deep.equal({from: 'host-gw', to: 'vxlan VNI 1 port 4789'})
    expect(migrationLabels({from: dr2, to: hostgw})).to.deep.equal({from: 'vxlan VNI 2 + DirectRouting', to: 'host-gw'})
    expect(migrateFlags(vxlan2, hostgw)).to.equal('--backend vxlan --vni 2')
    expect(migrateFlags(vxlan, hostgw)).to.equal('--backend vxlan')
    expect(migrationLabels({from: dr, to: dr2}).to).to.equal('vxlan VNI 2 + DirectRouting')
    expect(migrateFlags(port4789, vxlan)).to.equal('--backend vxlan --vni 2 --port 4789')
    expect(migrateFlags(dr, vxlan2)).to.equal('--backend vxlan --directrouting --vni 1')
    expect(migrateFlags(hostgw, vxlan2)).to.equal('--backend host-gw')
  })

  it('the plan creates flannel.2 with the node\'s VTEP MAC, routes via flannel.2, and removes flannel.1', () => {
    const views = describeSteps(start, {rpFilterNow: {}, vtepMACs: {'192.168.100.11': '02:00:00:00:00:01'}, onLink: {}})
    const text = renderSteps(views).join('\n')
    expect(text).to.include('n1     create flannel.2 beside flannel.1, with its MAC and address (routes unchanged)')
    expect(text).to.include('ip link add flannel.2 address 02:00:00:00:00:01 type vxlan id 2 local 192.168.100.11 dev eth0 dstport 8472 nolearning')
    expect(text).to.include('ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.2 onlink')
    expect(text).to.include('net-conf Backend → vxlan VNI 2')
    expect(views.filter(v => v.kind === 'remove-old').map(v => v.commands)).to.deep.equal([['ip link del flannel.1'], ['ip link del flannel.1'], ['ip link del flannel.1']])
  })
})

describe('planner: a second VTEP (a new VNI)', () => {
  const v2 = {vni: 2, port: 8472}
  const flannel2 = link('flannel.2', 'vxlan', {mtu: 1450, mac: '02:00:00:00:00:01', vxlan: {id: 2, local: '192.168.100.11', dev: 'eth0', port: 8472, learning: false}})
  /** vxlanNode() with flannel.2 beside flannel.1, entries on both */
  const bothDevices = (): HostSnapshot => {
    const snap = vxlanNode()
    snap.links = [...snap.links!, flannel2]
    snap.addresses = [...snap.addresses!, {dev: 'flannel.2', family: 4, local: '10.244.1.0', prefixlen: 32, raw: ''}]
    snap.neighbors = [...snap.neighbors!, {...snap.neighbors![0], dev: 'flannel.2'}]
    snap.fdb = [...snap.fdb!, {...snap.fdb![0], dev: 'flannel.2'}]
    return snap
  }

  it('builds flannel.2 beside flannel.1 with the same MAC and address and every peer\'s entries; the routes stay', () => {
    expect(shell(planNode({...intent(vxlan, true), extraVtep: v2}, vxlanNode(), {}).ops)).to.deep.equal([
      'ip link add flannel.2 address 02:00:00:00:00:01 mtu 1450 type vxlan id 2 local 192.168.100.11 dev eth0 dstport 8472 nolearning',
      'ip addr add 10.244.1.0/32 dev flannel.2',
      'ip link set flannel.2 up',
      'ip neigh replace 10.244.2.0 lladdr 02:00:00:00:00:02 dev flannel.2 nud permanent',
      'bridge fdb replace 02:00:00:00:00:02 dev flannel.2 dst 192.168.100.12 self permanent',
    ])
    expect(shell(planNode({...intent(vxlan, true), extraVtep: v2, formerVxlanDevices: ['flannel.1', 'flannel.2']}, bothDevices(), {}).ops)).to.deep.equal([])
  })

  it('switched: the route moves to flannel.2 in place, flannel.1 and its entries stay', () => {
    expect(shell(planNode({...intent(vxlan2, true), extraVtep: {vni: 1, port: 8472}, formerVxlanDevices: ['flannel.1', 'flannel.2']}, bothDevices(), {}).ops))
      .to.deep.equal(['ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.2 onlink'])
  })

  it('done: flannel.1 goes, after the routes', () => {
    const snap = bothDevices()
    snap.routes = [route('10.244.2.0/24', {gateway: '10.244.2.0', dev: 'flannel.2', onlink: true})]
    expect(shell(planNode({...intent(vxlan2), formerVxlanDevices: ['flannel.2', 'flannel.1']}, snap, {}).ops)).to.deep.equal(['ip link del flannel.1'])
  })

  it('a stale entry on the second device goes as one on the first would', () => {
    const snap = bothDevices()
    snap.fdb = [...snap.fdb!, {mac: '02:00:00:00:00:09', dev: 'flannel.2', dst: '192.168.100.19', flags: ['self', 'permanent'], raw: ''}]
    expect(shell(planNode({...intent(vxlan, true), extraVtep: v2}, snap, {}).ops)).to.deep.equal(['bridge fdb del 02:00:00:00:00:09 dev flannel.2 dst 192.168.100.19 self'])
  })
})

describe('FileStore meta keys', () => {
  let dir: string
  tempDirHooks('flannelctl-meta-', d => (dir = d), {each: true})

  it('live beside flannel\'s keys, never among the leases', async () => {
    const store = new FileStore(dir)
    expect(await store.getMeta('migration')).to.equal(undefined)
    await store.putMeta('migration', '{"x":1}')
    expect(await store.getMeta('migration')).to.equal('{"x":1}')
    expect(await readFile(join(dir, 'coreos.com', 'network', 'flannelctl', 'migration'), 'utf8')).to.equal('{"x":1}')
    expect((await store.listLeases()).invalid).to.deep.equal([])
    await store.putMeta('migration', undefined)
    await store.putMeta('migration', undefined)
    expect(await store.getMeta('migration')).to.equal(undefined)
    for (const bad of ['../config', 'a/b', '', '.hidden']) {
      await store.putMeta(bad, 'x').then(() => expect.fail(`accepted ${bad}`), (e: Error) => expect(e.message).to.include('invalid store meta key'))
    }
  })

  it('swapMeta writes only over the value it was given: of two runs that read one record, one wins', async () => {
    const store = new FileStore(dir)
    expect(await store.swapMeta('migration', undefined, 'a')).to.equal(true)
    expect(await store.swapMeta('migration', undefined, 'b'), 'created meanwhile').to.equal(false)
    const racing = await Promise.all([store.swapMeta('migration', 'a', 'run 1'), store.swapMeta('migration', 'a', 'run 2')])
    expect(racing.filter(Boolean)).to.have.length(1)
    expect(await store.getMeta('migration')).to.equal(racing[0] ? 'run 1' : 'run 2')
  })

  it('a change wakes a watcher', async () => {
    const store = new FileStore(dir)
    let woke = 0
    const stop = await store.watch(() => woke++)
    await store.putMeta('migration', '{}')
    await new Promise(resolve => setTimeout(resolve, 200))
    stop()
    await store.close()
    expect(woke).to.be.greaterThan(0)
  })
})

describe('migrate: one backend or two', () => {
  it('a VNI and port tell vxlan backends apart, not host-gw ones (the record\'s host-gw end keeps the VNI it came from)', () => {
    // before: after `migrate --vni 2`, then `migrate --backend host-gw`, `migrate --rollback` was refused:
    // "the network's backend changed since the last migration (it moved to host-gw, it is host-gw now)"
    const recorded: MigrationBackend = {type: 'host-gw', vni: 2, port: 8472, directRouting: false}
    const stored: MigrationBackend = {type: 'host-gw', vni: 1, port: 8472, directRouting: false}
    expect(sameBackend(recorded, stored)).to.equal(true)
    expect(sameBackend({...recorded, port: 4789}, stored)).to.equal(true)
    expect(sameBackend({type: 'vxlan', vni: 2, port: 8472, directRouting: false}, {type: 'vxlan', vni: 1, port: 8472, directRouting: false})).to.equal(false)
    expect(sameBackend({type: 'vxlan', vni: 1, port: 4789, directRouting: false}, {type: 'vxlan', vni: 1, port: 8472, directRouting: false})).to.equal(false)
    expect(sameBackend({type: 'vxlan', vni: 1, port: 8472, directRouting: true}, {type: 'vxlan', vni: 1, port: 8472, directRouting: false})).to.equal(false)
    expect(sameBackend(stored, {type: 'vxlan', vni: 1, port: 8472, directRouting: false})).to.equal(false)
  })
})
