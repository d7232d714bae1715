/**
 * A host with two interfaces whose default route is on the one that is not the node network (a
 * VM's NAT address 10.0.2.15): what init picks by default, that it says so and warns, and that
 * `sync --iface` moves the node, its lease and its peers' fdb entries to the right address.
 */
import {expect} from 'chai'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {cli, sh, inNs, uniqueLab} from '../helpers/cli.js'

describe('multi-NIC host (real namespaces)', function () {
  this.timeout(90000)
  const tag = uniqueLab('m')
  const a = {ns: `fcm-${tag}-a`, ip: '192.168.170.1', i: 0}
  const b = {ns: `fcm-${tag}-b`, ip: '192.168.170.2', i: 1}
  const nat = `fcm-${tag}-nat`
  let dir: string
  const args = (h: {i: number}, store: string) => ['--store', `file:${join(dir, store)}`, '--subnet-file', join(dir, `${store}-subnet${h.i}.env`),
    '--cni-conf-dir', join(dir, `${store}-cni${h.i}`), '--state-file', join(dir, `${store}-node${h.i}.json`)]
  const ip = async (...argv: string[]) => {
    const r = await sh('ip', argv)
    if (r.exitCode !== 0) throw new Error(`ip ${argv.join(' ')}: ${r.stderr}`)
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fcm-'))
    for (const ns of [a.ns, b.ns, nat]) {
      await ip('netns', 'add', ns)
      await ip('-n', ns, 'link', 'set', 'lo', 'up')
    }
    await ip('-n', a.ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b.ns)
    await ip('-n', a.ns, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nat)
    for (const h of [a, b]) {
      await ip('-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0')
      await ip('-n', h.ns, 'link', 'set', 'eth0', 'up')
    }
    await ip('-n', a.ns, 'addr', 'add', '10.0.2.15/24', 'dev', 'eth1')
    await ip('-n', a.ns, 'link', 'set', 'eth1', 'up')
    await ip('-n', nat, 'addr', 'add', '10.0.2.2/24', 'dev', 'eth0')
    await ip('-n', nat, 'link', 'set', 'eth0', 'up')
    await ip('-n', a.ns, 'route', 'add', 'default', 'via', '10.0.2.2', 'dev', 'eth1')
  })
  after(async () => {
    for (const ns of [a.ns, b.ns, nat]) await sh('ip', ['netns', 'del', ns])
    await rm(dir, {recursive: true, force: true})
  })

  it('vxlan: init takes the default route\'s interface and says so; sync --iface moves the node and its lease', async () => {
    const rb = await cli(['init', '--network', '10.244.0.0/16', '--iface', 'eth0', ...args(b, 'vx')], {netns: b.ns})
    expect(rb.exitCode, rb.stderr).to.equal(0)
    const ra = await cli(['init', ...args(a, 'vx')], {netns: a.ns})
    expect(ra.exitCode, ra.stderr).to.equal(0)
    expect(ra.stderr).to.contain('using eth1 (10.0.2.15), the interface of the default route; pass --iface to choose another')
    expect(ra.stdout).to.contain(`warning: peer ${b.ip} is reached through eth0, not through eth1, the interface this node uses (the default route's: no --iface was given)`)
    // the command carries the files and store this host was set up with (src/core/carry.ts)
    expect(ra.stdout).to.contain(`flannelctl init ${args(a, 'vx').slice(6).join(' ')} ${args(a, 'vx').slice(2, 6).join(' ')} ${args(a, 'vx').slice(0, 2).join(' ')} --iface eth0`)
    const status = await cli(['status', ...args(a, 'vx')], {netns: a.ns})
    expect(status.stdout).to.contain(`warning   peer ${b.ip} is reached through eth0, not through eth1`)
    expect(status.stdout).to.contain(`flannelctl sync --state-file ${join(dir, 'vx-node0.json')} --iface eth0`)

    // the operator's fix: the recorded public IP was eth1's, so it goes with it
    const dry = await cli(['sync', '--iface', 'eth0', '--dry-run', ...args(a, 'vx')], {netns: a.ns})
    expect(dry.stdout).to.contain(`this host's public IP changed from 10.0.2.15 to ${a.ip}: its lease`).and.contain('would move with it')
    const moved = await cli(['sync', '--iface', 'eth0', ...args(a, 'vx')], {netns: a.ns})
    expect(moved.exitCode, moved.stderr).to.equal(0)
    expect(moved.stdout).to.contain(`lease`).and.contain(`for ${a.ip} (vxlan)`)
    expect(moved.stdout).to.not.contain('reached through')
    const [dev] = JSON.parse(await inNs(a.ns, 'ip', '-j', '-d', 'link', 'show', 'flannel.1'))
    expect(dev.linkinfo.info_data.local).to.equal(a.ip)
    expect(dev.linkinfo.info_data.link).to.equal('eth0')
    expect((await cli(['lease', 'list', '--json', '--store', `file:${join(dir, 'vx')}`])).stdout).to.contain(a.ip).and.not.contain('10.0.2.15')
    const again = await cli(['sync', ...args(a, 'vx')], {netns: a.ns})
    expect(again.stdout).to.contain('up to date')

    expect((await cli(['sync', ...args(b, 'vx')], {netns: b.ns})).exitCode).to.equal(0)
    expect(await inNs(b.ns, 'bridge', 'fdb', 'show', 'dev', 'flannel.1')).to.contain(`dst ${a.ip} self permanent`)
    const gw = async (h: {ns: string; i: number}) => (await inNs(h.ns, 'ip', '-j', 'addr', 'show', 'dev', 'cni0')).match(/"local":"(10\.244\.\d+\.1)"/)![1]
    const ping = await sh('ip', ['netns', 'exec', a.ns, 'ping', '-c', '1', '-W', '1', '-I', await gw(a), await gw(b)])
    expect(ping.exitCode, ping.stdout).to.equal(0)
    for (const h of [a, b]) expect((await cli(['reset', ...args(h, 'vx')], {netns: h.ns})).exitCode).to.equal(0)
  })

  it('vxlan: a peer the main table sends out of the other interface, but this node\'s address by its own table (source routing), is no warning', async () => {
    // a cloud's second NIC: main's default is eth1, packets from eth0's address leave by table 100
    await ip('-n', a.ns, 'route', 'add', 'default', 'via', b.ip, 'dev', 'eth0', 'table', '100')
    await ip('-n', a.ns, 'rule', 'add', 'from', a.ip, 'lookup', '100', 'priority', '100')
    try {
      const r = await cli(['init', '--network', '10.244.0.0/16', '--iface', 'eth0', ...args(a, 'sr')], {netns: a.ns})
      expect(r.exitCode, r.stderr).to.equal(0)
      const added = await cli(['peer', 'add', '--subnet', '10.244.200.0/24', '--public-ip', '198.51.100.7', '--vtep-mac', '0e:00:00:00:00:07', ...args(a, 'sr')], {netns: a.ns})
      expect(added.exitCode, added.stderr).to.equal(0)
      expect(added.stdout).to.not.contain('reached through')
      // without the rule the main table decides, and says eth1
      await ip('-n', a.ns, 'rule', 'del', 'from', a.ip, 'lookup', '100', 'priority', '100')
      const plain = await cli(['sync', '--dry-run', ...args(a, 'sr')], {netns: a.ns})
      expect(plain.stdout).to.contain('warning: peer 198.51.100.7 is reached through eth1, not through eth0')
    } finally {
      await sh('ip', ['-n', a.ns, 'rule', 'del', 'from', a.ip, 'lookup', '100', 'priority', '100'])
      await sh('ip', ['-n', a.ns, 'route', 'flush', 'table', '100'])
      expect((await cli(['reset', ...args(a, 'sr')], {netns: a.ns})).exitCode).to.equal(0)
    }
  })

  it('host-gw: a peer on-link through another interface gets no route out of --iface (the kernel refuses that gateway)', async () => {
    const rb = await cli(['init', '--network', '10.244.0.0/16', '--backend', 'host-gw', '--iface', 'eth0', ...args(b, 'hg')], {netns: b.ns})
    expect(rb.exitCode, rb.stderr).to.equal(0)
    const ra = await cli(['init', '--iface', 'eth1', ...args(a, 'hg')], {netns: a.ns})
    expect(ra.exitCode, ra.stderr).to.equal(0)
    expect(ra.stdout).to.contain(`warning: peer ${b.ip} is reached through eth0, not through eth1, the interface this node uses; peers are told to send to 10.0.2.15 and get no route here`)
    expect(ra.stdout).to.not.contain(`via ${b.ip} dev eth1`)
    const fixed = await cli(['sync', '--iface', 'eth0', ...args(a, 'hg')], {netns: a.ns})
    expect(fixed.exitCode, fixed.stderr).to.equal(0)
    expect(await inNs(a.ns, 'ip', 'route')).to.match(new RegExp(`10\\.244\\.\\d+\\.0/24 via ${b.ip.replace(/\./g, '\\.')} dev eth0`))
    // the node's interface down: said, and left to its owner
    await ip('-n', b.ns, 'link', 'set', 'eth0', 'down')
    try {
      const down = await cli(['sync', '--dry-run', ...args(b, 'hg')], {netns: b.ns})
      expect(down.stdout).to.contain('warning: eth0 is down: no peer reaches this node, nor it them, until it is up (ip link set eth0 up)')
    } finally {
      await ip('-n', b.ns, 'link', 'set', 'eth0', 'up')
    }
    // up, but the other end of its link down (a switch port): as cut off, though `ip link` says UP
    await ip('-n', a.ns, 'link', 'set', 'eth0', 'down')
    try {
      const noCarrier = await cli(['sync', '--dry-run', ...args(b, 'hg')], {netns: b.ns})
      expect(noCarrier.stdout, noCarrier.stdout + noCarrier.stderr).to.match(/warning: eth0 has no carrier \((operstate (LOWERLAYER)?DOWN|LOWER_UP gone): a cable, switch port or veth peer is down\): no peer reaches this node, nor it them, until its link is back/)
    } finally {
      await ip('-n', a.ns, 'link', 'set', 'eth0', 'up')
    }
    for (const h of [a, b]) expect((await cli(['reset', ...args(h, 'hg')], {netns: h.ns})).exitCode).to.equal(0)
  })
})
