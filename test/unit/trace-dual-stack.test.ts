/**
 * A dual-stack cluster traced for IPv4, the only family the engine models.
 *
 * test/fixtures/snapshots/dual-stack: `flannelctl collect` of a 2-node vxlan lab (`lab up --nodes 2
 * --pods 1`) given IPv6 by hand: fd00:100::11/12 on the nodes' eth0, fd00:10:244:41::/64 and
 * fd00:10:244:66::/64 on their cni0, the pods' addresses and default routes, routes between the
 * nodes via eth0, net.ipv6.conf.all.forwarding=1; pinged over both families, so the neighbour
 * tables hold IPv6 and fe80:: entries. test/fixtures/parse/real/dual-stack: node n1's tables as the
 * IPv6 (or both-family) commands print them, captured there after adding a v6 default route,
 * blackhole, unreachable, prohibit, multipath, source-specific, `proto ra expires … hoplimit`
 * routes, a table 100 route with `ip -6 rule`s looking it up, and ip6tables rules (FORWARD policy
 * DROP, pod accept, masquerade).
 */
import {expect} from 'chai'
import {cp, readFile, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {traceFlow} from '../../src/core/trace/engine.js'
import type {Trace, TraceRequest} from '../../src/core/trace/types.js'
import {loadSource} from '../../src/services/collect.js'
import {parseIptables, parseIPv4Rules, parseRoutes} from '../../src/core/parse/index.js'
import {RouteTable} from '../../src/core/route-lookup.js'
import {isIPv6Route} from '../../src/core/model.js'
import {parseInventory} from '../../src/core/inventory.js'
import {FlannelctlError} from '../../src/errors.js'
import {tempDirHooks} from '../helpers/temp-dir.js'
import {besidesQdiscs} from '../helpers/qdiscs.js'

const SNAPSHOT = join(import.meta.dirname, '..', 'fixtures', 'snapshots', 'dual-stack')
const REAL = join(import.meta.dirname, '..', 'fixtures', 'parse', 'real')
const captured = (file: string) => readFile(join(REAL, `dual-stack-${file}`), 'utf8')

describe('trace on a dual-stack cluster (IPv4 modelled, IPv6 answered plainly)', () => {
  let dir = ''
  tempDirHooks('fc-dual-', d => (dir = d), {each: true})

  const traceIn = async (snapshot: string, req: TraceRequest): Promise<Trace> => traceFlow((await loadSource({snapshot})).world, req)
  /** the snapshot with n1's `table` file replaced by a captured one */
  const withN1 = async (table: string, file: string): Promise<string> => {
    await cp(SNAPSHOT, dir, {recursive: true})
    const base = join(dir, 'n1', table)
    await cp(join(REAL, `dual-stack-${file}`), `${base}.${file.endsWith('.json') ? 'json' : 'txt'}`)
    // the other form of the same table would be read instead (JSON wins)
    if (file.endsWith('.txt')) await rm(`${base}.json`, {force: true})
    return dir
  }

  it('traces IPv4 between the dual-stack pods exactly (the kernel delivers: ping 10.244.66.2 from pod-1a)', async () => {
    const t = await traceIn(SNAPSHOT, {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.traceroute).to.deep.equal(['10.244.41.1', '10.244.66.0', '10.244.66.2'])
    expect(t.returnPath.disposition).to.equal('DELIVERED')
    expect(besidesQdiscs(t.warnings)).to.deep.equal([])
  })

  for (const file of ['ip-route-all-both.json', 'ip-route-all-both.txt']) {
    it(`reads \`ip route show table all\` with its IPv6 routes (${file}) into the same IPv4 trace`, async () => {
      const original = await traceIn(SNAPSHOT, {src: 'pod-1a', dst: 'pod-2a'})
      const both = await traceIn(await withN1('ip-route', file), {src: 'pod-1a', dst: 'pod-2a'})
      expect(both).to.deep.equal(original)
    })
  }

  it('never routes IPv4 by the IPv6 default route: no IPv4 default on n1 is NO_ROUTE, as the kernel says (network is unreachable)', async () => {
    // kernel: `ip netns exec n1-pod ping 8.8.8.8` gets "Network is unreachable" from 10.244.41.1
    for (const file of ['ip-route-all-both.json', 'ip-route-all-both.txt']) {
      const t = await traceIn(await withN1('ip-route', file), {src: 'pod-1a', dst: '8.8.8.8'})
      expect(t.disposition, file).to.equal('NO_ROUTE')
      expect(t.failure?.evidence).to.equal('(no route to 8.8.8.8 in table main)')
    }
    const routes = parseRoutes(await captured('ip-route-all-both.json'))
    expect(routes.some(r => r.dst === 'default' && r.gateway === 'fd00:100::12'), 'the v6 default is read').to.equal(true)
    expect(new RouteTable(routes).lookup('8.8.8.8')).to.equal(undefined)
    // an IPv6 default through a device, no address in it: told by its router preference (`pref`), which IPv4 routes lack
    const [v6dev, v4dev] = parseRoutes('default dev wg0 metric 1024 pref medium\ndefault dev pref scope link\n')
    expect([isIPv6Route(v6dev), isIPv6Route(v4dev)]).to.deep.equal([true, false])
    expect(new RouteTable([v6dev, v4dev]).lookup('8.8.8.8')?.dev).to.equal('pref')
  })

  for (const file of ['ip-6-route-all.json', 'ip-6-route-all.txt']) {
    it(`takes a route file of IPv6 routes alone (${file}, no command line) as IPv4 routes unknown, not none`, async () => {
      const t = await traceIn(await withN1('ip-route', file), {src: 'pod-1a', dst: 'pod-2a'})
      expect(t.disposition).to.equal('INSUFFICIENT_INFO')
      expect(t.failure).to.deep.include({node: 'n1', step: 'route'})
      expect(t.failure?.fix[0]).to.deep.equal({node: 'n1', command: 'ip route get 10.244.66.2'})
      expect(t.failure?.reason).to.contain('hold IPv6 routes only (`ip -6 route`)')
    })
  }

  it('takes `ip -j -6 neigh` as IPv4 neighbours unknown: INSUFFICIENT_INFO, not NEIGHBOR_MISSING', async () => {
    const t = await traceIn(await withN1('ip-neigh', 'ip-6-neigh.json'), {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure).to.deep.include({node: 'n1', step: 'neigh'})
  })

  it('a pod that has sent nothing yet: its neighbour table holds the kernel\'s IPv6 multicast entries alone, which is no `ip -6 neigh`: no IPv4 neighbour, known, not assumed', async () => {
    // lab (2 nodes, etcd store): trace right after lab up said ASSUMED "the neighbours of pod-1a on
    // eth0 were not captured" for each pod, and doctor "healthy, with 2 warnings"; collect had read
    // `ip -j neigh show nud all` there, which listed these two entries and no other
    await cp(SNAPSHOT, dir, {recursive: true})
    await writeFile(join(dir, 'pod-1a', 'ip-neigh.json'), '[{"dst":"ff02::2","dev":"eth0","lladdr":"33:33:00:00:00:02","state":["NOARP"]},{"dst":"ff02::16","dev":"eth0","lladdr":"33:33:00:00:00:16","state":["NOARP"]}]\n')
    const t = await traceIn(dir, {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(besidesQdiscs(t.warnings)).to.deep.equal([])
    expect(t.hops[0].steps.find(x => x.kind === 'neigh')!.explanation).to.match(/^no neighbour entry yet; ARP resolves 10\.244\.41\.1/)
  })

  it('takes `ip -j -6 addr` as IPv4 addresses unknown and reads them from the kernel routes: delivered', async () => {
    const t = await traceIn(await withN1('ip-addr', 'ip-6-addr.json'), {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition, t.failure?.reason).to.equal('DELIVERED')
  })

  it('leaves ip6tables rules out of the IPv4 filter: its FORWARD policy DROP does not drop an IPv4 packet', async () => {
    // before: ip6tables-save as iptables-save.txt was DENIED_BY_FILTER by `:FORWARD DROP`
    const alone = await traceIn(await withN1('iptables-save', 'ip6tables-save.txt'), {src: 'pod-1a', dst: 'pod-2a'})
    expect(alone.disposition).to.equal('DELIVERED')
    // IPv4's rules are unknown there (iptables-nft's `ip filter` table in nft-ruleset.json still speaks for FORWARD)
    expect(alone.warnings.map(w => w.message)).to.include('no iptables rules captured on n1: assumed the INPUT chain accepts')
    const v4 = await readFile(join(SNAPSHOT, 'n1', 'iptables-save.txt'), 'utf8')
    const v6 = await captured('ip6tables-save.txt')
    const v4Rules = parseIptables(v4)
    expect(parseIptables(v4 + v6)).to.deep.equal({...v4Rules, ipv6TablesLeftOut: ['filter', 'nat']})
    expect(parseIptables(v6 + v4)).to.deep.equal({...v4Rules, ipv6TablesLeftOut: ['filter', 'nat']})
    // pasted `ip6tables -S`, and a save without its `# Generated by` line: told by an IPv6 address in a rule
    expect(parseIptables(await captured('ip6tables-S.txt'))).to.deep.equal({chains: [], rules: [], ipv6TablesLeftOut: ['filter']})
    const headless = v6.split('\n').filter(l => !l.startsWith('#')).join('\n')
    expect(parseIptables(headless).rules.filter(r => r.table === 'nat')).to.deep.equal([])
  })

  it('reads `ip rule` IPv4 rules only: `ip -6 rule`s (from all lookup 100) do not steer an IPv4 packet', async () => {
    expect(parseIPv4Rules(await captured('ip-6-rule.json')), 'ip -j -6 rule: unknown').to.equal(undefined)
    expect(parseIPv4Rules(await captured('ip-rule-both.txt'))?.map(r => r.priority)).to.deep.equal([0, 32766, 32767])
    const t = await traceIn(await withN1('ip-rule', 'ip-rule-both.txt'), {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition).to.equal('DELIVERED')
  })

  describe('flanneld\'s dual-stack vxlan: flannel-v6.1 beside flannel.1 (both VNI 1, port 8472)', () => {
    // dual-stack-vxlan6: the same lab later, with flanneld's IPv6 vxlan by hand on both nodes
    // (flannel-v6.1 `local fd00:100::1x`, `fd00:10:244:<peer>::/64 via fd00:10:244:<peer>:: dev
    // flannel-v6.1 onlink`, its neigh and `fdb … dst fd00:100::1y`), and on n1 one IPv4 route through
    // it: `10.244.66.2 via 10.244.66.0 dev flannel-v6.1 onlink` with `10.244.66.0 lladdr <n2's
    // flannel-v6.1 MAC>`. The kernel delivers both ways (ping; n2's flannel-v6.1 counts the frames).
    const SNAP6 = join(import.meta.dirname, '..', 'fixtures', 'snapshots', 'dual-stack-vxlan6')

    it('IPv4 over flannel.1 is traced as before, decapsulated by flannel.1, not by the IPv6 device on the same VNI and port', async () => {
      const t = await traceIn(SNAP6, {src: 'pod-2a', dst: 'pod-1a'})
      expect(t.disposition).to.equal('DELIVERED')
      expect(t.hops.find(h => h.node === 'n1')?.steps.find(s => s.kind === 'decap')?.evidence).to.contain('vxlan id 1 local 192.168.100.11')
      // traceroute -n -I from pod-2a prints 10.244.66.1, 192.168.100.11, 10.244.41.2: n1's time
      // exceeded goes back by the /32 route through flannel-v6.1 (its source then n1's eth0 address)
      expect(t.traceroute).to.deep.equal(['10.244.66.1', '192.168.100.11', '10.244.41.2'])
      expect(t.returnPath.disposition, 'the reply takes flannel-v6.1').to.equal('INSUFFICIENT_INFO')
    })

    it('IPv4 wrapped in IPv6 (a route through flannel-v6.1) is where the model ends: INSUFFICIENT_INFO, not STALE_VTEP_MAC', async () => {
      // before: STALE_VTEP_MAC, with a fix replacing the neighbour by flannel.1's MAC (the kernel delivers)
      const t = await traceIn(SNAP6, {src: 'pod-1a', dst: 'pod-2a'})
      expect(t.disposition).to.equal('INSUFFICIENT_INFO')
      expect(t.failure).to.deep.include({node: 'n1', step: 'encap', fix: [{node: 'n1', command: 'ip -6 route get fd00:100::12'}]})
      expect(t.failure?.reason).to.equal('flannel-v6.1 on n1 carries the frame over IPv6 (local fd00:100::11): the outer packet\'s way to fd00:100::12 is IPv6 forwarding, which the trace does not model')
    })
  })

  describe('an IPv6 endpoint is a clear usage error (exit 2), naming whose address it is and what to run', () => {
    const refusal = async (req: TraceRequest): Promise<FlannelctlError> => {
      const {world} = await loadSource({snapshot: SNAPSHOT})
      try {
        traceFlow(world, req)
      } catch (error) {
        expect(error).to.be.instanceOf(FlannelctlError)
        expect((error as FlannelctlError).exitCode).to.equal(2)
        return error as FlannelctlError
      }
      throw new Error('traced an IPv6 endpoint')
    }

    it('a pod\'s IPv6 address, in any spelling, names the pod', async () => {
      for (const dst of ['fd00:10:244:66::2', 'fd00:10:244:66:0:0:0:2', '[FD00:10:244:66::2]']) {
        const e = await refusal({src: 'pod-1a', dst})
        expect(e.message).to.equal(`the destination ${dst} is an IPv6 address (an address of pod pod-2a): flannelctl trace models IPv4 forwarding only`)
        expect(e.hint).to.equal('trace pod-2a by name for its IPv4 path, and follow IPv6 with `ip -6 route get fd00:10:244:66::2` on each host')
      }
      expect((await refusal({src: 'fd00:100::11', dst: 'pod-2a'})).message).to.contain('the source fd00:100::11 is an IPv6 address (an address of node n1)')
    })

    it('an address no host has, a link-local one with its zone, an IPv4-mapped one', async () => {
      expect((await refusal({src: 'pod-1a', dst: '2001:db8::1'})).hint).to.equal('follow it with `ip -6 route get 2001:db8::1` on each host (`ip -6 route get 2001:db8::1 from SRC` on the sender)')
      expect((await refusal({src: 'pod-1a', dst: 'fe80::1%eth0'})).hint).to.equal('follow it with `ip -6 route get fe80::1 oif eth0` on each host (`ip -6 route get fe80::1 from SRC oif eth0` on the sender)')
      expect((await refusal({src: 'pod-1a', dst: '::ffff:10.244.66.2'})).hint).to.equal('give the IPv4 address itself: 10.244.66.2')
      expect((await refusal({src: 'fd00:99::1', dst: 'pod-2a'})).hint).to.equal('follow it with `ip -6 route get DST from fd00:99::1` on the sender, and `ip -6 route get DST` on each host after it')
    })

    it('an inventory pod listed by its IPv6 address is refused, naming the family', () => {
      expect(() => parseInventory('nodes: [{name: a}]\npods: [{name: p, ip: "fd00::2", node: a}]\n'))
        .to.throw(FlannelctlError, /pod 'p' needs an IPv4 address in `ip:` \('fd00::2' is IPv6, which trace and doctor do not model\)/)
    })
  })
})
