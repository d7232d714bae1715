import {expect} from 'chai'
import {cp, readFile, writeFile, mkdir, readdir, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {readSnapshotDir, writeSnapshotDir, snapshotFromTables, readTables, readTextSync} from '../../src/adapters/snapshot-dir.js'
import fc from 'fast-check'
import {readFileSync, writeFileSync} from 'node:fs'
import {sysctlText} from '../../src/adapters/collect.js'
import {writeClusterSnapshot, snapshotNode, snapshotServiceIP} from '../../src/services/bench.js'
import {traceFlow} from '../../src/core/trace/engine.js'
import {tempDirHooks} from '../helpers/temp-dir.js'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'snapshots')

describe('snapshot directory', () => {
  let dir = ''
  tempDirHooks('fc-snap-', d => (dir = d), {each: true})

  it('leaves a table whose file is missing undefined (unknown), and an empty file empty', async () => {
    // (JSON.parse(JSON.stringify()) below also proves the lazy tables serialise like plain ones)
    await mkdir(join(dir, 'n1'))
    await writeFile(join(dir, 'n1', 'ip-route.txt'), '10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink\n')
    await writeFile(join(dir, 'n1', 'ip-neigh.txt'), '')
    const s = await readSnapshotDir(dir)
    expect(s.inventory).to.deep.equal({nodes: [{name: 'n1'}]})
    const [h] = JSON.parse(JSON.stringify(s.hosts)) as typeof s.hosts
    expect(h.routes).to.have.length(1)
    expect(h.neighbors).to.deep.equal([])
    for (const k of ['links', 'addresses', 'fdb', 'iptables', 'sysctls'] as const) expect(h[k], k).to.equal(undefined)
  })

  it('prefers .json over .txt and reads sysctls in both forms', async () => {
    const json = JSON.stringify([{dst: '10.244.3.0/24', gateway: '10.244.3.0', dev: 'flannel.1', flags: ['onlink']}])
    expect(await readTables(dir)).to.deep.equal({})
    await writeFile(join(dir, 'ip-route.json'), json)
    await writeFile(join(dir, 'ip-route.txt'), 'default via 192.168.1.1 dev eth0\n')
    expect((await readTables(dir))['ip-route']).to.deep.equal({format: 'json', text: json})
    const snap = snapshotFromTables('n1', {
      'ip-route': {format: 'json', text: json},
      sysctl: {format: 'txt', text: sysctlText({'net.ipv4.ip_forward': '1', 'net.ipv4.conf.flannel.1.rp_filter': '2'}, 'txt')},
    })
    expect(snap.routes?.[0].gateway).to.equal('10.244.3.0')
    expect(snap.sysctls).to.deep.equal({'net.ipv4.ip_forward': '1', 'net.ipv4.conf.flannel.1.rp_filter': '2'})
    const again = snapshotFromTables('n1', {sysctl: {format: 'json', text: sysctlText({'net.ipv4.ip_forward': '0'}, 'json')}})
    expect(again.sysctls).to.deep.equal({'net.ipv4.ip_forward': '0'})
  })

  it('writes the layout and reads it back', async () => {
    const inventory = {nodes: [{name: 'n1', exec: 'netns:x'}], pods: [{name: 'pod-1a', ip: '10.244.1.2', node: 'n1'}]}
    await writeSnapshotDir(dir, inventory, [
      {name: 'n1', tables: {'ip-route': {format: 'txt', text: 'default via 192.168.1.1 dev eth0'}, 'iptables-save': {format: 'txt', text: '*filter\n:FORWARD DROP [0:0]\nCOMMIT\n'}}},
      {name: 'pod-1a', tables: {'ip-route': {format: 'json', text: '[{"dst":"default","gateway":"10.244.1.1","dev":"eth0"}]'}}},
    ], 'lab t')
    expect(await readFile(join(dir, 'inventory.yaml'), 'utf8')).to.match(/^# written by flannelctl collect from lab t at \S+; collect --out here again replaces this directory\n/)
    const s = await readSnapshotDir(dir)
    expect(s.inventory.nodes).to.deep.equal([{name: 'n1'}]) // exec is not a snapshot's business
    expect(s.podsWithTables).to.deep.equal(['pod-1a'])
    expect(s.hosts.map(h => h.name)).to.deep.equal(['n1', 'pod-1a'])
    expect(s.hosts[0].routes?.[0].gateway).to.equal('192.168.1.1')
    expect(s.hosts[0].iptables?.chains.find(c => c.name === 'FORWARD')?.policy).to.equal('DROP')
  })

  it('replaces a snapshot collect wrote whole: a host, a table or a form no longer collected is gone, not mixed in', async () => {
    const inventory = {nodes: [{name: 'n1'}, {name: 'n2'}], pods: [{name: 'pod-1a', ip: '10.244.1.2', node: 'n1'}]}
    await writeSnapshotDir(dir, inventory, [
      {name: 'n1', tables: {'ip-route': {format: 'json', text: '[]'}, 'iptables-save': {format: 'txt', text: '*filter\n:FORWARD DROP [0:0]\nCOMMIT\n'}}},
      {name: 'n2', tables: {'ip-route': {format: 'json', text: '[]'}}},
      {name: 'pod-1a', tables: {'ip-route': {format: 'json', text: '[]'}}},
    ])
    await writeFile(join(dir, 'store.json'), '{}')
    await writeSnapshotDir(dir, {nodes: [{name: 'n1'}]}, [{name: 'n1', tables: {'ip-route': {format: 'txt', text: 'default via 192.168.1.1 dev eth0'}}}])
    expect((await readdir(dir)).sort()).to.deep.equal(['inventory.yaml', 'n1'])
    expect(await readdir(join(dir, 'n1'))).to.deep.equal(['ip-route.txt'])
    const s = await readSnapshotDir(dir)
    expect(s.hosts.map(h => h.name)).to.deep.equal(['n1'])
    expect(s.hosts[0].iptables).to.equal(undefined)
  })

  it('refuses a directory that is not empty and not a snapshot collect wrote, and leaves it as it was', async () => {
    const write = (out: string) => writeSnapshotDir(out, {nodes: [{name: 'n1'}]}, [{name: 'n1', tables: {'ip-route': {format: 'txt', text: ''}}}])
      .then(() => undefined, e => e as {message: string, hint: string, exitCode: number})
    // someone's files
    await writeFile(join(dir, 'notes.txt'), 'mine')
    let err = await write(dir)
    expect(err?.message).to.equal(`--out ${dir} is not empty and holds no snapshot collect wrote (it holds notes.txt)`)
    expect(err?.hint).to.contain(`--out ${join(dir, 'snapshot')}`)
    expect(err?.exitCode).to.equal(2)
    expect(await readdir(dir)).to.deep.equal(['notes.txt'])
    // a snapshot by hand (or by an older collect): pasted tables are not to be lost
    const byHand = join(dir, 'by-hand')
    await cp(join(FIXTURES, 'vxlan-route-n'), byHand, {recursive: true})
    const before = (await readdir(byHand, {recursive: true})).sort()
    err = await write(byHand)
    expect(err?.message).to.match(/holds a snapshot that collect did not write \(by hand, or by an older flannelctl: its inventory\.yaml does not start with "# written by flannelctl collect"\)$/)
    expect((await readdir(byHand, {recursive: true})).sort()).to.deep.equal(before)
    // collect's own snapshot with a file added to it
    const ours = join(dir, 'ours')
    await write(ours)
    await writeFile(join(ours, 'n1', 'notes.txt'), 'mine')
    err = await write(ours)
    expect(err?.message).to.equal(`--out ${ours} holds a snapshot collect wrote, and ${join(ours, 'n1', 'notes.txt')}, which collect did not write`)
    expect(await readFile(join(ours, 'n1', 'notes.txt'), 'utf8')).to.equal('mine')
    await mkdir(join(dir, 'empty'))
    expect(await write(join(dir, 'empty'))).to.equal(undefined)
  })

  it('a node collect could not read is listed `unread:` with why, and has no directory to read', async () => {
    await writeSnapshotDir(dir, {nodes: [{name: 'n1'}, {name: 'n2', unread: 'netns:x-n2: Cannot open network namespace "x-n2": No such file or directory'}]},
      [{name: 'n1', tables: {'ip-route': {format: 'txt', text: ''}}}])
    expect(await readFile(join(dir, 'inventory.yaml'), 'utf8')).to.contain(`  - name: n2\n    unread: 'netns:x-n2: Cannot open network namespace "x-n2": No such file or directory'\n`)
    const s = await readSnapshotDir(dir)
    expect(s.hosts.map(h => h.name)).to.deep.equal(['n1'])
    expect(s.unread).to.deep.equal([{name: 'n2', reason: 'netns:x-n2: Cannot open network namespace "x-n2": No such file or directory'}])
    // a node unread is still one of the snapshot's: a directory for it does not make it read
    await mkdir(join(dir, 'n2'))
    await writeFile(join(dir, 'n2', 'ip-route.txt'), '')
    expect((await readSnapshotDir(dir)).hosts.map(h => h.name)).to.deep.equal(['n1'])
  })

  it('says which directories inventory.yaml leaves out (another host\'s collect copied in)', async () => {
    await writeSnapshotDir(dir, {nodes: [{name: 'n1'}]}, [{name: 'n1', tables: {'ip-route': {format: 'txt', text: ''}}}])
    await mkdir(join(dir, 'n2'))
    await mkdir(join(dir, '.git')) // a snapshot kept in git: no node's name
    expect((await readSnapshotDir(dir)).unlisted).to.deep.equal(['n2'])
  })

  it('says which node directory is missing, and what a bad file is', async () => {
    await writeFile(join(dir, 'inventory.yaml'), 'nodes: [{name: n1}, {name: n2}]\n')
    await mkdir(join(dir, 'n1'))
    try {
      await readSnapshotDir(dir)
      expect.fail('no error')
    } catch (e) {
      expect((e as Error).message).to.match(/has no directory for node 'n2'/)
      expect((e as {exitCode: number}).exitCode).to.equal(2)
    }
    await mkdir(join(dir, 'n2'))
    await writeFile(join(dir, 'n2', 'ip-route.json'), '[{"dst": ')
    // Tables are parsed when first used, so a large snapshot costs only the hosts a trace visits.
    const s = await readSnapshotDir(dir)
    try {
      void s.hosts[1].routes
      expect.fail('no error')
    } catch (e) {
      expect((e as Error).message).to.contain('n2/ip-route.json')
      expect((e as {exitCode: number}).exitCode).to.equal(2)
    }
  })

  it('reads the hand-pasted vxlan fixture (ifconfig, ip r, arp -n, bridge fdb show dev flannel.1)', async () => {
    const s = await readSnapshotDir(join(FIXTURES, 'vxlan-paste'))
    const w1 = s.hosts.find(h => h.name === 'worker1')!
    expect(w1.addresses?.find(a => a.dev === 'flannel.1' && a.family === 4)?.local).to.equal('10.244.1.0')
    expect(w1.neighbors?.find(n => n.dst === '10.244.2.0')?.lladdr).to.equal('76:2f:9c:41:d2:22')
    expect(w1.fdb?.every(f => f.dev === 'flannel.1')).to.equal(true)
    expect(w1.iptables).to.equal(undefined)
    expect(s.inventory.pods?.map(p => p.name)).to.deep.equal(['web-7d4b9', 'db-0'])
  })

  it('reads the hand-pasted host-gw fixture (route -n)', async () => {
    const s = await readSnapshotDir(join(FIXTURES, 'hostgw-paste'))
    const n1 = s.hosts.find(h => h.name === 'node1')!
    expect(n1.routes?.find(r => r.dst === '10.244.2.0/24')?.gateway).to.equal('10.0.0.12')
  })

  it('traces a pasted old host (ifconfig, route -n without onlink, arp -n) to a newer one as the kernel delivers', async () => {
    const snap = await readSnapshotDir(join(FIXTURES, 'vxlan-route-n'))
    const t = traceFlow({hosts: snap.hosts, pods: snap.inventory.pods!}, {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition, t.failure?.reason).to.equal('DELIVERED')
    // traceroute -n from pod-1a in the lab the files were captured from
    expect(t.traceroute).to.deep.equal(['10.244.8.1', '10.244.27.0', '10.244.27.2'])
  })

  it('a vxlan line without dstport (iproute2 before 3.12) takes the packet, with an ASSUMED warning', async () => {
    await cp(join(FIXTURES, 'vxlan-route-n'), dir, {recursive: true})
    const linkFile = join(dir, 'n2', 'ip-link.txt')
    const text = await readFile(linkFile, 'utf8')
    await writeFile(linkFile, text.replace(/vxlan id 1 local 192.168.100.12 dev eth0 .*/, 'vxlan id 1 local 192.168.100.12 dev eth0 port 32768 61000 nolearning ageing 300 '))
    const snap = await readSnapshotDir(dir)
    const t = traceFlow({hosts: snap.hosts, pods: snap.inventory.pods!}, {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition, t.failure?.reason).to.equal('DELIVERED')
    expect(t.warnings.map(w => w.message)).to.include('the `ip -d link` line of flannel.1 on n2 prints no dstport (iproute2 before 3.12): assumed UDP 8472')
  })

  it('an address table pasted for some devices (ip addr show flannel.1) takes the others from the kernel routes', async () => {
    // the real kernel delivers; with n2's eth0 address unknown the trace said WRONG_VTEP_HOST and
    // offered to point the fdb entry at n2's cni0 address
    await cp(join(FIXTURES, 'vxlan-route-n'), dir, {recursive: true})
    await cp(join(import.meta.dirname, '..', 'fixtures', 'parse', 'pasted', 'ip-addr-some-devices.txt'), join(dir, 'n2', 'ip-addr.txt'))
    await rm(join(dir, 'n2', 'ip-link.txt'))
    const snap = await readSnapshotDir(dir)
    const n2 = snap.hosts.find(h => h.name === 'n2')!
    expect(n2.mayHoldAddress!('192.168.100.12')).to.equal(true)
    expect(n2.addresses!.find(a => a.local === '192.168.100.12')).to.deep.include({dev: 'eth0', prefixlen: 24})
    const t = traceFlow({hosts: snap.hosts, pods: snap.inventory.pods!}, {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition, t.failure?.reason).to.equal('DELIVERED')
    expect(t.traceroute).to.deep.equal(['10.244.8.1', '10.244.27.0', '10.244.27.2'])
  })

  it('routes pasted for one device (ip route show dev flannel.1) are not the whole table: a miss is unknown, not NO_ROUTE', async () => {
    await cp(join(FIXTURES, 'vxlan-route-n'), dir, {recursive: true})
    await writeFile(join(dir, 'n1', 'ip-route.txt'), 'root@n1:~# ip route show dev flannel.1\n10.244.27.0/24 via 10.244.27.0 onlink \n10.244.78.0/24 via 10.244.78.0 onlink \n')
    const snap = await readSnapshotDir(dir)
    const t = traceFlow({hosts: snap.hosts, pods: snap.inventory.pods!}, {src: 'pod-2a', dst: 'pod-1a'})
    // the reply of the kernel's own (delivered) ping comes back this way; n1's route to its own pods was not pasted
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure).to.deep.include({node: 'n1', step: 'route'})
    expect(t.failure?.fix).to.deep.equal([{node: 'n1', command: 'ip route get 10.244.8.2'}])
  })

  it('neighbours and fdb pasted for cni0 only leave flannel.1\'s unknown: INSUFFICIENT_INFO, not NEIGHBOR_MISSING', async () => {
    await cp(join(FIXTURES, 'vxlan-route-n'), dir, {recursive: true})
    const pastedDir = join(import.meta.dirname, '..', 'fixtures', 'parse', 'pasted')
    await cp(join(pastedDir, 'ip-neigh-dev-cni0.txt'), join(dir, 'n1', 'ip-neigh.txt'))
    await cp(join(pastedDir, 'bridge-fdb-br-cni0.txt'), join(dir, 'n1', 'bridge-fdb.txt'))
    let snap = await readSnapshotDir(dir)
    let t = traceFlow({hosts: snap.hosts, pods: snap.inventory.pods!}, {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure?.fix).to.deep.equal([{node: 'n1', command: 'ip neigh show dev flannel.1'}])
    // with flannel.1's neighbours pasted too, the fdb is what is missing
    await writeFile(join(dir, 'n1', 'ip-neigh.txt'), '# ip neigh show dev flannel.1\n10.244.27.0 lladdr 16:58:7b:64:7f:ad PERMANENT\n')
    snap = await readSnapshotDir(dir)
    t = traceFlow({hosts: snap.hosts, pods: snap.inventory.pods!}, {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure).to.deep.include({step: 'fdb', fix: [{node: 'n1', command: 'bridge fdb show dev flannel.1'}]})
  })

  it('reads files saved as UTF-16 (PowerShell\'s >, Notepad\'s "Unicode"), both byte orders', async () => {
    await mkdir(join(dir, 'n1'))
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink\r\n', 'utf16le')])
    await writeFile(join(dir, 'n1', 'ip-route.txt'), le)
    const be = Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('nodes:\r\n  - name: n1\r\n', 'utf16le').swap16()])
    await writeFile(join(dir, 'inventory.yaml'), be)
    const snap = await readSnapshotDir(dir)
    expect(snap.inventory.nodes).to.deep.equal([{name: 'n1'}])
    expect(snap.hosts[0].routes?.[0]).to.deep.include({gateway: '10.244.2.0', onlink: true})
  })

  it('decodes a table file\'s bytes as UTF-8 (or UTF-16 after its byte order mark), ASCII by its quick way too', () => {
    const path = join(dir, 'table.txt')
    const head = fc.constantFrom([], [0xff, 0xfe], [0xfe, 0xff], [0xef, 0xbb, 0xbf], [0xef, 0xbf, 0xbd], [0xff], [0xc3], [0x80])
    const text = fc.oneof(fc.string({unit: 'binary'}).map(t => [...Buffer.from(t, 'utf8')]), fc.array(fc.integer({min: 0, max: 255}), {maxLength: 40}),
      fc.array(fc.integer({min: 0, max: 127}), {maxLength: 40}))
    const utf16 = (bytes: Buffer) => bytes[0] === 0xff ? bytes.subarray(2).toString('utf16le')
      : Buffer.from(bytes.subarray(2, bytes.length - (bytes.length % 2))).swap16().toString('utf16le')
    fc.assert(fc.property(head, text, (h, t) => {
      const bytes = Buffer.from([...h, ...t])
      writeFileSync(path, bytes)
      const bom = bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
      expect(readTextSync(path)).to.equal(bom ? utf16(bytes) : bytes.toString('utf8'))
    }), {numRuns: 2000})
  })

  it('a file where the snapshot directory goes is one clear error (exit 2), writing or reading', async () => {
    const file = join(dir, 'taken')
    await writeFile(file, 'x')
    for (const out of [file, join(file, 'sub')]) {
      const err = await writeSnapshotDir(out, {nodes: [{name: 'n1'}]}, [{name: 'n1', tables: {'ip-route': {format: 'txt', text: ''}}}]).then(() => undefined, e => e as {message: string, exitCode: number})
      expect(err?.message).to.match(/^cannot write the snapshot to .*: a file is in the way of a directory$/)
      expect(err?.exitCode).to.equal(2)
    }
    const err = await readSnapshotDir(file).then(() => undefined, e => e as {message: string})
    expect(err?.message).to.equal(`snapshot directory ${file} is a file, not a directory`)
  })

  it('under /proc: one clear error at once (Node\'s recursive mkdir spun there forever at 100% CPU)', async () => {
    for (const out of ['/proc/fcbi-nope', '/proc/fcbi-nope/sub']) {
      const err = await writeSnapshotDir(out, {nodes: [{name: 'n1'}]}, [{name: 'n1', tables: {'ip-route': {format: 'txt', text: ''}}}]).then(() => undefined, e => e as {message: string, exitCode: number})
      expect(err?.message).to.equal(`cannot write the snapshot to ${out}: cannot create a directory there: /proc/fcbi-nope`)
      expect(err?.exitCode).to.equal(2)
    }
  })

  it('iptables -S FORWARD pasted: the chain it jumps to and the other chains are unknown, not empty', async () => {
    await cp(join(FIXTURES, 'vxlan-route-n'), dir, {recursive: true})
    const save = join(dir, 'n2', 'iptables-save.txt')
    const trace = async () => {
      const snap = await readSnapshotDir(dir)
      return traceFlow({hosts: snap.hosts, pods: snap.inventory.pods!}, {src: 'pod-1a', dst: 'pod-2a'})
    }
    // FLANNEL-FWD accepts pod traffic on the real node; the paste shows only the jump to it
    await writeFile(save, 'root@n2:~# iptables -S FORWARD\n-P FORWARD DROP\n-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD\n')
    let t = await trace()
    expect(t.disposition, t.failure?.reason).to.equal('INSUFFICIENT_INFO')
    expect(t.failure?.fix).to.deep.equal([{node: 'n2', command: 'iptables -S FLANNEL-FWD'}])
    await writeFile(save, 'root@n2:~# iptables -S FORWARD\n-P FORWARD ACCEPT\n-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD\n')
    t = await trace()
    expect(t.disposition).to.equal('DELIVERED')
    const n2 = t.warnings.filter(w => w.node === 'n2').map(w => w.message)
    expect(n2.some(m => m.startsWith('chain FLANNEL-FWD'))).to.equal(true)
    expect(n2).to.include('the nat table\'s POSTROUTING chain was not in the pasted `iptables -S` output: assumed it accepts and rewrites nothing')
  })

  it('a sysctl paste of ip_forward alone leaves rp_filter unknown: assumed 0, and said so', async () => {
    await cp(join(FIXTURES, 'vxlan-route-n'), dir, {recursive: true})
    await writeFile(join(dir, 'n2', 'sysctl.txt'), 'root@n2:~# sysctl net.ipv4.ip_forward\nnet.ipv4.ip_forward = 1\n')
    const snap = await readSnapshotDir(dir)
    const t = traceFlow({hosts: snap.hosts, pods: snap.inventory.pods!}, {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.warnings.some(w => w.node === 'n2' && w.message.startsWith('net.ipv4.conf.all.rp_filter and net.ipv4.conf.flannel.1.rp_filter not captured'))).to.equal(true)
  })

  it('links pasted for some devices (ip -d link show eth0) may lack the vxlan device: assumed, not PORT_MISMATCH', async () => {
    await cp(join(FIXTURES, 'vxlan-route-n'), dir, {recursive: true})
    const pastedDir = join(import.meta.dirname, '..', 'fixtures', 'parse', 'pasted')
    await cp(join(pastedDir, 'ip-d-link-show-eth0.txt'), join(dir, 'n2', 'ip-link.txt'))
    await cp(join(pastedDir, 'ip-addr-show-eth0-cni0.txt'), join(dir, 'n2', 'ip-addr.txt'))
    const snap = await readSnapshotDir(dir)
    expect(snap.hosts.find(h => h.name === 'n2')!.linksOfSomeDevicesOnly).to.equal(true)
    expect(snap.hosts.find(h => h.name === 'n1')!.linksOfSomeDevicesOnly).to.equal(undefined)
    const t = traceFlow({hosts: snap.hosts, pods: snap.inventory.pods!}, {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition, t.failure?.reason).to.equal('DELIVERED')
    expect(t.warnings.map(w => w.message)).to.include('the links of n2 were pasted for some devices only: assumed flannel.1 takes VNI 1 on UDP 8472')
  })

  it('reads table files saved without an extension, says which files it does not read, refuses a directory of none', async () => {
    await mkdir(join(dir, 'n1'))
    await writeFile(join(dir, 'n1', 'ip-route'), '[{"dst":"default","gateway":"10.0.0.1","dev":"eth0"}]\n')
    await writeFile(join(dir, 'n1', 'ip-neigh'), '10.0.0.1 dev eth0 lladdr 52:54:00:12:35:02 REACHABLE\n')
    await writeFile(join(dir, 'n1', 'routes.txt'), 'default via 10.0.0.1 dev eth0\n')
    const snap = await readSnapshotDir(dir)
    expect(snap.hosts[0].routes?.[0].gateway).to.equal('10.0.0.1')
    expect(snap.hosts[0].neighbors?.[0].lladdr).to.equal('52:54:00:12:35:02')
    expect(snap.ignored).to.deep.equal([join(dir, 'n1', 'routes.txt')])
    await mkdir(join(dir, 'n2'))
    await writeFile(join(dir, 'n2', 'arp.txt'), '')
    await writeFile(join(dir, 'inventory.yaml'), 'nodes:\n  - name: n1\n  - name: n2\n')
    const err = await readSnapshotDir(dir).then(() => undefined, e => e as {message: string, hint: string})
    expect(err?.message).to.equal(`${join(dir, 'n2')} holds no file flannelctl reads (found arp.txt)`)
    expect(err?.hint).to.contain('ip-neigh.txt')
  })

  it('one node\'s directory passed instead of the snapshot: says so and names the directory above it', async () => {
    await mkdir(join(dir, 'n1'))
    await writeFile(join(dir, 'n1', 'ip-route.json'), '[]\n')
    await writeFile(join(dir, 'n1', 'ip-neigh.txt'), '')
    const err = await readSnapshotDir(join(dir, 'n1')).then(() => undefined, e => e as {message: string, hint: string, exitCode: number})
    expect(err?.message).to.equal(`snapshot directory ${join(dir, 'n1')} holds one host's tables (ip-route.json, ip-neigh.txt, …), not a directory per node`)
    expect(err?.hint).to.contain(`--snapshot ${dir}`)
    expect(err?.exitCode).to.equal(2)
    // files that are no tables: nothing more to say than before
    await mkdir(join(dir, 'other'))
    await writeFile(join(dir, 'other', 'notes.txt'), '')
    expect(await readSnapshotDir(join(dir, 'other')).then(() => '', e => (e as Error).message)).to.equal(`snapshot directory ${join(dir, 'other')} holds no node directories`)
  })

  it('an idle pod on a host known only from ifconfig is traced from its node\'s cni0 (a bridge by its name)', async () => {
    // a host-gw lab captured with ifconfig, route -n and arp -n before its pods had talked
    const snap = await readSnapshotDir(join(FIXTURES, 'hostgw-ifconfig'))
    const t = traceFlow({hosts: snap.hosts, pods: [], podsDiscovered: true}, {src: '10.244.14.2', dst: '10.244.77.2'})
    expect(t.hops[0]).to.deep.include({node: 'n1', in: 'cni0'})
    expect(t.traceroute.slice(0, 2)).to.deep.equal(['10.244.14.1', '192.168.100.12'])
    // the idle pod at the far end answers on the real lab; the tables cannot tell (it was NEIGHBOR_MISSING)
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
  })

  it('a route marked linkdown is DEVICE_DOWN even when no link table was captured', async () => {
    await mkdir(join(dir, 'h1'))
    await writeFile(join(dir, 'h1', 'ip-route.txt'), '10.50.0.0/24 via 172.30.0.2 dev v1 linkdown \n172.30.0.0/24 dev v1 proto kernel scope link src 172.30.0.1 linkdown \n')
    await writeFile(join(dir, 'h1', 'ip-neigh.txt'), '172.30.0.2 dev v1 FAILED\n')
    await writeFile(join(dir, 'h1', 'ip-addr.txt'), 'lo               UNKNOWN        127.0.0.1/8\nv1@if2           DOWN           172.30.0.1/24\n')
    const snap = await readSnapshotDir(dir)
    const t = traceFlow({hosts: snap.hosts, pods: []}, {src: 'h1', dst: '10.50.0.1'})
    expect(t.disposition, t.failure?.reason).to.equal('DEVICE_DOWN')
    expect(t.failure?.evidence).to.equal('10.50.0.0/24 via 172.30.0.2 dev v1 linkdown')
    // a device that is not marked is taken as up, and the trace says so
    await writeFile(join(dir, 'h1', 'ip-route.txt'), 'default via 172.30.0.2 dev v1\n172.30.0.0/24 dev v1 proto kernel scope link src 172.30.0.1\n')
    const up = traceFlow({hosts: (await readSnapshotDir(dir)).hosts, pods: []}, {src: 'h1', dst: '10.50.0.1'})
    expect(up.disposition).to.not.equal('DEVICE_DOWN')
    expect(up.warnings.map(w => w.message)).to.include('no link details captured on h1: assumed v1 is up (`ip link show v1` would tell)')
  })

  it('traces a generated cluster parsing the address tables of only the hosts that can hold an address asked for', async () => {
    await writeClusterSnapshot(dir, 40)
    const snap = await readSnapshotDir(dir)
    const pods = snap.inventory.pods!.map(p => ({name: p.name, ip: p.ip, node: p.node, netns: p.netns}))
    const t = traceFlow({hosts: snap.hosts, pods}, {src: snapshotNode(0).pod, dst: snapshotNode(39).pod})
    expect(t.disposition, t.failure?.reason).to.equal('DELIVERED')
    const parsed = snap.hosts.filter(h => typeof Object.getOwnPropertyDescriptor(h, 'addresses')?.get !== 'function').map(h => h.name)
    expect(parsed.length, parsed.join(' ')).to.be.greaterThan(0).and.below(10)
    // the hint is no table: not enumerable, not copied
    expect(Object.keys(snap.hosts[0])).to.not.include('mayHoldAddress')
    expect({...snap.hosts[0]}).to.not.have.property('mayHoldAddress')
  })

  it('traces a generated cluster to a service through kube-proxy\'s rules on every node (the bench\'s kube-proxy row)', async () => {
    await writeClusterSnapshot(dir, 4, 300)
    const snap = await readSnapshotDir(dir)
    const pods = snap.inventory.pods!.map(p => ({name: p.name, ip: p.ip, node: p.node, netns: p.netns}))
    expect(snap.hosts[0].iptables?.rules.filter(r => r.table === 'nat' && r.chain.startsWith('KUBE-SEP-'))).to.have.length(300 * 2 * 2)
    const t = traceFlow({hosts: snap.hosts, pods}, {src: snapshotNode(0).pod, dst: snapshotServiceIP(221), proto: 'tcp', dport: 80})
    expect(t.disposition, t.failure?.reason).to.equal('DELIVERED')
    const dnat = t.hops.flatMap(h => h.steps).find(s => s.kind === 'nat' && s.verdict === 'dnat')
    expect(dnat?.evidence).to.match(/-j DNAT --to-destination 10\.16\.[12]\.2:8080$/)
    expect(t.hops[t.hops.length - 1].node).to.be.oneOf([snapshotNode(1).name, snapshotNode(2).name])
  })

  it('takes an address spelled with JSON escapes as an address of the host', async () => {
    await mkdir(join(dir, 'n1'))
    await writeFile(join(dir, 'n1', 'ip-addr.json'), '[{"ifname":"eth0","addr_info":[{"family":"inet","local":"10.0.0.\\u0031","prefixlen":24}]}]')
    const snap = await readSnapshotDir(dir)
    const host = snap.hosts[0]
    expect(host.mayHoldAddress!('10.0.0.1')).to.equal(true)
    expect(host.mayHoldAddress!('10.9.9.9')).to.equal(true)
    expect(host.addresses!.map(a => a.local)).to.deep.equal(['10.0.0.1'])
  })
})

