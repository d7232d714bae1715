/**
 * A node with native nftables beside flannel's iptables (nftables.service, firewalld, kube-proxy's
 * nftables mode, flanneld's EnableNFTables): trace evaluates the native rules and must say what
 * the kernel does, on a 2-node vxlan lab checked with ping, a TCP connect and tcpdump; every fix it
 * prints is run and must make the kernel pass the packet. `collect` keeps the ruleset, so an
 * offline trace says the same.
 */
import {expect} from 'chai'
import {execa} from 'execa'
import {mkdtemp, readdir, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {cli, inNs, sh, uniqueLab} from '../helpers/cli.js'
import {python3} from '../helpers/python.js'
import {Lab, loadLab, type LabState} from '../../src/services/lab.js'

describe('trace on a node with native nftables (real kernel)', function () {
  this.timeout(120000)
  const name = uniqueLab('nft')
  let state: LabState
  let n1: string
  let node1: string
  let pod2: {name: string; ip: string; netns: string}

  const ping = async (dst = pod2.ip) => (await sh('ip', ['netns', 'exec', state.pods[0].netns, 'ping', '-c', '1', '-W', '1', dst])).exitCode === 0
  const trace = async (dst: string, ...more: string[]) => {
    const r = await cli(['trace', state.pods[0].name, dst, ...(more.some(m => m === '--snapshot') ? [] : ['--lab', name]), ...more, '--json'])
    return {exitCode: r.exitCode, t: JSON.parse(r.stdout), stderr: r.stderr}
  }
  const nft = (...args: string[]) => inNs(n1, 'nft', ...args)
  /** Runs every fix the trace printed, on its node, as an operator would paste it. */
  const applyFixes = async (fix: {node: string; command: string}[]) => {
    for (const f of fix) await inNs(state.nodes.find(n => n.name === f.node)!.netns, 'sh', '-c', f.command)
  }
  /**
   * A TCP listener on pod-2a `port` running `then` (python, with the socket `s`) once it listens, for
   * at most `seconds`; resolved when it says it listens (a fixed pause was too short for python's
   * start on a busy machine: 'refused'). In an object: the process is a promise of its end, which
   * an async function would wait for.
   */
  const listen = async (port: number, then: string, seconds: number) => {
    const listener = execa('ip', ['netns', 'exec', pod2.netns, 'timeout', String(seconds), python3(), '-c',
      `import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", ${port})); s.listen(); print("listening", flush=True); ${then}`], {reject: false})
    await new Promise<void>(resolve => {
      const ready = () => { clearTimeout(timer); resolve() }
      const timer = setTimeout(ready, 5000)
      listener.stdout?.on('data', (chunk: Buffer) => { if (chunk.toString().includes('listening')) ready() })
      void listener.then(ready, ready)
    })
    return {listener}
  }
  /**
   * A TCP connect (from pod-1a, or from the namespace `from`), with a listener on pod-2a port 8080:
   * 'ok from SOURCE' (the address the listener saw), or the error the socket reported.
   */
  const connect = async (dst: string, port: number, from = state.pods[0].netns) => {
    const {listener} = await listen(8080, 'print(s.accept()[1][0], flush=True)', 5)
    const r = await sh('ip', ['netns', 'exec', from, 'timeout', '3', 'bash', '-c', `echo > /dev/tcp/${dst}/${port}`])
    if (r.exitCode !== 0) listener.kill()
    const seen = String((await listener).stdout).replace('listening', '').trim()
    return r.exitCode === 0 ? `ok from ${seen}` : /refused/.test(r.stderr) ? 'refused' : /No route/.test(r.stderr) ? 'no route' : 'timeout'
  }

  before(async () => {
    const up = await cli(['lab', 'up', '--name', name, '--nodes', '2', '--pods', '1'])
    if (up.exitCode !== 0) throw new Error(`lab up failed: ${up.stderr}`)
    state = await loadLab(name)
    n1 = state.nodes[0].netns
    node1 = state.nodes[0].name
    pod2 = state.pods.find(p => p.node === state.nodes[1].name)!
  })
  after(async () => {
    await new Lab().down(name)
  })

  it('Debian\'s nftables.conf (forward policy drop): trace names the chain, its fix lets the kernel forward; the same offline', async () => {
    await nft('add', 'table', 'inet', 'filter')
    await nft('add', 'chain', 'inet', 'filter', 'forward', '{ type filter hook forward priority filter; policy drop; }')
    try {
      await inNs(n1, 'iptables', '-Z', 'FORWARD')
      expect(await ping(), 'the kernel drops forwarded pod traffic').to.equal(false)
      // made after iptables' filter table, inet filter runs first at priority 0: FORWARD never sees the packet
      expect(await inNs(n1, 'iptables', '-L', 'FORWARD', '-v', '-n', '-x')).to.match(/^\s+0\s+0 FLANNEL-FWD/m)
    } catch (error) {
      await nft('delete', 'table', 'inet', 'filter')
      throw error
    }
    const live = await trace(pod2.name)
    expect(live.exitCode).to.equal(1)
    expect(live.t.disposition).to.equal('DENIED_BY_FILTER')
    expect(live.t.failure.node).to.equal(node1)
    expect(live.t.failure.evidence).to.equal('table inet filter chain forward { type filter hook forward priority 0; policy drop; }')
    expect(live.t.failure.reason).to.match(/^nft inet filter forward on \S+ drops icmp \S+ → \S+ \(NEW\) by the chain policy drop$/)
    expect(live.t.hops[1].steps.filter((x: {kind: string}) => x.kind === 'filter').map((x: {evidence: string}) => x.evidence)).to.not.include('-P FORWARD ACCEPT')

    const dir = await mkdtemp(join(tmpdir(), 'fcnft-'))
    try {
      const c = await cli(['collect', '--lab', name, '--out', join(dir, 'snap')])
      expect(c.exitCode, c.stderr).to.equal(0)
      expect(await readdir(join(dir, 'snap', node1))).to.include('nft-ruleset.json')
      const offline = await trace(pod2.name, '--snapshot', join(dir, 'snap'))
      expect(offline.t.disposition).to.equal('DENIED_BY_FILTER')
      expect(offline.t.failure.fix).to.deep.equal(live.t.failure.fix)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }

    await applyFixes(live.t.failure.fix)
    expect(await ping(), 'after the printed fix').to.equal(true)
    expect((await trace(pod2.name)).t.disposition).to.equal('DELIVERED')
    await nft('delete', 'table', 'inet', 'filter')
  })

  it('a rule that rejects one pod: the sender gets what the kernel sends, and deleting the rule by its handle fixes it', async () => {
    await nft('add', 'table', 'inet', 'fcfw')
    await nft('add', 'chain', 'inet', 'fcfw', 'forwarding', '{ type filter hook forward priority filter + 10; policy accept; }')
    await nft('add', 'rule', 'inet', 'fcfw', 'forwarding', 'ct', 'state', 'established,related', 'accept')
    await nft('add', 'rule', 'inet', 'fcfw', 'forwarding', 'ip', 'daddr', pod2.ip, 'meta', 'l4proto', 'tcp', 'reject', 'with', 'tcp', 'reset')
    expect(await ping(), 'icmp is not rejected').to.equal(true)
    expect((await trace(pod2.name)).t.disposition).to.equal('DELIVERED')
    expect(await connect(pod2.ip, 8080)).to.equal('refused')
    const r = await trace(pod2.name, '--proto', 'tcp', '--dport', '8080')
    expect(r.t.disposition).to.equal('DENIED_BY_FILTER')
    expect(r.t.failure.reason).to.contain('the sender gets a TCP reset ("Connection refused")')
    expect(r.t.failure.fix).to.have.length(1)
    expect(r.t.failure.fix[0].command).to.match(/^nft delete rule inet fcfw forwarding handle \d+$/)
    await applyFixes(r.t.failure.fix)
    expect(await connect(pod2.ip, 8080)).to.equal(`ok from ${state.pods[0].ip}`)
    expect((await trace(pod2.name, '--proto', 'tcp', '--dport', '8080')).t.disposition).to.equal('DELIVERED')
    await nft('delete', 'table', 'inet', 'fcfw')
  })

  it('a firewalld-like inet table: ping is forwarded by the zone, but the reply\'s vxlan packet is rejected at INPUT; the printed fix lets it in', async () => {
    const ruleset = [
      'table inet fcfirewalld {',
      '\tchain filter_INPUT {',
      '\t\ttype filter hook input priority filter + 10; policy accept;',
      '\t\tct state { established, related } accept',
      '\t\tct status dnat accept',
      '\t\tiifname "lo" accept',
      '\t\tjump filter_INPUT_ZONES',
      '\t\tct state invalid drop',
      '\t\treject with icmpx admin-prohibited',
      '\t}',
      '\tchain filter_FORWARD {',
      '\t\ttype filter hook forward priority filter + 10; policy accept;',
      '\t\tct state { established, related } accept',
      '\t\tct status dnat accept',
      '\t\tiifname "lo" accept',
      '\t\tct state invalid drop',
      '\t\tjump filter_FORWARD_ZONES',
      '\t\treject with icmpx admin-prohibited',
      '\t}',
      '\tchain filter_INPUT_ZONES {',
      '\t\tiifname "cni0" goto filter_IN_trusted',
      '\t\tgoto filter_IN_public',
      '\t}',
      '\tchain filter_FORWARD_ZONES {',
      '\t\tiifname "cni0" goto filter_FWD_public',
      '\t\tgoto filter_FWD_public',
      '\t}',
      '\tchain filter_IN_public {',
      '\t\tjump filter_IN_public_allow',
      '\t\tmeta l4proto { icmp, ipv6-icmp } accept',
      '\t}',
      '\tchain filter_IN_public_allow {',
      '\t\ttcp dport 22 ct state { new, untracked } accept',
      '\t}',
      '\tchain filter_IN_trusted {',
      '\t\taccept',
      '\t}',
      '\tchain filter_FWD_public {',
      '\t\tjump filter_FWD_public_allow',
      '\t\tmeta l4proto { icmp, ipv6-icmp } accept',
      '\t}',
      '\tchain filter_FWD_public_allow {',
      '\t}',
      '}',
    ].join('\n')
    const load = await execa('ip', ['netns', 'exec', n1, 'nft', '-f', '-'], {input: ruleset, reject: false})
    expect(load.exitCode, load.stderr).to.equal(0)
    expect(await ping(), 'the kernel loses the ping').to.equal(false)
    const r = await trace(pod2.name)
    expect(r.t.disposition).to.equal('DELIVERED')
    expect(r.t.returnPath.disposition).to.equal('DENIED_BY_FILTER')
    expect(r.t.returnPath.failure.reason).to.match(/nft inet fcfirewalld filter_INPUT on \S+ rejects udp \S+ → \S+:8472 \(NEW\) at `reject with icmpx admin-prohibited`/)
    await applyFixes(r.t.returnPath.failure.fix)
    expect(await ping(), 'after the printed fix').to.equal(true)
    expect((await trace(pod2.name)).t.returnPath.disposition).to.equal('DELIVERED')
    // TCP to a pod: the public zone accepts only icmp, the chain ends in a reject ("No route to host")
    expect(await connect(pod2.ip, 8080)).to.equal('no route')
    const tcp = await trace(pod2.name, '--proto', 'tcp', '--dport', '8080')
    expect(tcp.t.failure.reason).to.contain('the sender gets ICMP admin prohibited ("No route to host")')
    await applyFixes(tcp.t.failure.fix)
    expect(await connect(pod2.ip, 8080)).to.equal(`ok from ${state.pods[0].ip}`)
    await nft('delete', 'table', 'inet', 'fcfirewalld')
  })

  it('kube-proxy\'s nftables mode: a ClusterIP reaches its endpoint through the verdict map and DNAT; from the node, masqueraded by mark', async () => {
    const ruleset = [
      'table ip kube-proxy {',
      '\tmap service-ips {',
      '\t\ttype ipv4_addr . inet_proto . inet_service : verdict',
      '\t\telements = { 10.96.0.10 . tcp . 80 : goto service-web }',
      '\t}',
      '\tchain nat-prerouting {',
      '\t\ttype nat hook prerouting priority dstnat; policy accept;',
      '\t\tjump services',
      '\t}',
      '\tchain nat-output {',
      '\t\ttype nat hook output priority -100; policy accept;',
      '\t\tjump services',
      '\t}',
      '\tchain nat-postrouting {',
      '\t\ttype nat hook postrouting priority srcnat; policy accept;',
      '\t\tjump masquerading',
      '\t}',
      '\tchain mark-for-masquerade {',
      '\t\tmark set mark or 0x4000',
      '\t}',
      '\tchain masquerading {',
      '\t\tmark and 0x4000 == 0 return',
      '\t\tmark set mark xor 0x4000',
      '\t\tmasquerade fully-random',
      '\t}',
      '\tchain services {',
      '\t\tip daddr . meta l4proto . th dport vmap @service-ips',
      '\t}',
      '\tchain service-web {',
      '\t\tip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade',
      `\t\tnumgen random mod 1 vmap { 0 : goto endpoint-web }`,
      '\t}',
      '\tchain endpoint-web {',
      `\t\tmeta l4proto tcp dnat to ${pod2.ip}:8080`,
      '\t}',
      '}',
    ].join('\n')
    const load = await execa('ip', ['netns', 'exec', n1, 'nft', '-f', '-'], {input: ruleset, reject: false})
    try {
      expect(load.exitCode, load.stderr).to.equal(0)
      expect(await connect('10.96.0.10', 80)).to.equal(`ok from ${state.pods[0].ip}`)
      const r = await trace('10.96.0.10', '--proto', 'tcp', '--dport', '80')
      expect(r.t.disposition, JSON.stringify(r.t.failure)).to.equal('DELIVERED')
      const dnat = r.t.hops[1].steps.find((s: {kind: string}) => s.kind === 'nat')
      expect(dnat.explanation).to.equal(`PREROUTING DNAT: destination 10.96.0.10:80 becomes ${pod2.ip}:8080`)
      // from the node: nat output DNATs, the service chain marks the packet, postrouting masquerades it
      // (the node's socket needs a route for the ClusterIP range before OUTPUT runs, as a default route gives)
      await inNs(n1, 'ip', 'route', 'add', '10.96.0.0/16', 'via', state.nodes[1].underlayIP)
      const seen = await connect('10.96.0.10', 80, n1)
      expect(seen).to.match(/^ok from /)
      const fromNode = await cli(['trace', node1, '10.96.0.10', '--proto', 'tcp', '--dport', '80', '--lab', name, '--json'])
      const t = JSON.parse(fromNode.stdout)
      expect(t.disposition).to.equal('DELIVERED')
      const masq = t.hops[0].steps.filter((s: {kind: string}) => s.kind === 'nat').at(-1)
      expect(masq.evidence).to.equal('masquerade fully-random')
      // (fully-random: the connection gets a new source port too)
      expect(masq.explanation).to.match(new RegExp(`becomes ${seen.slice('ok from '.length).replaceAll('.', '\\.')}, its port one of 1024-65535$`))
    } finally {
      // the next test loads its own kube-proxy table: a failure here must not leave this one behind
      await nft('delete', 'table', 'ip', 'kube-proxy')
      await sh('ip', ['netns', 'exec', n1, 'ip', 'route', 'del', '10.96.0.0/16'])
    }
  })

  it('kube-proxy\'s nftables mode with two endpoints, one dropped: trace follows each numgen entry, reports the failing one, and its fix makes every connect pass', async () => {
    const n2 = state.nodes[1].netns
    const ruleset = [
      'table ip kube-proxy {',
      '\tchain nat-prerouting {',
      '\t\ttype nat hook prerouting priority dstnat; policy accept;',
      '\t\tip daddr 10.96.0.10 tcp dport 80 goto service-web',
      '\t}',
      '\tchain service-web {',
      '\t\tnumgen random mod 2 vmap { 0 : goto endpoint-a, 1 : goto endpoint-b }',
      '\t}',
      `\tchain endpoint-a {\n\t\tmeta l4proto tcp dnat to ${pod2.ip}:8080\n\t}`,
      `\tchain endpoint-b {\n\t\tmeta l4proto tcp dnat to ${pod2.ip}:8081\n\t}`,
      '}',
    ].join('\n')
    const load = await execa('ip', ['netns', 'exec', n1, 'nft', '-f', '-'], {input: ruleset, reject: false})
    expect(load.exitCode, load.stderr).to.equal(0)
    await inNs(n2, 'iptables', '-I', 'FORWARD', '-d', pod2.ip, '-p', 'tcp', '--dport', '8081', '-j', 'DROP')
    try {
      // kernel: the second endpoint's port is dropped on n2 (which connects take it is random: not asserted)
      expect(await connect(pod2.ip, 8081)).to.equal('timeout')
      const r = await trace('10.96.0.10', '--proto', 'tcp', '--dport', '80')
      expect(r.t.disposition).to.equal('DENIED_BY_FILTER')
      expect(r.t.failure.node).to.equal(state.nodes[1].name)
      const pick = r.t.warnings.find((w: {message: string}) => w.message.includes('depends on a random pick'))
      expect(pick.message).to.contain(`to ${pod2.ip}:8080: DELIVERED`).and.to.contain(`to ${pod2.ip}:8081: DENIED_BY_FILTER`)
      await applyFixes(r.t.failure.fix)
      const {listener} = await listen(8081, '[s.accept() for _ in range(8)]', 40)
      const seen: string[] = []
      for (let i = 0; i < 4; i++) seen.push(await connect('10.96.0.10', 80))
      listener.kill()
      // (a connect the pick sent to 8081 reaches the listener there, not connect()'s own on 8080)
      expect(seen.every(x => x.startsWith('ok from')), seen.join(', ')).to.equal(true)
      expect((await trace('10.96.0.10', '--proto', 'tcp', '--dport', '80')).t.disposition).to.equal('DELIVERED')
    } finally {
      await nft('delete', 'table', 'ip', 'kube-proxy')
      await sh('ip', ['netns', 'exec', n2, 'iptables', '-D', 'FORWARD', '-d', pod2.ip, '-p', 'tcp', '--dport', '8081', '-j', 'DROP'])
    }
  })

  it('flanneld\'s flannel-ipv4 masquerade: the source trace predicts is the one tcpdump sees', async () => {
    await inNs(n1, 'sh', '-c', 'iptables -t nat -F FLANNEL-POSTRTG')
    await nft('add', 'table', 'ip', 'flannel-ipv4')
    await nft('add', 'chain', 'ip', 'flannel-ipv4', 'postrtg', '{ type nat hook postrouting priority 100 ; }')
    await nft('add', 'rule', 'ip', 'flannel-ipv4', 'postrtg', 'meta', 'mark', '0x4000', 'return')
    await nft('add', 'rule', 'ip', 'flannel-ipv4', 'postrtg', 'ip', 'saddr', '10.244.0.0/16', 'ip', 'daddr', '10.244.0.0/16', 'return')
    await nft('add', 'rule', 'ip', 'flannel-ipv4', 'postrtg', 'ip', 'saddr', '10.244.0.0/16', 'ip', 'daddr', '!=', '224.0.0.0/4', 'masquerade', 'fully-random')
    const n2 = state.nodes[1]
    const dump = execa('ip', ['netns', 'exec', n2.netns, 'timeout', '6', 'tcpdump', '-lni', 'eth0', '-c', '1', 'icmp[icmptype] == icmp-echo'], {reject: false})
    await new Promise(r => setTimeout(r, 700))
    expect(await ping(n2.underlayIP)).to.equal(true)
    const seen = /IP (\d+\.\d+\.\d+\.\d+) > /.exec(String((await dump).stdout))?.[1]
    const r = await trace(n2.name)
    expect(r.t.disposition).to.equal('DELIVERED')
    const masq = r.t.hops[1].steps.find((s: {kind: string}) => s.kind === 'nat')
    expect(masq.evidence).to.equal('ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random')
    expect(masq.explanation).to.equal(`POSTROUTING MASQUERADE: source ${state.pods[0].ip} becomes ${seen}`)
  })
})
