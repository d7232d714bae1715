/**
 * EnableNFTables on the real kernel: a two-node lab switched to flanneld's native nftables rules
 * through the store's network config, as an operator would (flanneld reads it at start; flannelctl
 * on the next sync). Pods ping across on vxlan and host-gw, a pod's traffic to the node network
 * leaves masqueraded (tcpdump on the receiving node), a resync plans nothing, status and doctor say
 * where the rules are, switching off moves them back to iptables without losing a ping, and reset
 * deletes flanneld's tables and no other.
 */
import {expect} from 'chai'
import {execa} from 'execa'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {BIN, cli, inNs, outputMatches, sh, uniqueLab} from '../helpers/cli.js'
import {nftForwardRules, nftMasqRules, parseFlannelNftRead} from '../../src/core/flannel-nft.js'

interface LabNode {name: string; netns: string; underlayIP: string; subnet: string; dir: string}
interface Lab {store: string; dir: string; nodes: LabNode[]; pods: {name: string; ip: string; netns: string; node: string}[]}

describe('EnableNFTables: flanneld\'s nftables rules (2-node lab, real kernel)', function () {
  this.timeout(240000)
  const name = uniqueLab('fcnb')
  let lab: Lab
  const flags = (n: LabNode) => ['--store', lab.store, '--subnet-file', join(n.dir, 'subnet.env'), '--cni-conf-dir', join(n.dir, 'cni'), '--state-file', join(n.dir, 'node.json')]
  const configPath = () => join(lab.store.replace(/^file:/, ''), 'coreos.com', 'network', 'config')
  const setConfig = async (change: (c: Record<string, unknown>) => void) => {
    const c = JSON.parse(await readFile(configPath(), 'utf8')) as Record<string, unknown>
    change(c)
    await writeFile(configPath(), JSON.stringify(c))
  }
  const sync = async (n: LabNode, ...extra: string[]) => {
    const r = await cli(['sync', ...flags(n), ...extra], {netns: n.netns})
    expect(r.exitCode, r.stderr + r.stdout).to.equal(0)
    return r
  }
  /** flanneld's tables with their chains and rules, read as HostAdapter reads them */
  const flannelTables = async (n: LabNode) => {
    const tables = await inNs(n.netns, 'nft', '-j', 'list', 'tables')
    const read = [tables]
    for (const [family, table] of [['ip', 'flannel-ipv4'], ['ip6', 'flannel-ipv6']]) {
      if (tables.includes(`"${table}"`)) read.push(await inNs(n.netns, 'nft', '-j', 'list', 'table', family, table))
    }
    return parseFlannelNftRead(read.join('\n'))
  }
  const flannelIptables = async (n: LabNode) => (await inNs(n.netns, 'iptables-save')).split('\n').filter(l => l.includes('FLANNEL'))
  const allPing = async () => {
    const r = await cli(['lab', 'status', '--name', name, '--ping', '--json'])
    const pings = JSON.parse(r.stdout).pings as {from: string; to: string; ok: boolean}[]
    expect(pings).to.have.length(2)
    expect(pings.filter(p => !p.ok), r.stdout).to.deep.equal([])
  }

  /** the pings of `lab status --ping` that failed */
  const lostPings = async () => (JSON.parse((await cli(['lab', 'status', '--name', name, '--ping', '--json'])).stdout).pings as {from: string; ok: boolean}[]).filter(p => !p.ok)
  /** a host firewall (Debian's /etc/nftables.conf style) on n1, as `nft -f FILE` loads it */
  const nativeFirewall = (rules: string) => `table inet fcnbfw {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n${rules}\t}\n}\n`
  const loadFirewall = async (n: LabNode, text: string) => {
    const file = join(n.dir, 'fcnbfw.nft')
    await writeFile(file, text)
    await inNs(n.netns, 'nft', '-f', file)
  }

  before(async () => {
    const r = await cli(['lab', 'up', '--name', name, '--nodes', '2', '--pods', '1', '--json'])
    expect(r.exitCode, r.stderr).to.equal(0)
    lab = JSON.parse(r.stdout)
  })
  after(async () => {
    await cli(['lab', 'down', '--name', name])
  })

  it('switched on: flanneld\'s exact tables, chains and rules, no flannel iptables chain, pods ping (vxlan)', async () => {
    const [n1] = lab.nodes
    // an operator's rule in flannel's chain goes with it, as on reset, and is named
    await inNs(n1.netns, 'iptables', '-I', 'FLANNEL-FWD', '1', '-s', '10.244.250.9', '-j', 'DROP')
    await setConfig(c => { c.EnableNFTables = true })
    const switched = await Promise.all(lab.nodes.map(n => sync(n)))
    expect(switched[0].stdout).to.contain('warning: 1 rule not flannel\'s in iptables\' FLANNEL-FWD (filter table) goes with the chain, and no longer applies: -A FLANNEL-FWD -s 10.244.250.9/32 -j DROP')
    expect(switched[1].stdout).to.not.contain('not flannel\'s')
    const [v4, v6] = await flannelTables(n1)
    expect(v4.chains.map(c => [c.name, c.type, c.hook, c.priority, c.policy])).to.deep.equal([
      ['postrtg', 'nat', 'postrouting', 100, 'accept'], ['forward', 'filter', 'forward', 0, 'accept']])
    // nft prints the mark padded to 8 hex digits, as it reads back the mark flanneld writes (0x4000)
    expect(v4.chains[0].rules.map(r => r.text)).to.deep.equal(nftMasqRules('10.244.0.0/16', n1.subnet).map(r => r.replace('0x4000', '0x00004000')))
    expect(v4.chains[1].rules.map(r => r.text)).to.deep.equal(nftForwardRules('10.244.0.0/16'))
    expect(v6).to.deep.equal({family: 'ip6', name: 'flannel-ipv6', chains: []})
    // the comments knftables gives them (nft -j of this version omits table and chain comments)
    const text = await inNs(n1.netns, 'nft', 'list', 'table', 'ip', 'flannel-ipv4')
    for (const c of ['rules for flannel-ipv4', 'chain to manage traffic masquerading by flannel', 'chain to accept flannel traffic']) expect(text).to.contain(`comment "${c}"`)
    expect(await flannelIptables(n1)).to.deep.equal([])
    // nor the iptables-nft tables that held only flannel's chains
    expect(await inNs(n1.netns, 'nft', 'list', 'tables')).to.not.match(/table ip (nat|filter)\b/)
    await allPing()
    // lab status says what the store's config says now, and what lab up built
    expect((await cli(['lab', 'status', '--name', name])).stdout.split('\n')[0]).to.contain(': vxlan, rules in nftables (built as vxlan), 1 segment')
  })

  it('a pod reaching the node network leaves masqueraded; pod to pod keeps its address', async () => {
    const [n1, n2] = lab.nodes
    const pod = lab.pods.find(p => p.node === 'n1')!
    const other = lab.pods.find(p => p.node === 'n2')!
    const seen = async (dev: string, dst: string) => {
      const capture = execa('ip', ['netns', 'exec', n2.netns, 'timeout', '8', 'tcpdump', '-l', '-n', '-i', dev, '-c', '1', 'icmp and icmp[icmptype] == icmp-echo'], {reject: false})
      await new Promise(resolve => setTimeout(resolve, 1500))
      await sh('ip', ['netns', 'exec', pod.netns, 'ping', '-c', '3', '-W', '1', dst])
      return String((await capture).stdout)
    }
    expect(await seen('eth0', n2.underlayIP)).to.contain(`IP ${n1.underlayIP} > ${n2.underlayIP}: ICMP echo request`)
    expect(await seen('cni0', other.ip)).to.contain(`IP ${pod.ip} > ${other.ip}: ICMP echo request`)
  })

  it('a resync plans nothing; status and doctor say the rules are in nftables', async () => {
    const [n1] = lab.nodes
    const again = JSON.parse((await sync(n1, '--dry-run', '--json')).stdout)
    expect(again.upToDate, JSON.stringify(again.changes)).to.equal(true)
    const status = await cli(['status', '--json', ...flags(n1)], {netns: n1.netns})
    expect(status.exitCode, status.stdout).to.equal(0)
    const s = JSON.parse(status.stdout)
    expect(s.rules).to.equal('nftables')
    expect(s.nftables).to.deep.equal({chains: {'ip flannel-ipv4/postrtg': true, 'ip flannel-ipv4/forward': true}})
    expect(s.iptables.chains).to.deep.equal({})
    const human = (await cli(['status', ...flags(n1)], {netns: n1.netns})).stdout
    expect(human).to.contain('nftables  flanneld\'s native rules (EnableNFTables); ip flannel-ipv4/postrtg present, ip flannel-ipv4/forward present')
    const doctor = await cli(['doctor', '--lab', name, '--json'])
    const d = JSON.parse(doctor.stdout)
    expect(d.rules).to.deep.equal({n1: 'nftables', n2: 'nftables'})
    expect(d.healthy, doctor.stdout).to.equal(true)
    expect((await cli(['doctor', '--lab', name])).stdout).to.contain('Flannel rules: nftables on every node')
  })

  it('a native nftables forward chain with policy drop loses pings whatever flanneld\'s table accepts: sync and doctor name it, sync\'s fix works; no alarm where it accepts pod traffic', async () => {
    const [n1] = lab.nodes
    try {
      await loadFirewall(n1, nativeFirewall(''))
      expect(await lostPings(), 'the kernel: every base chain at the hook must accept').to.have.length(2)
      const warned = await sync(n1, '--verbose')
      const warning = warned.stdout.split('\n').find(l => l.startsWith('warning: nftables chain inet fcnbfw forward'))
      expect(warning, warned.stdout).to.equal(`warning: nftables chain inet fcnbfw forward (hook forward, priority 0) drops forwarded pod traffic (icmp ${n1.subnet.replace(/0\/24$/, '2')} → 10.244.0.2 (NEW) cni0 → flannel.1) by its policy drop, `
        + 'and flannel\'s accepts (its nftables table flannel-ipv4) do not overrule it: every base chain on the forward hook must accept a packet. '
        + 'Accept pod traffic at the top of that chain: nft insert rule inet fcnbfw forward ip saddr 10.244.0.0/16 accept; nft insert rule inet fcnbfw forward ip daddr 10.244.0.0/16 accept')
      // the host's own table is read by name, one program run more; iptables-nft's tables are not
      expect(warned.stderr).to.contain('nft -j list table inet fcnbfw')
      expect(warned.stderr).to.not.contain('list ruleset')
      const d = JSON.parse((await cli(['doctor', '--lab', name, '--json'])).stdout)
      const drop = (d.findings as {code: string; node: string; message: string; fix: string[]}[]).find(f => f.code === 'FORWARD_DROP' && f.node === 'n1')
      expect(drop?.message, JSON.stringify(d.findings)).to.contain('nftables chain inet fcnbfw forward (hook forward, priority 0) drops forwarded pod traffic')
      expect(drop?.fix).to.deep.equal([`nft insert rule inet fcnbfw forward ip saddr 10.244.0.0/16 accept`, `nft insert rule inet fcnbfw forward ip daddr 10.244.0.0/16 accept`], "doctor names the network, as sync's warning does")
      for (const fix of warning!.split('that chain: ')[1].split('; ')) await inNs(n1.netns, ...fix.split(' ') as [string, ...string[]])
      await allPing()
      expect((await sync(n1)).stdout).to.not.contain('warning')
      // `ct state established,related accept` then the pod network's accepts; a drop on another interface
      await inNs(n1.netns, 'nft', 'delete', 'table', 'inet', 'fcnbfw')
      await loadFirewall(n1, nativeFirewall('\t\tct state established,related accept\n\t\tip saddr 10.244.0.0/16 accept\n\t\tip daddr 10.244.0.0/16 accept\n\t\tiifname "eth9" drop\n'))
      await allPing()
      expect((await sync(n1)).stdout).to.not.contain('warning')
      expect(JSON.parse((await cli(['doctor', '--lab', name, '--json'])).stdout).healthy).to.equal(true)
    } finally {
      await sh('ip', ['netns', 'exec', n1.netns, 'nft', 'delete', 'table', 'inet', 'fcnbfw'])
    }
  })

  it('host-gw keeps the nftables rules and pods ping', async () => {
    const r = await cli(['backend', 'set', 'host-gw', '--store', lab.store])
    expect(r.exitCode, r.stderr).to.equal(0)
    for (const n of lab.nodes) await sync(n)
    expect(JSON.parse(await readFile(configPath(), 'utf8')).EnableNFTables, 'backend set keeps the key').to.equal(true)
    await allPing()
    for (const n of lab.nodes) {
      expect((await flannelTables(n)).map(t => t.name)).to.deep.equal(['flannel-ipv4', 'flannel-ipv6'])
      expect(JSON.parse((await sync(n, '--dry-run', '--json')).stdout).upToDate).to.equal(true)
    }
  })

  it('sync --watch keeps them: a chain deleted by hand is back within a round', async () => {
    const [n1] = lab.nodes
    const agent = execa('ip', ['netns', 'exec', n1.netns, process.execPath, BIN, 'sync', '--watch', '--interval', '1', ...flags(n1)], {reject: false, env: {NO_COLOR: '1'}, timeout: 30000})
    try {
      expect(await outputMatches(agent.stdout!, /up to date/), 'first round').to.equal(true)
      await inNs(n1.netns, 'nft', 'delete', 'chain', 'ip', 'flannel-ipv4', 'forward')
      let back = false
      for (let i = 0; i < 50 && !back; i++) {
        await new Promise(resolve => setTimeout(resolve, 200))
        back = (await sh('ip', ['netns', 'exec', n1.netns, 'nft', 'list', 'chain', 'ip', 'flannel-ipv4', 'forward'])).exitCode === 0
      }
      expect(back).to.equal(true)
    } finally {
      agent.kill('SIGTERM')
      await agent
    }
    expect((await flannelTables(n1))[0].chains.map(c => c.name)).to.deep.equal(['postrtg', 'forward'])
  })

  it('lab break forward-drop in nftables mode: the policy alone drops (no jump to remove), and the fix the trace prints, not sync, repairs it', async () => {
    const [n1] = lab.nodes
    const broke = await cli(['lab', 'break', 'n1', 'forward-drop', '--name', name])
    expect(broke.exitCode, broke.stderr).to.equal(0)
    expect(broke.stdout).to.not.contain('FLANNEL-FWD -j')
    expect(broke.stdout).to.contain('repair:  apply the fix the trace prints (of ways it offers, one); in nftables mode sync leaves iptables\' FORWARD to its owner')
    const trace = JSON.parse((await cli(['trace', 'pod-1a', 'pod-2a', '--lab', name, '--json'])).stdout)
    expect(trace.disposition).to.equal('DENIED_BY_FILTER')
    const fixes = (trace.failure.fix as {node: string; command: string}[]).map(f => f.command)
    const warned = await sync(n1)
    expect(warned.stderr + warned.stdout).to.contain('iptables\' FORWARD policy is DROP')
    for (const fix of fixes) await inNs(n1.netns, ...fix.split(' ') as [string, ...string[]])
    await allPing()
    const quiet = await sync(n1)
    expect(quiet.stderr + quiet.stdout, 'the accepts are there: nothing to warn about').to.not.contain('FORWARD')
    await inNs(n1.netns, 'iptables', '-P', 'FORWARD', 'ACCEPT')
    await inNs(n1.netns, 'iptables', '-F', 'FORWARD')
  })

  it('switched off: the rules move to iptables node by node without losing a ping; doctor names the node not yet moved', async () => {
    const [n1, n2] = lab.nodes
    const pod = lab.pods.find(p => p.node === 'n1')!
    const other = lab.pods.find(p => p.node === 'n2')!
    await setConfig(c => { delete c.EnableNFTables })
    const pinging = execa('ip', ['netns', 'exec', pod.netns, 'ping', '-i', '0.02', '-w', '10', '-c', '400', other.ip], {reject: false})
    await new Promise(resolve => setTimeout(resolve, 500))
    await sync(n1)
    const mixed = JSON.parse((await cli(['doctor', '--lab', name, '--json'])).stdout)
    expect(mixed.rules).to.deep.equal({n1: 'iptables', n2: 'nftables'})
    expect(mixed.findings.map((f: {code: string; node: string}) => `${f.node} ${f.code}`)).to.deep.equal(['n2 RULES_MODE_MISMATCH'])
    // offline, from what collect wrote (the store's config with the tables): the same verdicts
    const snapDir = await mkdtemp(join(tmpdir(), 'fcnb-snap-'))
    try {
      expect((await cli(['collect', '--lab', name, '--out', snapDir])).exitCode).to.equal(0)
      const offline = JSON.parse((await cli(['doctor', '--snapshot', snapDir, '--json'])).stdout)
      expect([offline.rules, offline.findings]).to.deep.equal([mixed.rules, mixed.findings])
    } finally {
      await rm(snapDir, {recursive: true, force: true})
    }
    await sync(n2)
    const out = String((await pinging).stdout)
    expect(out, out).to.match(/ 0% packet loss/)
    for (const n of lab.nodes) {
      expect(await flannelTables(n)).to.deep.equal([])
      expect(await flannelIptables(n)).to.include('-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD')
      expect(JSON.parse((await sync(n, '--dry-run', '--json')).stdout).upToDate).to.equal(true)
    }
    await allPing()
    // A flanneld table back on a node whose rules are in iptables (an nftables.conf saved in
    // nftables mode, restored at boot): doctor's fix, a sync, removes it.
    await sh('ip', ['netns', 'exec', n1.netns, 'nft', '-f', '-'], {input: 'add table ip flannel-ipv4\nadd chain ip flannel-ipv4 forward { type filter hook forward priority 0 ; }\nadd rule ip flannel-ipv4 forward ip saddr 10.244.0.0/16 accept\n'})
    const both = JSON.parse((await cli(['doctor', '--lab', name, '--json'])).stdout)
    expect(both.findings.map((f: {code: string; node: string}) => `${f.node} ${f.code}`)).to.deep.equal(['n1 RULES_IN_BOTH'])
    expect(both.findings[0].fix[0]).to.match(/^flannelctl sync /)
    expect((await sync(n1)).stdout).to.contain('nft delete table ip flannel-ipv4')
    expect(await flannelTables(n1)).to.deep.equal([])
  })

  it('in iptables mode too, FLANNEL-FWD\'s accepts do not save pod traffic from a native drop: sync says so', async () => {
    const [n1] = lab.nodes
    try {
      await loadFirewall(n1, nativeFirewall(''))
      expect(await lostPings()).to.have.length(2)
      expect((await sync(n1)).stdout).to.contain('by its policy drop, and flannel\'s accepts (iptables\' FORWARD) do not overrule it')
    } finally {
      await sh('ip', ['netns', 'exec', n1.netns, 'nft', 'delete', 'table', 'inet', 'fcnbfw'])
    }
  })

  it('"EnableNFTables": "yes": sync stops and names the key, doctor says no node can sync', async () => {
    const [n1] = lab.nodes
    await setConfig(c => { c.EnableNFTables = 'yes' })
    try {
      const r = await cli(['sync', ...flags(n1)], {netns: n1.netns})
      expect(r.exitCode).to.equal(2)
      expect(r.stderr).to.contain('EnableNFTables must be true or false, got the string "yes"')
      const d = JSON.parse((await cli(['doctor', '--lab', name, '--json'])).stdout)
      expect(d.healthy).to.equal(false)
      expect(d.findings.map((f: {code: string}) => f.code)).to.include('NETCONF_INVALID')
    } finally {
      await setConfig(c => { delete c.EnableNFTables })
    }
  })

  it('reset deletes flanneld\'s tables and leaves another program\'s', async () => {
    const [n1] = lab.nodes
    await setConfig(c => { c.EnableNFTables = true })
    await sync(n1)
    await inNs(n1.netns, 'nft', 'add table inet fcnbkeep')
    await sh('ip', ['netns', 'exec', n1.netns, 'nft', 'add', 'chain', 'inet', 'fcnbkeep', 'in', '{ type filter hook input priority 0 ; }'])
    const r = await cli(['reset', ...flags(n1)], {netns: n1.netns})
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(r.stdout).to.contain('nft delete table ip flannel-ipv4')
    const tables = await inNs(n1.netns, 'nft', 'list', 'tables')
    expect(tables).to.not.contain('flannel-ipv')
    expect(tables).to.contain('table inet fcnbkeep')
  })
})
