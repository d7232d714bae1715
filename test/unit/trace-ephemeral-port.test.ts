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
import {parseNftRuleset} from '../../src/core/parse/index.js'
import {applyPatches, loadWorld} from '../fixtures/trace/load.js'

const assumed = (t: ReturnType<typeof traceFlow>) => t.warnings.filter(w => w.code === 'ASSUMED').map(w => `${w.node}: ${w.message}`)

describe('trace: iptables rules on the client\'s ephemeral port', () => {
  const vxlan = loadWorld('flannel-vxlan')
  // (mangle FORWARD: filter's has flannel's accepts first)
  const rule = (spec: string) => ({host: 'node2', op: 'add' as const, table: 'iptables.rules', value: {table: 'mangle', chain: 'FORWARD', spec, raw: `-A FORWARD ${spec}`}})
  const web = (spec: string) => traceFlow(applyPatches(vxlan, [rule(spec)]), {src: 'pod-a', dst: 'pod-b', proto: 'tcp', dport: 80})

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

describe('trace: native nftables rules on the client\'s ephemeral port', () => {
  const SNAPSHOT = join(import.meta.dirname, '..', 'fixtures', 'snapshots', 'vxlan-nft')
  const chain = (rule: string, policy = 'accept') => `table inet fcep {\n\tchain fwd {\n\t\ttype filter hook forward priority filter - 10; policy ${policy};\n\t\t${rule} # handle 2\n\t}\n}\n`
  async function trace(ruleset: string, req: TraceRequest = {src: 'pod-1a', dst: 'pod-2a', proto: 'tcp', dport: 80}) {
    const {world} = await loadSource({snapshot: SNAPSHOT})
    const hosts = world.hosts.map(h => h.name !== 'n1' ? h : {...h, nftables: parseNftRuleset(ruleset, 'nft-ruleset')})
    return traceFlow({...world, hosts}, req)
  }

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
