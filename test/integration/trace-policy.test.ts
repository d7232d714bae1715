/**
 * trace against the kernel where the policy rules route packets the trace does not see as "the
 * traced packet": the outer vxlan packet (its source, mark and fdb `via` binding) and a router's
 * ICMP error. Node a has two uplinks to the router r (eth0: main's default, eth1: table 100's);
 * b sits behind r. Which uplink the kernel took is read from a's tx counters. Also the client's
 * ephemeral port (a TCP connection's source port), which `sport` rules and conntrack matches test.
 */
import {expect} from 'chai'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {cli, sh, shIn, uniqueLab} from '../helpers/cli.js'
import type {Trace} from '../../src/core/trace/types.js'

describe('trace against the kernel: policy rules for the outer vxlan packet and ICMP errors', function () {
  this.timeout(90000)
  const tag = uniqueLab('p')
  const ns = (h: string) => `fdp-${tag}-${h}`
  let dir: string
  let inventory: string
  let peerMac: string

  const run = (host: string, command: string) => shIn(ns(host), command)
  const tx = async (dev: string) => Number(await run('a', `cat /sys/class/net/${dev}/statistics/tx_packets`))
  /** ping from a, and the uplink its packet left by */
  const ping = async (dst: string) => {
    const [e0, e1] = [await tx('eth0'), await tx('eth1')]
    const r = await sh('ip', ['netns', 'exec', ns('a'), 'ping', '-c', '1', '-W', '1', dst])
    const used = (await tx('eth1')) > e1 ? 'eth1' : (await tx('eth0')) > e0 ? 'eth0' : 'none'
    return {ok: r.exitCode === 0, used}
  }
  const trace = async (dst: string, ...flags: string[]): Promise<Trace> => {
    const r = await cli(['trace', 'a', dst, '--inventory', inventory, '--json', ...flags])
    expect(r.stderr).to.equal('')
    return JSON.parse(r.stdout) as Trace
  }
  /** a TCP connect from a to b's port 80 (b answers with a reset, or a rule drops it): the uplink its SYN left by, and how it ended */
  const connect = async () => {
    const [e0, e1] = [await tx('eth0'), await tx('eth1')]
    const r = await sh('ip', ['netns', 'exec', ns('a'), 'timeout', '2', 'bash', '-c', 'echo > /dev/tcp/192.168.63.2/80'])
    const used = (await tx('eth1')) > e1 ? 'eth1' : (await tx('eth0')) > e0 ? 'eth0' : 'none'
    return {used, answer: /refused/.test(r.stderr) ? 'refused' : r.exitCode === 124 ? 'timeout' : r.stderr.trim()}
  }
  const tcpTrace = () => trace('192.168.63.2', '--proto', 'tcp', '--dport', '80')
  /** the device a's first route step sends by */
  const firstDev = (t: Trace) => /dev (\S+)/.exec(t.hops[0].steps.find(s => s.kind === 'route')?.evidence ?? '')?.[1]
  /** the device a's route for the outer packet sends by (the second route step on a) */
  const outerDev = (t: Trace) => /dev (\S+)/.exec(t.hops[0].steps.filter(s => s.kind === 'route')[1]?.evidence ?? '')?.[1]

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fdp-'))
    inventory = join(dir, 'inventory.yaml')
    await writeFile(inventory, `nodes:\n${['a', 'r', 'b'].map(h => `  - {name: ${h}, exec: "netns:${ns(h)}"}`).join('\n')}\n`)
    for (const h of ['a', 'r', 'b']) {
      await sh('ip', ['netns', 'add', ns(h)])
      // no IPv6 on the uplinks: a router solicitation or MLD report sent during a ping would count as its uplink
      await run(h, 'ip link set lo up && sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1')
    }
    const link = async (x: string, xi: string, y: string, yi: string) => {
      const r = await sh('ip', ['link', 'add', xi, 'netns', ns(x), 'type', 'veth', 'peer', 'name', yi, 'netns', ns(y)])
      if (r.exitCode !== 0) throw new Error(r.stderr)
    }
    await link('a', 'eth0', 'r', 'a0')
    await link('a', 'eth1', 'r', 'a1')
    await link('b', 'eth0', 'r', 'b0')
    await run('a', 'ip addr add 192.168.61.1/24 dev eth0 && ip addr add 192.168.62.1/24 dev eth1 && ip link set eth0 up && ip link set eth1 up'
      + ' && ip route add default via 192.168.61.254 dev eth0 && ip route add default via 192.168.62.254 dev eth1 table 100')
    await run('r', 'ip addr add 192.168.61.254/24 dev a0 && ip addr add 192.168.62.254/24 dev a1 && ip addr add 192.168.63.254/24 dev b0'
      + ' && ip link set a0 up && ip link set a1 up && ip link set b0 up && sysctl -qw net.ipv4.ip_forward=1')
    await run('b', 'ip addr add 192.168.63.2/24 dev eth0 && ip link set eth0 up && ip route add default via 192.168.63.254')
    // a's vxlan device has no `local`: the outer packet's source comes from its route
    await run('a', 'ip link add vxlan0 type vxlan id 42 dstport 4789 nolearning && ip addr add 10.50.0.1/24 dev vxlan0 && ip link set vxlan0 up'
      + ' && ip route add 10.50.0.0/24 dev vxlan0 table 100')
    await run('b', 'ip link add vxlan0 type vxlan id 42 local 192.168.63.2 dstport 4789 nolearning && ip addr add 10.50.0.2/24 dev vxlan0 && ip link set vxlan0 up')
    const macA = (await run('a', 'cat /sys/class/net/vxlan0/address')).trim()
    peerMac = (await run('b', 'cat /sys/class/net/vxlan0/address')).trim()
    await run('a', `ip neigh add 10.50.0.2 lladdr ${peerMac} dev vxlan0 nud permanent && bridge fdb append ${peerMac} dev vxlan0 dst 192.168.63.2 self permanent`)
    await run('b', `ip neigh add 10.50.0.1 lladdr ${macA} dev vxlan0 nud permanent`
      + ` && bridge fdb append ${macA} dev vxlan0 dst 192.168.61.1 self permanent && bridge fdb append ${macA} dev vxlan0 dst 192.168.62.1 self permanent`)
    // the trace reads the operstate, which linkwatch sets up to a second after the carrier
    await run('a', 'for i in $(seq 30); do grep -q up /sys/class/net/eth1/operstate && break; sleep 0.1; done')
    await run('r', 'for i in $(seq 30); do cat /sys/class/net/a0/operstate /sys/class/net/a1/operstate /sys/class/net/b0/operstate | grep -qv up || break; sleep 0.1; done')
    expect(await ping('10.50.0.2')).to.deep.equal({ok: true, used: 'eth0'})
  })
  after(async () => {
    for (const h of ['a', 'r', 'b']) await sh('ip', ['netns', 'del', ns(h)])
    await rm(dir, {recursive: true, force: true})
  })

  it('the outer packet: `from` rules do not see a device without `local`, fwmark rules see the inner packet\'s mark', async () => {
    await run('a', 'ip rule add from 192.168.61.1 lookup 100 pref 100')
    try {
      expect(await ping('10.50.0.2')).to.deep.equal({ok: true, used: 'eth0'})
      const t = await trace('10.50.0.2')
      expect(t.disposition, JSON.stringify(t.failure)).to.equal('DELIVERED')
      expect(outerDev(t)).to.equal('eth0')
    } finally {
      await run('a', 'ip rule del pref 100')
    }
    await run('a', 'ip rule add fwmark 0x7 lookup 100 pref 100 && iptables -t mangle -A OUTPUT -d 10.50.0.2 -j MARK --set-mark 0x7')
    try {
      expect(await ping('10.50.0.2')).to.deep.equal({ok: true, used: 'eth1'})
      const t = await trace('10.50.0.2')
      expect(t.disposition).to.equal('DELIVERED')
      expect(outerDev(t)).to.equal('eth1')
    } finally {
      await run('a', 'ip rule del pref 100 && iptables -t mangle -F OUTPUT')
    }
  })

  it('an fdb entry `via eth1` binds the outer packet to eth1: with no route out of it the VTEP is looked for on eth1, and the printed fix works', async () => {
    await run('a', `bridge fdb replace ${peerMac} dev vxlan0 dst 192.168.63.2 via eth1 self permanent`)
    expect(await ping('10.50.0.2')).to.deep.equal({ok: false, used: 'eth1'})
    const t = await trace('10.50.0.2')
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure!.node).to.equal('a')
    for (const f of t.failure!.fix) await run(f.node, f.command)
    expect(await ping('10.50.0.2')).to.deep.equal({ok: true, used: 'eth0'})
    expect((await trace('10.50.0.2')).disposition).to.equal('DELIVERED')
  })

  it('a `sport` rule steers a TCP connection by the port a\'s kernel picked: trace judges it by a\'s own ip_local_port_range', async () => {
    const range = (ports: string) => run('a', `sysctl -qw net.ipv4.ip_local_port_range="${ports}"`)
    const clientPortWarnings = (t: Trace) => t.warnings.filter(w => w.message.includes('client\'s source port')).map(w => w.message)
    // (connect() looks the route up again once the port is picked: the default range is all inside the rule's ports)
    await run('a', 'ip rule add sport 32768-60999 lookup 100 pref 100')
    try {
      expect(await connect()).to.deep.equal({used: 'eth1', answer: 'refused'})
      let t = await tcpTrace()
      expect(firstDev(t)).to.equal('eth1')
      expect(clientPortWarnings(t)).to.deep.equal([])
      await run('a', 'ip rule del pref 100 && ip rule add sport 40000-40010 lookup 100 pref 100')
      await range('40000 40010')
      expect(await connect()).to.deep.equal({used: 'eth1', answer: 'refused'})
      t = await tcpTrace()
      expect(firstDev(t)).to.equal('eth1')
      expect(clientPortWarnings(t)).to.deep.equal([])
      await range('50000 50010')
      expect(await connect()).to.deep.equal({used: 'eth0', answer: 'refused'})
      expect(firstDev(await tcpTrace())).to.equal('eth0')
      // part of a's range in the rule's ports: either way, said with both routes
      await range('40005 40020')
      t = await tcpTrace()
      expect(firstDev(t)).to.equal('eth0')
      expect(clientPortWarnings(t)).to.deep.equal(['`100:\tfrom all sport 40000-40010 lookup 100` tests the packet\'s source port, the client\'s source port, which its kernel picks from ' +
        'net.ipv4.ip_local_port_range (40005-40020 on a); 6 of its 16 ports are in 40000-40010: assumed it is outside, so the rule does not apply and the packet takes ' +
        '`default via 192.168.61.254 dev eth0`; from a port in 40000-40010 it takes `default via 192.168.62.254 dev eth1 table 100` (`ss -tun` on the client shows the port)'])
    } finally {
      await run('a', 'ip rule del pref 100; sysctl -qw net.ipv4.ip_local_port_range="32768 60999"')
    }
  })

  it('a conntrack match on the original source port holds a\'s port: with a\'s range inside it, every connection is dropped', async () => {
    await run('b', 'iptables -A INPUT -p tcp -m conntrack --ctorigsrcport 50000:50010 -j DROP')
    try {
      await run('a', 'sysctl -qw net.ipv4.ip_local_port_range="50000 50010"')
      expect(await connect()).to.deep.equal({used: 'eth0', answer: 'timeout'})
      const t = await tcpTrace()
      expect(t.disposition).to.equal('DENIED_BY_FILTER')
      expect(t.failure!.evidence).to.equal('-A INPUT -p tcp -m conntrack --ctorigsrcport 50000:50010 -j DROP')
      await run('a', 'sysctl -qw net.ipv4.ip_local_port_range="32768 49999"')
      expect(await connect()).to.deep.equal({used: 'eth0', answer: 'refused'})
      expect((await tcpTrace()).disposition).to.equal('DELIVERED')
    } finally {
      await run('b', 'iptables -F INPUT')
      await run('a', 'sysctl -qw net.ipv4.ip_local_port_range="32768 60999"')
    }
  })

  it('a masquerade with --random-fully gives a\'s connection another port: a rule on a\'s own range no longer decides', async () => {
    await run('a', 'sysctl -qw net.ipv4.ip_local_port_range="50000 50010"')
    await run('b', 'iptables -A INPUT -p tcp -m tcp --sport 50000:50010 -j DROP')
    try {
      expect(await connect()).to.deep.equal({used: 'eth0', answer: 'timeout'})
      expect((await tcpTrace()).disposition).to.equal('DENIED_BY_FILTER')
      // (11 ports of 1024-65535 are dropped: a connection passes but for a chance of 1 in 5865)
      await run('a', 'iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE --random-fully')
      expect(await connect()).to.deep.equal({used: 'eth0', answer: 'refused'})
      const t = await tcpTrace()
      expect(t.disposition).to.equal('DELIVERED')
      expect(t.warnings.some(w => w.code === 'ASSUMED' && w.message.includes('which `-A POSTROUTING -o eth0 -j MASQUERADE --random-fully` on a rewrites to one of 1024-65535'))).to.equal(true)
    } finally {
      await run('b', 'iptables -F INPUT')
      await run('a', 'iptables -t nat -F POSTROUTING; sysctl -qw net.ipv4.ip_local_port_range="32768 60999"')
    }
  })

  it('a router\'s time-exceeded goes back by its policy rules: traceroute\'s first line is the address that route gives', async () => {
    await run('r', 'ip route add 192.168.61.0/24 via 192.168.62.1 dev a1 table 200 && ip rule add to 192.168.61.0/24 iif lo lookup 200 pref 200')
    try {
      const tr = await sh('ip', ['netns', 'exec', ns('a'), 'traceroute', '-n', '-q', '1', '-w', '1', '192.168.63.2'])
      const first = /^\s*1\s+(\S+)/m.exec(tr.stdout)?.[1]
      expect(first).to.equal('192.168.62.254')
      expect((await trace('192.168.63.2')).traceroute[0]).to.equal(first)
    } finally {
      await run('r', 'ip rule del pref 200')
    }
  })
})
