import {expect} from 'chai'
import {cp, readFile, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {podToNodeChecks, runDoctor} from '../../src/services/doctor.js'
import {loadSource} from '../../src/services/collect.js'
import {renderDoctor} from '../../src/ui/doctor.js'
import {tempDirHooks} from '../helpers/temp-dir.js'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'snapshots')

/** Rewrites a snapshot's JSON table (an array of rows) in place. */
async function editRows(file: string, edit: (rows: any[]) => unknown[]): Promise<void> {
  await writeFile(file, JSON.stringify(edit(JSON.parse(await readFile(file, 'utf8')))))
}

describe('doctor --snapshot of a hand-made snapshot', () => {
  let dir = ''
  tempDirHooks('fc-doc-', d => (dir = d), {each: true})

  it('two docker hosts\' containers of one address are no pod pair: neither reaches the other by it (each reaches itself)', async () => {
    // docker-default-pair: d1c1 and d3c1 are both 172.17.0.2; kernel: ping 172.17.0.2 in either answers itself
    const report = await runDoctor({snapshot: join(FIXTURES, 'docker-default-pair')}, {})
    expect(report.pods).to.deep.equal(['d1c1', 'd3c1'])
    expect(report.pairs).to.deep.equal([])
  })

  it('entries of a node left out of the snapshot are stale only with a note on partial: true', async () => {
    // n3 of the lab these files came from was not pasted: n1's and n2's entries for it look stale
    await cp(join(FIXTURES, 'vxlan-route-n'), dir, {recursive: true})
    const notes: string[] = []
    const report = await runDoctor({snapshot: dir}, {progress: m => notes.push(m)})
    expect(report.findings.filter(f => f.code.startsWith('STALE_')).map(f => f.node)).to.have.length(6)
    expect(notes.join('\n')).to.contain('add `partial: true` to the snapshot\'s inventory.yaml')

    const inv = join(dir, 'inventory.yaml')
    await writeFile(inv, `partial: true\n${await readFile(inv, 'utf8')}`)
    notes.length = 0
    const partial = await runDoctor({snapshot: dir}, {progress: m => notes.push(m)})
    expect(partial.findings.filter(f => f.code.startsWith('STALE_'))).to.deep.equal([])
    expect(notes.join('\n')).to.contain('the snapshot says `partial: true`')
  })

  it('with the store collect saved beside it (store.json), n3\'s entries are a live peer\'s, and a config that does not parse is said, as live', async () => {
    await cp(join(FIXTURES, 'vxlan-route-n'), dir, {recursive: true})
    const lease = (subnet: string, publicIP: string, mac: string) => ({subnet, publicIP, publicIPv6: null, backendType: 'vxlan', backendData: {VNI: 1, VtepMAC: mac}, expiresAt: '2026-11-28T04:27:23.854Z'})
    const saved = {store: 'file:/var/lib/flannelctl/store', backend: {type: 'vxlan', vni: 1, port: 8472, directRouting: false}, enableNFTables: false, configProblem: null, migration: null,
      leases: [lease('10.244.8.0/24', '192.168.100.11', '12:00:00:00:00:01'), lease('10.244.27.0/24', '192.168.100.12', '16:58:7b:64:7f:ad'), lease('10.244.78.0/24', '192.168.100.13', '2a:2c:29:56:39:4c')]}
    await writeFile(join(dir, 'store.json'), JSON.stringify(saved))
    const notes: string[] = []
    const report = await runDoctor({snapshot: dir}, {progress: m => notes.push(m)})
    expect(report.findings.filter(f => f.code.startsWith('STALE_'))).to.deep.equal([])
    expect(notes.join('\n')).to.not.contain('partial: true')
    await writeFile(join(dir, 'store.json'), JSON.stringify({...saved, configProblem: 'EnableNFTables must be true or false, got the string "yes"'}))
    const broken = await runDoctor({snapshot: dir}, {})
    expect(broken.healthy).to.equal(false)
    // the store's spec is evidence: as the NODE it made the host checks' table as wide as the path
    expect(broken.findings.filter(f => f.code === 'NETCONF_INVALID').map(f => [f.node, f.evidence])).to.deep.equal([['store', 'store file:/var/lib/flannelctl/store']])
    // leases off an edited SubnetLen: their nodes still sync peers, so a warning, not a broken config
    await writeFile(join(dir, 'store.json'), JSON.stringify({...saved, offConfig: '3 of 3 leases do not fit the network config (…)'}))
    const off = await runDoctor({snapshot: dir}, {})
    expect(off.findings.filter(f => f.code === 'LEASES_OFF_CONFIG').map(f => [f.node, f.severity, f.message])).to.deep.equal([['store', 'warning', '3 of 3 leases do not fit the network config (…)']])
    expect(off.findings.filter(f => f.code === 'NETCONF_INVALID')).to.deep.equal([])
    // a migration stopped midway: from a snapshot doctor read no --lab or --inventory, so the fix has the blank to fill in
    // (before: `flannelctl migrate … --yes` alone, which would move one host, and a message repeating it)
    const migration = {from: 'vxlan VNI 1', to: 'vxlan VNI 2', done: 8, total: 14, finish: 'flannelctl migrate --backend vxlan --vni 2 --yes'}
    await writeFile(join(dir, 'store.json'), JSON.stringify({...saved, migration}))
    const mid = (await runDoctor({snapshot: dir}, {})).findings.find(f => f.code === 'MIGRATION_UNFINISHED')!
    expect(mid.message).to.equal('a migration vxlan VNI 1 → vxlan VNI 2 stopped after step 8 of 14: nodes forward in a mixed state until it finishes')
    expect(mid.fix).to.deep.equal(['flannelctl migrate --backend vxlan --vni 2 --lab NAME (or --inventory FILE) --yes'])
    // a --rollback that stopped says so, as migrate's own refusal does
    await writeFile(join(dir, 'store.json'), JSON.stringify({...saved, migration: {...migration, rollback: true, finish: 'flannelctl migrate --rollback --yes'}}))
    const back = (await runDoctor({snapshot: dir}, {})).findings.find(f => f.code === 'MIGRATION_UNFINISHED')!
    expect(back.message).to.match(/^a rollback vxlan VNI 1 → vxlan VNI 2 stopped after step 8 of 14/)
    expect(back.fix).to.deep.equal(['flannelctl migrate --rollback --lab NAME (or --inventory FILE) --yes'])
    // past the commit every node forwards the new way: only the clean-up is left, which the message says
    await writeFile(join(dir, 'store.json'), JSON.stringify({...saved, migration: {...migration, done: 10, committed: true}}))
    const late = (await runDoctor({snapshot: dir}, {})).findings.find(f => f.code === 'MIGRATION_UNFINISHED')!
    expect(late.message).to.equal('a migration vxlan VNI 1 → vxlan VNI 2 stopped after step 10 of 14: every node forwards the new way; what only the old way needed, and any rp_filter it loosened, stay until it finishes')
    await writeFile(join(dir, 'store.json'), '{"leases": 3}')
    let refused: Error | undefined
    await runDoctor({snapshot: dir}, {}).catch((error: Error) => { refused = error })
    expect(refused?.message).to.contain('store.json is not what flannelctl collect writes')
  })

  it('a neighbour or fdb paste for cni0 only says nothing about flannel.1: no MISSING_NEIGH / MISSING_FDB', async () => {
    await cp(join(FIXTURES, 'vxlan-route-n'), dir, {recursive: true})
    const pastedDir = join(import.meta.dirname, '..', 'fixtures', 'parse', 'pasted')
    await cp(join(pastedDir, 'ip-neigh-dev-cni0.txt'), join(dir, 'n1', 'ip-neigh.txt'))
    await cp(join(pastedDir, 'bridge-fdb-br-cni0.txt'), join(dir, 'n1', 'bridge-fdb.txt'))
    const report = await runDoctor({snapshot: dir}, {})
    expect(report.findings.filter(f => f.code.startsWith('MISSING_'))).to.deep.equal([])
  })

  it('routes pasted for one device raise no MISSING_ROUTE for a peer whose route may be on another', async () => {
    await cp(join(FIXTURES, 'vxlan-route-n'), dir, {recursive: true})
    // DirectRouting: the route to n2 leaves by eth0, the paste shows flannel.1 only
    await writeFile(join(dir, 'n1', 'ip-route.txt'), 'root@n1:~# ip route show dev flannel.1\n10.244.78.0/24 via 10.244.78.0 onlink \n')
    const report = await runDoctor({snapshot: dir}, {})
    expect(report.findings.filter(f => f.code === 'MISSING_ROUTE')).to.deep.equal([])
  })

  it('FORWARD policy DROP with a jump to a chain the iptables -S paste does not list is no FORWARD_DROP', async () => {
    await cp(join(FIXTURES, 'vxlan-route-n'), dir, {recursive: true})
    await writeFile(join(dir, 'n2', 'iptables-save.txt'), 'root@n2:~# iptables -S FORWARD\n-P FORWARD DROP\n-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD\n')
    const report = await runDoctor({snapshot: dir}, {})
    expect(report.findings.filter(f => f.code === 'FORWARD_DROP')).to.deep.equal([])
    await writeFile(join(dir, 'n2', 'iptables-save.txt'), 'root@n2:~# iptables -S FORWARD\n-P FORWARD DROP\n-A FORWARD -j LOG\n')
    expect((await runDoctor({snapshot: dir}, {})).findings.filter(f => f.code === 'FORWARD_DROP')).to.have.length(1)
  })
})

describe('doctor on a host-gw lab whose n2 moved its lease (lab-hostgw-peer-moved)', () => {
  // lab fcd3b (host-gw, kernel): n2 `flannelctl reset --release` then `init --iface eth0`, from 10.244.41.0/24 to
  // 10.244.14.0/24; n1 not synced since; pod-2a kept its address in the old subnet, its veth in no bridge
  const dir = join(FIXTURES, 'lab-hostgw-peer-moved')

  it('n1\'s route to n2\'s old subnet is STALE_ROUTE, led by n1\'s sync like its MISSING_ROUTE', async () => {
    const report = await runDoctor({snapshot: dir}, {})
    const n1 = report.findings.filter(f => f.node === 'n1')
    expect(n1.map(f => f.code)).to.deep.equal(['STALE_ROUTE', 'MISSING_ROUTE'])
    expect(n1[0].evidence).to.equal('10.244.41.0/24 via 192.168.100.12 dev eth0')
    for (const f of n1) expect(f.fix[0]).to.match(/^flannelctl sync {3}# n1 has not synced since n2's lease moved to 10\.244\.14\.0\/24/)
  })

  it('POD_TO_NODE is named by the host its fix runs on (n2), not the pod whose ARP goes unanswered', async () => {
    const [f] = podToNodeChecks((await loadSource({snapshot: dir})).world)
    expect(f.node).to.equal('n2')
    expect(f.message).to.match(/^pod-2a cannot reach its own node n2 \(NEIGHBOR_MISSING\)/)
    expect(f.fix).to.deep.equal(['ip -4 addr show type bridge   # the node\'s pod subnet now; re-create pod-2a in it'])
  })

  it('but doctor leaves it out: pod-2a\'s own pairs fail there for the same reason, with the same fix, and say it', async () => {
    const report = await runDoctor({snapshot: dir}, {})
    expect(report.findings.map(f => f.code)).to.not.include('POD_TO_NODE')
    expect(report.pairs.find(p => p.from === 'pod-2a')).to.include({disposition: 'NEIGHBOR_MISSING', node: 'pod-2a'})
  })
})

describe('doctor on a vxlan lab whose n2 moved its lease (lab-vxlan-peer-moved)', () => {
  // lab lpone (vxlan, 3 nodes, kernel): n2 `flannelctl reset --release` then `init --iface eth0`, from 10.244.51.0/24 to
  // 10.244.16.0/24; n1 and n3 not synced since; pod-2a kept 10.244.51.2, its veth in no bridge. Real pings: every
  // pair with pod-2a fails, pod-1a <-> pod-3a answer. pod-2a re-created alone, pod-1a <-> pod-2a still fails
  // (n1 has no route to 10.244.16.0/24) until n1 syncs.
  const dir = join(FIXTURES, 'lab-vxlan-peer-moved')
  const recreate = {node: 'n2', command: 'ip -4 addr show type bridge   # the node\'s pod subnet now; re-create pod-2a in it', recreates: 'pod-2a'}
  const sync = (node: string) => ({node, command: `flannelctl sync   # ${node} has not synced since n2's lease moved to 10.244.16.0/24: it replaces the old entries`, sync: 'peer'})

  it('a pair with the stranded pod-2a: the other pod\'s node syncs first (it must route the new subnet), then pod-2a is re-created; nothing twice', async () => {
    const report = await runDoctor({snapshot: dir}, {})
    const bad = report.pairs.filter(p => p.disposition !== 'DELIVERED')
    expect(bad.map(p => `${p.from}>${p.to} ${p.disposition}`)).to.deep.equal(['pod-1a>pod-2a NO_ROUTE', 'pod-2a>pod-1a NEIGHBOR_MISSING', 'pod-2a>pod-3a NEIGHBOR_MISSING', 'pod-3a>pod-2a NO_ROUTE'])
    for (const p of bad) {
      const other = p.from === 'pod-2a' ? p.to : p.from
      expect(p.fix, `${p.from}>${p.to}`).to.deep.equal([sync(other === 'pod-1a' ? 'n1' : 'n3'), recreate])
    }
    expect(report.pairs.filter(p => p.disposition === 'DELIVERED').map(p => `${p.from}>${p.to}`)).to.deep.equal(['pod-1a>pod-3a', 'pod-3a>pod-1a'])
  })

  it('the text says each fix once: pod-2a\'s re-creation after both syncs, each node\'s sync leading its stale and missing entries; no POD_TO_NODE repeating the pairs', async () => {
    const report = await runDoctor({snapshot: dir}, {})
    expect(report.findings.map(f => `${f.node} ${f.code}`)).to.deep.equal(['n1 STALE_ROUTE', 'n1 STALE_NEIGH', 'n1 MISSING_ROUTE', 'n3 STALE_ROUTE', 'n3 STALE_NEIGH', 'n3 MISSING_ROUTE'])
    const text = renderDoctor(report, {color: false})
    expect(text.split(recreate.command)).to.have.length(2)
    expect(text).to.contain(['    fix for the 2 above:', `    fix [n1]: ${sync('n1').command}`, `    fix [n3]: ${sync('n3').command}`, `    check [n2]: ${recreate.command}`].join('\n'))
    expect(text.split(`${sync('n1').command}; or by hand:`)).to.have.length(2)
    // the commands by hand are the sync's alternative, under it: not further steps (run after it, the deletions fail)
    expect(text).to.contain([
      '  n1 MISSING_ROUTE: (no matching route)',
      `    fix [n1]: ${sync('n1').command}; or by hand:`,
      '      instead [n1]: ip route del 10.244.51.0/24',
      '      instead [n1]: ip neigh del 10.244.51.0 dev flannel.1',
      '      instead [n1]: ip route replace 10.244.16.0/24 via 10.244.16.0 dev flannel.1 onlink',
    ].join('\n'))
  })

  describe('n2\'s flannel.1 re-created with a new MAC its lease does not announce (lab break stale-vtep-mac after the move)', () => {
    let copy = ''
    tempDirHooks('fc-doc-moved-', d => (copy = d))

    it('n2\'s own sync (it publishes the MAC) leads each pair, n1\'s sync says it comes after it; run in that order, with the re-creation last, every pod pair answered (kernel)', async () => {
      // kernel (lab lpone, same state): n1's sync first wrote the lease's old MAC (16:58:…) and pod-1a
      // still lost its pings to n2's new gateway; n2 sync, n1 sync, n3 sync, lab pod recreate: 6/6 pairs answered
      await cp(dir, copy, {recursive: true})
      const links = join(copy, 'n2', 'ip-link.json')
      await writeFile(links, (await readFile(links, 'utf8')).replaceAll('16:58:7b:64:7f:ad', '12:6a:8a:a0:30:c9'))
      const report = await runDoctor({snapshot: copy}, {})
      const publish = {node: 'n2', command: 'flannelctl sync   # publishes flannel.1\'s MAC in the lease (flanneld: restart it); then flannelctl sync on the peers', sync: 'publish'}
      const pair = report.pairs.find(p => p.from === 'pod-3a' && p.to === 'pod-2a')!
      expect(pair.fix[0]).to.deep.equal(publish)
      expect(pair.fix[1].node).to.equal('n3')
      expect(pair.fix.at(-1)).to.deep.equal(recreate)
      const missing = report.findings.find(f => f.node === 'n1' && f.code === 'MISSING_ROUTE')!
      expect(missing.fix[0]).to.equal('flannelctl sync   # n1 has not synced since n2\'s lease moved to 10.244.16.0/24: once n2\'s own sync has published its VTEP\'s new MAC (VTEP_MAC_NOT_PUBLISHED), it replaces the old entries; or by hand:')
      // by hand, the MAC n2's device has now
      expect(missing.fix).to.include('ip neigh replace 10.244.16.0 lladdr 12:6a:8a:a0:30:c9 dev flannel.1 nud permanent')
    })
  })
})

describe('doctor on hosts flannelctl did not build (old-flannel-nodeport)', () => {
  let dir = ''
  tempDirHooks('fc-doc-old-', d => (dir = d), {each: true})

  it('d1, a docker host the inventory lists, is no flannel peer: its docker0 172.17.0.0/16 is docker\'s, and nothing of flannel says otherwise', async () => {
    // before: MISSING_ROUTE on o1 and o2 to "d1's pod subnet 172.17.0.0/16", on d1 to both, and RULES_MISSING with `flannelctl sync` on all three
    const report = await runDoctor({snapshot: join(FIXTURES, 'old-flannel-nodeport')}, {})
    expect(report.findings.filter(f => f.node === 'd1' || f.peer === 'd1' || f.peerSubnet === '172.17.0.0/16')).to.deep.equal([])
    expect(Object.keys(report.rules)).to.deep.equal(['o1', 'o2'])
    // o1 and o2 masquerade as flanneld before 0.15 did, in POSTROUTING itself: no rules are missing
    expect(report.findings.filter(f => f.code === 'RULES_MISSING')).to.deep.equal([])
    expect(report.findings.flatMap(f => f.fix).filter(c => c.includes('flannelctl'))).to.deep.equal([])
  })

  it('docker hosts are no flannel nodes: two docker0 of 172.17.0.0/16 are no duplicate subnet, and no flannel rules are missing there', async () => {
    // before: DUPLICATE_SUBNET with `flannelctl reset --release`, RULES_MISSING with `flannelctl sync` on each, MISSING_ROUTE on d3 to d2's docker0
    for (const snapshot of ['docker-default-pair', 'docker-routed-pair']) {
      const report = await runDoctor({snapshot: join(FIXTURES, snapshot)}, {})
      expect(report.findings, snapshot).to.deep.equal([])
      expect(report.rules, snapshot).to.deep.equal({})
    }
  })

  it('a route missing on an old flanneld\'s node is mended with ip route, not a flannelctl sync it has no state for', async () => {
    await cp(join(FIXTURES, 'old-flannel-nodeport'), dir, {recursive: true})
    const routes = join(dir, 'o1', 'ip-route.json')
    await editRows(routes, rows => rows.filter((r: {dst: string}) => r.dst !== '10.244.2.0/24'))
    const report = await runDoctor({snapshot: dir}, {})
    const missing = report.findings.filter(f => f.code === 'MISSING_ROUTE')
    expect(missing.map(f => [f.node, f.peer, f.peerSubnet])).to.deep.equal([['o1', 'o2', '10.244.2.0/24']])
    // before: "one of 2 ways", flannelctl sync recommended
    expect(missing[0].fixes).to.deep.equal([{node: 'o1', command: 'ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink'},
      {node: 'o1', command: 'ip neigh replace 10.244.2.0 lladdr a2:22:22:22:22:02 dev flannel.1 nud permanent'},
      {node: 'o1', command: 'bridge fdb append a2:22:22:22:22:02 dev flannel.1 dst 192.168.90.32 self permanent'}])
  })
})

describe('doctor on a host-gw route to a peer behind the router (hostgw-via-router)', () => {
  it('the route present but wrong is a host check of its own, with the kernel\'s commands that mend it (the router\'s too)', async () => {
    // before: only the pod pair pod-1a→pod-2a said NEXT_HOP_NOT_ONLINK; the host checks named n2's missing route alone
    const report = await runDoctor({snapshot: join(FIXTURES, 'hostgw-via-router')}, {})
    const wrong = report.findings.filter(f => f.code === 'NEXT_HOP_NOT_ONLINK')
    expect(wrong.map(f => [f.node, f.peer, f.peerSubnet, f.evidence])).to.deep.equal([['n1', 'n2', '10.244.41.0/24', '10.244.41.0/24 via 192.168.200.12 dev eth0 onlink']])
    expect(wrong[0].message).to.contain('nothing on eth0\'s link answers ARP for it (n2\'s address, on another segment')
    // kernel: with these two (and rt's route back, n2's MISSING_ROUTE) pod-1a pings pod-2a
    expect(wrong[0].fixes).to.deep.equal([{node: 'n1', command: 'ip route replace 10.244.41.0/24 via 192.168.100.1 dev eth0'}, {node: 'rt', command: 'ip route replace 10.244.41.0/24 via 192.168.200.12'}])
    expect(report.findings.filter(f => f.code === 'MISSING_ROUTE').map(f => f.node)).to.deep.equal(['n2'])
  })
})

/** `node` of a snapshot made a hand-built one: no rules, its flannel.1 renamed vx0 and cni0 br0, so nothing of its own says flannel. */
async function builtByHand(dir: string, node: string): Promise<void> {
  await writeFile(join(dir, node, 'iptables-save.txt'), '')
  for (const table of ['ip-link.json', 'ip-addr.json', 'ip-route.json', 'ip-neigh.json', 'bridge-fdb.json']) {
    const file = join(dir, node, table)
    await writeFile(file, (await readFile(file, 'utf8')).replaceAll('"flannel.1"', '"vx0"').replaceAll('"cni0"', '"br0"'))
  }
}

describe('doctor on nodes an older flanneld built (old-flanneld-eras, old-flanneld-duplicates)', () => {
  let dir = ''
  tempDirHooks('fc-doc-olderas-', d => (dir = d), {each: true})

  it('the rules a flanneld before 0.20 wrote into POSTROUTING and FORWARD are where the node\'s rules are, with comments (0.17-0.19) or without (0.10)', async () => {
    // before: "Flannel rules: n1 iptables, n2 none, n3 none", and RULES_MISSING with `flannelctl sync` on n2 (its commented masquerade went unread)
    const report = await runDoctor({snapshot: join(FIXTURES, 'old-flanneld-eras')}, {})
    expect(report.rules).to.deep.equal({n1: 'iptables', n2: 'old-flanneld', n3: 'old-flanneld'})
    expect(report.findings.filter(f => f.code !== 'ASSUMED')).to.deep.equal([])
    expect(renderDoctor(report, {color: false})).to.contain('Flannel rules: n1 iptables, n2 iptables in POSTROUTING/FORWARD (flanneld before 0.20), n3 iptables in POSTROUTING/FORWARD (flanneld before 0.20)')
  })

  it('their masquerade flushed (iptables -t nat -F) while their commented accepts stay: MASQ_MISSING with the iptables commands, not a sync', async () => {
    await cp(join(FIXTURES, 'old-flanneld-eras'), dir, {recursive: true})
    const file = join(dir, 'n2', 'iptables-save.txt')
    await writeFile(file, (await readFile(file, 'utf8')).split('\n').filter(l => !l.startsWith('-A POSTROUTING')).join('\n'))
    const report = await runDoctor({snapshot: dir}, {})
    expect(report.rules.n2).to.equal('old-flanneld')
    const cut = report.findings.filter(f => f.code === 'MASQ_MISSING')
    expect(cut.map(f => [f.node, f.fix])).to.deep.equal([['n2', ['iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN',
      'iptables -t nat -A POSTROUTING -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE']]])
  })

  it('pod-to-pod masqueraded by such a node\'s own masquerade (its RETURN gone): the RETURN back in front, not a sync, nor deleting its masquerade', async () => {
    // before: `flannelctl sync` on n2 (commented rules), and `iptables -t nat -D POSTROUTING -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE` on n3 (0.10's, uncommented)
    await cp(join(FIXTURES, 'old-flanneld-eras'), dir, {recursive: true})
    for (const node of ['n2', 'n3']) {
      const file = join(dir, node, 'iptables-save.txt')
      await writeFile(file, (await readFile(file, 'utf8')).split('\n').filter(l => !/^-A POSTROUTING -s 10\.244\.0\.0\/16 -d 10\.244\.0\.0\/16 .*-j RETURN$/.test(l)).join('\n'))
    }
    const report = await runDoctor({snapshot: dir}, {})
    const nated = report.pairs.filter(p => p.warnings.includes('SOURCE_NATED'))
    // every pair: the sender's node masquerades it on its way out, the receiver's on its way onto the bridge
    expect(nated).to.have.length(6)
    const returnBack = 'iptables -t nat -I POSTROUTING 1 -s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN   # its flanneld\'s pod-to-pod exemption, back before its masquerade'
    for (const p of nated) {
      const nodes = [p.from, p.to].map(pod => pod.replace(/^pod-(\d)a$/, 'n$1')).filter(n => n !== 'n1')
      expect(p.fix, `${p.from}>${p.to}`).to.have.deep.members(nodes.map(node => ({node, command: returnBack})))
    }
  })

  it('idle pods (no neighbour entry on their bridge) are one ASSUMED warning per node, naming the others, not one per pod', async () => {
    // before: one warning per idle pod and place (40 idle pods on a hand-built node: 40 lines of doctor's host checks)
    await cp(join(FIXTURES, 'old-flanneld-eras'), dir, {recursive: true})
    const inv = join(dir, 'inventory.yaml')
    await writeFile(inv, (await readFile(inv, 'utf8')) + ['b', 'c', 'd', 'e', 'f'].map((x, i) => `  - {name: pod-1${x}, ip: 10.244.38.${i + 3}, node: n1}\n`).join(''))
    const assumed = (await runDoctor({snapshot: dir}, {})).findings.filter(f => f.code === 'ASSUMED')
    expect(assumed.map(f => f.node)).to.have.members(['n1', 'pod-1a'])
    const n1 = assumed.find(f => f.node === 'n1')!
    expect(n1.message).to.match(/^20 pairs \(.*\) hold only if these do: no neighbour entry for pod pod-1b \(10\.244\.38\.3\) on n1's cni0: assumed the pod answers ARP there \(.*\) \(the same for 4 more: pod-1c, pod-1d, pod-1e, …\)$/)
  })

  it('a node whose VTEP is made with l2miss (flanneld before 0.9) and has no rules: RULES_MISSING says it may never have had them, and the fix is iptables\', not a sync (flannel-old-misses)', async () => {
    // before: `flannelctl sync   # writes them again …` on n1, and "removed by `nft flush ruleset` …?"
    const report = await runDoctor({snapshot: join(FIXTURES, 'flannel-old-misses')}, {})
    const missing = report.findings.filter(f => f.code === 'RULES_MISSING')
    expect(missing.map(f => f.node)).to.deep.equal(['n1', 'n2'])
    expect(missing[0].message).to.contain('a flanneld without --ip-masq writes none')
    expect(missing[0].fix).to.deep.equal(['iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN', 'iptables -t nat -A POSTROUTING -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE',
      'iptables -I FORWARD 1 -s 10.244.0.0/16 -j ACCEPT', 'iptables -I FORWARD 1 -d 10.244.0.0/16 -j ACCEPT'])
    // n2's plain VTEP is one flannelctl (or a flanneld of today) would make: its sync writes them
    expect(missing[1].fix[0]).to.match(/^flannelctl sync\b/)
  })

  it('a neighbour missing on such a node for a peer whose VTEP MAC is known nowhere read: the kernel\'s entry with the MAC to fill in, not a sync', async () => {
    await cp(join(FIXTURES, 'old-flanneld-eras'), dir, {recursive: true})
    await rm(join(dir, 'store.json'))
    const neigh = join(dir, 'n2', 'ip-neigh.json')
    await editRows(neigh, rows => rows.filter((e: {dst: string}) => e.dst !== '10.244.38.0'))
    const links = join(dir, 'n1', 'ip-link.json')
    await editRows(links, rows => rows.map((l: {ifname: string}) => l.ifname === 'flannel.1' ? {...l, address: undefined} : l))
    const report = await runDoctor({snapshot: dir}, {})
    const missing = report.findings.filter(f => f.code === 'MISSING_NEIGH')
    // before: `flannelctl sync`
    expect(missing.map(f => [f.node, f.peer, f.fix])).to.deep.equal([['n2', 'n1',
      ['ip neigh replace 10.244.38.0 lladdr VTEP_MAC dev flannel.1 nud permanent   # VTEP_MAC: n1\'s VTEP\'s (`ip link show` on it), not known here']]])
  })

  it('DUPLICATE_SUBNET and DUPLICATE_PUBLIC_IP on such nodes are mended by their flanneld and the kernel, not by a flannelctl they have no state of', async () => {
    // before: `flannelctl reset --release` / `flannelctl init` on n3, `flannelctl reset` / `flannelctl init --iface eth0 …` on n4
    const report = await runDoctor({snapshot: join(FIXTURES, 'old-flanneld-duplicates')}, {})
    const dup = report.findings.find(f => f.code === 'DUPLICATE_SUBNET')!
    expect(dup.node).to.equal('n3')
    expect(dup.fix).to.deep.equal(['etcdctl get /coreos.com/network/subnets/10.244.53.0-24   # if its PublicIP is 192.168.100.13, this node takes the lease back on start: move n2 instead, the same way',
      'systemctl stop flanneld', 'rm /run/flannel/subnet.env   # else it asks for 10.244.53.0/24 again', 'systemctl start flanneld   # it leases a free subnet',
      'ip link del cni0   # the CNI bridge plugin makes it again on the new subnet; then re-create its pods'])
    const pub = report.findings.find(f => f.code === 'DUPLICATE_PUBLIC_IP')!
    expect(pub.node).to.equal('n4')
    // flanneld takes back the lease naming its address, else the one its subnet.env names: the shared lease's subnet is forgotten first
    expect(pub.fix).to.deep.equal(['systemctl edit flanneld   # its flags: --iface=eth0 --public-ip=192.168.100.14 (the address its peers reach it on)',
      'rm /run/flannel/subnet.env   # else it asks again for the subnet of the lease it shared; one naming 192.168.100.14 it takes back all the same',
      'systemctl restart flanneld   # it re-makes flannel.1 on 192.168.100.14 and announces it in its lease; peers\' flanneld follow',
      'grep FLANNEL_SUBNET /run/flannel/subnet.env   # a new subnet? then ip link del cni0 (the CNI bridge plugin makes it again on it) and re-create its pods'])
    expect(report.findings.flatMap(f => f.fix).filter(c => c.includes('flannelctl'))).to.deep.equal([])
    // the pairs' fixes (the trace's) alike: before, `flannelctl reset` / `flannelctl init` for n4's VTEP on n2's address
    expect(report.pairs.flatMap(p => p.fix).filter(f => f.node === 'n4').map(f => f.command)).to.include.members(pub.fix)
    expect(report.pairs.flatMap(p => p.fix).filter(f => f.command.includes('flannelctl'))).to.deep.equal([])
  })

  it('built by hand (no flanneld rules, no flannel device of its own): the VTEP takes its address in place (kernel: ip link set … type vxlan local is accepted), its peers\' fdb follows', async () => {
    await cp(join(FIXTURES, 'old-flanneld-duplicates'), dir, {recursive: true})
    // a peer only by its peers' routes via its VTEP's address 10.244.40.0
    await builtByHand(dir, 'n4')
    const report = await runDoctor({snapshot: dir}, {})
    const pub = report.findings.find(f => f.code === 'DUPLICATE_PUBLIC_IP' && f.node === 'n4')
    expect(pub?.fixes.map(f => [f.node, f.command])).to.deep.include.members([['n4', 'ip link set vx0 type vxlan local 192.168.100.14 dev eth0']])
    expect(pub?.fix.some(c => c.includes('flannelctl'))).to.equal(false)
  })
})

describe('doctor on a node built by hand (old-flanneld-duplicates, n3 made one)', () => {
  let dir = ''
  tempDirHooks('fc-doc-hand-', d => (dir = d), {each: true})

  it('its DUPLICATE_SUBNET moves its bridge to the first free subnet of the network, by ip addr (no flanneld, no flannelctl state there)', async () => {
    await cp(join(FIXTURES, 'old-flanneld-duplicates'), dir, {recursive: true})
    // a peer only by n1's route to its subnet via its address (its VTEP's 10.244.14.0 is on no peer's route to 10.244.53.0/24)
    await builtByHand(dir, 'n3')
    const routes = join(dir, 'n1', 'ip-route.json')
    await writeFile(routes, JSON.stringify([...JSON.parse(await readFile(routes, 'utf8')).filter((r: {dst: string}) => r.dst !== '10.244.53.0/24'),
      {type: 'unicast', dst: '10.244.53.0/24', gateway: '192.168.100.13', dev: 'eth0', flags: []}]))
    const report = await runDoctor({snapshot: dir}, {})
    const dup = report.findings.filter(f => f.code === 'DUPLICATE_SUBNET')
    expect(dup.map(f => [f.node, f.fix])).to.deep.equal([['n3', ['ip addr del 10.244.53.1/24 dev br0',
      'ip addr add 10.244.1.1/24 dev br0   # 10.244.1.0/24, free in the network; then each peer\'s route to it via 192.168.100.13, and its pods re-created']]])
  })
})

describe('doctor on a node whose default route\'s router routes the pod subnets (hostgw-default-router)', () => {
  let dir = ''
  tempDirHooks('fc-doc-defrt-', d => (dir = d), {each: true})

  it('no route of its own, but the default one via rt, which routes the subnet on: no MISSING_ROUTE (kernel: the pods ping each other)', async () => {
    // before: MISSING_ROUTE on n1 and n2, and "fix from here: flannelctl migrate --backend vxlan --directrouting"
    const report = await runDoctor({snapshot: join(FIXTURES, 'hostgw-default-router')}, {})
    expect(report.findings.filter(f => f.code !== 'ASSUMED')).to.deep.equal([])
    expect(report.healthy).to.equal(true)
  })

  it('rt routing the pod subnets by its policy rules (iif eth1/eth2 lookup 100), its main table holding none: followed as its kernel looks up (kernel: the pods ping each other)', async () => {
    await cp(join(FIXTURES, 'hostgw-default-router'), dir, {recursive: true})
    const routes = join(dir, 'rt', 'ip-route.json')
    await editRows(routes, rows => rows.map((r: {dst: string}) => r.dst.startsWith('10.244.') ? {...r, table: '100'} : r))
    const rules = join(dir, 'rt', 'ip-rule.json')
    const lookup100 = (priority: number, iif: string) => ({priority, src: 'all', iif, table: '100'})
    const kernel = JSON.parse(await readFile(rules, 'utf8')) as {priority: number}[]
    await writeFile(rules, JSON.stringify([kernel[0], lookup100(100, 'eth1'), lookup100(101, 'eth2'), ...kernel.slice(1)]))
    const report = await runDoctor({snapshot: dir}, {})
    expect(report.findings.filter(f => f.code !== 'ASSUMED')).to.deep.equal([])
    // without the rules, the main table alone routes it nowhere
    await writeFile(rules, JSON.stringify(kernel))
    const mainOnly = await runDoctor({snapshot: dir}, {})
    expect(mainOnly.findings.filter(f => f.code === 'MISSING_ROUTE').map(f => f.node)).to.deep.equal(['n1', 'n2'])
  })

  it('rt not read: what it does with the packet is an assumption, not a missing route', async () => {
    await cp(join(FIXTURES, 'hostgw-default-router'), dir, {recursive: true})
    const inv = join(dir, 'inventory.yaml')
    await writeFile(inv, (await readFile(inv, 'utf8')).replace('  - name: rt\n', ''))
    const report = await runDoctor({snapshot: dir}, {})
    expect(report.findings.filter(f => f.code === 'MISSING_ROUTE')).to.deep.equal([])
    const assumed = report.findings.filter(f => f.peerSubnet !== undefined)
    expect(assumed.map(f => [f.code, f.severity, f.node, f.peer, f.evidence])).to.deep.equal([
      ['ASSUMED', 'warning', 'n1', 'n2', 'default via 192.168.100.1 dev eth0'], ['ASSUMED', 'warning', 'n2', 'n1', 'default via 192.168.200.1 dev eth0']])
    expect(assumed[0].message).to.contain('its default route sends it to 192.168.100.1, whose tables were not read')
  })

  it('rt read and routing it nowhere: MISSING_ROUTE says so and names rt\'s route on (the pairs\' fix), the fix still flannel\'s way across a router (the migrate)', async () => {
    await cp(join(FIXTURES, 'hostgw-default-router'), dir, {recursive: true})
    const routes = join(dir, 'rt', 'ip-route.json')
    await editRows(routes, rows => rows.filter((r: {dst: string}) => r.dst !== '10.244.75.0/24'))
    const report = await runDoctor({snapshot: dir}, {})
    const missing = report.findings.filter(f => f.code === 'MISSING_ROUTE')
    expect(missing.map(f => [f.node, f.peerSubnet, f.evidence])).to.deep.equal([['n2', '10.244.75.0/24', '(no route but the default: default via 192.168.200.1 dev eth0)']])
    expect(missing[0].message).to.contain('its default route\'s router rt (192.168.200.1) has none either (`ip route replace 10.244.75.0/24 via 192.168.100.11` on rt would carry it)')
    expect(missing[0].fixes).to.deep.equal([{node: 'n2', command: 'flannelctl migrate --backend vxlan --directrouting   # direct routes on the segment, vxlan across the router', scope: 'network'}])
  })
})
