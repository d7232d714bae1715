/**
 * trace against the kernel on hosts flannelctl did not build, made by hand with ip/iptables/ipset:
 * two docker hosts left at docker's defaults (172.17.0.0/16 on both, a container 172.17.0.2 on
 * each publishing 8080), a node with flannel 0.10's rules and kube-proxy in iptables mode (no
 * default route; a ClusterIP with two endpoints, one the client itself behind a hairpin-off port),
 * and a Calico-style node with natOutgoing by ipset. Real TCP connects (python3) and ping against
 * `trace --inventory`.
 */
import {expect} from 'chai'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {cli, sh, shIn, uniqueLab} from '../helpers/cli.js'
import {python3} from '../helpers/python.js'
import type {Trace} from '../../src/core/trace/types.js'

describe('trace against the kernel: docker, kube-proxy and Calico hosts built by hand', function () {
  this.timeout(180000)
  const tag = uniqueLab('f')
  const ns = (h: string) => `ffh-${tag}-${h}`
  const hosts = ['sw', 'd1', 'd3', 'c1', 'c3', 'o1', 'p1', 'p2', 'k1', 'kp']
  let dir: string
  let inventory: string

  const run = (host: string, command: string) => shIn(ns(host), command)
  /** a TCP listener that writes each peer's address to DIR/seen-HOST and answers "hi" */
  const listen = (host: string, port: number) => run(host, `timeout 170 ${python3()} -c "
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', ${port})); s.listen(8)
while True:
    c, a = s.accept(); open('${dir}/seen-${host}', 'a').write(a[0] + chr(10)); c.sendall(b'hi'); c.close()
" >/dev/null 2>&1 &`)
  const connect = async (host: string, ip: string, port: number) => (await run(host, `${python3()} -c "
import socket
s = socket.socket(); s.settimeout(1)
try:
    s.connect(('${ip}', ${port})); print('OK')
except Exception as e:
    print(type(e).__name__)
"`)).trim()
  const seen = async (host: string) => (await readFile(join(dir, `seen-${host}`), 'utf8').catch(() => '')).trim().split('\n').filter(Boolean)
  const trace = async (...args: string[]): Promise<Trace> => {
    const r = await cli(['trace', ...args, '--inventory', inventory, '--json'])
    expect(r.stderr).to.equal('')
    return JSON.parse(r.stdout) as Trace
  }
  const veth = async (a: string, ai: string, b: string, bi: string) => {
    const r = await sh('ip', ['link', 'add', ai, 'netns', ns(a), 'type', 'veth', 'peer', 'name', bi, 'netns', ns(b)])
    if (r.exitCode !== 0) throw new Error(r.stderr)
  }
  /** a host on the switch: eth0 with `ip`/24, forwarding on */
  const host = async (h: string, ip: string) => {
    await veth(h, 'eth0', 'sw', `v${h}`)
    await run('sw', `ip link set v${h} master br0 up`)
    await run(h, `ip addr add ${ip}/24 dev eth0 && ip link set eth0 up && sysctl -qw net.ipv4.ip_forward=1`)
  }
  /** a pod behind bridge `bridge` of `node` (host end `dev`), default route via `gw` */
  const bridged = async (node: string, dev: string, bridge: string, pod: string, cidr: string, gw: string) => {
    await veth(node, dev, pod, 'eth0')
    await run(node, `ip link set ${dev} master ${bridge} up`)
    await run(pod, `ip addr add ${cidr} dev eth0 && ip link set eth0 up && ip route add default via ${gw}`)
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ffh-'))
    inventory = join(dir, 'inventory.yaml')
    for (const h of hosts) {
      await sh('ip', ['netns', 'add', ns(h)])
      await run(h, 'ip link set lo up')
    }
    await run('sw', 'ip link add br0 type bridge && ip link set br0 up')
    // docker's defaults on d1 and d3: the same bridge, the same container address, port 8080 published
    for (const [d, c, ip] of [['d1', 'c1', '192.168.93.11'], ['d3', 'c3', '192.168.93.13']]) {
      await host(d, ip)
      await run(d, 'ip link add docker0 type bridge && ip addr add 172.17.0.1/16 dev docker0 && ip link set docker0 up')
      await bridged(d, `veth${c}`, 'docker0', c, '172.17.0.2/16', '172.17.0.1')
      await run(d, ['iptables -P FORWARD DROP', 'iptables -N DOCKER', 'iptables -N DOCKER-USER', 'iptables -A DOCKER-USER -j RETURN',
        'iptables -A FORWARD -j DOCKER-USER', 'iptables -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
        'iptables -A FORWARD -o docker0 -j DOCKER', 'iptables -A FORWARD -i docker0 ! -o docker0 -j ACCEPT',
        'iptables -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT',
        'iptables -t nat -N DOCKER', 'iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
        'iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE', 'iptables -t nat -A DOCKER -i docker0 -j RETURN',
        'iptables -t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80'].join(' && '))
      await listen(c, 80)
    }
    // o1: flannel 0.10's rules straight in FORWARD/POSTROUTING, docker0 as the pod bridge, no default
    // route; kube-proxy: 10.96.0.10:80 → p1 (the client below, hairpin off) or p2, at random
    await host('o1', '192.168.93.31')
    await run('o1', 'ip link add docker0 type bridge && ip addr add 10.244.1.1/24 dev docker0 && ip link set docker0 up')
    await bridged('o1', 'vethp1', 'docker0', 'p1', '10.244.1.2/24', '10.244.1.1')
    await bridged('o1', 'vethp2', 'docker0', 'p2', '10.244.1.3/24', '10.244.1.1')
    const restored = await sh('ip', ['netns', 'exec', ns('o1'), 'iptables-restore'], {input: `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-SEP-ONE - [0:0]
:KUBE-SEP-TWO - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A OUTPUT -j KUBE-SERVICES
-A POSTROUTING -j KUBE-POSTROUTING
-A POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN
-A POSTROUTING -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE
-A POSTROUTING ! -s 10.244.0.0/16 -d 10.244.1.0/24 -j RETURN
-A POSTROUTING ! -s 10.244.0.0/16 -d 10.244.0.0/16 -j MASQUERADE
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-WEB
-A KUBE-SVC-WEB -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-ONE
-A KUBE-SVC-WEB -j KUBE-SEP-TWO
-A KUBE-SEP-ONE -s 10.244.1.2/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-ONE -p tcp -m tcp -j DNAT --to-destination 10.244.1.2:8080
-A KUBE-SEP-TWO -s 10.244.1.3/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-TWO -p tcp -m tcp -j DNAT --to-destination 10.244.1.3:8080
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -s 10.244.0.0/16 -j ACCEPT
-A FORWARD -d 10.244.0.0/16 -j ACCEPT
COMMIT
`})
    if (restored.exitCode !== 0) throw new Error(restored.stderr)
    for (const p of ['p1', 'p2']) await listen(p, 8080)
    // k1: a Calico-style node, its pod kp on a /32 behind a proxy-ARP veth; natOutgoing by ipset to d1, which has no route back
    await host('k1', '192.168.93.21')
    await run('k1', 'ip route add default via 192.168.93.1 dev eth0 onlink && ip route add blackhole 10.66.1.0/26')
    await veth('k1', 'calikp', 'kp', 'eth0')
    await run('k1', 'ip link set calikp address ee:ee:ee:ee:ee:ee up && sysctl -qw net.ipv4.conf.calikp.proxy_arp=1 net.ipv4.neigh.calikp.proxy_delay=0 && ip route add 10.66.1.5/32 dev calikp scope link')
    await run('kp', 'ip addr add 10.66.1.5/32 dev eth0 && ip link set eth0 up && ip route add 169.254.1.1 dev eth0 scope link && ip route add default via 169.254.1.1 dev eth0')
    await run('k1', ['ipset create cali40masq-ipam-pools hash:net', 'ipset add cali40masq-ipam-pools 10.66.0.0/16',
      'ipset create cali40all-ipam-pools hash:net', 'ipset add cali40all-ipam-pools 10.66.0.0/16', 'iptables -t nat -N cali-nat-outgoing',
      'iptables -t nat -A POSTROUTING -j cali-nat-outgoing',
      'iptables -t nat -A cali-nat-outgoing -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE'].join(' && '))
    await writeFile(inventory, `nodes:
${['d1', 'd3', 'o1', 'k1'].map(h => `  - {name: ${h}, exec: "netns:${ns(h)}"}`).join('\n')}
pods:
  - {name: c1, ip: 172.17.0.2, node: d1, netns: ${ns('c1')}}
  - {name: c3, ip: 172.17.0.2, node: d3, netns: ${ns('c3')}}
  - {name: p1, ip: 10.244.1.2, node: o1, netns: ${ns('p1')}}
  - {name: p2, ip: 10.244.1.3, node: o1, netns: ${ns('p2')}}
  - {name: kp, ip: 10.66.1.5, node: k1, netns: ${ns('kp')}}
`)
  })

  after(async () => {
    for (const h of hosts) {
      // the listeners this test started: only those in its own namespaces
      const pids = (await sh('ip', ['netns', 'pids', ns(h)])).stdout.split('\n').filter(Boolean)
      if (pids.length > 0) await sh('kill', pids)
      await sh('ip', ['netns', 'del', ns(h)])
    }
    await rm(dir, {recursive: true, force: true})
  })

  it('two docker hosts\' containers of the same address reach each other\'s published port, and the reply goes back to the sender', async () => {
    expect(await connect('c1', '192.168.93.13', 8080)).to.equal('OK')
    expect(await seen('c3')).to.deep.equal(['192.168.93.11'])
    const t = await trace('c1', '192.168.93.13', '--proto', 'tcp', '--dport', '8080')
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops.map(h => h.node)).to.deep.equal(['c1', 'd1', 'd3', 'c3'])
    expect(t.returnPath.hops.map(h => h.node)).to.deep.equal(['c3', 'd3', 'd1', 'c1'])
  })

  it('a node without a default route cannot reach a ClusterIP; the printed fix makes it connect', async () => {
    expect(await connect('o1', '10.96.0.10', 80)).to.equal('OSError')
    const t = await trace('o1', '10.96.0.10', '--proto', 'tcp', '--dport', '80')
    expect(t.disposition).to.equal('NO_ROUTE')
    expect(t.failure!.fix).to.have.length(1)
    await run('o1', t.failure!.fix[0].command)
    try {
      expect(await connect('o1', '10.96.0.10', 80)).to.equal('OK')
      expect((await trace('o1', '10.96.0.10', '--proto', 'tcp', '--dport', '80')).disposition).to.equal('DELIVERED')
    } finally {
      await run('o1', 'ip route del 10.96.0.10')
    }
  })

  it('a pod reaching a ClusterIP whose endpoints include itself (hairpin off): some connections fail, and trace says which', async () => {
    // (each connect picks an endpoint at random: all 16 alike happens once in 32768 runs)
    const results = []
    for (let i = 0; i < 16; i++) results.push(await connect('p1', '10.96.0.10', 80))
    expect(results).to.include('OK')
    expect(results).to.include('TimeoutError')
    const t = await trace('p1', '10.96.0.10', '--proto', 'tcp', '--dport', '80')
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    const pick = t.warnings.find(w => w.message.startsWith('the outcome depends on a random pick'))!
    expect(pick.message).to.contain('to 10.244.1.2:8080: DENIED_BY_FILTER on o1 (traced here)')
    expect(pick.message).to.contain('to 10.244.1.3:8080: DELIVERED')
  })

  it('a pod reaching a ClusterIP whose one endpoint shares its bridge, br_netfilter off: the reply is not mapped back, as trace says; the fix connects', async () => {
    await run('o1', 'iptables -t nat -I KUBE-SERVICES -d 10.96.0.12/32 -p tcp -m tcp --dport 80 -j KUBE-SEP-ONE && sysctl -qw net.bridge.bridge-nf-call-iptables=0')
    try {
      expect(await connect('p2', '10.96.0.12', 80)).to.equal('TimeoutError')
      const t = await trace('p2', '10.96.0.12', '--proto', 'tcp', '--dport', '80')
      expect([t.disposition, t.returnPath.disposition]).to.deep.equal(['DELIVERED', 'NAT_NOT_UNDONE'])
      expect(t.returnPath.failure!.reason).to.contain('from 10.244.1.2:8080, but the request went to 10.96.0.12:80')
      expect(t.returnPath.failure!.fix).to.deep.equal([{node: 'o1', command: 'sysctl -w net.bridge.bridge-nf-call-iptables=1'}])
      await run('o1', t.returnPath.failure!.fix[0].command)
      expect(await connect('p2', '10.96.0.12', 80)).to.equal('OK')
      const after = await trace('p2', '10.96.0.12', '--proto', 'tcp', '--dport', '80')
      expect([after.disposition, after.returnPath.disposition]).to.deep.equal(['DELIVERED', 'DELIVERED'])
    } finally {
      await run('o1', 'sysctl -qw net.bridge.bridge-nf-call-iptables=1; iptables -t nat -D KUBE-SERVICES -d 10.96.0.12/32 -p tcp -m tcp --dport 80 -j KUBE-SEP-ONE')
    }
  })

  it('Calico\'s natOutgoing by ipset: the pod reaches a host with no route back, masqueraded, as trace says', async () => {
    expect((await sh('ip', ['netns', 'exec', ns('kp'), 'ping', '-c', '1', '-W', '2', '192.168.93.11'])).exitCode).to.equal(0)
    const t = await trace('kp', '192.168.93.11')
    expect([t.disposition, t.returnPath.disposition]).to.deep.equal(['DELIVERED', 'DELIVERED'])
    expect(t.hops.find(h => h.node === 'k1')!.steps.some(s => s.verdict === 'masquerade')).to.equal(true)
  })
})
