/**
 * The hand-run flanneld: two hosts with no shared store, each told about the other with `peer add`.
 * Real traffic between the pod gateways proves the routes; the SNAT rule is checked word for word.
 */
import {expect} from 'chai'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {cli, sh, inNs, uniqueLab} from '../helpers/cli.js'

describe('static peers (real namespaces, no shared store)', function () {
  this.timeout(60000)
  const tag = uniqueLab('s')
  const hosts = [
    {ns: `fcs-${tag}-a`, ip: '192.168.160.1', subnet: '10.244.1.0/24', gw: '10.244.1.1'},
    {ns: `fcs-${tag}-b`, ip: '192.168.160.2', subnet: '10.244.2.0/24', gw: '10.244.2.1'},
  ]
  let dir: string
  const args = (i: number) => ['--store', `file:${join(dir, `store${i}`)}`, '--subnet-file', join(dir, `subnet${i}.env`),
    '--cni-conf-dir', join(dir, `cni${i}`), '--state-file', join(dir, `node${i}.json`)]

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fcs-'))
    for (const h of hosts) await sh('ip', ['netns', 'add', h.ns])
    await sh('ip', ['-n', hosts[0].ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', hosts[1].ns])
    for (const h of hosts) {
      await sh('ip', ['-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0'])
      await sh('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'up'])
      await sh('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up'])
    }
  })
  after(async () => {
    for (const h of hosts) await sh('ip', ['netns', 'del', h.ns])
    await rm(dir, {recursive: true, force: true})
  })

  const pingGateways = () => sh('ip', ['netns', 'exec', hosts[0].ns, 'ping', '-c', '1', '-W', '1', '-I', hosts[0].gw, hosts[1].gw])

  it('host-gw: peer add gives the route, FORWARD accepts and the narrowed SNAT rule', async () => {
    for (const [i, h] of hosts.entries()) {
      const s = h.subnet.split('/')[0]
      const r = await cli(['init', '--network', '10.244.0.0/16', '--backend', 'host-gw', '--subnet-min', s, '--subnet-max', s,
        '--iface', 'eth0', '--no-ip-masq', ...args(i)], {netns: h.ns})
      expect(r.exitCode, r.stderr).to.equal(0)
    }
    expect((await pingGateways()).exitCode).to.not.equal(0)
    const conflist = async () => JSON.parse(await readFile(join(dir, 'cni0', '10-flannel.conflist'), 'utf8')).plugins[0].ipMasq as boolean
    expect(await conflist(), 'no masquerade by flannel: the bridge plugin masquerades').to.equal(true)
    // a node without a VTEP refuses a vxlan peer; --dry-run shows the plan of the peer it did not record
    const vxlanPeer = await cli(['peer', 'add', '--subnet', hosts[1].subnet, '--public-ip', hosts[1].ip, '--vtep-mac', '5a:1f:8e:00:00:02', ...args(0)], {netns: hosts[0].ns})
    expect(vxlanPeer.exitCode).to.equal(2)
    expect(vxlanPeer.stderr).to.contain('this host runs host-gw and has no vxlan device')
    const dry = await cli(['peer', 'add', '--subnet', hosts[1].subnet, '--public-ip', hosts[1].ip, '--dry-run', ...args(0)], {netns: hosts[0].ns})
    expect(dry.exitCode, dry.stderr).to.equal(0)
    expect(dry.stdout).to.contain('ip route replace 10.244.2.0/24 via 192.168.160.2 dev eth0')
    expect(await inNs(hosts[0].ns, 'ip', 'route')).to.not.contain('10.244.2.0/24')
    for (const [i, h] of hosts.entries()) {
      const other = hosts[1 - i]
      const r = await cli(['peer', 'add', '--subnet', other.subnet, '--public-ip', other.ip, ...args(i)], {netns: h.ns})
      expect(r.exitCode, r.stderr).to.equal(0)
      expect(r.stdout + r.stderr).to.contain('pods created before this first static peer keep the bridge plugin\'s masquerade rule')
    }
    expect(await conflist(), 'the narrowed rule masquerades now, so the bridge plugin must not').to.equal(false)
    expect(await inNs(hosts[0].ns, 'ip', 'route')).to.contain('10.244.2.0/24 via 192.168.160.2 dev eth0')
    const nat = (await inNs(hosts[0].ns, 'iptables-save', '-t', 'nat')).split('\n').filter(l => l.startsWith('-A'))
    expect(nat).to.deep.equal([
      '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
      '-A FLANNEL-POSTRTG -s 10.244.1.0/24 ! -d 10.244.0.0/16 ! -o cni0 -m comment --comment "flannelctl manual masq" -j MASQUERADE',
    ])
    expect(await inNs(hosts[0].ns, 'iptables-save', '-t', 'filter')).to.contain('-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT')
    expect((await pingGateways()).exitCode).to.equal(0)
    const list = JSON.parse((await cli(['peer', 'list', '--json', ...args(0)], {netns: hosts[0].ns})).stdout)
    expect(list).to.deep.equal([{subnet: '10.244.2.0/24', publicIP: '192.168.160.2', backend: 'host-gw', vtepMAC: null, source: 'static', state: 'in-sync'}])
  })

  it('peer remove takes the route away again', async () => {
    // the prefix length left off: before, only "see them with: flannelctl peer list"
    const bare = await cli(['peer', 'remove', '10.244.2.0', ...args(0)], {netns: hosts[0].ns})
    expect(bare.exitCode).to.equal(2)
    expect(bare.stderr).to.equal(`Error: no static peer 10.244.2.0 on this host\nHint: did you mean: flannelctl peer remove --state-file ${join(dir, 'node0.json')} 10.244.2.0/24`)
    const r = await cli(['peer', 'remove', '10.244.2.0/24', ...args(0)], {netns: hosts[0].ns})
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(await inNs(hosts[0].ns, 'ip', 'route')).to.not.contain('10.244.2.0/24')
    expect((await pingGateways()).exitCode).to.not.equal(0)
    // --no-ip-masq and no static peer: no nat chain is wanted, so none is reported missing
    const status = await cli(['status', '--json', ...args(0)], {netns: hosts[0].ns})
    expect(status.exitCode, status.stdout).to.equal(0)
    expect(JSON.parse(status.stdout).iptables.chains).to.deep.equal({'filter/FLANNEL-FWD': true})
  })

  it('a host-gw peer off this segment is recorded but gets no route (the kernel would refuse it); one outside the network is refused', async () => {
    const add = (subnet: string, ip: string) => cli(['peer', 'add', '--subnet', subnet, '--public-ip', ip, ...args(0)], {netns: hosts[0].ns})
    const far = await add('10.244.3.0/24', '192.168.161.9')
    expect(far.exitCode, far.stderr).to.equal(0)
    expect(far.stdout + far.stderr).to.contain('peer 10.244.3.0/24 (192.168.161.9) is not on-link from eth0, so no route to it')
    expect(await inNs(hosts[0].ns, 'ip', 'route')).to.not.contain('10.244.3.0/24')
    const list = JSON.parse((await cli(['peer', 'list', '--json', ...args(0)], {netns: hosts[0].ns})).stdout) as {subnet: string; state: string}[]
    // off-link, not missing: sync cannot add its route, and status keeps exit 0 for it (its help says a peer sync cannot route to is a warning)
    expect(list.map(p => `${p.subnet} ${p.state}`)).to.deep.equal(['10.244.3.0/24 off-link'])
    const status = await cli(['status', ...args(0)], {netns: hosts[0].ns})
    expect(status.exitCode, status.stdout).to.equal(0)
    expect(status.stdout).to.contain('1 off-link (host-gw cannot route to it: see the warning)')

    // a subnet some host leases in the store is that host's, through the store
    const leases = join(dir, 'store0', 'coreos.com', 'network', 'subnets')
    await writeFile(join(leases, '10.244.7.0-24'), JSON.stringify({PublicIP: '192.168.160.7', PublicIPv6: null, BackendType: 'host-gw'}))
    const taken = await add('10.244.7.0/24', '192.168.160.2')
    expect(taken.exitCode).to.equal(2)
    expect(taken.stderr).to.contain('10.244.7.0/24 overlaps 10.244.7.0/24, leased in')
    // the address of a host that leases in the store is that host's, with its one subnet (before: accepted, its VTEP dropping the frames)
    const atHolder = await add('10.244.9.0/24', '192.168.160.7')
    expect(atHolder.exitCode).to.equal(2)
    expect(atHolder.stderr.split('\n')[0]).to.match(/^Error: --public-ip 192\.168\.160\.7 is the host of 10\.244\.7\.0\/24 in file:.*: a peer through the store already, and a host holds one subnet$/)
    // a subnet of another size than the network's leases is none of them, whatever it overlaps
    const half = await add('10.244.8.0/25', '192.168.160.2')
    expect(half.exitCode).to.equal(2)
    expect(half.stderr.split('\n')[0]).to.equal('Error: 10.244.8.0/25 is a /25, and the network\'s SubnetLen is 24: every node\'s lease is a /24')
    // peer list shows it; peer remove says whose it is rather than "no static peer"
    const notStatic = await cli(['peer', 'remove', '10.244.7.0/24', ...args(0)], {netns: hosts[0].ns})
    expect(notStatic.exitCode).to.equal(2)
    expect(notStatic.stderr).to.contain('Error: 10.244.7.0/24 is not a static peer: it is 192.168.160.7\'s lease in file:')
    // a command for another host carries none of this one's files
    expect(notStatic.stderr).to.contain('Hint: it leaves when flannelctl reset --release runs on that host (or its lease expires)')
    await rm(join(leases, '10.244.7.0-24'))

    // a host address for the subnet is a typo of its network: the message names the one meant
    const typo = await add('10.244.5.7/24', '192.168.160.2')
    expect(typo.exitCode).to.equal(2)
    expect(typo.stderr).to.equal('Error: --subnet \'10.244.5.7/24\' has host bits set: its network is 10.244.5.0/24\nHint: pass --subnet 10.244.5.0/24')

    const outside = await add('10.99.0.0/24', '192.168.160.2')
    expect(outside.exitCode).to.equal(2)
    expect(outside.stderr).to.contain('10.99.0.0/24 is outside the network 10.244.0.0/16')
    expect(await inNs(hosts[0].ns, 'ip', 'route')).to.not.contain('10.99.0.0/24')
    expect((await cli(['peer', 'remove', '10.99.0.0/24', ...args(0)], {netns: hosts[0].ns})).exitCode, 'never recorded').to.equal(2)

    const own = await add('10.244.4.0/24', hosts[0].ip)
    expect(own.exitCode).to.equal(2)
    expect(own.stderr).to.contain('192.168.160.1 is this host\'s own public IP, not a peer\'s')
    expect(await inNs(hosts[0].ns, 'ip', 'route')).to.not.contain('10.244.4.0/24')
    // another address of this host (a second interface's, a secondary one) is no peer either
    await inNs(hosts[0].ns, 'ip', 'addr', 'add', '192.168.170.1/24', 'dev', 'eth0')
    const mine = await add('10.244.4.0/24', '192.168.170.1')
    expect(mine.exitCode).to.equal(2)
    expect(mine.stderr).to.contain('192.168.170.1 is another address of this host, not a peer\'s')
    await inNs(hosts[0].ns, 'ip', 'addr', 'del', '192.168.170.1/24', 'dev', 'eth0')

    // the same subnet again replaces the peer, and says so (--dry-run: that it would); it is not the "first static peer"
    const wouldMove = await cli(['peer', 'add', '--subnet', '10.244.3.0/24', '--public-ip', '192.168.160.2', '--dry-run', ...args(0)], {netns: hosts[0].ns})
    expect(wouldMove.stderr).to.contain('static peer 10.244.3.0/24 was at 192.168.161.9, now 192.168.160.2: would be replaced')
    const moved = await add('10.244.3.0/24', '192.168.160.2')
    expect(moved.exitCode, moved.stderr).to.equal(0)
    expect(moved.stderr).to.contain('static peer 10.244.3.0/24 was at 192.168.161.9, now 192.168.160.2: replaced')
    expect(moved.stderr).to.not.contain('first static peer')
    expect(await inNs(hosts[0].ns, 'ip', 'route')).to.contain('10.244.3.0/24 via 192.168.160.2 dev eth0')
    // the same peer again moves nothing, so it is not called a replacement
    const again = await add('10.244.3.0/24', '192.168.160.2')
    expect(again.exitCode, again.stderr).to.equal(0)
    expect(again.stderr).to.contain('static peer 10.244.3.0/24 is already at 192.168.160.2')
    expect(again.stderr).to.not.contain('replaced')
    expect(again.stdout).to.contain('up to date: nothing to change')

    // as peer add names it; the removal says what it removed (--dry-run: that it would)
    const wouldRemove = await cli(['peer', 'remove', '10.244.3.0/24', '--dry-run', ...args(0)], {netns: hosts[0].ns})
    expect(wouldRemove.stderr).to.contain('static peer 10.244.3.0/24 at 192.168.160.2: would be removed')
    const r = await cli(['peer', 'remove', '--subnet', '10.244.3.0/24', ...args(0)], {netns: hosts[0].ns})
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(r.stderr).to.contain('static peer 10.244.3.0/24 at 192.168.160.2: removed')
    expect(JSON.parse((await cli(['peer', 'list', '--json', ...args(0)], {netns: hosts[0].ns})).stdout)).to.deep.equal([])
  })

  it('vxlan: peer add with the peer\'s VTEP MAC', async () => {
    for (const [i, h] of hosts.entries()) {
      await cli(['reset', ...args(i)], {netns: h.ns})
      const s = h.subnet.split('/')[0]
      const r = await cli(['init', '--network', '10.244.0.0/16', '--backend', 'vxlan', '--subnet-min', s, '--subnet-max', s,
        '--iface', 'eth0', '--store', `file:${join(dir, `vx${i}`)}`, ...args(i).slice(2)], {netns: h.ns})
      expect(r.exitCode, r.stderr).to.equal(0)
    }
    const macs = await Promise.all(hosts.map(async h => JSON.parse(await inNs(h.ns, 'ip', '-j', 'link', 'show', 'flannel.1'))[0].address as string))
    for (const [i, h] of hosts.entries()) {
      const other = hosts[1 - i]
      const r = await cli(['peer', 'add', '--subnet', other.subnet, '--public-ip', other.ip, '--vtep-mac', macs[1 - i],
        '--store', `file:${join(dir, `vx${i}`)}`, ...args(i).slice(2)], {netns: h.ns})
      expect(r.exitCode, r.stderr).to.equal(0)
    }
    expect(await inNs(hosts[0].ns, 'ip', 'route')).to.contain('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink')
    expect(await inNs(hosts[0].ns, 'bridge', 'fdb', 'show', 'dev', 'flannel.1')).to.contain(`${macs[1]} dst 192.168.160.2 self permanent`)
    expect((await pingGateways()).exitCode).to.equal(0)

    // one MAC, one fdb entry: a second VTEP with a MAC in use would take its frames
    const sameMac = (mac: string) => cli(['peer', 'add', '--subnet', '10.244.5.0/24', '--public-ip', '192.168.160.5', '--vtep-mac', mac,
      '--store', `file:${join(dir, 'vx0')}`, ...args(0).slice(2)], {netns: hosts[0].ns})
    const other = await sameMac(macs[1])
    expect(other.exitCode).to.equal(2)
    expect(other.stderr).to.contain(`--vtep-mac ${macs[1]} is already the VTEP MAC of 10.244.2.0/24 (192.168.160.2): its frames would go to 192.168.160.5 instead`)
    const own = await sameMac(macs[0])
    expect(own.exitCode).to.equal(2)
    expect(own.stderr).to.contain(`--vtep-mac ${macs[0]} is this host's own VTEP MAC`)
    expect(await inNs(hosts[0].ns, 'bridge', 'fdb', 'show', 'dev', 'flannel.1')).to.contain(`${macs[1]} dst 192.168.160.2 self permanent`)

    // doctor --inventory reads each node's record (stateFile:): a static peer of a host it does not
    // read is that node's peer, not an entry "no node or lease holds" (before: three STALE_ warnings,
    // and a note that they "belong to no node read" and no store was read)
    const far = await cli(['peer', 'add', '--subnet', '10.244.5.0/24', '--public-ip', '192.168.160.5', '--vtep-mac', '5a:1f:8e:00:00:05',
      '--store', `file:${join(dir, 'vx0')}`, ...args(0).slice(2)], {netns: hosts[0].ns})
    expect(far.exitCode, far.stderr).to.equal(0)
    const inventory = join(dir, 'hosts.yaml')
    await writeFile(inventory, `nodes:\n${hosts.map((h, i) => `  - {name: h${i}, exec: "netns:${h.ns}", stateFile: ${join(dir, `node${i}.json`)}}\n`).join('')}`)
    const doctor = await cli(['doctor', '--inventory', inventory, '--json'], {netns: hosts[0].ns})
    const report = JSON.parse(doctor.stdout) as {findings: {code: string; message: string}[]}
    expect(report.findings.filter(f => f.code.startsWith('STALE_')), doctor.stderr).to.deep.equal([])
    expect(doctor.stderr).to.not.contain('belong to no node read')
    // a fix run on a node set up with its own state file carries it, as the inventory names it
    await inNs(hosts[0].ns, 'ip', 'route', 'del', '10.244.2.0/24')
    const broken = JSON.parse((await cli(['doctor', '--inventory', inventory, '--json'], {netns: hosts[0].ns})).stdout) as {findings: {node: string; fix: string[]}[]}
    const fixes = broken.findings.filter(f => f.node === 'h0').flatMap(f => f.fix)
    expect(fixes, JSON.stringify(broken.findings)).to.include(`flannelctl sync --state-file ${join(dir, 'node0.json')}`)
    expect(fixes.filter(c => c.startsWith('flannelctl ') && !c.includes('--state-file'))).to.deep.equal([])
    expect((await cli(['sync', '--store', `file:${join(dir, 'vx0')}`, ...args(0).slice(2)], {netns: hosts[0].ns})).exitCode).to.equal(0)
    expect((await cli(['peer', 'remove', '10.244.5.0/24', '--store', `file:${join(dir, 'vx0')}`, ...args(0).slice(2)], {netns: hosts[0].ns})).exitCode).to.equal(0)

    // moved to host-gw, the static peer is routed directly: the list says so, not vxlan with its MAC
    const peers = async () => JSON.parse((await cli(['peer', 'list', '--json', '--store', `file:${join(dir, 'vx0')}`, ...args(0).slice(2)], {netns: hosts[0].ns})).stdout)
    expect(await peers()).to.deep.equal([{subnet: '10.244.2.0/24', publicIP: '192.168.160.2', backend: 'vxlan', vtepMAC: macs[1], source: 'static', state: 'in-sync'}])
    const set = await cli(['backend', 'set', 'host-gw', '--store', `file:${join(dir, 'vx0')}`], {netns: hosts[0].ns})
    expect(set.exitCode, set.stderr).to.equal(0)
    const sync = await cli(['sync', '--store', `file:${join(dir, 'vx0')}`, ...args(0).slice(2)], {netns: hosts[0].ns})
    expect(sync.exitCode, sync.stderr).to.equal(0)
    expect(await inNs(hosts[0].ns, 'ip', 'route')).to.contain('10.244.2.0/24 via 192.168.160.2 dev eth0')
    expect(await peers()).to.deep.equal([{subnet: '10.244.2.0/24', publicIP: '192.168.160.2', backend: 'host-gw', vtepMAC: null, source: 'static', state: 'in-sync'}])
  })
})
