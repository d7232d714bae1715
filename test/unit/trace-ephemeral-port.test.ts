/**
 * The client's source port (the reply's destination port) is picked by its kernel from
 * net.ipv4.ip_local_port_range: a rule that tests it is decided by that range, and said where the
 * range splits it.
 */
import {join} from 'node:path'
import {expect} from 'chai'
import {traceFlow} from '../../src/core/trace/engine.js'
import type {TraceRequest} from '../../src/core/trace/types.js'
import {loadSource} from '../../src/services/collect.js'
import {localPortRange} from '../../src/core/trace/iptables.js'
import {parseNftRuleset} from '../../src/core/parse/index.js'
import {evaluateNftChain} from '../../src/core/trace/nft.js'
import {applyPatches, loadWorld} from '../fixtures/trace/load.js'

const assumed = (t: ReturnType<typeof traceFlow>) => t.warnings.filter(w => w.code === 'ASSUMED').map(w => `${w.node}: ${w.message}`)

const vxlan = loadWorld('flannel-vxlan')
// (mangle FORWARD: filter's has flannel's accepts first)
const rule = (spec: string) => ({host: 'node2', op: 'add' as const, table: 'iptables.rules', value: {table: 'mangle', chain: 'FORWARD', spec, raw: `-A FORWARD ${spec}`}})
/** pod-a to pod-b's port 80 with `spec` in node2's mangle FORWARD */
const web = (spec: string) => traceFlow(applyPatches(vxlan, [rule(spec)]), {src: 'pod-a', dst: 'pod-b', proto: 'tcp', dport: 80})

describe('trace: iptables rules on the client\'s ephemeral port', () => {

  it('a request\'s --sport covering part of the range is an assumption naming the rule and the port, not a verdict', () => {
    const t = web('-p tcp -m tcp --sport 40000:50000 -j DROP')
    expect(t.disposition).to.equal('DELIVERED')
    const warning = assumed(t).find(m => m.includes('--sport 40000:50000'))
    expect(warning).to.equal('node2: cannot evaluate `--sport 40000:50000` (it depends on the client\'s source port, which its kernel picks from net.ipv4.ip_local_port_range (32768-60999 by default)) in ' +
      '`-A FORWARD -p tcp -m tcp --sport 40000:50000 -j DROP` (`ss -tun` would tell); assumed the rule does not match, but where it does the packet is dropped')
  })

  it('a --sport holding the whole range drops; one outside it does not, and says nothing', () => {
    const all = web('-p tcp -m tcp --sport 1024:65535 -j DROP')
    expect(all.disposition).to.equal('DENIED_BY_FILTER')
    expect(all.failure!.evidence).to.equal('-A FORWARD -p tcp -m tcp --sport 1024:65535 -j DROP')
    const dns = web('-p tcp -m tcp --sport 53 -j DROP')
    expect(dns.disposition).to.equal('DELIVERED')
    expect(assumed(dns).join('\n')).to.not.contain('source port')
    // multiport's list is one set of ports: together its parts hold the range
    expect(web('-p tcp -m multiport --sports 1024:40000,40001:65535 -j DROP').disposition).to.equal('DENIED_BY_FILTER')
    expect(web('-p tcp -m multiport ! --sports 1024:65535 -j DROP').disposition).to.equal('DELIVERED')
  })

  it('the reply\'s --dport is the client\'s port: decided by the range the same way; the request\'s --dport stays exact', () => {
    const part = web('-p tcp -m tcp --dport 40000:50000 -j DROP')
    expect(part.returnPath.disposition).to.equal('DELIVERED')
    expect(assumed(part).some(m => m.includes('`--dport 40000:50000` (it depends on the client\'s source port'))).to.equal(true)
    const all = web('-p tcp -m tcp --dport 32768:65535 -j DROP')
    expect(all.disposition).to.equal('DELIVERED')
    expect(all.returnPath.disposition).to.equal('DENIED_BY_FILTER')
    const none = web('-p tcp -m tcp --dport 1:1023 -j DROP')
    expect(none.disposition, 'the request\'s port 80').to.equal('DENIED_BY_FILTER')
    const other = web('-p tcp -m tcp --dport 8080 -j DROP')
    expect(other.returnPath.disposition).to.equal('DELIVERED')
    expect(assumed(other).join('\n')).to.not.contain('source port')
  })
  it('an ipset\'s port entry for the client\'s port: one inside the range cannot be decided, one outside it does not match', () => {
    const withSet = (members: string[]) => applyPatches(vxlan, [rule('-m set --match-set FCEP-SRC src,src -j DROP'),
      {host: 'node2', op: 'add' as const, table: 'ipsets', value: {name: 'FCEP-SRC', type: 'hash:ip,port', members}}])
    const inside = traceFlow(withSet(['10.244.1.34,tcp:45000']), {src: 'pod-a', dst: 'pod-b', proto: 'tcp', dport: 80})
    expect(inside.disposition).to.equal('DELIVERED')
    expect(assumed(inside).some(m => m.includes('`--match-set FCEP-SRC src,src` (it depends on the client\'s source port'))).to.equal(true)
    const outside = traceFlow(withSet(['10.244.1.34,tcp:53']), {src: 'pod-a', dst: 'pod-b', proto: 'tcp', dport: 80})
    expect(outside.disposition).to.equal('DELIVERED')
    expect(assumed(outside).join('\n')).to.not.contain('FCEP-SRC')
  })
})

const SNAPSHOT = join(import.meta.dirname, '..', 'fixtures', 'snapshots', 'vxlan-nft')
const chain = (rule: string, policy = 'accept') => `table inet fcep {\n\tchain fwd {\n\t\ttype filter hook forward priority filter - 10; policy ${policy};\n\t\t${rule} # handle 2\n\t}\n}\n`
/** vxlan-nft with n1's nftables ruleset replaced, and sysctls set where `sysctls` names a host or pod */
async function trace(ruleset: string, req: TraceRequest = {src: 'pod-1a', dst: 'pod-2a', proto: 'tcp', dport: 80}, sysctls: Record<string, Record<string, string>> = {}) {
  const {world} = await loadSource({snapshot: SNAPSHOT})
  const hosts = world.hosts.map(h => ({...h, ...(h.name === 'n1' ? {nftables: parseNftRuleset(ruleset, 'nft-ruleset')} : {}), sysctls: {...h.sysctls, ...sysctls[h.name]}}))
  return traceFlow({...world, hosts}, req)
}

describe('trace: native nftables rules on the client\'s ephemeral port', () => {

  it('`tcp sport` over part of the range: the chain may drop, so the trace says what it cannot know', async () => {
    const t = await trace(chain('tcp sport 40000-50000 drop'))
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure!.reason).to.contain('cannot evaluate `tcp sport 40000-50000 drop` (inet fcep fwd, handle 2) in native nftables chain inet fcep fwd on n1: `tcp sport` is the client\'s source port, which its kernel picks from net.ipv4.ip_local_port_range (32768-60999 by default) (`ss -tun` would tell)')
    // in a chain that only accepts, it is an assumption
    const accepting = await trace(chain('th sport 40000-50000 accept'))
    expect(accepting.disposition).to.equal('DELIVERED')
    expect(assumed(accepting).some(m => m.includes('`th sport` is the client\'s source port'))).to.equal(true)
  })

  it('`tcp sport` holding the range drops, outside it passes; sets and comparisons by the same range', async () => {
    expect((await trace(chain('tcp sport 1024-65535 drop'))).disposition).to.equal('DENIED_BY_FILTER')
    expect((await trace(chain('tcp sport { 1024-40000, 40001-65535 } drop'))).disposition).to.equal('DENIED_BY_FILTER')
    expect((await trace(chain('tcp sport >= 1024 drop'))).disposition).to.equal('DENIED_BY_FILTER')
    expect((await trace(chain('tcp sport != 53 drop'))).disposition).to.equal('DENIED_BY_FILTER')
    for (const rule of ['tcp sport 53 drop', 'tcp sport { 22, 53 } drop', 'tcp sport < 1024 drop', 'udp sport 1024-65535 drop']) {
      const t = await trace(chain(rule))
      expect(t.disposition, rule).to.equal('DELIVERED')
      expect(assumed(t).join('\n'), rule).to.not.contain('source port')
    }
    expect((await trace(chain('tcp sport > 50000 drop'))).disposition).to.equal('INSUFFICIENT_INFO')
  })

  it('the reply\'s `tcp dport` is the client\'s port', async () => {
    const all = await trace(chain('tcp dport 32768-60999 drop'))
    expect(all.disposition).to.equal('DELIVERED')
    expect(all.returnPath.disposition).to.equal('DENIED_BY_FILTER')
    const part = await trace(chain('tcp dport 40000-50000 drop'))
    expect(part.disposition).to.equal('DELIVERED')
    expect(part.returnPath.disposition).to.equal('INSUFFICIENT_INFO')
    expect(part.returnPath.failure!.reason).to.contain('`tcp dport` is the client\'s source port')
  })
})

describe('trace: conntrack tuple ports on the client\'s ephemeral port', () => {

  it('iptables --ctorigsrcport/--ctrepldstport hold the client\'s port: the whole range drops, part of it is an assumption, none passes', () => {
    const decided: [string, string][] = [
      ['--ctorigsrcport 32768:60999', 'DENIED_BY_FILTER'], ['--ctrepldstport 1024:65535', 'DENIED_BY_FILTER'], ['--ctorigsrcport 1:1023', 'DELIVERED'],
      // the server's port stays exact
      ['--ctorigdstport 80', 'DENIED_BY_FILTER'], ['--ctreplsrcport 81', 'DELIVERED'],
    ]
    for (const [match, disposition] of decided) {
      const t = web(`-p tcp -m conntrack ${match} -j DROP`)
      expect(t.disposition, match).to.equal(disposition)
      expect(assumed(t).join('\n'), match).to.not.contain('--ct')
    }
    const part = web('-p tcp -m conntrack --ctorigsrcport 40000:50000 -j DROP')
    expect(part.disposition).to.equal('DELIVERED')
    expect(assumed(part)).to.include('node2: cannot evaluate `--ctorigsrcport 40000:50000` (it depends on the client\'s source port, which its kernel picks from net.ipv4.ip_local_port_range (32768-60999 by default)) in ' +
      '`-A FORWARD -p tcp -m conntrack --ctorigsrcport 40000:50000 -j DROP` (`conntrack -L` would tell); assumed the rule does not match, but where it does the packet is dropped')
  })

  it('the reply\'s connection has the same tuples: its original source port is the client\'s', () => {
    const t = web('-p tcp -m conntrack --ctdir REPLY --ctorigsrcport 32768:60999 -j DROP')
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.equal('DENIED_BY_FILTER')
  })

  it('nft `ct original proto-src` / `ct reply proto-dst` by the same range', async () => {
    expect((await trace(chain('meta l4proto tcp ct original proto-src 32768-60999 drop'))).disposition).to.equal('DENIED_BY_FILTER')
    expect((await trace(chain('meta l4proto tcp ct original proto-src 1-1023 drop'))).disposition).to.equal('DELIVERED')
    const part = await trace(chain('meta l4proto tcp ct reply proto-dst 40000-50000 drop'))
    expect(part.disposition).to.equal('INSUFFICIENT_INFO')
    expect(part.failure!.reason).to.contain('`ct reply proto-dst` is the client\'s source port, which its kernel picks from net.ipv4.ip_local_port_range (32768-60999 by default) (`ss -tun` would tell)')
    expect((await trace(chain('meta l4proto tcp ct original proto-dst 80 drop'))).disposition).to.equal('DENIED_BY_FILTER')
  })
})

describe('trace: the client\'s own net.ipv4.ip_local_port_range', () => {
  const range = (value: string) => ({'net.ipv4.ip_local_port_range': value})

  it('reads the sysctl as the kernel prints it; anything else is no range', () => {
    expect(localPortRange('32768\t60999')).to.deep.equal([32768, 60999])
    expect(localPortRange(' 1024 65535 ')).to.deep.equal([1024, 65535])
    for (const bad of [undefined, '', '4', '60999 32768', '0 100', '1024 65536', '1024 x']) expect(localPortRange(bad), String(bad)).to.equal(undefined)
  })

  it('a pod whose range lies inside a rule\'s ports is judged by it, and the words name its range and the pod', async () => {
    const drop = chain('tcp sport 40000-40010 drop')
    expect((await trace(drop, undefined, {'pod-1a': range('40000\t40010')})).disposition).to.equal('DENIED_BY_FILTER')
    expect((await trace(drop, undefined, {'pod-1a': range('50000\t50010')})).disposition).to.equal('DELIVERED')
    const part = await trace(drop, undefined, {'pod-1a': range('40005\t40020')})
    expect(part.disposition).to.equal('INSUFFICIENT_INFO')
    expect(part.failure!.reason).to.contain('`tcp sport` is the client\'s source port, which its kernel picks from net.ipv4.ip_local_port_range (40005-40020 on pod-1a)')
    // the pod is in a namespace of its own: its node's range is not its range
    const nodeOnly = await trace(drop, undefined, {n1: range('40000\t40010')})
    expect(nodeOnly.disposition).to.equal('INSUFFICIENT_INFO')
    expect(nodeOnly.failure!.reason).to.contain('(32768-60999 by default)')
  })

  it('a node as the client: iptables --sport and --ctorigsrcport by its range, in the ASSUMED words too', () => {
    const narrowed = (value: string, spec: string) => traceFlow(applyPatches(vxlan, [{host: 'node1', op: 'set', table: 'sysctls', value: range(value)},
      {host: 'node2', op: 'add', table: 'iptables.rules', value: {table: 'filter', chain: 'INPUT', spec, raw: `-A INPUT ${spec}`}}]), {src: 'node1', dst: 'node2', proto: 'tcp', dport: 22})
    expect(narrowed('50000 50010', '-p tcp -m tcp --sport 50000:50010 -j DROP').disposition).to.equal('DENIED_BY_FILTER')
    expect(narrowed('50000 50010', '-p tcp -m conntrack --ctorigsrcport 50000:50010 -j DROP').disposition).to.equal('DENIED_BY_FILTER')
    const part = narrowed('49990 50010', '-p tcp -m tcp --sport 50000:50010 -j DROP')
    expect(part.disposition).to.equal('DELIVERED')
    expect(assumed(part).some(m => m.includes('`--sport 50000:50010` (it depends on the client\'s source port, which its kernel picks from net.ipv4.ip_local_port_range (49990-50010 on node1))'))).to.equal(true)
  })
})

describe('trace: the client\'s port after a source NAT that remaps ports', () => {
  // node1 masquerades pod-a's connection to pod-b (after flannel's FLANNEL-POSTRTG returns it)
  const natted = (target: string, node2Rule: string, node1Rule?: string) => traceFlow(applyPatches(vxlan, [
    {host: 'node1', op: 'add', table: 'iptables.rules', value: {table: 'nat', chain: 'POSTROUTING', spec: `-s 10.244.1.0/24 -d 10.244.2.0/24 -j ${target}`, raw: `-A POSTROUTING -s 10.244.1.0/24 -d 10.244.2.0/24 -j ${target}`}},
    rule(node2Rule),
    ...(node1Rule !== undefined ? [{...rule(node1Rule), host: 'node1'}] : []),
  ]), {src: 'pod-a', dst: 'pod-b', proto: 'tcp', dport: 80})
  const natStep = (t: ReturnType<typeof traceFlow>) => t.hops.flatMap(h => h.steps).find(s => s.kind === 'nat' && (s.verdict === 'masquerade' || s.verdict === 'snat'))?.explanation

  it('MASQUERADE --random-fully gives it one of 1024-65535: a rule on the client\'s range is no longer decided by it', () => {
    const part = natted('MASQUERADE --random-fully', '-p tcp -m tcp --sport 32768:60999 -j DROP')
    expect(part.disposition).to.equal('DELIVERED')
    expect(natStep(part)).to.equal('POSTROUTING MASQUERADE: source 10.244.1.34 becomes 10.244.1.0, its port one of 1024-65535')
    expect(assumed(part)).to.include('node2: cannot evaluate `--sport 32768:60999` (it depends on the client\'s source port, which `-A POSTROUTING -s 10.244.1.0/24 -d 10.244.2.0/24 -j MASQUERADE --random-fully` ' +
      'on node1 rewrites to one of 1024-65535) in `-A FORWARD -p tcp -m tcp --sport 32768:60999 -j DROP` (`conntrack -L` would tell); assumed the rule does not match, but where it does the packet is dropped')
    expect(natted('MASQUERADE --random-fully', '-p tcp -m tcp --sport 1024:65535 -j DROP').disposition).to.equal('DENIED_BY_FILTER')
    // node2's connection starts after the NAT: its original source port is the rewritten one
    expect(natted('MASQUERADE --random-fully', '-p tcp -m conntrack --ctorigsrcport 1024:65535 -j DROP').disposition).to.equal('DENIED_BY_FILTER')
  })

  it('a MASQUERADE without it keeps a free port: the client\'s range still decides', () => {
    const kept = natted('MASQUERADE', '-p tcp -m tcp --sport 32768:60999 -j DROP')
    expect(kept.disposition).to.equal('DENIED_BY_FILTER')
    expect(natStep(kept)).to.equal('POSTROUTING MASQUERADE: source 10.244.1.34 becomes 10.244.1.0')
  })

  it('SNAT to a port range: the port is one of it', () => {
    const to = 'SNAT --to-source 10.244.1.0:40000-40100'
    expect(natted(to, '-p tcp -m tcp --sport 40000:40100 -j DROP').disposition).to.equal('DENIED_BY_FILTER')
    const outside = natted(to, '-p tcp -m tcp --sport 50000:60999 -j DROP')
    expect(outside.disposition).to.equal('DELIVERED')
    expect(assumed(outside).join('\n')).to.not.contain('source port')
  })

  it('the reply, mapped back on node1, heads for the client\'s own port again', () => {
    const t = natted('MASQUERADE --random-fully', '-p tcp -m tcp --dport 50000:60999 -j DROP', '-p tcp -d 10.244.1.34 -m tcp --dport 32768:60999 -j DROP')
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.returnPath.failure!.node).to.equal('node1')
    // on node2 the reply's destination port was the rewritten one: part of it in the rule's ports
    expect(assumed(t).some(m => m.startsWith('node2: cannot evaluate `--dport 50000:60999` (it depends on the client\'s source port, which `-A POSTROUTING'))).to.equal(true)
  })

  it('nft: `masquerade fully-random` and `random,persistent` (one word, as nft lists them) remap it; `persistent` alone does not', () => {
    const verdict = (flags: string) => evaluateNftChain(parseNftRuleset(`table ip fcnat {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tmasquerade ${flags} # handle 2\n\t}\n}\n`, 'nft-ruleset')[0],
      {src: '10.244.1.34', dst: '10.244.2.5', proto: 'tcp', sport: 40000, dport: 80, state: 'NEW', outDev: 'flannel.1'}).verdict
    expect(verdict('fully-random')).to.include({kind: 'nat', randomPorts: true})
    expect(verdict('random,persistent')).to.include({kind: 'nat', randomPorts: true})
    expect(verdict('persistent')).to.not.have.property('randomPorts')
  })
})
