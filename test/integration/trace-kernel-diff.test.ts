/**
 * trace against the kernel on a hand-built router chain a → r1 → r2 → b (plain `ip`/`iptables`, no
 * flannel): for each fault the kernel's answer (ping, traceroute) and the trace's agree, and the
 * fix the trace prints, run exactly as printed, makes the ping pass.
 */
import {expect} from 'chai'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {spawn} from 'node:child_process'
import {join} from 'node:path'
import {cli, linkNamespaces, netnsInventory, outputMatches, sh, shIn, uniqueLab} from '../helpers/cli.js'
import {python3} from '../helpers/python.js'
import {FLUSH_CONNTRACK} from '../helpers/kernel-probe.js'
import type {Trace} from '../../src/core/trace/types.js'

describe('trace against the kernel: a router chain built by hand', function () {
  this.timeout(120000)
  const tag = uniqueLab('k')
  const ns = (h: string) => `fdk-${tag}-${h}`
  const hosts = ['a', 'r1', 'r2', 'b']
  let dir: string
  let inventory: string

  const run = (host: string, command: string) => shIn(ns(host), command)
  const ping = async (extra = '') => (await sh('ip', ['netns', 'exec', ns('a'), 'sh', '-c', `ping -c 1 -W 1 ${extra} 10.91.3.2`]))
  const trace = async (...args: string[]): Promise<Trace> => {
    const r = await cli(['trace', 'a', 'b', '--inventory', inventory, '--json', ...args])
    expect(r.stderr).to.equal('')
    return JSON.parse(r.stdout) as Trace
  }
  /** the hops `traceroute -n -q 1` printed: the address, and the flag of an ICMP error (`!X`, `!F-1300`) */
  const hopsOf = (stdout: string) => stdout.split('\n').slice(1).map(l => /^\s*\d+\s+(\S+)(?:\s+\S+ ms)?(\s+!\S+)?/.exec(l)).filter(m => m !== null).map(m => m![1] + (m![2] ?? ''))
  const applyFixes = async (t: Trace) => {
    for (const f of t.failure!.fix) await run(f.node, f.command)
  }

  /** bytes b's listener got of 8 KB a's client sent (the listener gives up after a bounded wait); `noDf`: a client socket with IP_PMTUDISC_DONT */
  const sent8k = async ({noDf = false} = {}) => {
    const got = run('b', `timeout 8 ${python3()} -c "
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 80)); s.listen(1); s.settimeout(6)
c, _ = s.accept(); c.settimeout(3); n = 0
try:
    while n < 8192:
        d = c.recv(65536)
        if not d: break
        n += len(d)
except Exception: pass
print(n)
"`)
    await run('a', `${python3()} -c "
import socket, struct, time
for i in range(20):
    try:
        s = socket.socket(); s.settimeout(1)
        if ${noDf ? 'True' : 'False'}: s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT
        s.connect(('10.91.3.2', 80)); break
    except OSError: time.sleep(0.1)
s.sendall(b'x' * 8192); time.sleep(4)
# abort (RST): a closed socket with data still queued lives on as an orphan, retransmitting its DF
# segments for minutes; one reaching a narrower link in a later test taught a its path MTU there
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); s.close()
"`)
    return Number((await got).trim())
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fdk-'))
    inventory = join(dir, 'inventory.yaml')
    await writeFile(inventory, netnsInventory(hosts, ns))
    for (const h of hosts) {
      await sh('ip', ['netns', 'add', ns(h)])
      await run(h, 'ip link set lo up')
    }
    const link = (x: string, xi: string, y: string, yi: string) => linkNamespaces(ns(x), xi, ns(y), yi)
    await link('a', 'eth0', 'r1', 'a0')
    await link('r1', 'm0', 'r2', 'm0')
    await link('r2', 'b0', 'b', 'eth0')
    await run('a', 'ip addr add 10.91.1.2/24 dev eth0 && ip route add default via 10.91.1.1')
    await run('r1', 'ip addr add 10.91.1.1/24 dev a0 && ip addr add 10.91.2.1/24 dev m0 && ip route add 10.91.3.0/24 via 10.91.2.2 && sysctl -qw net.ipv4.ip_forward=1')
    await run('r2', 'ip addr add 10.91.2.2/24 dev m0 && ip addr add 10.91.3.1/24 dev b0 && ip route add 10.91.1.0/24 via 10.91.2.1 && sysctl -qw net.ipv4.ip_forward=1')
    await run('b', 'ip addr add 10.91.3.2/24 dev eth0 && ip route add default via 10.91.3.1')
    expect((await ping()).exitCode).to.equal(0)
  })
  after(async () => {
    for (const h of hosts) await sh('ip', ['netns', 'del', ns(h)])
    await rm(dir, {recursive: true, force: true})
  })

  it('a DF packet too big for a router\'s next link gets "fragmentation needed" even where FORWARD drops it', async () => {
    await run('r2', 'ip link set b0 mtu 1300 && iptables -A FORWARD -p icmp -j DROP')
    await run('b', 'ip link set eth0 mtu 1300')
    await run('a', 'ip route flush cache')
    try {
      expect((await ping('-M do -s 1372')).stdout).to.contain('Frag needed and DF set (mtu = 1300)')
      const t = await trace('--size', '1400')
      expect(t.disposition).to.equal('MTU_EXCEEDED')
      expect(t.failure).to.include({node: 'r2', step: 'mtu'})
      // traceroute -F with the packet's size: r2 answers time exceeded, then "fragmentation needed"
      await run('a', 'ip route flush cache')
      const real = await sh('ip', ['netns', 'exec', ns('a'), 'traceroute', '-n', '-I', '-F', '-q', '1', '-w', '1', '-m', '5', '10.91.3.2', '1400'])
      expect(hopsOf(real.stdout)).to.deep.equal(['10.91.1.1', '10.91.2.2', '10.91.2.2 !F-1300'])
      expect(t.traceroute).to.deep.equal(hopsOf(real.stdout))
    } finally {
      await run('r2', 'ip link set b0 mtu 1500 && iptables -F FORWARD')
      await run('b', 'ip link set eth0 mtu 1500')
      await run('a', 'ip route flush cache')
    }
  })

  it('TCP over a narrower link further on: PMTUD shrinks the segments; with "fragmentation needed" dropped on the way back, a black hole', async () => {
    // b's eth0 stays at 1500, so b announces MSS 1460 and only r2's b0 (1300) is narrower
    await run('r2', 'ip link set b0 mtu 1300')
    await run('a', 'ip route flush cache')
    try {
      let t = await trace('--proto', 'tcp', '--dport', '80', '--size', '1400')
      expect(t.disposition).to.equal('DELIVERED')
      expect(t.hops.find(h => h.node === 'r2')!.steps.find(s => s.kind === 'mtu')!.explanation).to.contain('path MTU discovery')
      expect(await sent8k()).to.equal(8192)
      // a learned the path MTU from r2's "fragmentation needed": its own MSS follows it now
      t = await trace('--proto', 'tcp', '--dport', '80', '--size', '1400')
      expect(t.hops[0].steps.find(s => s.kind === 'mtu')!.explanation).to.contain('its MSS follows the path MTU 1300 a learned for 10.91.3.2')
      await run('r1', 'iptables -A FORWARD -p icmp --icmp-type fragmentation-needed -j DROP')
      await run('a', 'ip route flush cache')
      expect(await sent8k()).to.equal(0)
      t = await trace('--proto', 'tcp', '--dport', '80', '--size', '1400')
      expect(t.disposition).to.equal('MTU_EXCEEDED')
      expect(t.failure).to.include({node: 'r2', step: 'mtu'})
      expect(t.failure!.reason).to.contain('a path MTU black hole')
      // the first fix lets "fragmentation needed" through: TCP gets its data across again
      await run(t.failure!.fix[0].node, t.failure!.fix[0].command)
      await run('a', 'ip route flush cache')
      expect(await sent8k()).to.equal(8192)
    } finally {
      await run('r1', 'iptables -F FORWARD')
      await run('r2', 'ip link set b0 mtu 1500')
      await run('a', 'ip route flush cache')
    }
  })

  it('TCPMSS on the SYN-ACK\'s way back: a clamp at the narrow link\'s router ends the black hole, and trace sizes the segments by it; a clamp of the SYN alone does not', async () => {
    await run('r2', 'ip link set b0 mtu 1300')
    await run('r1', 'iptables -A FORWARD -p icmp --icmp-type fragmentation-needed -j DROP')
    await run('a', 'ip route flush cache')
    const sizedBy = (t: Trace) => t.hops[0].steps.find(s => s.kind === 'mtu')!.explanation
    try {
      await run('r2', 'iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu')
      expect(await sent8k()).to.equal(8192)
      let t = await trace('--proto', 'tcp', '--dport', '80', '--size', '1400')
      expect(t.disposition).to.equal('DELIVERED')
      expect(sizedBy(t)).to.contain('the SYN-ACK from 10.91.3.2 arrives with MSS 1260').and.contain('segments of at most 1300 bytes (MSS 1260)')
      await run('r2', 'iptables -t mangle -F FORWARD && iptables -t mangle -A FORWARD -o b0 -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1000')
      await run('a', 'ip route flush cache')
      expect(await sent8k()).to.equal(0)
      t = await trace('--proto', 'tcp', '--dport', '80', '--size', '1400')
      expect(t.disposition).to.equal('MTU_EXCEEDED')
      expect(t.warnings.filter(w => w.code === 'ASSUMED')).to.deep.equal([])
    } finally {
      await run('r2', 'iptables -t mangle -F FORWARD && ip link set b0 mtu 1500')
      await run('r1', 'iptables -F FORWARD')
      await run('a', 'ip route flush cache')
    }
  })

  it('TCP --size is filtered as its data segments: a length rule for NEW packets lets them through, one for non-SYN packets drops them', async () => {
    try {
      await run('r1', 'iptables -A FORWARD -p tcp --dport 80 -m conntrack --ctstate NEW -m length --length 1000:65535 -j DROP')
      expect(await sent8k()).to.equal(8192)
      expect((await trace('--proto', 'tcp', '--dport', '80', '--size', '8000')).disposition).to.equal('DELIVERED')
      await run('r1', 'iptables -F FORWARD && iptables -A FORWARD -p tcp --dport 80 ! --syn -m length --length 1000:65535 -j DROP')
      expect(await sent8k()).to.equal(0)
      const t = await trace('--proto', 'tcp', '--dport', '80', '--size', '8000')
      expect(t.disposition).to.equal('DENIED_BY_FILTER')
      expect(t.failure!.reason).to.contain('a 1500-byte data segment')
    } finally {
      await run('r1', 'iptables -F FORWARD')
    }
  })

  it('TCP with --no-df (a socket with IP_PMTUDISC_DONT) over a narrower link with "fragmentation needed" dropped: fragmented there, delivered', async () => {
    await run('r2', 'ip link set b0 mtu 1300')
    await run('r1', 'iptables -A FORWARD -p icmp --icmp-type fragmentation-needed -j DROP')
    await run('a', 'ip route flush cache')
    try {
      // the kernel: the default socket is a black hole here, the one without DF gets its data across
      expect(await sent8k()).to.equal(0)
      await run('a', 'ip route flush cache')
      expect(await sent8k({noDf: true})).to.equal(8192)
      const t = await trace('--proto', 'tcp', '--dport', '80', '--size', '8000', '--no-df')
      expect(t.disposition).to.equal('DELIVERED')
      expect(t.hops[0].steps.find(s => s.kind === 'mtu')!.explanation).to.match(/^TCP sends no 8000-byte packet: .*segments of at most 1500 bytes/)
      expect(t.hops.find(h => h.node === 'r2')!.steps.find(s => s.kind === 'mtu')!.explanation).to.contain('it has no DF (a TCP socket with IP_PMTUDISC_DONT')
      expect((await trace('--proto', 'tcp', '--dport', '80', '--size', '8000')).disposition).to.equal('MTU_EXCEEDED')
    } finally {
      await run('r1', 'iptables -F FORWARD')
      await run('r2', 'ip link set b0 mtu 1500')
      await run('a', 'ip route flush cache')
    }
  })

  it('TCP segments follow the advmss of the receiver\'s route back, as its SYN-ACK announces it', async () => {
    await run('b', 'ip route change default via 10.91.3.1 advmss 1000')
    try {
      const listener = run('b', `timeout 6 ${python3()} -c "
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 80)); s.listen(1); s.settimeout(5)
c, _ = s.accept(); c.recv(1)
"`)
      const client = await run('a', `${python3()} -c "
import socket, struct, time
for i in range(20):
    try:
        s = socket.create_connection(('10.91.3.2', 80), timeout=1); break
    except OSError: time.sleep(0.1)
print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)); s.send(b'x')
"`)
      await listener
      // MSS 1000 less 12 bytes of timestamps
      expect(Number(client.trim())).to.equal(988)
      const t = await trace('--proto', 'tcp', '--dport', '80', '--size', '8000')
      expect(t.hops[0].steps.find(s => s.kind === 'mtu')!.explanation).to.contain('10.91.3.2 announces MSS 1000 in its SYN-ACK (the advmss 1000 of its route to 10.91.1.2 on b)')
    } finally {
      await run('b', 'ip route change default via 10.91.3.1')
    }
  })

  it('a veth whose MTU is smaller than the link\'s takes in 4 bytes more and silently drops the rest, as trace says', async () => {
    await run('b', 'ip link set eth0 mtu 1300')
    try {
      expect((await ping('-M do -s 1276')).exitCode).to.equal(0)
      const lost = await ping('-M do -s 1277')
      expect(lost.exitCode).to.not.equal(0)
      expect(lost.stdout).to.not.contain('Frag needed')
      expect((await trace('--size', '1304')).disposition).to.equal('DELIVERED')
      const t = await trace('--size', '1305')
      expect(t.disposition).to.equal('MTU_EXCEEDED')
      expect(t.failure).to.include({node: 'b', step: 'mtu'})
      expect(t.traceroute).to.deep.equal(['10.91.1.1', '10.91.2.2'])
    } finally {
      await run('b', 'ip link set eth0 mtu 1500')
    }
  })

  it('a route\'s mtu metric: the kernel forwards by it, and the printed fix lifts it', async () => {
    await run('r1', 'ip route replace 10.91.3.0/24 via 10.91.2.2 mtu lock 1200')
    expect((await ping('-M do -s 1272')).stdout).to.contain('Frag needed and DF set (mtu = 1200)')
    const t = await trace('--size', '1300')
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    // the ping's frag-needed left a path MTU of 1200 in a's route cache: the next full-size packet
    // fails at a itself, and the route at r1 that made it comes first among the fixes
    expect(t.failure).to.include({node: 'a', step: 'mtu'})
    expect(t.failure!.fix!.map(f => f.node)).to.deep.equal(['r1', 'a'])
    expect(t.failure!.fix!.at(-1)!.command).to.equal('ip route flush cache')
    await applyFixes(t)
    expect((await ping('-M do -s 1272')).exitCode).to.equal(0)
    expect((await trace('--size', '1300')).disposition).to.equal('DELIVERED')
  })

  it('a permanent neighbour entry with a MAC nobody has: the frames die, the printed fix puts the right MAC', async () => {
    await run('r1', 'ip neigh replace 10.91.2.2 lladdr 02:00:00:00:00:01 dev m0 nud permanent')
    expect((await ping()).exitCode).to.not.equal(0)
    const t = await trace()
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure).to.include({node: 'r1', step: 'neigh'})
    await applyFixes(t)
    expect((await ping()).exitCode).to.equal(0)
    expect((await trace()).disposition).to.equal('DELIVERED')
  })

  it('policy routing by the mark a mangle rule gives: the fwmark rule\'s prohibit route answers, as traceroute shows', async () => {
    await run('r1', 'iptables -t mangle -A PREROUTING -p icmp -j MARK --set-mark 0x10 && ip rule add fwmark 0x10 lookup 200 pref 50 && ip route add prohibit 10.91.3.0/24 table 200')
    try {
      expect((await ping()).stdout).to.contain('Packet filtered')
      const t = await trace()
      expect(t.disposition).to.equal('NULL_ROUTED')
      expect(t.traceroute).to.deep.equal(['10.91.1.1 !X'])
      await applyFixes(t)
      expect((await ping()).exitCode).to.equal(0)
    } finally {
      await run('r1', 'iptables -t mangle -F PREROUTING; ip rule del pref 50 2>/dev/null; ip route flush table 200 2>/dev/null; true')
    }
  })

  it('a REJECT in FORWARD: the sender\'s error and traceroute\'s flag on the rejecting router', async () => {
    await run('r2', 'iptables -A FORWARD -p udp -j REJECT --reject-with icmp-host-prohibited')
    try {
      const real = await sh('ip', ['netns', 'exec', ns('a'), 'traceroute', '-n', '-q', '1', '-w', '1', '-m', '5', '10.91.3.2'])
      const hops = hopsOf(real.stdout)
      const t = await trace('--proto', 'udp', '--dport', '33434')
      expect(t.disposition).to.equal('DENIED_BY_FILTER')
      expect(t.failure!.reason).to.contain('ICMP host prohibited')
      expect(t.traceroute).to.deep.equal(hops)
    } finally {
      await run('r2', 'iptables -F FORWARD')
    }
  })

  it('a REJECT of the reply only: the replier hears of it, the prober sees `*` for the destination', async () => {
    await run('r2', 'iptables -A FORWARD -s 10.91.3.2 -d 10.91.1.2 -j REJECT')
    try {
      expect((await ping()).exitCode).to.not.equal(0)
      const real = await sh('ip', ['netns', 'exec', ns('a'), 'traceroute', '-n', '-q', '1', '-w', '1', '-m', '3', '10.91.3.2'])
      expect(hopsOf(real.stdout)).to.deep.equal(['10.91.1.1', '10.91.2.2', '*'])
      for (const proto of ['icmp', 'udp']) {
        const t = await trace('--proto', proto, ...(proto === 'udp' ? ['--dport', '33434'] : []))
        expect(t.disposition, proto).to.equal('DELIVERED')
        expect(t.traceroute, proto).to.deep.equal(hopsOf(real.stdout))
        expect(t.returnPath.failure!.reason, proto).to.contain('10.91.3.2, the reply\'s sender, gets ICMP port unreachable')
      }
    } finally {
      await run('r2', 'iptables -F FORWARD')
    }
  })

  it('UDP to a port nothing listens on: a destination that drops its own port unreachable is `*` in traceroute, and said', async () => {
    await run('b', 'iptables -A OUTPUT -p icmp --icmp-type port-unreachable -j DROP')
    try {
      expect((await ping()).exitCode).to.equal(0)
      const real = await sh('ip', ['netns', 'exec', ns('a'), 'traceroute', '-n', '-q', '1', '-w', '1', '-m', '3', '10.91.3.2'])
      expect(hopsOf(real.stdout)).to.deep.equal(['10.91.1.1', '10.91.2.2', '*'])
      const t = await trace('--proto', 'udp', '--dport', '33434')
      expect(t.traceroute).to.deep.equal(hopsOf(real.stdout))
      expect(t.warnings.find(w => w.code === 'ASSUMED' && w.node === 'b')!.message).to.match(/answers with ICMP port unreachable, which is lost on its way back: OUTPUT on b drops /)
    } finally {
      await run('b', 'iptables -F OUTPUT')
    }
  })

  it('--no-df: a packet too big for a router\'s next link is fragmented there, as the kernel cuts it, and answered', async () => {
    // 1302: the largest fragment is 1300, its payload a multiple of 8
    await run('r2', 'ip link set b0 mtu 1302')
    await run('b', 'ip link set eth0 mtu 1302')
    await run('a', 'ip route flush cache')
    try {
      const dump = spawn('ip', ['netns', 'exec', ns('b'), 'timeout', '6', 'tcpdump', '-n', '-v', '-l', '-i', 'eth0', '-c', '2', 'icmp or (ip[6:2] & 0x1fff) != 0'])
      let seen = ''
      dump.stdout.on('data', d => { seen += String(d) })
      const done = new Promise(resolve => dump.on('close', resolve))
      await outputMatches(dump.stderr, /listening/, 3000)
      expect((await ping('-M dont -s 1372')).exitCode).to.equal(0)
      await done
      expect([...seen.matchAll(/length (\d+)\)/g)].map(m => Number(m[1]))).to.deep.equal([1300, 120])
      const t = await trace('--size', '1400', '--no-df')
      expect(t.disposition).to.equal('DELIVERED')
      // if the packet reaches r2 already cut, say what a's and r1's tables held then
      const state = async () => `a: ${await run('a', 'ip route show cache; ip -o link')} r1: ${await run('r1', 'ip route show cache; ip -o link; ip route')} trace: ${t.hops.map(h => `${h.node}: ${h.steps.find(s => s.kind === 'mtu')?.explanation ?? '-'}`).join(' | ')}`
      const atR2 = t.hops.find(h => h.node === 'r2')!.steps.find(s => s.kind === 'mtu')!.explanation
      if (!atR2.includes('it has no DF, so r2 sends it as 2 fragments of at most 1300 bytes')) expect.fail(`${atR2}\n${await state()}`)
      expect(t.hops.find(h => h.node === 'b')!.steps.find(s => s.kind === 'mtu')?.explanation ?? '').to.not.contain('1400')
      const real = await sh('ip', ['netns', 'exec', ns('a'), 'traceroute', '-n', '-I', '-q', '1', '-w', '1', '-m', '5', '10.91.3.2', '1400'])
      expect(t.traceroute).to.deep.equal(hopsOf(real.stdout))
    } finally {
      await run('r2', 'ip link set b0 mtu 1500')
      await run('b', 'ip link set eth0 mtu 1500')
      await run('a', 'ip route flush cache')
    }
  })
  // Match extensions the trace once read wrong (silently): each as the kernel decides it.
  const traceTo = async (dst: string): Promise<Trace> => JSON.parse((await cli(['trace', 'a', dst, '--inventory', inventory, '--json'])).stdout) as Trace
  const pingTo = async (dst: string) => (await sh('ip', ['netns', 'exec', ns('a'), 'ping', '-c', '1', '-W', '1', dst])).exitCode

  it('--ctstate DNAT: FORWARD drops the connection r1 translated, not the one it did not', async () => {
    await run('b', 'ip addr add 10.91.3.3/24 dev eth0')
    await run('r1', 'iptables -t nat -A PREROUTING -d 10.91.3.2 -j DNAT --to-destination 10.91.3.3 && iptables -A FORWARD -m conntrack --ctstate DNAT -j DROP')
    try {
      expect(await pingTo('10.91.3.2')).to.not.equal(0)
      expect(await pingTo('10.91.3.3')).to.equal(0)
      const t = await trace()
      expect(t.disposition).to.equal('DENIED_BY_FILTER')
      expect(t.failure).to.include({node: 'r1', evidence: '-A FORWARD -m conntrack --ctstate DNAT -j DROP'})
      expect((await traceTo('10.91.3.3')).disposition).to.equal('DELIVERED')
    } finally {
      await run('r1', `iptables -F FORWARD; iptables -t nat -F PREROUTING; ${FLUSH_CONNTRACK}`)
      await run('b', 'ip addr del 10.91.3.3/24 dev eth0')
    }
  })

  it('-m connmark --mark tests the connection\'s mark: a packet marked 0x1 passes `-m connmark --mark 0x1 -j DROP`, ASSUMED', async () => {
    await run('r1', 'iptables -A FORWARD -p icmp -j MARK --set-mark 0x1 && iptables -A FORWARD -m connmark --mark 0x1 -j DROP')
    try {
      expect((await ping()).exitCode).to.equal(0)
      const t = await trace()
      expect(t.disposition).to.equal('DELIVERED')
      expect(t.warnings.some(w => w.code === 'ASSUMED' && w.node === 'r1' && w.message.includes('`-m connmark --mark 0x1` (it depends on the connection\'s mark'))).to.equal(true)
    } finally {
      await run('r1', 'iptables -F FORWARD')
    }
  })

  it('addrtype --limit-iface-in: r2\'s address on b0 is not LOCAL for a packet that comes in by m0', async () => {
    await run('r2', 'iptables -A INPUT -m addrtype ! --dst-type LOCAL --limit-iface-in -j DROP')
    try {
      expect(await pingTo('10.91.3.1')).to.not.equal(0)
      expect(await pingTo('10.91.2.2')).to.equal(0)
      const t = await traceTo('10.91.3.1')
      expect(t.disposition).to.equal('DENIED_BY_FILTER')
      expect(t.failure).to.include({node: 'r2'})
      expect((await traceTo('10.91.2.2')).disposition).to.equal('DELIVERED')
    } finally {
      await run('r2', 'iptables -F INPUT')
    }
  })

  it('-m rpfilter in raw PREROUTING drops what comes in by m0 when r2\'s route back to a leaves by b0', async () => {
    await run('r2', 'iptables -t raw -A PREROUTING -m rpfilter --invert -j DROP')
    try {
      expect((await ping()).exitCode).to.equal(0)
      const passes = await trace()
      expect(passes.disposition).to.equal('DELIVERED')
      expect(passes.warnings.some(w => w.message.includes('rpfilter'))).to.equal(false)
      await run('r2', 'ip route add 10.91.1.2/32 via 10.91.3.2 dev b0')
      expect((await ping()).exitCode).to.not.equal(0)
      const t = await trace()
      expect(t.disposition).to.equal('DENIED_BY_FILTER')
      expect(t.failure).to.include({node: 'r2', evidence: '-A PREROUTING -m rpfilter --invert -j DROP'})
    } finally {
      await run('r2', 'iptables -t raw -F PREROUTING; ip route del 10.91.1.2/32 2>/dev/null; true')
    }
  })

  it('an nft quota far from its end lets the packet through its `drop`, said as assumed', async () => {
    await run('r1', 'nft add table ip fq && nft add chain ip fq fw "{ type filter hook forward priority 0; policy accept; }" && nft add rule ip fq fw quota over 100 mbytes drop')
    try {
      expect((await ping()).exitCode).to.equal(0)
      const t = await trace()
      expect(t.disposition).to.equal('DELIVERED')
      expect(t.warnings.some(w => w.code === 'ASSUMED' && w.message.includes('a byte quota'))).to.equal(true)
    } finally {
      await run('r1', 'nft delete table ip fq')
    }
  })
})
