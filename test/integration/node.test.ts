/**
 * Issue: build a node. A 3-node lab on the real kernel, checked field by field against flanneld's
 * facts, then idempotence, reset/init, peer removal and foreign state.
 */
import {expect} from 'chai'
import {readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {execa} from 'execa'
import {BIN, cli, inNs, outputMatches, sh, uniqueLab} from '../helpers/cli.js'
import {intToIp, ipToInt} from '../../src/core/addr.js'

interface LabNode {name: string; netns: string; underlayIP: string; subnet: string; dir: string}
interface Lab {store: string; dir: string; nodes: LabNode[]; pods: {name: string; ip: string; netns: string; node: string}[]}

const json = async (netns: string, ...args: string[]) => JSON.parse(await inNs(netns, 'ip', '-j', ...args))
const nodeFlags = (lab: Lab, n: LabNode) => ['--store', lab.store, '--subnet-file', join(n.dir, 'subnet.env'),
  '--cni-conf-dir', join(n.dir, 'cni'), '--state-file', join(n.dir, 'node.json')]

describe('node (vxlan lab, real kernel)', function () {
  this.timeout(180000)
  const name = uniqueLab('tn')
  let lab: Lab

  before(async () => {
    const r = await cli(['lab', 'up', '--name', name, '--nodes', '3', '--json'])
    expect(r.exitCode, r.stderr).to.equal(0)
    lab = JSON.parse(r.stdout)
  })
  after(async () => {
    await cli(['lab', 'down', '--name', name])
  })

  it('every pod reaches every other pod', async () => {
    const r = await cli(['lab', 'status', '--name', name, '--ping', '--json'])
    const pings = JSON.parse(r.stdout).pings as {ok: boolean}[]
    expect(pings).to.have.length(30)
    expect(pings.every(p => p.ok), r.stdout).to.equal(true)
  })

  it('builds flannel.1 exactly as flanneld does', async () => {
    const [n1] = lab.nodes
    const [dev] = await json(n1.netns, '-d', 'link', 'show', 'flannel.1')
    expect(dev.linkinfo.info_kind).to.equal('vxlan')
    expect(dev.linkinfo.info_data.id).to.equal(1)
    expect(dev.linkinfo.info_data.local).to.equal(n1.underlayIP)
    expect(dev.linkinfo.info_data.link).to.equal('eth0')
    expect(dev.linkinfo.info_data.port).to.equal(8472)
    expect(dev.linkinfo.info_data.learning).to.equal(false)
    expect(dev.mtu).to.equal(1450)
    expect(dev.flags).to.include('UP')
    const [addr] = await json(n1.netns, 'addr', 'show', 'dev', 'flannel.1')
    const v4 = addr.addr_info.filter((a: {family: string}) => a.family === 'inet')
    expect(v4.map((a: {local: string; prefixlen: number}) => `${a.local}/${a.prefixlen}`)).to.deep.equal([`${n1.subnet.split('/')[0]}/32`])
  })

  it('has neigh, fdb and onlink route per peer, in flanneld\'s form', async () => {
    const [n1, ...peers] = lab.nodes
    const neigh = await json(n1.netns, 'neigh', 'show', 'dev', 'flannel.1')
    const fdb = JSON.parse(await inNs(n1.netns, 'bridge', '-j', 'fdb', 'show', 'dev', 'flannel.1'))
    const routes = await json(n1.netns, 'route', 'show')
    for (const p of peers) {
      const [peerDev] = await json(p.netns, 'link', 'show', 'flannel.1')
      const vtep = p.subnet.split('/')[0]
      const n = neigh.find((x: {dst: string}) => x.dst === vtep)
      expect(n, `neigh for ${vtep}`).to.exist
      expect(n.lladdr).to.equal(peerDev.address)
      expect(n.state).to.deep.equal(['PERMANENT'])
      const f = fdb.find((x: {mac: string}) => x.mac === peerDev.address)
      expect(f, `fdb for ${peerDev.address}`).to.exist
      expect(f.dst).to.equal(p.underlayIP)
      expect(f.flags ?? []).to.not.include('master')
      expect(f.state).to.equal('permanent')
      const r = routes.find((x: {dst: string}) => x.dst === p.subnet)
      expect(r, `route to ${p.subnet}`).to.exist
      expect(r.gateway).to.equal(vtep)
      expect(r.dev).to.equal('flannel.1')
      expect(r.flags).to.include('onlink')
    }
  })

  it('installs flanneld\'s iptables chains and rules', async () => {
    const n1 = lab.nodes[0]
    const save = await inNs(n1.netns, 'iptables-save')
    const net = '10.244.0.0/16'
    const sub = n1.subnet
    const expected = [
      '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
      `-A FLANNEL-FWD -s ${net} -m comment --comment "flanneld forward" -j ACCEPT`,
      `-A FLANNEL-FWD -d ${net} -m comment --comment "flanneld forward" -j ACCEPT`,
      '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
      '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
      `-A FLANNEL-POSTRTG -s ${sub} -d ${net} -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG -s ${net} -d ${sub} -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG ! -s ${net} -d ${sub} -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG -s ${net} ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
      `-A FLANNEL-POSTRTG ! -s ${net} -d ${net} -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
    ]
    const rules = save.split('\n').filter(l => l.startsWith('-A '))
    expect(rules).to.deep.equal(expected)
  })

  it('writes subnet.env, the conflist and a flannel-shaped lease', async () => {
    const n1 = lab.nodes[0]
    const gw = n1.subnet.replace(/\.0\/24$/, '.1/24')
    expect(await readFile(join(n1.dir, 'subnet.env'), 'utf8')).to.equal(
      `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${gw}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`)
    const conf = JSON.parse(await readFile(join(n1.dir, 'cni', '10-flannel.conflist'), 'utf8'))
    expect(conf.name).to.equal('cbr0')
    const [bridge, portmap] = conf.plugins
    expect(bridge).to.include({type: 'bridge', bridge: 'cni0', isGateway: true, isDefaultGateway: true, ipMasq: false, mtu: 1450})
    expect(bridge.ipam.type).to.equal('host-local')
    expect(bridge.ipam.ranges[0][0].subnet).to.equal(n1.subnet)
    expect(bridge.ipam.routes).to.deep.include({dst: '10.244.0.0/16'})
    expect(portmap.type).to.equal('portmap')
    const key = n1.subnet.replace('/', '-')
    const lease = await readFile(join(lab.store.slice('file:'.length), 'coreos.com', 'network', 'subnets', key), 'utf8')
    const [dev] = await json(n1.netns, 'link', 'show', 'flannel.1')
    expect(JSON.parse(lease)).to.deep.equal({PublicIP: n1.underlayIP, PublicIPv6: null, BackendType: 'vxlan', BackendData: {VNI: 1, VtepMAC: dev.address}})
    expect(Object.keys(JSON.parse(lease))).to.deep.equal(['PublicIP', 'PublicIPv6', 'BackendType', 'BackendData'])
  })

  it('pods get a default route through the bridge, so they reach other nodes too (masqueraded)', async () => {
    const pod = lab.pods[0]
    const gw = lab.nodes[0].subnet.replace(/\.0\/24$/, '.1')
    expect(await inNs(pod.netns, 'ip', 'route', 'show', 'default')).to.contain(`default via ${gw} dev eth0`)
    const ping = await sh('ip', ['netns', 'exec', pod.netns, 'ping', '-c', '1', '-W', '2', lab.nodes[1].underlayIP])
    expect(ping.exitCode, ping.stdout + ping.stderr).to.equal(0)
  })

  it('a rerun of init or sync changes nothing and says so', async () => {
    const n2 = lab.nodes[1]
    const init = await cli(['init', '--network', '10.244.0.0/16', '--backend', 'vxlan', '--iface', 'eth0', '--yes', ...nodeFlags(lab, n2)], {netns: n2.netns})
    expect(init.exitCode, init.stderr).to.equal(0)
    expect(init.stdout).to.contain('up to date')
    const sync = await cli(['sync', '--json', ...nodeFlags(lab, n2)], {netns: n2.netns})
    expect(JSON.parse(sync.stdout)).to.include({upToDate: true, applied: true})
  })

  it('--dry-run prints the plan and changes nothing', async () => {
    const n2 = lab.nodes[1]
    await inNs(n2.netns, 'ip', 'route', 'del', lab.nodes[2].subnet)
    const before = await inNs(n2.netns, 'ip', 'route')
    const r = await cli(['sync', '--dry-run', ...nodeFlags(lab, n2)], {netns: n2.netns})
    expect(r.stdout).to.contain(`ip route replace ${lab.nodes[2].subnet} via`)
    expect(await inNs(n2.netns, 'ip', 'route')).to.equal(before)
    const fix = await cli(['sync', ...nodeFlags(lab, n2)], {netns: n2.netns})
    expect(fix.exitCode).to.equal(0)
    expect(await inNs(n2.netns, 'ip', 'route')).to.contain(`${lab.nodes[2].subnet} via`)
  })

  it('reset removes only what flannelctl made; init brings the same subnet back', async () => {
    const n3 = lab.nodes[2]
    await inNs(n3.netns, 'ip', 'route', 'add', '198.51.100.0/24', 'via', lab.nodes[0].underlayIP, 'dev', 'eth0')
    await inNs(n3.netns, 'iptables', '-A', 'FORWARD', '-s', '203.0.113.0/24', '-j', 'DROP')
    const r = await cli(['reset', ...nodeFlags(lab, n3)], {netns: n3.netns})
    expect(r.exitCode, r.stderr).to.equal(0)
    // the lab's two pods on n3 are cut off with cni0: reset says so
    expect(r.stderr).to.match(/warning: 2 pod interfaces are on cni0 \(veth\w+, veth\w+\): those pods lose their network with it until the next init plugs them back in \(re-create them if it leases another subnet\)/)
    // counted as every plan is, one change a line
    expect(r.stdout).to.match(/^reset: applied \d+ changes(, \d+ commands)?:\n  ip link del flannel\.1 /)
    const links = await json(n3.netns, 'link', 'show')
    expect(links.map((l: {ifname: string}) => l.ifname)).to.not.include.members(['flannel.1', 'cni0'])
    const save = await inNs(n3.netns, 'iptables-save')
    expect(save).to.not.contain('FLANNEL')
    expect(save).to.contain('-A FORWARD -s 203.0.113.0/24 -j DROP')
    // iptables-nft keeps its tables in nftables: the nat table held flannel's chain alone and goes, filter holds a rule of someone's and stays
    if ((await inNs(n3.netns, 'iptables', '-V')).includes('nf_tables')) {
      const tables = await inNs(n3.netns, 'nft', 'list', 'tables')
      expect(tables).to.contain('table ip filter')
      expect(tables).to.not.contain('table ip nat')
    }
    expect(await inNs(n3.netns, 'ip', 'route')).to.contain('198.51.100.0/24 via')
    const again = await cli(['init', '--iface', 'eth0', ...nodeFlags(lab, n3), '--json'], {netns: n3.netns})
    expect(again.exitCode, again.stderr).to.equal(0)
    expect(JSON.parse(again.stdout).lease.subnet).to.equal(n3.subnet)
    // the lease found by public IP alone: what it means when several hosts announce one address
    expect(JSON.parse(again.stdout).warnings).to.deep.equal([`the store holds ${n3.subnet} for ${n3.underlayIP} and this host has no record of it (no state file, no subnet.env): `
      + `taken as this host's, as flanneld does (right after a reset or a reinstall); if another host announces ${n3.underlayIP} too (a NAT address every VM has), both now use ${n3.subnet}: give each host its own address (--iface, --public-ip)`])
    // the same subnet: its pods' veths, let go of with the old bridge, are plugged into the new one
    const [p3, p1] = [lab.pods.find(p => p.node === n3.name)!, lab.pods.find(p => p.node === lab.nodes[0].name)!]
    const ping = await sh('ip', ['netns', 'exec', p3.netns, 'ping', '-c', '1', '-W', '2', p1.ip])
    expect(ping.exitCode, ping.stdout).to.equal(0)
  })

  it('the pod bridge deleted beside another CNI network\'s (its veths named as every bridge plugin names them): sync plugs back this node\'s pods only', async () => {
    const n1 = lab.nodes[0]
    const other = `fc-${name}-other`
    const [p1, p2] = [lab.pods.find(p => p.node === n1.name)!, lab.pods.find(p => p.node === lab.nodes[1].name)!]
    await sh('ip', ['netns', 'add', other])
    try {
      await inNs(n1.netns, 'ip', 'link', 'add', 'cni9', 'type', 'bridge')
      await inNs(n1.netns, 'ip', 'link', 'add', 'vethdeadbeef', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', other)
      await inNs(n1.netns, 'ip', 'link', 'set', 'vethdeadbeef', 'master', 'cni9', 'up')
      await sh('ip', ['-n', other, 'addr', 'add', '10.88.0.2/16', 'dev', 'eth0'])
      await inNs(n1.netns, 'ip', 'link', 'del', 'cni9')
      await inNs(n1.netns, 'ip', 'link', 'del', 'cni0')
      const r = await cli(['sync', '--json', ...nodeFlags(lab, n1)], {netns: n1.netns})
      expect(r.exitCode, r.stderr).to.equal(0)
      expect(JSON.parse(r.stdout).warnings).to.include(`vethdeadbeef is plugged into no bridge, and its other end has 10.88.0.2, not on this node's subnet ${n1.subnet}: left alone, as another network's (its bridge deleted?); if it is a pod of this node from before its subnet changed, re-create it (plugged into cni0, its old address would still be unrouted)`)
      const [foreign] = await json(n1.netns, 'link', 'show', 'vethdeadbeef')
      expect(foreign.master, 'the other network\'s pod is not joined to this one').to.equal(undefined)
      const ping = await sh('ip', ['netns', 'exec', p1.netns, 'ping', '-c', '1', '-W', '2', p2.ip])
      expect(ping.exitCode, ping.stdout).to.equal(0)
    } finally {
      await sh('ip', ['netns', 'del', other])
    }
  })

  it('a rule an operator put above flannel\'s in FLANNEL-FWD stays above through a rewrite, and keeps dropping what it says', async () => {
    const [n1, n2] = lab.nodes
    const from = lab.pods.find(p => p.node === n2.name)!
    const to = lab.pods.find(p => p.node === n1.name)!
    const drop = `-A FLANNEL-FWD -s ${n2.subnet} -j DROP`
    const ping = () => sh('ip', ['netns', 'exec', from.netns, 'ping', '-c', '1', '-W', '1', to.ip])
    const chain = async () => (await inNs(n1.netns, 'iptables', '-S', 'FLANNEL-FWD')).split('\n').filter(l => l.startsWith('-A '))
    const own = ['-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT', '-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT']
    await inNs(n1.netns, 'iptables', '-I', 'FLANNEL-FWD', '1', '-s', n2.subnet, '-j', 'DROP')
    const untouched = await cli(['sync', ...nodeFlags(lab, n1)], {netns: n1.netns})
    expect(untouched.stdout, untouched.stderr).to.contain('up to date: nothing to change')
    // one of flannel's rules lost: the chain is rewritten, with the operator's rule where it was
    await inNs(n1.netns, 'iptables', '-D', 'FLANNEL-FWD', '-d', '10.244.0.0/16', '-m', 'comment', '--comment', 'flanneld forward', '-j', 'ACCEPT')
    expect(await chain()).to.deep.equal([drop, own[0]])
    const r = await cli(['sync', ...nodeFlags(lab, n1)], {netns: n1.netns})
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(await chain()).to.deep.equal([drop, ...own])
    expect((await ping()).exitCode, 'the operator\'s drop, above flannel\'s accepts, drops').to.not.equal(0)
    await inNs(n1.netns, 'iptables', '-D', 'FLANNEL-FWD', '1')
    expect((await ping()).exitCode).to.equal(0)
  })

  it('sync removes a departed peer\'s entries and keeps foreign routes and rules', async () => {
    const [n1, , n3] = lab.nodes
    await inNs(n1.netns, 'ip', 'route', 'add', '10.244.250.0/24', 'via', lab.nodes[1].underlayIP, 'dev', 'eth0')
    await inNs(n1.netns, 'ip', 'route', 'add', '198.51.100.0/24', 'via', lab.nodes[1].underlayIP, 'dev', 'eth0')
    await inNs(n1.netns, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', '172.17.0.0/16', '!', '-o', 'docker0', '-j', 'MASQUERADE')
    const [dev3] = await json(n3.netns, 'link', 'show', 'flannel.1')
    await rm(join(lab.store.slice('file:'.length), 'coreos.com', 'network', 'subnets', n3.subnet.replace('/', '-')))
    const r = await cli(['sync', ...nodeFlags(lab, n1)], {netns: n1.netns})
    expect(r.exitCode, r.stderr).to.equal(0)
    const routes = await inNs(n1.netns, 'ip', 'route')
    expect(routes).to.not.contain(n3.subnet)
    expect(routes).to.contain('10.244.250.0/24 via')
    expect(routes).to.contain('198.51.100.0/24 via')
    expect(await inNs(n1.netns, 'ip', 'neigh', 'show', 'dev', 'flannel.1')).to.not.contain(dev3.address)
    expect(await inNs(n1.netns, 'bridge', 'fdb', 'show', 'dev', 'flannel.1')).to.not.contain(dev3.address)
    expect(await inNs(n1.netns, 'iptables-save', '-t', 'nat')).to.contain('-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE')
    // the node whose lease went stays as it is until it syncs (and then takes a lease again)
    const back = await cli(['sync', ...nodeFlags(lab, n3)], {netns: n3.netns})
    expect(back.exitCode, back.stderr).to.equal(0)
  })

  it('another port, a new VNI, then host-gw: each sync builds what the backend uses, entries included, and removes the vxlan device it made before', async () => {
    const vxlanDevices = async (ns: string) => (await json(ns, '-d', 'link', 'show', 'type', 'vxlan') as {ifname: string}[]).map(l => l.ifname)
    // once per node: a node that syncs first keeps its peers' VTEP MACs, which a new VNI does not
    // change (each node's new device takes its old one's MAC); a second round then plans nothing
    const syncAll = async () => {
      for (const n of lab.nodes) {
        const r = await cli(['sync', ...nodeFlags(lab, n)], {netns: n.netns})
        expect(r.exitCode, r.stderr).to.equal(0)
      }
      for (const n of lab.nodes) {
        const again = await cli(['sync', ...nodeFlags(lab, n)], {netns: n.netns})
        expect(again.stdout, `${n.name}: ${again.stderr}`).to.contain('up to date: nothing to change')
      }
    }
    const failingPairs = async () => {
      const r = await cli(['lab', 'status', '--name', name, '--ping', '--json'])
      return (JSON.parse(r.stdout).pings as {ok: boolean; from: string; to: string}[]).filter(p => !p.ok).map(p => `${p.from}→${p.to}`).sort()
    }
    // the test before took n3's lease away and synced only n1 and n3: n1 has no route to n3's pods
    // yet; the syncs below bring every pair back (n3's pods were plugged back into its new bridge
    // by the init after its reset)
    const before = await failingPairs()
    expect(before.filter(p => !p.includes('pod-3'))).to.deep.equal([])
    const pingsOk = async () => expect(await failingPairs()).to.deep.equal([])
    // another port: flannel.1 is recreated, and one sync per node brings every entry back on it
    expect((await cli(['backend', 'set', 'vxlan', '--port', '4789', '--store', lab.store])).exitCode).to.equal(0)
    for (const n of lab.nodes) expect((await cli(['sync', ...nodeFlags(lab, n)], {netns: n.netns})).exitCode).to.equal(0)
    expect(await inNs(lab.nodes[0].netns, 'ip', '-d', 'link', 'show', 'flannel.1')).to.contain('dstport 4789')
    await pingsOk()
    // the store init recorded on this host; the port set before stays
    const vni7 = await cli(['backend', 'set', 'vxlan', '--vni', '7', '--state-file', join(lab.nodes[0].dir, 'node.json')])
    expect(vni7.exitCode, vni7.stderr).to.equal(0)
    expect(vni7.stdout).to.contain('vxlan VNI 1 port 4789 → vxlan VNI 7 port 4789')
    const macOf = async (ns: string, dev: string) => ((await json(ns, 'link', 'show', dev)) as {address: string}[])[0].address
    const macsBefore = await Promise.all(lab.nodes.map(n => macOf(n.netns, 'flannel.1')))
    await syncAll()
    for (const n of lab.nodes) expect(await vxlanDevices(n.netns)).to.deep.equal(['flannel.7'])
    expect(await Promise.all(lab.nodes.map(n => macOf(n.netns, 'flannel.7'))), 'VTEP MACs kept across the VNI change').to.deep.equal(macsBefore)
    expect(await inNs(lab.nodes[0].netns, 'ip', '-d', 'link', 'show', 'flannel.7')).to.contain('dstport 4789')
    await pingsOk()
    // the old device gone before the sync (a reboot): the new one takes the MAC the lease announces
    expect((await cli(['backend', 'set', 'vxlan', '--vni', '8', '--store', lab.store])).exitCode).to.equal(0)
    await inNs(lab.nodes[0].netns, 'ip', 'link', 'del', 'flannel.7')
    await syncAll()
    expect(await Promise.all(lab.nodes.map(n => macOf(n.netns, 'flannel.8')))).to.deep.equal(macsBefore)
    await pingsOk()
    expect((await cli(['backend', 'set', 'host-gw', '--store', lab.store])).exitCode).to.equal(0)
    await syncAll()
    for (const n of lab.nodes) expect(await vxlanDevices(n.netns)).to.deep.equal([])
    await pingsOk()
  })

  it('a node whose address changed (DHCP renumber) follows it: sync moves its lease, so its pods keep their subnet; without proof it is that host, sync says so and names the fix', async () => {
    const [n1, n2] = lab.nodes
    const leaseFile = (subnet: string) => join(lab.store.slice('file:'.length), 'coreos.com', 'network', 'subnets', subnet.replace('/', '-'))
    const renumber = async (from: string, to: string) => {
      await inNs(n1.netns, 'ip', 'addr', 'del', `${from}/24`, 'dev', 'eth0')
      await inNs(n1.netns, 'ip', 'addr', 'add', `${to}/24`, 'dev', 'eth0')
    }
    // n1's record used on n2 (a state file copied with a VM image): refused before anything changes
    const cloned = await cli(['sync', ...nodeFlags(lab, n2).slice(0, -1), join(n1.dir, 'node.json')], {netns: n2.netns})
    expect(cloned.exitCode, cloned.stderr).to.equal(2)
    expect(cloned.stderr).to.contain(`recorded public IP ${n1.underlayIP}`)
    expect(await inNs(n2.netns, 'ip', '-4', 'addr', 'show', 'dev', 'cni0')).to.contain(n2.subnet.replace(/0\/24$/, '1/24'))
    // ...with a bridge serving n1's subnet too (a running VM cloned, bridge and all): n1 still
    // answers at the recorded address, so that is no renumber; refused, n1's lease left as it is
    const n1Lease = await readFile(leaseFile(n1.subnet), 'utf8')
    const clone = join(n2.dir, 'clone.json')
    await writeFile(clone, JSON.stringify({...JSON.parse(await readFile(join(n1.dir, 'node.json'), 'utf8')), bridge: 'cniclone'}))
    await inNs(n2.netns, 'ip', 'link', 'add', 'cniclone', 'type', 'bridge')
    try {
      await inNs(n2.netns, 'ip', 'addr', 'add', `${n1.subnet.replace(/0\/24$/, '1')}/24`, 'dev', 'cniclone')
      const copy = await cli(['sync', ...nodeFlags(lab, n2).slice(0, -1), clone], {netns: n2.netns})
      expect(copy.exitCode, copy.stderr).to.equal(2)
      expect(copy.stderr).to.contain(`recorded public IP ${n1.underlayIP} is on none of its interfaces, and another host answers at it`)
      expect(await readFile(leaseFile(n1.subnet), 'utf8')).to.equal(n1Lease)
    } finally {
      await inNs(n2.netns, 'ip', 'link', 'del', 'cniclone')
      await rm(clone, {force: true})
    }

    // renumbered while its bridge still serves its subnet: that is this host, and the lease follows
    const newIP = n1.underlayIP.replace(/\.\d+$/, '.21')
    await renumber(n1.underlayIP, newIP)
    const followed = await cli(['sync', ...nodeFlags(lab, n1)], {netns: n1.netns})
    expect(followed.exitCode, followed.stderr).to.equal(0)
    expect(followed.stdout + followed.stderr).to.contain(`public IP changed from ${n1.underlayIP} to ${newIP}: its lease ${n1.subnet} moved with it`)
    expect(JSON.parse(await readFile(leaseFile(n1.subnet), 'utf8')).PublicIP).to.equal(newIP)

    // another node's address: taking its lease would take its subnet; refused, nothing written
    const n2Lease = await readFile(leaseFile(n2.subnet), 'utf8')
    const taken = await cli(['sync', '--public-ip', n2.underlayIP, ...nodeFlags(lab, n1)], {netns: n1.netns})
    expect(taken.exitCode, taken.stderr).to.equal(2)
    expect(taken.stderr).to.contain(`Error: ${n2.underlayIP} is the public IP of ${n2.subnet} in ${lab.store}, another node's lease`)
    expect(await readFile(leaseFile(n2.subnet), 'utf8')).to.equal(n2Lease)
    expect(JSON.parse(await readFile(leaseFile(n1.subnet), 'utf8')).PublicIP).to.equal(newIP)

    // renumbered with nothing left of its subnet here (what a reboot leaves): it could be another
    // host's record, so refused, not synced, with the fix
    const thirdIP = n1.underlayIP.replace(/\.\d+$/, '.22')
    const gateway = `${n1.subnet.replace(/0\/24$/, '1')}/24`
    await inNs(n1.netns, 'ip', 'addr', 'del', gateway, 'dev', 'cni0')
    await renumber(newIP, thirdIP)
    const stale = await cli(['sync', ...nodeFlags(lab, n1)], {netns: n1.netns})
    expect(stale.exitCode, stale.stderr).to.equal(2)
    expect(stale.stderr).to.contain('either its address changed or the record is another host\'s; nothing was changed')
    expect(stale.stdout + stale.stderr).to.contain(`public IP ${newIP} (found on eth0 when it was set up) is on none of its interfaces now; eth0 has ${thirdIP}`)
    expect(stale.stdout + stale.stderr).to.contain(`flannelctl sync --state-file ${join(n1.dir, 'node.json')} --public-ip ${thirdIP}`)

    const moved = await cli(['sync', '--public-ip', thirdIP, ...nodeFlags(lab, n1)], {netns: n1.netns})
    expect(moved.exitCode, moved.stderr).to.equal(0)
    expect(moved.stdout + moved.stderr).to.contain(`its lease ${n1.subnet} moved with it`)
    expect(JSON.parse(await readFile(leaseFile(n1.subnet), 'utf8')).PublicIP).to.equal(thirdIP)
    const again = await cli(['sync', ...nodeFlags(lab, n1)], {netns: n1.netns})
    expect(again.stdout + again.stderr).to.not.contain('on none of its interfaces')

    expect((await cli(['sync', ...nodeFlags(lab, n2)], {netns: n2.netns})).exitCode).to.equal(0)
    const [p1, p2] = [lab.pods.find(p => p.node === n1.name)!, lab.pods.find(p => p.node === n2.name)!]
    const ping = await sh('ip', ['netns', 'exec', p1.netns, 'ping', '-c', '1', '-W', '2', p2.ip])
    expect(ping.exitCode, ping.stdout).to.equal(0)
  })

  it('a SubnetLen edited in the store under running nodes: they keep their subnets and pods, say so, and still learn a node moved to the new length (one-shot sync and sync --watch)', async () => {
    const [n1, n2, n3] = lab.nodes
    const storeDir = lab.store.slice('file:'.length)
    const configFile = join(storeDir, 'coreos.com', 'network', 'config')
    const config = await readFile(configFile, 'utf8')
    const leases = () => readdir(join(storeDir, 'coreos.com', 'network', 'subnets'))
    const before = await leases()
    const hostIn = (subnet: string, i: number) => intToIp(ipToInt(subnet.split('/')[0]) + i)
    const [p1, p3] = [lab.pods.find(p => p.node === n1.name)!, lab.pods.find(p => p.node === n3.name)!]
    const p1Addr = await inNs(p1.netns, 'ip', '-4', '-br', 'addr', 'show', 'dev', 'eth0')
    await writeFile(configFile, JSON.stringify({...JSON.parse(config), SubnetLen: 25}))
    const agent = execa('ip', ['netns', 'exec', n2.netns, process.execPath, BIN, 'sync', '--watch', '--interval', '2', ...nodeFlags(lab, n2)], {reject: false, env: {NO_COLOR: '1'}, timeout: 120000})
    // listening from the start: its first round may print before the one-shot sync below is done
    const agentWarned = outputMatches(agent.stdout!, /no longer fits the network config/)
    try {
      // the node keeps its subnet and its lease, warns with the way out, and is otherwise synced
      const r = await cli(['sync', ...nodeFlags(lab, n1)], {netns: n1.netns})
      expect(r.exitCode, r.stderr).to.equal(0)
      const said = (r.stdout + r.stderr).replace(/\s+/g, ' ')
      expect(said).to.contain(`warning: this host's subnet ${n1.subnet} no longer fits the network config in ${lab.store}: it is a /24, and the network config's SubnetLen is 25; kept, with its pods and its lease (another subnet would strand the pods), and peers are synced as usual; if the config was edited by mistake, put it back; to resize on purpose, and for a host that leased its subnet while the edit was in place, move each node in turn: flannelctl reset --state-file ${join(n1.dir, 'node.json')} --release, flannelctl init ${nodeFlags(lab, n1).slice(6).join(' ')} ${nodeFlags(lab, n1).slice(2, 6).join(' ')} ${nodeFlags(lab, n1).slice(0, 2).join(' ')}, re-create its pods`)
      expect(await leases()).to.deep.equal(before)
      expect(await inNs(n1.netns, 'ip', '-4', 'addr', 'show', 'dev', 'cni0')).to.contain(`${hostIn(n1.subnet, 1)}/24`)
      expect(await agentWarned, 'the agent\'s first round').to.equal(true)

      // n3 moved on purpose: released, set up again at the new length, its pod re-addressed (sync plugs it back in)
      expect((await cli(['reset', '--release', ...nodeFlags(lab, n3)], {netns: n3.netns})).exitCode).to.equal(0)
      const moved = await cli(['init', '--iface', 'eth0', ...nodeFlags(lab, n3), '--json'], {netns: n3.netns})
      expect(moved.exitCode, moved.stderr).to.equal(0)
      const newSubnet: string = JSON.parse(moved.stdout).lease.subnet
      expect(newSubnet).to.match(/\/25$/)
      const newPodIP = hostIn(newSubnet, 2)
      await inNs(p3.netns, 'ip', 'addr', 'flush', 'dev', 'eth0')
      await inNs(p3.netns, 'ip', 'addr', 'add', `${newPodIP}/25`, 'dev', 'eth0')
      await inNs(p3.netns, 'ip', 'route', 'add', 'default', 'via', hostIn(newSubnet, 1))
      expect((await cli(['sync', ...nodeFlags(lab, n3)], {netns: n3.netns})).exitCode).to.equal(0)

      const synced = await cli(['sync', ...nodeFlags(lab, n1)], {netns: n1.netns})
      expect(synced.exitCode, synced.stderr).to.equal(0)
      expect(await inNs(n1.netns, 'ip', 'route')).to.contain(`${newSubnet} via`)
      const ping = await sh('ip', ['netns', 'exec', p1.netns, 'ping', '-c', '1', '-W', '2', newPodIP])
      expect(ping.exitCode, ping.stdout).to.equal(0)
      // the agent learns it from the store event, as from any peer's lease
      let learned = false
      for (let i = 0; i < 50 && !learned; i++) {
        learned = (await inNs(n2.netns, 'ip', 'route')).includes(`${newSubnet} via`)
        if (!learned) await new Promise(resolve => setTimeout(resolve, 200))
      }
      expect(learned, 'n2\'s agent routes to the moved node').to.equal(true)
      const p2 = lab.pods.find(p => p.node === n2.name)!
      expect((await sh('ip', ['netns', 'exec', p2.netns, 'ping', '-c', '1', '-W', '2', newPodIP])).exitCode).to.equal(0)
      agent.kill('SIGTERM')
      await agent
      // its lease lost: refused while a lease at the new size overlaps the subnet (nothing changed), taken again once it is free
      const subnets = join(storeDir, 'coreos.com', 'network', 'subnets')
      await rm(join(subnets, n1.subnet.replace('/', '-')))
      const overlapping = join(subnets, n1.subnet.replace(/\/24$/, '-25'))
      await writeFile(overlapping, '{"PublicIP":"192.168.100.99","PublicIPv6":null,"BackendType":"host-gw"}')
      const refused = await cli(['sync', ...nodeFlags(lab, n1)], {netns: n1.netns})
      await rm(overlapping)
      expect(refused.exitCode, refused.stderr).to.equal(2)
      expect(refused.stderr).to.contain(`SubnetLen is 25; ${n1.subnet.replace(/\/24$/, '/25')} (192.168.100.99) overlaps it now, so it cannot be kept, and another subnet would strand the pods on this one`)
      expect(refused.stderr).to.contain(`Hint: nothing was changed; if 192.168.100.99 is no node of this network, delete the entry ${n1.subnet.replace(/\/24$/, '-25')} and rerun`)
      const again = await cli(['sync', ...nodeFlags(lab, n1)], {netns: n1.netns})
      expect(again.exitCode, again.stderr).to.equal(0)
      expect(again.stdout.replace(/\s+/g, ' ')).to.contain(`leased ${n1.subnet} again`)
      // nothing moved on the nodes that kept their subnets
      expect(await inNs(p1.netns, 'ip', '-4', '-br', 'addr', 'show', 'dev', 'eth0')).to.equal(p1Addr)
      expect(await leases()).to.include.members(before.filter(k => k !== n3.subnet.replace('/', '-')))
    } finally {
      agent.kill('SIGTERM')
      await agent
      await writeFile(configFile, config)
    }
    const back = await cli(['sync', ...nodeFlags(lab, n1)], {netns: n1.netns})
    expect(back.exitCode, back.stderr).to.equal(0)
    expect(back.stdout).to.contain(`lease ${n1.subnet}`)
    expect(back.stdout + back.stderr).to.not.contain('no longer fits')
  })

  it('a node whose subnet is outside the network the store now holds is refused, nothing changed: that is another network, not a resize', async () => {
    const [n1] = lab.nodes
    const configFile = join(lab.store.slice('file:'.length), 'coreos.com', 'network', 'config')
    const config = await readFile(configFile, 'utf8')
    await writeFile(configFile, JSON.stringify({...JSON.parse(config), Network: '10.245.0.0/16'}))
    try {
      const r = await cli(['sync', ...nodeFlags(lab, n1)], {netns: n1.netns})
      expect(r.exitCode, r.stderr).to.equal(2)
      expect(r.stderr).to.contain(`Error: this host's subnet ${n1.subnet} is outside the network 10.245.0.0/16 that ${lab.store} holds`)
      expect(r.stderr).to.contain(`the network config changed since this host was set up: to rebuild it on 10.245.0.0/16, run flannelctl reset --state-file ${join(n1.dir, 'node.json')}, then flannelctl init ${nodeFlags(lab, n1).slice(6).join(' ')} ${nodeFlags(lab, n1).slice(2, 6).join(' ')} ${nodeFlags(lab, n1).slice(0, 2).join(' ')}`)
    } finally {
      await writeFile(configFile, config)
    }
  })

  it('status says when the store no longer holds this host\'s lease (exit 1); sync leases it again', async () => {
    const n2 = lab.nodes[1]
    await rm(join(lab.store.slice('file:'.length), 'coreos.com', 'network', 'subnets', n2.subnet.replace('/', '-')))
    const lost = await cli(['status', ...nodeFlags(lab, n2)], {netns: n2.netns})
    expect(lost.exitCode).to.equal(1)
    expect(lost.stdout).to.contain(`lease     ${n2.subnet} (host-gw) in ${lab.store}: MISSING from the store`)
    expect((await cli(['sync', ...nodeFlags(lab, n2)], {netns: n2.netns})).exitCode).to.equal(0)
    const held = JSON.parse((await cli(['status', '--json', ...nodeFlags(lab, n2)], {netns: n2.netns})).stdout)
    expect(held.leaseInStore).to.deep.equal({state: 'held'})
  })

  it('the underlay MTU lowered under running pods: sync lowers the bridge and the files, and says the pods need re-creating', async () => {
    const n2 = lab.nodes[1]
    await inNs(n2.netns, 'ip', 'link', 'set', 'eth0', 'mtu', '1400')
    try {
      const r = await cli(['sync', ...nodeFlags(lab, n2)], {netns: n2.netns})
      expect(r.exitCode, r.stderr).to.equal(0)
      expect(r.stdout.replace(/\s+/g, ' ')).to.contain('warning: the pod MTU drops to 1400 (eth0\'s MTU is 1400 now), but this node\'s pods were made with 1450: their full-size packets no longer fit; re-create them')
      expect(await readFile(join(n2.dir, 'subnet.env'), 'utf8')).to.contain('FLANNEL_MTU=1400')
    } finally {
      await inNs(n2.netns, 'ip', 'link', 'set', 'eth0', 'mtu', '1500')
    }
    const back = await cli(['sync', ...nodeFlags(lab, n2)], {netns: n2.netns})
    expect(back.exitCode, back.stderr).to.equal(0)
    expect(back.stdout).to.not.contain('pod MTU drops')
  })

  it('status calls anything sync would change drift (exit 1): the FORWARD jump gone, forwarding off', async () => {
    const n1 = lab.nodes[0]
    const status = () => cli(['status', '--json', ...nodeFlags(lab, n1)], {netns: n1.netns})
    const clean = await status()
    expect(clean.exitCode, clean.stdout).to.equal(0)
    expect(JSON.parse(clean.stdout).drift).to.deep.equal([])
    await inNs(n1.netns, 'iptables', '-D', 'FORWARD', '-m', 'comment', '--comment', 'flanneld forward', '-j', 'FLANNEL-FWD')
    await inNs(n1.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=0')
    const drifted = await status()
    expect(drifted.exitCode).to.equal(1)
    const drift = (JSON.parse(drifted.stdout) as {drift: string[]}).drift.join('\n')
    expect(drift).to.contain('FLANNEL-FWD')
    expect(drift).to.contain('ip_forward')
    expect((await cli(['status', ...nodeFlags(lab, n1)], {netns: n1.netns})).stdout).to.contain('drift     flannelctl sync would change:')
    expect((await cli(['sync', ...nodeFlags(lab, n1)], {netns: n1.netns})).exitCode).to.equal(0)
    expect((await status()).exitCode).to.equal(0)

    // a route sending this host's own subnet elsewhere (what a copied record once left) displaces the bridge's
    const n2 = lab.nodes[1]
    await inNs(n1.netns, 'ip', 'route', 'replace', n1.subnet, 'via', n2.underlayIP, 'dev', 'eth0')
    expect((await status()).exitCode).to.equal(1)
    expect((await cli(['sync', ...nodeFlags(lab, n1)], {netns: n1.netns})).exitCode).to.equal(0)
    expect(await inNs(n1.netns, 'ip', 'route', 'show', n1.subnet)).to.match(/dev cni0 proto kernel scope link src/)
    expect((await status()).exitCode).to.equal(0)
    const [p1, p2] = [lab.pods.find(p => p.node === n1.name)!, lab.pods.find(p => p.node === n2.name)!]
    expect((await sh('ip', ['netns', 'exec', p2.netns, 'ping', '-c', '1', '-W', '2', p1.ip])).exitCode).to.equal(0)
  })
})
