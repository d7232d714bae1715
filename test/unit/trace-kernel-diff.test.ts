/**
 * Traces over snapshots collected (`flannelctl collect --format txt`) from namespaces built by hand,
 * each checked against what the real kernel did with ping, a TCP connect and traceroute there.
 */
import {expect} from 'chai'
import {join} from 'node:path'
import {cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {traceFlow} from '../../src/core/trace/engine.js'
import type {TraceRequest} from '../../src/core/trace/types.js'
import type {HostSnapshot} from '../../src/core/model.js'
import {loadSource} from '../../src/services/collect.js'
import {renderTrace} from '../../src/ui/trace-render.js'
import {labFixes} from '../../src/commands/trace.js'
import {parseIpLinkJson, parseIpRouteJson} from '../../src/core/parse/json.js'
import {parseIpLinkText, parseIpRouteText} from '../../src/core/parse/text.js'
import {parseIptables} from '../../src/core/parse/index.js'
import {besidesQdiscs} from '../helpers/qdiscs.js'

const SNAPSHOTS = join(import.meta.dirname, '..', 'fixtures', 'snapshots')

async function trace(snapshot: string, req: TraceRequest) {
  const {world} = await loadSource({snapshot: join(SNAPSHOTS, snapshot)})
  return traceFlow(world, req)
}

/** a trace over a copy of `snapshot` with `file` edited */
async function traceEdited(snapshot: string, file: string | Record<string, (text: string) => string>, edit: ((text: string) => string) | undefined, req: TraceRequest) {
  const dir = mkdtempSync(join(tmpdir(), 'fct-edited-'))
  try {
    cpSync(join(SNAPSHOTS, snapshot), dir, {recursive: true})
    const edits = typeof file === 'string' ? {[file]: edit!} : file
    for (const [name, change] of Object.entries(edits)) writeFileSync(join(dir, name), change(readFileSync(join(dir, name), 'utf8')))
    return traceFlow((await loadSource({snapshot: dir})).world, req)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

describe('trace against the kernel: router chain a → r1 → r2 → b', () => {
  // r1: nat PREROUTING -d 10.91.1.1 -p tcp --dport 8080 -j DNAT --to-destination 10.91.3.2:80
  // r2: FORWARD policy DROP, accepting tcp dport 80 and ESTABLISHED; SNAT to 10.91.3.1:2000-3000 out of b0 (MTU 1300)

  it('follows the port a DNAT gives: the FORWARD rule for port 80 lets the connection to 8080 through', async () => {
    // kernel: a TCP connect to 10.91.1.1:8080 from a is answered by b's listener on port 80
    const t = await trace('router-chain', {src: 'a', dst: '10.91.1.1', proto: 'tcp', dport: 8080})
    expect(t.disposition).to.equal('DELIVERED')
    const dnat = t.hops[1].steps.find(s => s.kind === 'nat')!
    expect(dnat.explanation).to.contain('destination 10.91.1.1:8080 becomes 10.91.3.2:80')
    const accept = t.hops[2].steps.find(s => s.kind === 'filter')!
    expect(accept.evidence).to.equal('-A FORWARD -p tcp -m tcp --dport 80 -j ACCEPT')
    expect(t.returnPath.disposition).to.equal('DELIVERED')
  })

  it('checks the MTU before the FORWARD filter: a DF packet too big gets "fragmentation needed" although FORWARD drops it', async () => {
    // kernel: ping -M do -s 1372 from a prints "From 10.91.2.2 Frag needed and DF set (mtu = 1300)"
    const t = await trace('router-chain', {src: 'a', dst: 'b', size: 1400})
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    expect(t.failure).to.include({node: 'r2', step: 'mtu'})
    // without --size the FORWARD policy is what stops the ping
    expect((await trace('router-chain', {src: 'a', dst: 'b'})).disposition).to.equal('DENIED_BY_FILTER')
  })
})

describe('trace against the kernel: a route with an mtu metric', () => {
  // r1: 10.91.3.0/24 via 10.91.2.2 dev m0 mtu lock 1200, on a 1500-byte m0

  it('reads the mtu metric from ip -j and from ip route text', () => {
    expect(parseIpRouteJson('[{"dst":"10.91.3.0/24","gateway":"10.91.2.2","dev":"m0","flags":[],"metrics":[{"mtu":1200,"advmss":1000}]}]')[0].mtu).to.equal(1200)
    expect(parseIpRouteText('10.91.3.0/24 via 10.91.2.2 dev m0 mtu lock 1200 advmss 1000')[0]).to.include({mtu: 1200, gateway: '10.91.2.2', dev: 'm0'})
    expect(parseIpRouteText('10.91.3.0/24 via 10.91.2.2 dev m0 mtu 1400')[0].mtu).to.equal(1400)
  })

  it('reads the advmss metric from ip -j and from ip route text, locked or not', () => {
    expect(parseIpRouteJson('[{"dst":"10.91.3.0/24","gateway":"10.91.2.2","dev":"m0","flags":[],"metrics":[{"mtu":1200,"advmss":1000}]}]')[0].advmss).to.equal(1000)
    expect(parseIpRouteText('10.91.3.0/24 via 10.91.2.2 dev m0 mtu lock 1200 advmss 1000')[0]).to.include({mtu: 1200, advmss: 1000})
    expect(parseIpRouteText('10.91.3.0/24 via 10.91.2.2 dev m0 advmss lock 1100')[0].advmss).to.equal(1100)
  })

  it('checks --size against the route\'s mtu, not the device\'s', async () => {
    // kernel: ping -M do -s 1272 from a prints "From 10.91.1.1 Frag needed and DF set (mtu = 1200)";
    // after the printed fix (ip route change without the mtu) the ping passes
    const t = await trace('router-chain-route-mtu', {src: 'a', dst: 'b', size: 1300})
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    expect(t.failure).to.include({node: 'r1', step: 'mtu', evidence: '10.91.3.0/24 via 10.91.2.2 dev m0 mtu lock 1200'})
    expect(t.failure!.fix).to.deep.equal([{node: 'r1', command: 'ip route change 10.91.3.0/24 via 10.91.2.2 dev m0'}])
    expect((await trace('router-chain-route-mtu', {src: 'a', dst: 'b', size: 1200})).disposition).to.equal('DELIVERED')
  })
})

describe('trace against the kernel: REJECT and what the sender gets', () => {
  // r2 FORWARD: udp REJECT --reject-with icmp-host-prohibited, tcp dport 80 REJECT --reject-with tcp-reset;
  // b INPUT: tcp dport 22 REJECT --reject-with icmp-net-unreachable

  it('names the error and ends traceroute on the rejecting router with its flag, after its time-exceeded hop', async () => {
    // kernel: a UDP socket gets EHOSTUNREACH; traceroute -n: 10.91.1.1, 10.91.2.2, "10.91.2.2 !X"
    const t = await trace('router-chain-reject', {src: 'a', dst: 'b', proto: 'udp', dport: 53})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure!.reason).to.contain('the sender gets ICMP host prohibited ("No route to host")')
    expect(t.traceroute).to.deep.equal(['10.91.1.1', '10.91.2.2', '10.91.2.2 !X'])
  })

  it('takes a TCP reset as the answer traceroute stops at, without a flag', async () => {
    // kernel: connect() gets ECONNREFUSED
    const t = await trace('router-chain-reject', {src: 'a', dst: 'b', proto: 'tcp', dport: 80})
    expect(t.failure!.reason).to.contain('a TCP reset ("Connection refused")')
    expect(t.traceroute).to.deep.equal(['10.91.1.1', '10.91.2.2', '10.91.2.2'])
  })

  it('lists the destination with the flag of the error its INPUT chain sends', async () => {
    // kernel: connect() gets ENETUNREACH; traceroute -T -p 22 ends "10.91.3.2 !N"
    const t = await trace('router-chain-reject', {src: 'a', dst: 'b', proto: 'tcp', dport: 22})
    expect(t.failure).to.include({node: 'b', step: 'filter'})
    expect(t.failure!.reason).to.contain('ICMP network unreachable')
    expect(t.traceroute).to.deep.equal(['10.91.1.1', '10.91.2.2', '10.91.3.2 !N'])
  })
})

describe('trace against the kernel: an ECMP route', () => {
  // r1: 10.91.3.0/24 nexthop via 10.91.2.2 dev m0 nexthop via 10.91.4.3 dev y0 (both reach b);
  // the kernel sent a → b by the second (traceroute: 10.91.1.1, 10.91.4.3, 10.91.2.2, 10.91.3.2)

  it('counts the live nexthops from ip -j and from text, a dead one not', () => {
    expect(parseIpRouteJson('[{"dst":"10.91.3.0/24","flags":[],"nexthops":[{"gateway":"10.91.2.2","dev":"m0","weight":1,"flags":[]},{"gateway":"10.91.4.3","dev":"y0","weight":1,"flags":[]}]}]')[0])
      .to.include({paths: 2, gateway: '10.91.2.2', dev: 'm0'})
    expect(parseIpRouteText('10.91.3.0/24 \n\tnexthop via 10.91.2.2 dev m0 weight 1 \n\tnexthop via 10.91.4.3 dev y0 weight 1 ')[0])
      .to.include({paths: 2, gateway: '10.91.2.2', dev: 'm0'})
    const oneLeft = parseIpRouteText('10.91.3.0/24 \n\tnexthop via 10.91.2.2 dev m0 weight 1 dead linkdown\n\tnexthop via 10.91.4.3 dev y0 weight 1 ')[0]
    expect(oneLeft).to.include({gateway: '10.91.4.3'})
    expect(oneLeft.paths).to.equal(undefined)
  })

  it('traces the first path but says the kernel hashes the flow onto one, and how to ask it which', async () => {
    const t = await trace('router-chain-ecmp', {src: 'a', dst: 'b'})
    expect(t.disposition).to.equal('DELIVERED')
    const w = besidesQdiscs(t.warnings).find(x => x.code === 'ASSUMED' && x.node === 'r1')!
    expect(w.message).to.contain('multipath route with 2 nexthops')
    expect(w.message).to.contain('`ip route get 10.91.3.2 from 10.91.1.2 iif a0` on r1')
  })
})

describe('trace against the kernel: policy routing by a mark iptables sets', () => {
  // r1: mangle PREROUTING -p udp --dport 53 -j MARK --set-mark 0x10; `50: from all fwmark 0x10 lookup 200`
  // (prohibit 10.91.3.0/24); `100: from 10.91.1.2 lookup 100` (10.91.3.0/24 via r3)

  it('routes by the mark a MARK rule surely gives: UDP 53 meets the prohibit route', async () => {
    // kernel: the UDP socket gets EHOSTUNREACH; traceroute -U -p 53 prints "1 10.91.1.1 !X"
    const t = await trace('router-chain-fwmark', {src: 'a', dst: 'b', proto: 'udp', dport: 53})
    expect(t.disposition).to.equal('NULL_ROUTED')
    expect(t.failure!.evidence).to.equal('prohibit 10.91.3.0/24 table 200')
    expect(t.traceroute).to.deep.equal(['10.91.1.1 !X'])
    expect(besidesQdiscs(t.warnings.filter(w => w.code === 'ASSUMED'))).to.deep.equal([])
  })

  it('leaves a packet the MARK rule cannot match unmarked, without an assumption', async () => {
    // kernel: ping goes a → r1 → r3 → r2 → b (table 100)
    const t = await trace('router-chain-fwmark', {src: 'a', dst: 'b'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.traceroute).to.deep.equal(['10.91.1.1', '10.91.4.3', '10.91.2.2', '10.91.3.2'])
    expect(besidesQdiscs(t.warnings.filter(w => w.code === 'ASSUMED'))).to.deep.equal([])
  })
})

describe('trace against the kernel: a permanent neighbour entry with a wrong MAC', () => {
  // r1: 10.91.2.2 dev m0 lladdr 02:00:00:00:00:01 PERMANENT, while r2's m0 is ca:5a:13:f4:d0:57

  it('is where the packet dies: the receiver drops frames for another MAC; the fix puts the right one', async () => {
    // kernel: ping a → b is lost; after `ip neigh replace 10.91.2.2 lladdr <r2's m0> dev m0 nud permanent` it passes
    const t = await trace('router-chain-wrong-mac', {src: 'a', dst: 'b'})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure).to.include({node: 'r1', step: 'neigh', evidence: '10.91.2.2 dev m0 lladdr 02:00:00:00:00:01 PERMANENT'})
    expect(t.failure!.fix).to.deep.equal([{node: 'r1', command: 'ip neigh replace 10.91.2.2 lladdr ca:5a:13:f4:d0:57 dev m0 nud permanent'}])
  })
})

describe('trace against the kernel: vxlan with default (00:00:00:00:00:00) fdb entries', () => {
  // vx0 VNI 42 port 4789 on n1 (floods to n2 and n3), n2 (nolearning, static entries for n1 only),
  // n3 (floods to n1 only); addresses 10.94.0.N/24 on vx0

  it('resolves by the flooded ARP where a default entry reaches the owner', async () => {
    // kernel: ping n1 → 10.94.0.2 passes
    expect((await trace('vxlan-flood', {src: 'n1', dst: '10.94.0.2'})).disposition).to.equal('DELIVERED')
  })

  it('says the flood reaches only other hosts when no default entry points at the owner', async () => {
    // kernel: ping n3 → 10.94.0.2 is lost (the entry stays INCOMPLETE)
    const t = await trace('vxlan-flood', {src: 'n3', dst: '10.94.0.2'})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure!.reason).to.contain('ARP is flooded to the default fdb entries (10.93.0.1), none of which is n2')
    expect(t.failure!.fix.filter(f => f.node === 'n3').map(f => f.command)).to.deep.equal([
      'ip neigh replace 10.94.0.2 lladdr 02:00:00:00:01:02 dev vx0 nud permanent',
      'bridge fdb append 02:00:00:00:01:02 dev vx0 dst 10.93.0.2 self permanent',
    ])
  })
})

describe('trace against the kernel: a pod bridge that lost its address', () => {
  // n: br0 10.95.1.1/24 (q1, q2) and br1, whose 10.95.2.1/24 was deleted (q3 plugged in, default via 10.95.2.1)

  it('gives the bridge its address back, not a placeholder route or proxy ARP that answers nothing', async () => {
    // kernel: ping q1 → q3 fails (traceroute: "10.95.1.1 !N"); after `ip addr add 10.95.2.1/24 dev br1` it passes
    const t = await trace('two-bridges-bare', {src: 'q1', dst: 'q3'})
    expect(t.disposition).to.equal('NO_ROUTE')
    expect(t.traceroute).to.deep.equal(['10.95.1.1 !N'])
    expect(t.failure!.fix[0]).to.deep.equal({node: 'n', command: 'ip addr add 10.95.2.1/24 dev br1'})
    expect(t.failure!.fix.map(f => f.command).join('\n')).not.to.match(/GATEWAY|proxy_arp/)
  })
})

describe('trace against the kernel: a router with no route back', () => {
  // r2: no route to 10.91.1.0/24, rp_filter=2 (loose) on all

  it('drops by loose rp_filter and fixes with a route via the router on the link that knows the way', async () => {
    // kernel: the echo request never reaches b (tcpdump there sees nothing); after
    // `ip route replace 10.91.1.0/24 via 10.91.2.1 dev m0` on r2 the ping passes
    const t = await trace('router-chain-no-way-back', {src: 'a', dst: 'b'})
    expect(t.disposition).to.equal('REVERSE_PATH_FILTERED')
    expect(t.failure!.node).to.equal('r2')
    expect(t.failure!.fix).to.deep.equal([{node: 'r2', command: 'ip route replace 10.91.1.0/24 via 10.91.2.1 dev m0'}])
  })
})

describe('trace against the kernel: raw NOTRACK', () => {
  // r2: raw PREROUTING -p icmp -j NOTRACK; FORWARD policy DROP, accepting --ctstate NEW,ESTABLISHED; MASQUERADE out of b0

  it('leaves an untracked packet to the --ctstate rules as UNTRACKED: the policy drops it', async () => {
    // kernel: ping a → b is lost; a UDP flow (tracked) passes, masqueraded
    const t = await trace('router-chain-notrack', {src: 'a', dst: 'b'})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure!.evidence).to.equal('-P FORWARD DROP')
    expect(t.failure!.reason).to.contain('(UNTRACKED)')
    const udp = await trace('router-chain-notrack', {src: 'a', dst: 'b', proto: 'udp', dport: 53})
    expect(udp.disposition).to.equal('DELIVERED')
    expect(udp.hops[2].steps.some(s => s.verdict === 'masquerade')).to.equal(true)
  })
})

describe('trace against the kernel: an untracked reply', () => {
  // a → r → b; r: FORWARD policy DROP, accepting RELATED,ESTABLISHED and a0 → b0; raw PREROUTING -i b0 -p udp -j NOTRACK
  // (router-untracked-reply-nft: the NOTRACK as a native chain at priority raw instead)

  it('offers the NOTRACK rule\'s deletion first, the accept for the reply second: the stateful accept lets the tracked reply by', async () => {
    // kernel: the UDP exchange a → b:80 times out; after `iptables -t raw -D PREROUTING -i b0 -p udp -j NOTRACK`
    // (or `nft delete rule ip fx pre handle 2`) b's answer comes back
    for (const [snapshot, remove] of [['router-untracked-reply', 'iptables -t raw -D PREROUTING -i b0 -p udp -j NOTRACK'], ['router-untracked-reply-nft', 'nft delete rule ip fx pre handle 2']]) {
      const t = await trace(snapshot, {src: 'a', dst: 'b', proto: 'udp', dport: 80})
      expect(t.disposition).to.equal('DELIVERED')
      expect(t.returnPath.disposition).to.equal('DENIED_BY_FILTER')
      const fix = t.returnPath.failure!.fix
      expect(fix.map(f => [f.command, f.option?.choice, f.option?.recommended])).to.deep.equal([
        [remove, 1, true],
        ['iptables -I FORWARD -s 10.91.3.2 -d 10.91.1.2 -p udp --sport 80 -j ACCEPT', 2, undefined],
      ])
      expect(fix[0].option!.why).to.contain('tracked, it is ESTABLISHED')
    }
  })

  it('leaves the accept alone where no state would let the reply through', async () => {
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'router-untracked-reply')})
    const r = world.hosts.find(h => h.name === 'r')!
    const saved = readFileSync(join(SNAPSHOTS, 'router-untracked-reply', 'r', 'iptables-save.txt'), 'utf8')
    const stateless = {...r, iptables: parseIptables(saved.replace('-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n', ''))}
    const t = traceFlow({...world, hosts: world.hosts.map(h => h === r ? stateless : h)}, {src: 'a', dst: 'b', proto: 'udp', dport: 80})
    expect(t.returnPath.failure!.fix).to.deep.equal([{node: 'r', command: 'iptables -I FORWARD -s 10.91.3.2 -d 10.91.1.2 -p udp --sport 80 -j ACCEPT'}])
  })
})

describe('trace against the kernel: proxy ARP under strict rp_filter', () => {
  // a → r → b, a routing 10.91.3.0/24 on-link by eth0; r: proxy_arp and rp_filter=1 on a0, table 100 sends
  // 10.91.1.2 by b0, picked by `ip rule add iif lo to 10.91.1.2 lookup 100` (…-iif-lo) or `iif b0` (…-iif-out)

  it('checks the sender from the device the route to the target leaves by, not from lo', async () => {
    // kernel: a's ping to 10.91.3.2 is answered under the `iif lo` rule (a's entry REACHABLE at r's a0 MAC),
    // lost under `iif b0` (a's entry INCOMPLETE: r ignores the ARP)
    const lo = await trace('router-proxy-arp-rpfilter-iif-lo', {src: 'a', dst: '10.91.3.2'})
    expect(lo.disposition).to.equal('DELIVERED')
    expect(lo.hops[0].steps.find(s => s.kind === 'neigh')!.explanation).to.contain('answers ARP for it by proxy')
    const out = await trace('router-proxy-arp-rpfilter-iif-out', {src: 'a', dst: '10.91.3.2'})
    expect(out.disposition).to.equal('NEIGHBOR_MISSING')
    expect(out.failure).to.include({node: 'a', step: 'neigh'})
    expect(out.failure!.reason).to.contain('its route back to 10.91.1.2 (10.91.1.2 via 10.91.3.2 dev b0 table 100) leaves by b0, so it ignores the request')
  })
})

describe('trace against the kernel: a neighbour entry learned from the request\'s ARP', () => {
  // overlay fuzz seed 3 case 52: n1 (all.rp_filter=1) → n2's flannel.1 10.93.2.0 by the tunnel; n2 routes
  // 10.93.1.0/24 via n1's 10.92.0.1 on eth0, with no neighbour entry for it in the tables read

  it('sends the reply without ARP: n1\'s own ARP for the tunnel gave n2 the entry, and n1\'s rp_filter drops the reply', async () => {
    // kernel: the connect times out, TcpExt IPReversePathFilter counting on n1; n2 never ARPs for 10.92.0.1
    const t = await trace('overlay-reply-arp-learned-rpfilter', {src: 'n1', dst: '10.93.2.0', proto: 'tcp', dport: 80})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.equal('REVERSE_PATH_FILTERED')
    expect(t.returnPath.failure).to.include({node: 'n1', step: 'sysctl'})
    const neigh = t.returnPath.hops[0].steps.find(s => s.kind === 'neigh')!
    expect(neigh.explanation).to.equal('n1\'s ARP request on the request\'s way gave n2 an entry for its sender 10.92.0.1 (STALE): the packet goes without ARP')
  })
})

describe('trace against the kernel: conntrack matches in the raw table', () => {
  // r2 (router-chain-notrack's, its NOTRACK replaced): raw PREROUTING -p icmp -m conntrack --ctstate NEW -j DROP;
  // -p tcp -m conntrack --ctstate INVALID -j DROP

  it('reads a packet as INVALID there: raw runs before conntrack, which has not seen it yet', async () => {
    // kernel (trace-kernel-fuzz's kept cases): ping a → b is answered, the NEW rule counting nothing;
    // a TCP connect times out, the INVALID rule counting the SYN
    const ping = await trace('router-chain-raw-ctstate', {src: 'a', dst: 'b'})
    expect(ping.disposition).to.equal('DELIVERED')
    expect(ping.returnPath.disposition).to.equal('DELIVERED')
    const tcp = await trace('router-chain-raw-ctstate', {src: 'a', dst: 'b', proto: 'tcp', dport: 80})
    expect(tcp.disposition).to.equal('DENIED_BY_FILTER')
    expect(tcp.failure).to.include({node: 'r2', evidence: '-A PREROUTING -p tcp -m conntrack --ctstate INVALID -j DROP'})
  })
})

describe('trace against the kernel: NFQUEUE', () => {
  // r1 FORWARD: -p icmp -j NFQUEUE --queue-num 3; -p udp -j NFQUEUE --queue-num 4 --queue-bypass; -p udp -j DROP

  it('cannot know a user-space verdict: INSUFFICIENT_INFO naming the queue list, not a skipped rule', async () => {
    // kernel, no program listening: ping a → b is lost
    const t = await trace('router-chain-nfqueue', {src: 'a', dst: 'b'})
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure).to.include({node: 'r1', step: 'filter', evidence: '-A FORWARD -p icmp -j NFQUEUE --queue-num 3'})
    expect(t.failure!.fix).to.deep.equal([{node: 'r1', command: 'cat /proc/net/netfilter/nfnetlink_queue'}])
  })

  it('takes --queue-bypass as accepting when nothing listens, past the DROP after it, and says it assumed so', async () => {
    // kernel: the UDP flow passes (the DROP below is never reached)
    const t = await trace('router-chain-nfqueue', {src: 'a', dst: 'b', proto: 'udp', dport: 53})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.warnings.some(w => w.code === 'ASSUMED' && w.message.includes('--queue-bypass'))).to.equal(true)
  })
})

describe('trace against the kernel: NETMAP', () => {
  // r1: nat PREROUTING -d 10.99.3.0/24 -j NETMAP --to 10.91.3.0/24;
  // r2: nat POSTROUTING -s 10.91.1.0/24 -o b0 -j NETMAP --to 10.98.1.0/24 (b routes 10.98.1.0/24 back via r2)

  it('maps the prefix and keeps the host bits, on the destination before routing and the source after', async () => {
    // kernel: ping a → 10.99.3.2 passes; tcpdump on b shows 10.98.1.2 > 10.91.3.2
    const t = await trace('router-chain-netmap', {src: 'a', dst: '10.99.3.2'})
    expect(t.disposition).to.equal('DELIVERED')
    const nat = t.hops.flatMap(h => h.steps).filter(s => s.kind === 'nat').map(s => s.explanation)
    expect(nat).to.deep.equal(['PREROUTING DNAT: destination 10.99.3.2 becomes 10.91.3.2', 'POSTROUTING SNAT: source 10.91.1.2 becomes 10.98.1.2'])
    expect(t.returnPath.disposition).to.equal('DELIVERED')
  })
})

describe('trace against the kernel: routes through nexthop objects (ip nexthop, as FRR installs them)', () => {
  // r1: nexthop 10 via 10.91.2.2 dev m0; 10.91.3.0/24 nhid 10 mtu lock 1200
  // r2: nexthop 20 blackhole; 10.91.1.0/24 nhid 20 (printed `blackhole 10.91.1.0/24 nhid 20 dev lo`)

  it('reads the object from ip -j and from text', () => {
    expect(parseIpRouteJson('[{"type":"blackhole","dst":"10.91.1.0/24","nhid":20,"dev":"lo","flags":[]}]')[0]).to.include({type: 'blackhole', nhid: 20})
    expect(parseIpRouteText('10.91.3.0/24 nhid 10 via 10.91.2.2 dev m0 mtu lock 1200')[0]).to.include({nhid: 10, gateway: '10.91.2.2', mtu: 1200})
  })

  it('deletes a blackhole nexthop\'s route by its object, which the kernel holds as unicast, and routes by the router that knows the way', async () => {
    // kernel: `ip route del blackhole 10.91.1.0/24` and `ip route del 10.91.1.0/24 via …` answer
    // "No such process"; the printed fix makes b's ping to a pass
    const t = await trace('router-chain-nhid', {src: 'b', dst: 'a'})
    expect(t.disposition).to.equal('NULL_ROUTED')
    expect(t.failure!.fix).to.deep.equal([
      {node: 'r2', command: 'ip route del 10.91.1.0/24 nhid 20'},
      {node: 'r2', command: 'ip route replace 10.91.1.0/24 via 10.91.2.1 dev m0'},
    ])
  })

  it('clears the mtu of a route through a nexthop object with mtu 0: a change naming no mtu keeps it, one naming a gateway is refused', async () => {
    // kernel: ping -M do -s 1272 from a prints "From 10.91.1.1 Frag needed and DF set (mtu = 1200)";
    // `ip route change 10.91.3.0/24 nhid 10` leaves `mtu lock 1200`, `… nhid 10 via 10.91.2.2 dev m0`
    // says "Nexthop specification and nexthop id are mutually exclusive"
    const t = await trace('router-chain-nhid', {src: 'a', dst: 'b', size: 1300})
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    expect(t.failure!.fix[0]).to.deep.equal({node: 'r1', command: 'ip route change 10.91.3.0/24 nhid 10 mtu 0'})
  })
})

describe('trace against the kernel: kube-proxy\'s iptables mode, a ClusterIP to a pod on another node', () => {
  // n1, n2: host-gw style routes, pods on cni0; kube-proxy's KUBE-SERVICES → KUBE-SVC-ABC → KUBE-SEP-TWO
  // (on n1 with the one endpoint 10.60.2.2:8080; n2 keeps `-m statistic --mode random` for two)

  it('predicts traceroute -T as conntrack rewrites it: every hop from the DNAT host on answers from the Service IP', async () => {
    // kernel: traceroute -T -p 80 -n 10.96.0.10 from p1 prints 10.96.0.10 three times
    const t = await trace('kube-proxy-clusterip', {src: 'p1', dst: '10.96.0.10', proto: 'tcp', dport: 80})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops.at(-1)!.node).to.equal('p2')
    expect(t.traceroute).to.deep.equal(['10.96.0.10', '10.96.0.10', '10.96.0.10'])
  })

  it('leaves the hops before the DNAT host and a flow nothing translates as they are', async () => {
    // kernel: traceroute -T -p 8080 -n 10.60.2.2 from p1 prints 10.60.1.1, 192.168.70.2, 10.60.2.2
    const t = await trace('kube-proxy-clusterip', {src: 'p1', dst: 'p2', proto: 'tcp', dport: 8080})
    expect(t.traceroute).to.deep.equal(['10.60.1.1', '192.168.70.2', '10.60.2.2'])
  })
})

describe('trace against the kernel: vxlan over an underlay smaller than its MTU + 50', () => {
  // n1, n2: flannel.1 (MTU 1450, `df unset` as flannel makes it) over eth0 of MTU 1400; pods p1 on n1, p2 on n2

  it('reads the outer DF setting from ip -j and from text', () => {
    const text = '3: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default\n' +
      '    link/ether 02:00:00:00:01:01 brd ff:ff:ff:ff:ff:ff promiscuity 0\n' +
      '    vxlan id 1 local 192.168.80.1 dev eth0 srcport 0 0 dstport 8472 nolearning ttl auto df set ageing 300 udpcsum'
    expect(parseIpLinkText(text)[0].vxlan!.df).to.equal('set')
    expect(parseIpLinkText(text.replace('df set ', ''))[0].vxlan!.df).to.equal(undefined)
    const json = (df: string) => `[{"ifindex":3,"ifname":"flannel.1","flags":["UP"],"mtu":1450,"operstate":"UNKNOWN","link_type":"ether","address":"02:00:00:00:01:01","linkinfo":{"info_kind":"vxlan","info_data":{"id":1,"port":8472,"learning":false,"df":"${df}"}}}]`
    expect(parseIpLinkJson(json('inherit'))[0].vxlan!.df).to.equal('inherit')
    expect(parseIpLinkJson(json('unset'))[0].vxlan!.df).to.equal(undefined)
  })

  it('fragments the outer packet of a forwarded DF packet: delivered, with the fragments said', async () => {
    // kernel: ping -M do -s 1400 from p1 to p2 is answered; tcpdump on n2's eth0 shows the outer UDP packet in two fragments
    const t = await trace('vxlan-underlay-mtu', {src: 'p1', dst: 'p2', size: 1428})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.equal('DELIVERED')
    expect(t.warnings.find(w => w.code === 'ASSUMED' && w.message.includes('leaves n1 as IP fragments'))!.message).to.include('ip link set flannel.1 mtu 1350')
  })

  it('refuses the node\'s own DF packets: the tunnel lowered its route\'s path MTU', async () => {
    // kernel: ping -M do -s 1400 from n1 to p2: the first is answered, then "message too long, mtu=1350"
    const t = await trace('vxlan-underlay-mtu', {src: 'n1', dst: 'p2', size: 1428})
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    expect(t.failure!.reason).to.include('"message too long, mtu=1350"')
    expect(t.failure!.fix).to.deep.equal([{node: 'n1', command: 'ip link set flannel.1 mtu 1350'}])
  })

  it('with `df set` the pod\'s packet dies silently: a black hole, fixed by the vxlan MTU', async () => {
    // kernel: after `ip link set flannel.1 type vxlan df set` on n1, ping -M do -s 1400 from p1 gets no answer and no error;
    // after the printed fix, ping -M do -s 1300 passes and -s 1400 gets "Frag needed and DF set (mtu = 1350)"
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'vxlan-underlay-mtu')})
    world.hosts.find(n => n.name === 'n1')!.links!.find(l => l.name === 'flannel.1')!.vxlan!.df = 'set'
    const t = traceFlow(world, {src: 'p1', dst: 'p2', size: 1428})
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    expect(t.failure!.reason).to.include('no one tells 10.244.1.2')
    expect(t.failure!.fix).to.deep.equal([{node: 'n1', command: 'ip link set flannel.1 mtu 1350'}])
  })
})

describe('trace against the kernel: flannel before 0.9, whose agent answered misses', () => {
  // n1: flannel.1 with `proxy l2miss l3miss` and net.ipv4.neigh.flannel/1.app_solicit = 3, one route
  // 10.244.0.0/16 dev flannel.1; a neighbour entry for p2 (10.244.2.2) but no fdb entry for its
  // VTEP MAC, none for p2b (10.244.2.3). No agent runs: ping to either fails, and `ip monitor`
  // shows the kernel's `miss` for 10.244.2.3 and for the MAC, which an old flanneld would answer

  it('an fdb miss on an l2miss device is where the tables run out, not FDB_MISSING', async () => {
    const t = await trace('flannel-old-misses', {src: 'p1', dst: 'p2'})
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure).to.include({node: 'n1', step: 'fdb'})
    expect(t.failure!.reason).to.contain('bridge fdb append 02:00:00:00:02:01 dev flannel.1 dst 192.168.80.2 self permanent')
  })

  it('a neighbour miss sent to user space by app_solicit is too', async () => {
    const t = await trace('flannel-old-misses', {src: 'p1', dst: 'p2b'})
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure).to.include({node: 'n1', step: 'neigh'})
    expect(t.failure!.reason).to.contain('net.ipv4.neigh.flannel.1.app_solicit = 3')
    expect(t.failure!.fix.map(f => f.command)).to.deep.equal(['ping -c 1 -W 1 10.244.2.3', 'ip neigh show 10.244.2.3 dev flannel.1'])
  })
})

describe('trace against the kernel: br_netfilter\'s bridged DNAT and hairpin', () => {
  // kube-proxy-clusterip, n1: Service 10.96.0.11:80 → KUBE-SEP-ONE (p1b 10.60.1.3:8080, which marks its
  // own traffic for masquerade); NodePort 30080 → KUBE-SVC-ABC (marked for masquerade) → p2.
  // docker-published-port, d: docker0 with c1 (172.17.0.2) and c2, `-A DOCKER -p tcp --dport 8080 -j
  // DNAT --to-destination 172.17.0.2:80` for every interface (userland-proxy off), hairpin off on both ports

  it('reads a bridge port\'s hairpin mode from ip -j and from text', () => {
    const text = '4: veth1@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master docker0 state UP mode DEFAULT group default qlen 1000\n' +
      '    link/ether fa:a0:fd:6b:71:c5 brd ff:ff:ff:ff:ff:ff link-netns c1 promiscuity 1\n    veth\n' +
      '    bridge_slave state forwarding priority 32 cost 2 hairpin on guard off root_block off fastleave off learning on flood on'
    expect(parseIpLinkText(text)[0].hairpin).to.equal(true)
    expect(parseIpLinkText(text.replace('hairpin on', 'hairpin off'))[0].hairpin).to.equal(undefined)
    const json = '[{"ifindex":4,"ifname":"veth1","flags":["UP"],"mtu":1500,"master":"docker0","operstate":"UP","link_type":"ether","address":"fa:a0:fd:6b:71:c5",' +
      '"linkinfo":{"info_kind":"veth","info_slave_kind":"bridge","info_slave_data":{"state":"forwarding","hairpin":true}}}]'
    expect(parseIpLinkJson(json)[0].hairpin).to.equal(true)
  })

  it('a pod reaching itself through a Service: the bridge will not send the frame back out of its port without hairpin mode', async () => {
    // kernel: a TCP connect from p1b to 10.96.0.11:80 times out; after `bridge link set dev veth1b hairpin on` it is
    // answered, p1b seeing the connection from 10.60.1.1 (KUBE-MARK-MASQ → masquerade)
    const t = await trace('kube-proxy-clusterip', {src: 'p1b', dst: '10.96.0.11', proto: 'tcp', dport: 80})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure).to.include({node: 'n1', step: 'fdb'})
    expect(t.failure!.fix).to.deep.equal([{node: 'n1', command: 'bridge link set dev veth1b hairpin on'}])
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'kube-proxy-clusterip')})
    world.hosts.find(h => h.name === 'n1')!.links!.find(l => l.name === 'veth1b')!.hairpin = true
    const fixed = traceFlow(world, {src: 'p1b', dst: '10.96.0.11', proto: 'tcp', dport: 80})
    expect(fixed.disposition).to.equal('DELIVERED')
    expect(fixed.hops.flatMap(h => h.steps).find(s => s.verdict === 'masquerade')!.explanation).to.contain('becomes 10.60.1.1')
    expect(fixed.returnPath.hops.map(h => h.node)).to.deep.equal(['p1b', 'n1', 'p1b'])
    expect(fixed.traceroute).to.deep.equal(['10.96.0.11'])
  })

  it('a NodePort masquerades by the mark KUBE-MARK-MASQ gave in nat PREROUTING', async () => {
    // kernel: p2 sees a connection to 192.168.70.1:30080 from n2 come from 192.168.70.1; traceroute -T -p 30080 prints 192.168.70.1 three times
    const t = await trace('kube-proxy-clusterip', {src: 'n2', dst: '192.168.70.1', proto: 'tcp', dport: 30080})
    expect(t.disposition).to.equal('DELIVERED')
    const n1 = t.hops.find(h => h.node === 'n1')!
    expect(n1.steps.find(s => s.verdict === 'masquerade')!.explanation).to.contain('source 192.168.70.2 becomes 192.168.70.1')
    expect(besidesQdiscs(t.warnings.filter(w => w.code === 'ASSUMED'))).to.deep.equal([])
    expect(t.traceroute).to.deep.equal(['192.168.70.1', '192.168.70.1', '192.168.70.1'])
  })

  it('a container reaching another through the published port is switched, not routed: one traceroute hop', async () => {
    // kernel: traceroute -T -p 8080 -n 192.168.60.10 from c2 prints one line, 192.168.60.10; the connect is answered
    const t = await trace('docker-published-port', {src: 'c2', dst: '192.168.60.10', proto: 'tcp', dport: 8080})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.traceroute).to.deep.equal(['192.168.60.10'])
    // kernel: from c1 to its own published port the connect times out, until hairpin is on for veth1
    const self = await trace('docker-published-port', {src: 'c1', dst: '192.168.60.10', proto: 'tcp', dport: 8080})
    expect(self.disposition).to.equal('DENIED_BY_FILTER')
    expect(self.failure!.fix).to.deep.equal([{node: 'd', command: 'bridge link set dev veth1 hairpin on'}])
  })
})

describe('trace against the kernel: a throw route in table main', () => {
  // r1: `throw 10.91.3.0/24` instead of its route to b's subnet, no policy rules but the kernel's

  it('goes on to the default table, where nothing matches: network unreachable, as ping and traceroute say', async () => {
    // kernel: ping from a prints "From 10.91.1.1 Destination Net Unreachable"; traceroute -n: "10.91.1.1 !N";
    // after the printed fix the ping passes
    const t = await trace('router-chain-throw', {src: 'a', dst: 'b'})
    expect(t.disposition).to.equal('NO_ROUTE')
    expect(t.failure).to.include({node: 'r1', step: 'route', evidence: 'throw 10.91.3.0/24'})
    expect(t.failure!.fix).to.deep.equal([{node: 'r1', command: 'ip route replace 10.91.3.0/24 via 10.91.2.2 dev m0'}])
    expect(t.traceroute).to.deep.equal(['10.91.1.1 !N'])
  })
})

describe('trace against the kernel: a stateful firewall on the way back only', () => {
  // r2 sends the replies to a's subnet through r3 (10.91.5.3); r3: FORWARD policy DROP, accepting
  // `--ctstate RELATED,ESTABLISHED` only. r3 never sees a request.

  it('takes the echo reply, the SYN-ACK as INVALID there and a UDP answer as NEW: none is ESTABLISHED', async () => {
    // kernel: ping, a TCP connect and a UDP query from a to b all go unanswered; r3's policy counts the
    // drops, and a LOG rule for `--ctstate INVALID` sees the echo reply. After the printed fix the ping passes.
    const t = await trace('router-chain-asymmetric', {src: 'a', dst: 'b'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.returnPath.failure!.node).to.equal('r3')
    expect(t.returnPath.failure!.reason).to.contain('(INVALID)')
    expect(t.returnPath.failure!.fix).to.deep.equal([{node: 'r3', command: 'iptables -I FORWARD -s 10.91.3.2 -d 10.91.1.2 -p icmp -j ACCEPT'}])
    expect((await trace('router-chain-asymmetric', {src: 'a', dst: 'b', proto: 'tcp', dport: 80})).returnPath.failure!.reason).to.contain('(INVALID)')
    expect((await trace('router-chain-asymmetric', {src: 'a', dst: 'b', proto: 'udp', dport: 53})).returnPath.failure!.reason).to.contain('(NEW)')
  })
})

describe('trace against the kernel: a routing loop between two routers', () => {
  // router-chain-loop: a → r1 → r2 → r3 → b; r1 routes 10.91.3.0/24 via r2 (10.91.2.2), r2 back via
  // r1 (10.91.2.1) instead of via r3 (10.91.4.3). router-chain-loop-two-ways: r1 also has a link to
  // r3 (p0, 10.91.6.0/24), so r1's route could as well be the wrong one.

  it('changes the route of the router that points the wrong way, not both', async () => {
    // kernel: ping from a gets "Time to live exceeded" from 10.91.2.2; after the printed fix on r2 the
    // ping passes; deleting both routes (the old fix) gives "Destination Net Unreachable" from r1
    const t = await trace('router-chain-loop', {src: 'a', dst: 'b'})
    expect(t.disposition).to.equal('LOOP')
    // kernel: traceroute -n -q 1 prints 10.91.1.1 and 10.91.2.2 in turn up to hop 30 (with * from
    // hop 13 while each router's ICMP rate limit holds its answers back)
    expect(t.traceroute).to.have.length(30)
    expect(t.traceroute.every((hop, i) => hop === (i % 2 === 0 ? '10.91.1.1' : '10.91.2.2'))).to.equal(true)
    expect(renderTrace(t, {color: false})).to.contain('Traceroute:  10.91.1.1  10.91.2.2  10.91.1.1  … repeating to hop 30 (each router\'s ICMP rate limit')
    expect(t.failure!.fix).to.deep.equal([{node: 'r2', command: 'ip route replace 10.91.3.0/24 via 10.91.4.3 dev n0'}])
    expect(t.failure!.reason).to.contain('r2\'s `10.91.3.0/24 via 10.91.2.1 dev m0` is the one that points the wrong way')
  })

  it('says so when either router\'s change would do, and changes one', async () => {
    // kernel: either printed change alone makes the ping pass
    const t = await trace('router-chain-loop-two-ways', {src: 'a', dst: 'b'})
    expect(t.failure!.fix).to.deep.equal([{node: 'r2', command: 'ip route replace 10.91.3.0/24 via 10.91.4.3 dev n0'}])
    expect(t.failure!.reason).to.contain('which route points the wrong way is not in the tables')
      .and.contain('`ip route replace 10.91.3.0/24 via 10.91.6.3 dev p0` on r1')
  })

  it('keeps to the request when the reply fails for a fault of its own, whose fix comes after', async () => {
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'router-chain-loop')})
    const r3 = world.hosts.find(h => h.name === 'r3')!
    r3.routes = r3.routes!.filter(r => r.dst !== '10.91.1.0/24')
    const t = traceFlow(world, {src: 'a', dst: 'b'})
    expect(t.failure!.fix).to.deep.equal([
      {node: 'r2', command: 'ip route replace 10.91.3.0/24 via 10.91.4.3 dev n0'},
      {node: 'r3', command: 'ip route replace 10.91.1.0/24 via 10.91.4.2 dev n0'},
    ])
  })

  it('mends a loop on the way back the same way, and the routers in it stay silent in traceroute', async () => {
    // router-chain-reply-loop: r2 routes 10.91.3.0/24 via r3 (right) and 10.91.1.0/24 via r3 too
    // (wrong: r3 sends it back). kernel: ping from a unanswered; traceroute -n: 10.91.1.1, *, *, …
    // (r2's and r3's time exceeded loop as the replies do); after the printed fix on r2 the ping
    // passes and traceroute -n prints 10.91.1.1, 10.91.2.2, 10.91.4.3, 10.91.3.2
    const t = await trace('router-chain-reply-loop', {src: 'a', dst: 'b'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.equal('LOOP')
    expect(t.returnPath.failure!.fix).to.deep.equal([{node: 'r2', command: 'ip route replace 10.91.1.0/24 via 10.91.2.1 dev m0'}])
    expect(t.traceroute).to.deep.equal(['10.91.1.1', '*', '*', '*'])
  })

  it('a packet routed back to its own sender: the martian drop there is mended at the route that points the wrong way, not by accept_local', async () => {
    // r2's own packet to r1 goes to r3 (r2's wrong route), which sends it back: r2 drops it as a martian
    // source. accept_local on would only let it round again; r2's route via m0 alone gets it through
    const t = await trace('router-chain-reply-loop', {src: 'r2', dst: 'r1'})
    expect(t.disposition).to.equal('REVERSE_PATH_FILTERED')
    expect(t.failure).to.include({node: 'r2', step: 'sysctl'})
    expect(t.failure!.reason).to.contain('r2\'s `10.91.1.0/24 via 10.91.4.3 dev n0` is the one that points the wrong way')
    expect(t.failure!.fix).to.deep.equal([{node: 'r2', command: 'ip route replace 10.91.1.0/24 via 10.91.2.1 dev m0'}])
  })

  it('asks for a gateway when no single change gets the packet through', async () => {
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'router-chain-loop')})
    world.hosts.find(h => h.name === 'r3')!.sysctls!['net.ipv4.ip_forward'] = '0'
    const t = traceFlow(world, {src: 'a', dst: 'b'})
    expect(t.failure!.fix[0]).to.deep.equal({node: 'r2', command: 'ip route replace 10.91.3.0/24 via GATEWAY dev DEVICE'})
    expect(t.failure!.reason).to.contain('no change of one route to a host read gets the packet through')
  })
})

describe('trace against the kernel: one host read, the next one not', () => {
  // one-host-vxlan: `flannelctl collect` inside n1 of a 2-node vxlan lab, after a ping from pod-1a
  // (10.244.71.2) to pod-2a (10.244.88.2) left n2's underlay address in n1's neighbours (DELAY).

  it('ends where the next host\'s tables are needed, naming the trace that reads it too, with one neigh step', async () => {
    // kernel: the ping passes; the trace run again with an inventory naming n1 and n2 (netns:) says DELIVERED
    const t = await trace('one-host-vxlan', {src: '10.244.71.2', dst: '10.244.88.2'})
    expect(t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(t.failure!.reason).to.contain('192.168.100.12 (f6:5d:a2:8f:c6:e7, DELAY) answers on eth0').and.contain('read it too')
    expect(t.failure!.fix).to.deep.equal([{node: 'vm', command: 'flannelctl trace 10.244.71.2 10.244.88.2 --inventory hosts.yaml'}])
    const neigh = t.hops[0].steps.filter(s => s.kind === 'neigh')
    expect(neigh.map(s => s.verdict)).to.deep.equal(['ok', 'unknown'])
    expect(neigh[0].evidence).to.not.equal(neigh[1].evidence)
    expect((await trace('one-host-vxlan', {src: '10.244.71.2', dst: '10.244.88.2', proto: 'tcp', dport: 80})).failure!.fix[0].command)
      .to.equal('flannelctl trace 10.244.71.2 10.244.88.2 --proto tcp --dport 80 --inventory hosts.yaml')
  })
})

describe('trace against the kernel: a router\'s time exceeded on its way back to the prober', () => {
  // router-chain-asymmetric: r2 sends what it has for a's subnet through r3, whose FORWARD accepts
  // `--ctstate RELATED,ESTABLISHED` only; r3 never sees a probe, so r2's ICMP error is INVALID there.
  async function world(edit?: (hosts: Map<string, HostSnapshot>) => void) {
    const {world: w} = await loadSource({snapshot: join(SNAPSHOTS, 'router-chain-asymmetric')})
    edit?.(new Map(w.hosts.map(h => [h.name, h])))
    return w
  }
  function addRule(host: HostSnapshot, chain: string, spec: string, where: 'head' | 'tail' = 'tail') {
    const rule = {table: 'filter', chain, spec, raw: `-A ${chain} ${spec}`}
    if (where === 'head') host.iptables!.rules.unshift(rule)
    else host.iptables!.rules.push(rule)
  }

  it('prints * for the router whose error the firewall on the way back drops, and says why', async () => {
    // kernel: traceroute -n (and -I) from a: 10.91.1.1, *, * (the echo reply is INVALID at r3 too)
    const t = traceFlow(await world(), {src: 'a', dst: 'b'})
    expect(t.traceroute).to.deep.equal(['10.91.1.1', '*', '*'])
    const lost = t.warnings.find(x => x.node === 'r2' && x.code === 'NO_RETURN_ROUTE')!
    expect(lost.message).to.contain('at r3 (DENIED_BY_FILTER)').and.contain('(INVALID)')
  })

  it('prints the router once r3 lets ICMP through, from the address of its route back', async () => {
    // kernel: after `iptables -I FORWARD -p icmp -j ACCEPT` on r3: 10.91.1.1, 10.91.5.2, 10.91.3.2
    const t = traceFlow(await world(h => addRule(h.get('r3')!, 'FORWARD', '-p icmp -j ACCEPT', 'head')), {src: 'a', dst: 'b'})
    expect(t.traceroute).to.deep.equal(['10.91.1.1', '10.91.5.2', '10.91.3.2'])
  })

  it('lets the router\'s own OUTPUT chain drop its error', async () => {
    // kernel: `iptables -A OUTPUT -p icmp -m icmp --icmp-type 11 -j DROP` on r1: traceroute -I prints * for r1
    const t = traceFlow(await world(h => addRule(h.get('r1')!, 'OUTPUT', '-p icmp -m icmp --icmp-type 11 -j DROP')), {src: 'a', dst: 'b'})
    expect(t.traceroute[0]).to.equal('*')
    expect(besidesQdiscs(t.warnings).find(x => x.node === 'r1')!.message).to.contain('OUTPUT')
  })

  it('says a hop is a guess when its error leaves the hosts read', async () => {
    const w = await world()
    const t = traceFlow({...w, hosts: w.hosts.filter(h => h.name !== 'r3'), partial: true}, {src: 'a', dst: 'b'})
    expect(t.traceroute[1]).to.equal('10.91.5.2')
    expect(besidesQdiscs(t.warnings).find(x => x.node === 'r2' && x.code === 'ASSUMED')!.message).to.contain('is unknown')
  })
})

describe('trace against the kernel: a router whose ARP for the next hop goes unanswered', () => {
  // router-chain-onlink, r1: `10.91.3.0/24 via 10.91.9.9 dev m0 onlink`, an address nothing has;
  // vxlan-neigh-failed, n1: its entry for n2's 10.244.2.0 on flannel.1 deleted (FAILED after a ping)

  it('answers the sender with host unreachable once ARP gives up: traceroute shows the router again, with !H', async () => {
    // kernel: ping from a prints "From 10.91.1.1 … Destination Host Unreachable"; traceroute -n: 10.91.1.1, "10.91.1.1 !H"
    const t = await trace('router-chain-onlink', {src: 'a', dst: 'b'})
    expect(t.disposition).to.equal('NEXT_HOP_NOT_ONLINK')
    expect(t.failure!.reason).to.contain('ICMP host unreachable ("No route to host")')
    expect(t.traceroute).to.deep.equal(['10.91.1.1', '10.91.1.1 !H'])
  })

  it('does so for a vxlan device\'s neighbour too', async () => {
    // kernel: ping from p1 prints "From 10.244.1.1 … Destination Host Unreachable"; traceroute -n: 10.244.1.1, "10.244.1.1 !H"
    const t = await trace('vxlan-neigh-failed', {src: 'p1', dst: 'p2'})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.traceroute).to.deep.equal(['10.244.1.1', '10.244.1.1 !H'])
  })
})

describe('trace against the kernel: a pod whose route leaves by a veth looped back into the pod', () => {
  // pod-looped-veth (a vxlan lab), pod-1a: `ip link add d0 type veth peer name d1` (both ends in
  // the pod) and `ip route add 192.168.100.11/32 dev d0`, n1's own underlay address

  it('is NEIGHBOR_MISSING on d0, not delivered to n1 by the pod\'s eth0; deleting the route is the fix', async () => {
    // kernel: ping 192.168.100.11 from pod-1a is lost, `ip neigh` shows it INCOMPLETE on d0; after
    // `ip route del 192.168.100.11` it is answered
    const t = await trace('pod-looped-veth', {src: 'pod-1a', dst: '192.168.100.11'})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure).to.include({node: 'pod-1a', step: 'neigh'})
    expect(t.failure!.reason).to.contain('d0 is a veth whose other end, d1, is in pod-1a too')
    expect(t.failure!.fix).to.deep.equal([{node: 'pod-1a', command: 'ip route del 192.168.100.11'}])
    // kernel (the same in a namespace of its own: d0/d1 looped, a /32 route by d0): ping prints "From
    // <its own address> … Destination Host Unreachable", traceroute -n -I `1 <its own address> !H`
    expect(t.traceroute).to.deep.equal(['10.244.85.2 !H'])
    // the pod's other routes still go by eth0 to its node
    expect((await trace('pod-looped-veth', {src: 'pod-1a', dst: 'pod-2a'})).disposition).to.equal('DELIVERED')
  })
})

describe('trace against the kernel: a REJECT that stops only what comes back (a lab collected as ip -j)', () => {
  // n2 FORWARD: -s 10.244.19.2 -d 10.244.96.2 -j REJECT (pod-2a's replies to pod-1a);
  // n1 FORWARD: -p icmp --icmp-type time-exceeded -j REJECT (every hop's time exceeded on its way to pod-1a)

  it('tells the replier, not the prober, of a rejected reply: ping, a UDP answer and traceroute\'s last hop go unanswered', async () => {
    // kernel: ping and a UDP query from pod-1a time out; tcpdump in pod-2a shows n2 (10.244.19.1)
    // sending it "port unreachable" about its echo reply and its UDP answer; traceroute -n, -I and
    // -T -p 80 print 10.244.96.1, then `*` (n1's REJECT), and `*` for pod-2a
    for (const proto of ['icmp', 'udp', 'tcp'] as const) {
      const t = await trace('lab-reject-return', {src: 'pod-1a', dst: 'pod-2a', proto, ...(proto === 'icmp' ? {} : {dport: 80})})
      expect(t.disposition, proto).to.equal('DELIVERED')
      expect(t.traceroute, proto).to.deep.equal(['10.244.96.1', '*', '*'])
      expect(t.returnPath.failure, proto).to.include({node: 'n2', step: 'filter'})
      expect(t.returnPath.failure!.reason, proto).to.contain('10.244.19.2, the reply\'s sender, gets ICMP port unreachable; 10.244.96.2 hears nothing and times out')
      expect(t.returnPath.failure!.reason, proto).not.to.contain('the sender gets')
    }
  })

  it('says a rejected ICMP error is answered by nobody: traceroute prints `*` for the hop whose time exceeded it stops', async () => {
    const t = await trace('lab-reject-return', {src: 'pod-1a', dst: 'pod-2a', proto: 'udp', dport: 80})
    const lost = t.warnings.find(w => w.code === 'NO_RETURN_ROUTE' && w.message.startsWith('n2\'s time exceeded'))!
    expect(lost.message).to.contain('FORWARD on n1 rejects icmp 10.244.19.0 → 10.244.96.2 (RELATED)')
    expect(lost.message).to.contain('an ICMP error is never answered with another, so nobody hears of it')
  })
})

describe('trace against the kernel: UDP to a port nothing listens on (labs collected as ip -j)', () => {
  // lab-udp-unreachable-pods: pod-2a OUTPUT `-p icmp --icmp-type port-unreachable -j DROP`;
  // pod-1a OUTPUT `-p udp --sport 5001 -j DROP`. lab-udp-unreachable-host: n1 FORWARD
  // `-p icmp --icmp-type port-unreachable -j DROP`
  /** UDP to port 5001, whose traceroute line is checked; and the warning about the port unreachable */
  async function udpTo5001(snapshot: string, src: string, dst: string, traceroute: string[]) {
    const t = await trace(snapshot, {src, dst, proto: 'udp', dport: 5001})
    expect(t.traceroute, `${src} → ${dst}`).to.deep.equal(traceroute)
    return {t, warning: t.warnings.find(x => x.code === 'ASSUMED' && x.message.includes('port unreachable'))!}
  }

  it('follows the port unreachable, not the UDP answer, for traceroute\'s last line, and says the sender waits when it is lost', async () => {
    // kernel: a UDP query from pod-1a to pod-2a:5001 times out (no "connection refused"); traceroute -U -p 5001
    // prints `*` for pod-2a; ping passes
    const {t, warning: w} = await udpTo5001('lab-udp-unreachable-pods', 'pod-1a', 'pod-2a', ['10.244.96.1', '10.244.19.0', '*'])
    expect(t.returnPath.disposition).to.equal('DELIVERED')
    expect(w.node).to.equal('pod-2a')
    expect(w.message).to.match(/lost on its way back: OUTPUT on pod-2a drops .* \(`-A OUTPUT -p icmp -m icmp --icmp-type 3\/3 -j DROP`\); the sender then waits/)
    expect(w.message).to.contain('the sender then waits instead of "connection refused"')
    expect(w.message).to.contain('`ss -lnu \'sport = :5001\'` on pod-2a shows whether one listens')
    const ping = await trace('lab-udp-unreachable-pods', {src: 'pod-1a', dst: 'pod-2a'})
    expect(ping.traceroute.at(-1)).to.equal('10.244.19.2')
    expect(ping.warnings.filter(x => x.code === 'ASSUMED')).to.deep.equal([])
  })

  it('prints the destination when its port unreachable gets back past a rule that stops the UDP answer', async () => {
    // kernel: pod-2a → pod-1a:5001 gets "connection refused" with no listener, waits with one (its
    // answer is dropped: EPERM); traceroute -U -p 5001 prints 10.244.96.2
    const {t, warning: w} = await udpTo5001('lab-udp-unreachable-pods', 'pod-2a', 'pod-1a', ['10.244.19.1', '10.244.96.0', '10.244.96.2'])
    expect(t.returnPath.failure).to.include({node: 'pod-1a', step: 'filter'})
    expect(w.message).to.contain('gets back to 10.244.19.2 past what stops the answer at pod-1a (`-A OUTPUT -p udp -m udp --sport 5001 -j DROP`)')
  })

  it('sees a host on the way back drop the port unreachable, RELATED there, while the UDP answer passes', async () => {
    // kernel: pod-1a → pod-2a:5001 times out, traceroute -U -p 5001 prints `*` for pod-2a
    const {t, warning: w} = await udpTo5001('lab-udp-unreachable-host', 'pod-1a', 'pod-2a', ['10.244.96.1', '10.244.19.0', '*'])
    expect([t.returnPath.disposition, w.node]).to.deep.equal(['DELIVERED', 'n1'])
    expect(w.message).to.contain('FORWARD on n1 drops icmp 10.244.19.2 → 10.244.96.2 (RELATED)')
  })
})

describe('trace against the kernel: a pod whose MTU is larger than flannel.1\'s (a lab collected as ip -j)', () => {
  // n1: pod-1a's eth0 and its host veth at MTU 1500, cni0 and flannel.1 at 1450

  it('with DF the node answers "fragmentation needed" from its cni0 address: no silent drop', async () => {
    // kernel: ping -M do -s 1472 prints "From 10.244.96.1 Frag needed and DF set (mtu = 1450)";
    // traceroute -F -n 10.244.19.2 1500 prints 10.244.96.1, then "10.244.96.1 !F-1450"
    for (const proto of ['icmp', 'udp'] as const) {
      const t = await trace('lab-pod-mtu-over-vxlan', {src: 'pod-1a', dst: 'pod-2a', proto, size: 1500, ...(proto === 'icmp' ? {} : {dport: 80})})
      expect(t.disposition, proto).to.equal('MTU_EXCEEDED')
      expect(t.failure, proto).to.include({node: 'n1', step: 'mtu'})
      expect(t.failure!.reason, proto).to.contain('does not fit flannel.1\'s MTU 1450; with DF set it is dropped and the sender told "fragmentation needed"')
      expect(t.traceroute, proto).to.deep.equal(['10.244.96.1', '10.244.96.1 !F-1450'])
    }
  })

  it('TCP never sends the 1500-byte segment: pod-2a\'s SYN-ACK announces MSS 1410, so the segments fit flannel.1', async () => {
    // kernel: a python3 client in pod-1a sends 8 KB to a listener in pod-2a: delivered, TCP_MAXSEG 1398 (1410 less timestamps)
    const t = await trace('lab-pod-mtu-over-vxlan', {src: 'pod-1a', dst: 'pod-2a', proto: 'tcp', dport: 80, size: 1500})
    expect(t.disposition).to.equal('DELIVERED')
    const sent = t.hops[0].steps.find(s => s.kind === 'mtu')!
    expect(sent.verdict).to.equal('ok')
    expect(sent.explanation).to.equal('TCP sends no 1500-byte packet: 10.244.19.2 announces MSS 1410 in its SYN-ACK (eth0\'s MTU 1450 on pod-2a), below what eth0\'s MTU 1500 allows, so pod-1a sends the data as segments of at most 1450 bytes (MSS 1410); traced on with that size')
    expect(t.hops.find(h => h.node === 'n1')!.steps.find(s => s.kind === 'mtu')!.explanation).to.equal('the 1450-byte packet fits flannel.1\'s MTU 1450')
  })

  it('without DF (--no-df) the node fragments it into flannel.1, and the echo reply comes back', async () => {
    // kernel: ping -M dont -s 1472 gets its 1480-byte reply; traceroute -n 10.244.19.2 1500 (no -F)
    // prints 10.244.96.1, 10.244.19.0, 10.244.19.2
    const t = await trace('lab-pod-mtu-over-vxlan', {src: 'pod-1a', dst: 'pod-2a', size: 1500, noDf: true})
    expect(t.flow).to.deep.equal({proto: 'icmp', size: 1500, df: false})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.equal('DELIVERED')
    const mtu = t.hops.find(h => h.node === 'n1')!.steps.find(s => s.kind === 'mtu')!
    // kernel: the echo request reached pod-2a as 1444 + 76 (each payload but the last a multiple of 8), not 1450 + 70
    expect(mtu.explanation).to.equal('the 1500-byte packet does not fit flannel.1\'s MTU 1450: it has no DF, so n1 sends it as 2 fragments of at most 1444 bytes (every payload but the last a multiple of 8 bytes); traced on with the largest')
    expect(t.hops.find(h => h.node === 'pod-2a')!.steps.find(s => s.kind === 'mtu')?.explanation ?? t.hops.find(h => h.node === 'n2')!.steps.find(s => s.kind === 'mtu')!.explanation).to.match(/^the 1444-byte packet fits/)
    expect(t.traceroute).to.deep.equal(['10.244.96.1', '10.244.19.0', '10.244.19.2'])
  })

  it('refuses --no-df without --size', async () => {
    let error: Error | undefined
    try {
      await trace('lab-pod-mtu-over-vxlan', {src: 'pod-1a', dst: 'pod-2a', noDf: true})
    } catch (e) {
      error = e as Error
    }
    expect(error?.message).to.equal('--no-df needs --size')
  })
})

describe('trace against the kernel: a router that forwards on one side only (a two-segment lab collected as ip -j)', () => {
  // rt: net.ipv4.conf.eth2.forwarding = 0 (n2's side), ip_forward still 1; n2 lost its default route

  it('does not name the router as the gateway for a route it would not forward by, nor the tunnel for an underlay address', async () => {
    // kernel: pod-2a's ping dies at n2 (no route for the outer packet to 192.168.100.11); after
    // `ip route replace 192.168.100.0/24 via 192.168.200.1 dev eth0` on n2 it still dies, at rt (eth2 does not forward)
    const t = await trace('lab-router-dev-forwarding-off', {src: 'pod-2a', dst: 'pod-1a'})
    expect(t.disposition).to.equal('NO_ROUTE')
    expect(t.failure).to.include({node: 'n2'})
    expect(t.failure!.fix).to.deep.equal([{node: 'n2', command: 'ip route replace 192.168.100.11 via GATEWAY dev DEVICE'}])
    expect(t.traceroute).to.deep.equal(['10.244.53.1'])
  })

  it('names the router once its receiving side forwards', async () => {
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'lab-router-dev-forwarding-off')})
    const rt = world.hosts.find(h => h.name === 'rt')!
    rt.sysctls = {...rt.sysctls, 'net.ipv4.conf.eth2.forwarding': '1'}
    const t = traceFlow(world, {src: 'pod-2a', dst: 'pod-1a'})
    expect(t.failure!.fix).to.deep.equal([{node: 'n2', command: 'ip route replace 192.168.100.0/24 via 192.168.200.1 dev eth0'}])
  })

  it('sees the reply and every time exceeded from n2 lost there: traceroute prints `*` after n1', async () => {
    // kernel: pod-1a's ping goes unanswered; traceroute -n prints 10.244.39.1, then `*`
    const t = await trace('lab-router-dev-forwarding-off', {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath).to.deep.include({disposition: 'NO_ROUTE'})
    expect(t.traceroute).to.deep.equal(['10.244.39.1', '*', '*'])
  })
})

describe('trace against the kernel: a pod reaching itself through its own node\'s port (a lab collected as ip -j)', () => {
  // n1: nat PREROUTING -d 192.168.100.11 -p tcp --dport 8080 -j DNAT --to-destination 10.244.24.2:80 (pod-1a);
  // pod-1a's bridge port has hairpin on, br_netfilter is on; nothing masquerades 10.244.24.2 → 10.244.24.2

  it('is dropped by the pod as a martian source, not delivered; the fix masquerades on the DNAT node', async () => {
    // kernel: connect() from pod-1a to 192.168.100.11:8080 times out though a listener waits on port 80;
    // tcpdump in pod-1a shows the SYN come back as 10.244.24.2 → 10.244.24.2:80, IpInReceives counts it,
    // and no SYN-ACK leaves; traceroute -T -p 8080 prints `*` only. After the printed MASQUERADE the
    // connect succeeds (the listener sees 10.244.24.1) and traceroute -T prints 192.168.100.11.
    const t = await trace('lab-hairpin-node-port', {src: 'pod-1a', dst: '192.168.100.11', proto: 'tcp', dport: 8080})
    expect(t.disposition).to.equal('REVERSE_PATH_FILTERED')
    expect(t.failure).to.include({node: 'pod-1a', step: 'sysctl', evidence: 'net.ipv4.conf.eth0.accept_local = 0'})
    expect(t.failure!.reason).to.contain('an address of pod-1a itself (n1\'s DNAT `-A PREROUTING -d 192.168.100.11/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.244.24.2:80`')
    expect(t.failure!.fix).to.deep.equal([{node: 'n1', command: 'iptables -t nat -I POSTROUTING -s 10.244.24.2/32 -d 10.244.24.2/32 -j MASQUERADE'}])
    expect(t.traceroute).to.deep.equal([])
    expect(t.warnings.filter(w => w.code === 'ASSUMED')).to.deep.equal([])
  })

  it('delivers once the fix masquerades it, in one bridged hop', async () => {
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'lab-hairpin-node-port')})
    const n1 = world.hosts.find(h => h.name === 'n1')!
    const spec = '-s 10.244.24.2/32 -d 10.244.24.2/32 -j MASQUERADE'
    n1.iptables!.rules.unshift({table: 'nat', chain: 'POSTROUTING', spec, raw: `-A POSTROUTING ${spec}`})
    const t = traceFlow(world, {src: 'pod-1a', dst: '192.168.100.11', proto: 'tcp', dport: 8080})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.traceroute).to.deep.equal(['192.168.100.11'])
  })

  it('takes accept_local a snapshot lacks as the kernel\'s default 0, and says so', async () => {
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'lab-hairpin-node-port')})
    const pod = world.hosts.find(h => h.name === 'pod-1a')!
    pod.sysctls = Object.fromEntries(Object.entries(pod.sysctls!).filter(([k]) => !k.includes('accept_local')))
    const t = traceFlow(world, {src: 'pod-1a', dst: '192.168.100.11', proto: 'tcp', dport: 8080})
    expect(t.failure).to.include({node: 'pod-1a', evidence: '(assumed: accept_local = 0)'})
    expect(t.warnings.find(w => w.code === 'ASSUMED')!.message).to.contain('`sysctl net.ipv4.conf.all.accept_local net.ipv4.conf.eth0.accept_local` on pod-1a tells')
  })
})

describe('trace on a bridge with VLAN filtering (not in this kernel: CONFIG_BRIDGE_VLAN_FILTERING is off)', () => {
  // `ip link set cni0 type bridge vlan_filtering 1` answers "Operation not supported" on the lab's kernel, so
  // the drop (a port without the frame's VLAN: `bridge vlan del dev veth… vid 1`) could not be watched; the
  // trace cannot see `bridge vlan` (not collected) and says what it assumed, naming the command that tells
  const CNI0_JSON = "[{\"ifindex\":3,\"ifname\":\"cni0\",\"flags\":[\"BROADCAST\",\"MULTICAST\",\"UP\",\"LOWER_UP\"],\"mtu\":1450,\"qdisc\":\"noqueue\",\"operstate\":\"UP\",\"linkmode\":\"DEFAULT\",\"group\":\"default\",\"txqlen\":1000,\"link_type\":\"ether\",\"address\":\"46:6a:5a:4b:8a:cf\",\"broadcast\":\"ff:ff:ff:ff:ff:ff\",\"promiscuity\":0,\"allmulti\":0,\"min_mtu\":68,\"max_mtu\":65535,\"linkinfo\":{\"info_kind\":\"bridge\",\"info_data\":{\"forward_delay\":1500,\"hello_time\":200,\"max_age\":2000,\"ageing_time\":30000,\"stp_state\":0,\"priority\":32768,\"vlan_filtering\":0,\"bridge_id\":\"8000.46:6a:5a:4b:8a:cf\",\"root_id\":\"8000.46:6a:5a:4b:8a:cf\",\"root_port\":0,\"root_path_cost\":0,\"topology_change\":0,\"topology_change_detected\":0,\"hello_timer\":0.00,\"tcn_timer\":0.00,\"topology_change_timer\":0.00,\"gc_timer\":76.37,\"group_fwd_mask\":\"0\",\"group_addr\":\"01:80:c2:00:00:00\",\"mcast_snooping\":1,\"no_linklocal_learn\":0,\"mcast_vlan_snooping\":0,\"mcast_router\":1,\"mcast_query_use_ifaddr\":0,\"mcast_querier\":0,\"mcast_hash_elasticity\":16,\"mcast_hash_max\":4096,\"mcast_last_member_cnt\":2,\"mcast_startup_query_cnt\":2,\"mcast_last_member_intvl\":100,\"mcast_membership_intvl\":26000,\"mcast_querier_intvl\":25500,\"mcast_query_intvl\":12500,\"mcast_query_response_intvl\":1000,\"mcast_startup_query_intvl\":3124,\"mcast_stats_enabled\":0,\"mcast_igmp_version\":2,\"mcast_mld_version\":1,\"nf_call_iptables\":0,\"nf_call_ip6tables\":0,\"nf_call_arptables\":0}},\"inet6_addr_gen_mode\":\"eui64\",\"num_tx_queues\":1,\"num_rx_queues\":1,\"gso_max_size\":65536,\"gso_max_segs\":65535,\"tso_max_size\":524280,\"tso_max_segs\":65535,\"gro_max_size\":65536}]"
  const CNI0_TEXT = "3: cni0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP mode DEFAULT group default qlen 1000\n    link/ether 46:6a:5a:4b:8a:cf brd ff:ff:ff:ff:ff:ff promiscuity 0  allmulti 0 minmtu 68 maxmtu 65535 \n    bridge forward_delay 1500 hello_time 200 max_age 2000 ageing_time 30000 stp_state 0 priority 32768 vlan_filtering 0 bridge_id 8000.46:6a:5a:4b:8a:cf designated_root 8000.46:6a:5a:4b:8a:cf root_port 0 root_path_cost 0 topology_change 0 topology_change_detected 0 hello_timer    0.00 tcn_timer    0.00 topology_change_timer    0.00 gc_timer   76.37 group_fwd_mask 0 group_address 01:80:c2:00:00:00 mcast_snooping 1 no_linklocal_learn 0 mcast_vlan_snooping 0 mcast_router 1 mcast_query_use_ifaddr 0 mcast_querier 0 mcast_hash_elasticity 16 mcast_hash_max 4096 mcast_last_member_count 2 mcast_startup_query_count 2 mcast_last_member_interval 100 mcast_membership_interval 26000 mcast_querier_interval 25500 mcast_query_interval 12500 mcast_query_response_interval 1000 mcast_startup_query_interval 3124 mcast_stats_enabled 0 mcast_igmp_version 2 mcast_mld_version 1 nf_call_iptables 0 nf_call_ip6tables 0 nf_call_arptables 0 addrgenmode eui64 numtxqueues 1 numrxqueues 1 gso_max_size 65536 gso_max_segs 65535 tso_max_size 524280 tso_max_segs 65535 gro_max_size 65536 "

  it('reads vlan_filtering from ip -d -j link and ip -d link (the lab\'s cni0, turned on)', () => {
    expect(parseIpLinkJson(CNI0_JSON)[0].vlanFiltering).to.equal(undefined)
    const on = parseIpLinkJson(CNI0_JSON.replace('"vlan_filtering":0', '"vlan_filtering":1'))[0]
    expect(on.vlanFiltering).to.equal(true)
    expect(on.raw).to.contain('bridge vlan_filtering 1')
    expect(parseIpLinkText(CNI0_TEXT)[0].vlanFiltering).to.equal(undefined)
    expect(parseIpLinkText(CNI0_TEXT.replace('vlan_filtering 0', 'vlan_filtering 1'))[0].vlanFiltering).to.equal(true)
  })

  it('warns ASSUMED, naming `bridge -j vlan show`, on every crossing of such a bridge: routed in, routed out, hairpinned', async () => {
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'lab-hairpin-node-port')})
    world.hosts.find(h => h.name === 'n1')!.links!.find(l => l.name === 'cni0')!.vlanFiltering = true
    const flows = [
      {src: 'pod-1a', dst: 'pod-2a'}, {src: 'pod-2a', dst: 'pod-1a'}, {src: 'n1', dst: 'pod-1a'},
      {src: 'pod-1a', dst: '192.168.100.11', proto: 'tcp' as const, dport: 8080},
    ]
    for (const req of flows) {
      const t = traceFlow(world, req)
      const w = t.warnings.find(x => x.code === 'ASSUMED' && x.message.includes('vlan_filtering 1'))
      expect(w, `${req.src} → ${req.dst}`).to.not.equal(undefined)
      expect(w!.node).to.equal('n1')
      expect(w!.message).to.contain('`bridge -j vlan show` on n1 tells')
    }
    // off, nothing is said
    const plain = await trace('lab-hairpin-node-port', {src: 'pod-1a', dst: 'pod-2a'})
    expect(plain.warnings.filter(x => x.message.includes('vlan'))).to.deep.equal([])
  })
})

describe('trace against the kernel: flannel 0.10-era nodes with kube-proxy (iptables mode), captured by collect', () => {
  // o1, o2: flannel.1 and docker0 as the pod bridge, flannel's rules straight in FORWARD/POSTROUTING,
  // docker's FORWARD policy DROP, no default route; Service 10.96.0.10:80 → KUBE-SVC with
  // `-m statistic --mode random --probability 0.5` → 10.244.1.2:8080 (o1p1), else 10.244.2.2:8080 (o2p1)

  it('a pod reaches a pod on the other node with its own source, as flannel\'s RETURN rule keeps it', async () => {
    // kernel: ping and a TCP connect from o1p1 reach o2p1, whose listener sees 10.244.1.2; traceroute -n prints these
    const t = await trace('old-flannel-kube-proxy', {src: 'o1p1', dst: 'o2p1', proto: 'tcp', dport: 8080})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.traceroute).to.deep.equal(['10.244.1.1', '10.244.2.0', '10.244.2.2'])
    expect(t.warnings.map(w => w.code)).to.not.include('SOURCE_NATED')
  })

  it('a node without a default route cannot reach a ClusterIP: the route lookup comes before nat OUTPUT', async () => {
    // kernel: connect() to 10.96.0.10:80 on o1 fails at once with ENETUNREACH; after the printed fix it connects
    const t = await trace('old-flannel-kube-proxy', {src: 'o1', dst: '10.96.0.10', proto: 'tcp', dport: 80})
    expect(t.disposition).to.equal('NO_ROUTE')
    expect(t.failure!.node).to.equal('o1')
    expect(t.failure!.reason).to.contain('before nat OUTPUT')
    expect(t.failure!.fix).to.deep.equal([{node: 'o1', command: 'ip route replace 10.96.0.10 dev flannel.1'}])
    // a pod's packet is DNATed in PREROUTING, before any route lookup: it needs no route to the ClusterIP
    const fromPod = await trace('old-flannel-kube-proxy', {src: 'o2p1', dst: '10.96.0.10', proto: 'tcp', dport: 80})
    expect(fromPod.disposition).to.not.equal('NO_ROUTE')
  })

  it('the endpoint kube-proxy picks at random decides the outcome: the failing branch is reported, with what the other does', async () => {
    // kernel: of 6 connects from o1p1 to 10.96.0.10:80, 4 reached o2p1 and 2 timed out (sent back to o1p1
    // itself through docker0, whose port has hairpin off); with hairpin on, 8 of 8 connected
    for (const [src, node, self] of [['o1p1', 'o1', '10.244.1.2:8080'], ['o2p1', 'o2', '10.244.2.2:8080']]) {
      const t = await trace('old-flannel-kube-proxy', {src, dst: '10.96.0.10', proto: 'tcp', dport: 80})
      expect(t.disposition, src).to.equal('DENIED_BY_FILTER')
      expect(t.failure!.fix[0].command).to.match(/^bridge link set dev veth\w+ hairpin on$/)
      const pick = t.warnings.find(w => w.message.startsWith('the outcome depends on a random pick'))
      expect(pick, src).to.include({code: 'ASSUMED', node})
      expect(pick!.message).to.contain(`to ${self}: DENIED_BY_FILTER on ${node} (traced here)`)
      expect(pick!.message).to.match(/to 10\.244\.\d\.2:8080: DELIVERED/)
    }
  })
})

describe('trace against the kernel: two docker hosts routed to each other, captured by collect', () => {
  // d1 (docker0 172.17.0.0/16, container d1c1), d2 (docker0 172.18.0.0/16, container d2c1 publishing 8080 → 80)

  it('a host reaching its own published port goes to the container: nat OUTPUT DNATs it before it could be delivered locally', async () => {
    // kernel: a connect from d2 to 192.168.90.12:8080 is answered by d2c1's listener, which sees 192.168.90.12
    const t = await trace('docker-routed-pair', {src: 'd2', dst: '192.168.90.12', proto: 'tcp', dport: 8080})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops.map(h => h.node)).to.deep.equal(['d2', 'd2c1'])
    expect(t.traceroute).to.deep.equal(['192.168.90.12'])
    // without a DNAT a host's packet to itself is delivered there, as before
    expect((await trace('docker-routed-pair', {src: 'd2', dst: '192.168.90.12'})).hops.map(h => h.node)).to.deep.equal(['d2'])
  })

  it('a container reaches the other host\'s published port and its container by route, masqueraded; ping is dropped by FORWARD', async () => {
    // kernel: TCP to 192.168.90.12:8080 and to 172.18.0.2:80 connect (the listener sees 192.168.90.11); ping 172.18.0.2 fails
    const published = await trace('docker-routed-pair', {src: 'd1c1', dst: '192.168.90.12', proto: 'tcp', dport: 8080})
    expect(published.disposition).to.equal('DELIVERED')
    expect(published.traceroute).to.deep.equal(['172.17.0.1', '192.168.90.12', '192.168.90.12'])
    expect((await trace('docker-routed-pair', {src: 'd1c1', dst: 'd2c1', proto: 'tcp', dport: 80})).disposition).to.equal('DELIVERED')
    const ping = await trace('docker-routed-pair', {src: 'd1c1', dst: 'd2c1'})
    expect(ping.disposition).to.equal('DENIED_BY_FILTER')
    expect(ping.failure!.node).to.equal('d2')
    expect(ping.warnings.map(w => `${w.code}@${w.node}`)).to.include('SOURCE_NATED@d1')
  })
})

describe('trace against the kernel: docker hosts that number their containers alike', () => {
  it('the reply from a published port\'s container starts on the host that has it, not at the listed container of the same address', async () => {
    // kernel: d1c1 (172.17.0.2 on d1) connects to d3's published 192.168.90.13:8080; d3's own 172.17.0.2 answers
    // (its listener sees 192.168.90.11); traceroute -T -n prints 172.17.0.1, 192.168.90.13, 192.168.90.13
    const t = await trace('docker-routed-pair', {src: 'd1c1', dst: '192.168.90.13', proto: 'tcp', dport: 8080})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops.at(-1)!.node).to.equal('d3')
    expect(t.traceroute).to.deep.equal(['172.17.0.1', '192.168.90.13', '192.168.90.13'])
    expect(t.returnPath.disposition).to.equal('DELIVERED')
    expect(t.returnPath.hops.map(h => h.node)).to.deep.equal(['d3', 'd1', 'd1c1'])
    expect(t.warnings.map(w => w.code)).to.not.include('ASYMMETRIC_PATH')
  })
})

describe('trace against the kernel: Calico-style nodes (vxlan.calico, bird routes, natOutgoing by ipset), captured by collect', () => {
  it('traces the pod network both ways, by vxlan.calico and by the bird routes, as traceroute -n prints it', async () => {
    // kernel: ping k1p1 → k2p1 and → k3p1 pass; traceroute -n prints these
    const vx = await trace('calico-vxlan-bird', {src: 'k1p1', dst: 'k2p1'})
    expect([vx.disposition, vx.returnPath.disposition]).to.deep.equal(['DELIVERED', 'DELIVERED'])
    expect(vx.traceroute).to.deep.equal(['192.168.90.21', '10.66.2.0', '10.66.2.5'])
    const bird = await trace('calico-vxlan-bird', {src: 'k1p1', dst: 'k3p1'})
    expect(bird.traceroute).to.deep.equal(['192.168.90.21', '192.168.90.23', '10.66.3.5'])
    // k3 has no route to k2's block: the default route sends it to a gateway outside the hosts read
    // (kernel: ping fails; on the live hosts, with ARP for 192.168.90.1 FAILED in k3's table, trace says NEIGHBOR_MISSING)
    const lost = await trace('calico-vxlan-bird', {src: 'k3p1', dst: 'k2p1'})
    expect(lost.disposition).to.equal('EXITS_NETWORK')
    expect(lost.failure!.fix).to.deep.include({node: 'k3', command: 'ip route replace 10.66.2.0/26 via 192.168.90.22 dev eth0'})
  })

  it('a node\'s own block null-routed by its routing daemon: the fix is the pod\'s missing route, or none for a free address, never deleting what bird puts back', async () => {
    // kernel: longest prefix first, so k1's `blackhole 10.66.1.0/26 proto bird` drops only what no pod route
    // (10.66.1.5 dev calik1pa scope link) covers; deleting it would send the block's free addresses out by the default route
    const free = await trace('calico-vxlan-bird', {src: 'k2p1', dst: '10.66.1.9'})
    expect(free.failure).to.include({node: 'k1', step: 'route'})
    expect(free.disposition).to.equal('NULL_ROUTED')
    expect(free.failure!.reason).to.contain('no pod read has 10.66.1.9')
    expect(free.failure!.fix.map(f => f.command.replace(/ +#.*/, ''))).to.deep.equal(['ip route show table all match 10.66.1.9'])
    const dir = mkdtempSync(join(tmpdir(), 'fc-bird-'))
    try {
      cpSync(join(SNAPSHOTS, 'calico-vxlan-bird'), dir, {recursive: true})
      const routes = join(dir, 'k1', 'ip-route.json')
      writeFileSync(routes, JSON.stringify(JSON.parse(readFileSync(routes, 'utf8')).filter((r: {dst: string}) => r.dst !== '10.66.1.5')))
      const {world} = await loadSource({snapshot: dir})
      const lost = traceFlow(world, {src: 'k2p1', dst: 'k1p1'})
      expect(lost.disposition).to.equal('NULL_ROUTED')
      expect(lost.failure!.reason).to.contain('pod k1p1 has 10.66.1.5, but k1 has no route of its own for it')
      expect(lost.failure!.fix).to.deep.equal([{node: 'k1', command: 'ip route replace 10.66.1.5 dev calik1pa scope link'}])
      // the veth taken down (`ip link set calik1pa down` drops its route too): the kernel refuses the
      // route back through it until it is up (found by the foreign-host fuzz, seed 1129 case 14)
      const links = join(dir, 'k1', 'ip-link.json')
      writeFileSync(links, JSON.stringify(JSON.parse(readFileSync(links, 'utf8')).map((l: {ifname: string, flags: string[], operstate: string}) =>
        l.ifname === 'calik1pa' ? {...l, flags: ['BROADCAST', 'MULTICAST'], operstate: 'DOWN'} : l)))
      const down = traceFlow((await loadSource({snapshot: dir})).world, {src: 'k2p1', dst: 'k1p1'})
      expect(down.disposition).to.equal('NULL_ROUTED')
      expect(down.failure!.reason).to.contain('calik1pa is down, and the kernel drops a device\'s routes when it goes down')
      expect(down.failure!.fix.map(f => f.command)).to.deep.equal(['ip link set calik1pa up', 'ip route replace 10.66.1.5 dev calik1pa scope link'])
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('evaluates natOutgoing\'s `-m set` matches from the captured ipsets: the pod reaches a host outside the pools, masqueraded', async () => {
    // kernel: ping and TCP from k1p1 to 192.168.90.11 pass (d1's listener sees 192.168.90.21, and d1 has no route to 10.66.0.0/16);
    // traceroute -n prints 192.168.90.21, 192.168.90.11
    const t = await trace('calico-vxlan-bird', {src: 'k1p1', dst: '192.168.90.11'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.equal('DELIVERED')
    expect(t.traceroute).to.deep.equal(['192.168.90.21', '192.168.90.11'])
    const masq = t.hops.find(h => h.node === 'k1')!.steps.find(s => s.kind === 'nat')!
    expect(masq.evidence).to.contain('--match-set cali40masq-ipam-pools src')
    expect(masq.verdict).to.equal('masquerade')
    // pod to pod stays unmasqueraded: the destination is in cali40all-ipam-pools
    const inside = await trace('calico-vxlan-bird', {src: 'k1p1', dst: 'k2p1'})
    expect(inside.hops.find(h => h.node === 'k1')!.steps.some(s => s.verdict === 'masquerade')).to.equal(false)
  })

  it('without the ipsets read, says which sets it could not test and the command that lists them', async () => {
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'calico-vxlan-bird')})
    const hosts = world.hosts.map(h => h.name === 'k1' ? {...h, ipsets: undefined} : h)
    const t = traceFlow({...world, hosts}, {src: 'k1p1', dst: '192.168.90.11'})
    const assumed = t.warnings.filter(w => w.code === 'ASSUMED').map(w => w.message).join('\n')
    expect(assumed).to.contain('`ipset list cali40masq-ipam-pools`')
  })
})

describe('trace against the kernel: Calico policy by mark bits in filter, captured by collect', () => {
  it('follows the mark the chains set on the way: the policy\'s port is accepted, the rest dropped, with no mark assumed', async () => {
    // kernel: from k1p1, TCP to k2p1:80 connects; ping and TCP to port 81 get no answer; from k2p1 (egress allowed) both pass
    const web = await trace('calico-policy-mark', {src: 'k1p1', dst: 'k2p1', proto: 'tcp', dport: 80})
    expect(web.disposition).to.equal('DELIVERED')
    expect(web.warnings).to.deep.equal([])
    for (const req of [{proto: 'icmp' as const}, {proto: 'tcp' as const, dport: 81}]) {
      const t = await trace('calico-policy-mark', {src: 'k1p1', dst: 'k2p1', ...req})
      expect(t.disposition).to.equal('DENIED_BY_FILTER')
      expect(t.failure!.evidence).to.contain('Drop if no policies passed packet')
      expect(t.traceroute).to.deep.equal(['192.168.90.21', '10.66.2.0'])
    }
    const out = await trace('calico-policy-mark', {src: 'k2p1', dst: 'k1p1'})
    expect([out.disposition, out.returnPath.disposition]).to.deep.equal(['DELIVERED', 'DELIVERED'])
  })
})

describe('trace against the kernel: a NodePort whose endpoints part by their replies, captured by collect', () => {
  it('a branch whose reply is dropped is the one reported: the endpoint on the other node answers into a FORWARD that drops it', async () => {
    // kernel: of 6 connects from d1 to 192.168.90.32:30080, 3 reached o2p1 (seeing 10.244.2.1) and 3 timed out:
    // those sent on to o1p1, whose SYN-ACK o2's FORWARD drops (KUBE-FORWARD accepts by the mark, which replies lack)
    const t = await trace('old-flannel-nodeport', {src: 'd1', dst: '192.168.90.32', proto: 'tcp', dport: 30080})
    expect(t.returnPath.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.returnPath.failure!.node).to.equal('o2')
    // the reply's port is the client's ephemeral one: it is let through by its state (kernel: after this, 8 of 8 connect)
    expect(t.returnPath.failure!.fix).to.deep.equal([{node: 'o2', command: 'iptables -I FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'}])
    const pick = t.warnings.find(w => w.message.startsWith('the outcome depends on a random pick'))!
    expect(pick.message).to.contain('to 10.244.2.2:8080: DELIVERED;')
    expect(pick.message).to.contain('to 10.244.1.2:8080: DELIVERED, its reply DENIED_BY_FILTER on o2 (traced here)')
  })
})

describe('trace against the kernel: two docker hosts whose containers have the same address, both listed', () => {
  it('each container reaches the other\'s published port, and the reply goes back to the one that sent', async () => {
    // kernel: d1c1 → 192.168.90.13:8080 is answered by d3c1 (seeing 192.168.90.11), d3c1 → 192.168.90.11:8080 by d1c1
    for (const [src, host, dst, back] of [['d1c1', '192.168.90.13', 'd3c1', 'd1c1'], ['d3c1', '192.168.90.11', 'd1c1', 'd3c1']]) {
      const t = await trace('docker-default-pair', {src, dst: host, proto: 'tcp', dport: 8080})
      expect(t.disposition, src).to.equal('DELIVERED')
      expect(t.hops.at(-1)!.node).to.equal(dst)
      expect(t.returnPath.hops.map(h => h.node)).to.deep.equal([dst, t.hops[2].node, t.hops[1].node, back])
      expect(t.warnings).to.deep.equal([])
    }
  })

  it('an address two listed pods share is refused as a destination, naming both; to the other by name is to itself', async () => {
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, 'docker-default-pair')})
    expect(() => traceFlow(world, {src: 'd1c1', dst: '172.17.0.2'})).to.throw('172.17.0.2 is the address of pod d1c1 (on d1) and pod d3c1 (on d3)')
    // kernel: ping 172.17.0.2 in d3c1 answers itself
    const t = traceFlow(world, {src: 'd3c1', dst: 'd1c1'})
    expect(t.hops.map(h => h.node)).to.deep.equal(['d3c1'])
    expect(t.hops[0].steps[0].explanation).to.contain('d1c1 on d1, which has the same address, is not reached by it')
    expect(t.returnPath.hops.map(h => h.node)).to.deep.equal(['d3c1'])
  })
})

describe('trace against the kernel: two docker hosts, the sender\'s masquerade gone (trace-kernel-fuzz-foreign seed 2911 case 3)', () => {
  // n1: `iptables -t nat -F POSTROUTING`; both hosts number their containers from 172.17.0.2.
  // kernel: p1b's ping to n2 (10.95.0.2) reaches n2, whose echo reply to 172.17.0.3 goes to its own
  // p2b (p2b's raw PREROUTING counts it); p1b gets nothing
  it('the reply reaches the other host\'s container of the same address: DUPLICATE_ADDRESS, fixed by the masquerade', async () => {
    const t = await trace('docker-pair-unmasqueraded', {src: 'p1b', dst: '10.95.0.2'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.equal('DUPLICATE_ADDRESS')
    expect(t.returnPath.hops.map(h => h.node)).to.deep.equal(['n2', 'p2b'])
    expect(t.returnPath.failure).to.include({node: 'p2b', step: 'deliver'})
    expect(t.returnPath.failure!.reason).to.equal('172.17.0.3 is an address of p2b too: the reply is delivered here, not to p1b on n1, which sent the request and hears nothing (its request kept its own address: nothing on the way masqueraded it)')
    expect(t.returnPath.failure!.fix).to.deep.equal([{node: 'n1', command: 'iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE'}])
    expect(t.warnings.map(w => w.code)).to.include('NO_RETURN_ROUTE')
  })

  it('a request for the other host\'s container is answered by the sender\'s neighbour of that address: delivered, and said', async () => {
    // kernel: 172.17.0.3 from p1a is p1b, on the same docker0, which answers
    const t = await trace('docker-pair-unmasqueraded', {src: 'p1a', dst: 'p2b'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops.at(-1)!.node).to.equal('p1b')
    expect(t.hops.at(-1)!.steps.at(-1)!.explanation).to.equal('172.17.0.3 is an address of p1b: delivered (p2b on n2, which has the same address, is not reached)')
  })
})

describe('trace against the kernel: kube-proxy branches that all fail, each its own way', () => {
  it('says where the connection fails depends on the pick, and that none gets through', async () => {
    // old-flannel-nodeport: o2 has no FORWARD accept for pod traffic any more; from o1p1 the ClusterIP's
    // endpoints are o1p1 itself (hairpin off) and o2p1 (dropped by o2's FORWARD). kernel: every connect times out
    const t = await trace('old-flannel-nodeport', {src: 'o1p1', dst: '10.96.0.10', proto: 'tcp', dport: 80})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    const pick = t.warnings.find(w => w.message.includes('depends on a random pick'))!
    expect(pick.message).to.match(/^where the connection fails depends on a random pick on o1/)
    expect(pick.message).to.contain('DENIED_BY_FILTER on o2').and.to.contain('DENIED_BY_FILTER on o1').and.to.contain('None gets through')
  })
})

describe('trace against the kernel: kube-proxy\'s nftables mode picking an endpoint by numgen, captured by collect', () => {
  // lab-kube-proxy-nft-numgen: 2-node vxlan lab; n1 has table ip kube-proxy with 10.96.0.10:80 → service-web:
  // `numgen random mod 2 vmap { 0 : goto endpoint-a, 1 : goto endpoint-b }`, a → 10.244.19.2:8080, b → :8081,
  // and n2's FORWARD drops tcp to 10.244.19.2:8081
  it('traces each entry of the map: the failing one is reported, with what the other does', async () => {
    // kernel: of 8 connects from pod-1a to 10.96.0.10:80, 6 reached pod-2a:8080 and 2 timed out;
    // after the printed fix (deleting n2's DROP), 8 of 8 connected; traceroute -T -n prints 10.96.0.10 three times
    const t = await trace('lab-kube-proxy-nft-numgen', {src: 'pod-1a', dst: '10.96.0.10', proto: 'tcp', dport: 80})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure!.node).to.equal('n2')
    expect(t.failure!.fix).to.deep.equal([{node: 'n2', command: 'iptables -D FORWARD -d 10.244.19.2/32 -p tcp -m tcp --dport 8081 -j DROP'}])
    const pick = t.warnings.find(w => w.message.startsWith('the outcome depends on a random pick'))!
    expect(pick).to.include({code: 'ASSUMED', node: 'n1'})
    expect(pick.message).to.contain('by the first entry of each random map to 10.244.19.2:8080: DELIVERED;')
    expect(pick.message).to.contain("by `numgen random mod 2 vmap { 0 : goto endpoint-a, 1 : goto endpoint-b }`'s entry 1 : goto endpoint-b to 10.244.19.2:8081: DENIED_BY_FILTER on n2 (traced here)")
    expect(t.warnings.filter(w => w.message.includes('the flow may take'))).to.deep.equal([])
  })

  it('a round-robin map (numgen inc) is worded as taking each connection in turn, not as a random pick', async () => {
    // kernel (a namespace): `numgen inc mod 2 vmap { 0 : jump a, 1 : jump b }` on output sends 4 pings to a, b, a, b
    // (counters 1/0, 1/1, 2/1, 2/2): each in turn, none by chance. The same lab's map, with inc for random:
    const dir = mkdtempSync(join(tmpdir(), 'fct-numgen-inc-'))
    try {
      cpSync(join(SNAPSHOTS, 'lab-kube-proxy-nft-numgen'), dir, {recursive: true})
      const ruleset = join(dir, 'n1', 'nft-ruleset.txt')
      writeFileSync(ruleset, readFileSync(ruleset, 'utf8').replace('numgen random mod 2', 'numgen inc mod 2'))
      const {world} = await loadSource({snapshot: dir})
      const t = traceFlow(world, {src: 'pod-1a', dst: '10.96.0.10', proto: 'tcp', dport: 80})
      expect(t.disposition).to.equal('DENIED_BY_FILTER')
      const pick = t.warnings.find(w => w.message.includes('pick on n1'))!
      expect(pick.message).to.match(/^the outcome depends on a round-robin pick on n1, each connection in turn to the next branch: by the first entry of each round-robin map to 10\.244\.19\.2:8080: DELIVERED; /)
      expect(pick.message).to.not.contain('random')
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('a flow that meets no map (pod to pod) says nothing of a pick', async () => {
    const t = await trace('lab-kube-proxy-nft-numgen', {src: 'pod-1a', dst: 'pod-2a', proto: 'tcp', dport: 8080})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.warnings.filter(w => w.message.includes('random'))).to.deep.equal([])
  })
})

describe('trace against the kernel: a path MTU the sender learned (route cache), captured by collect', () => {
  // a (10.93.1.2) → r (a0 10.93.1.1, b0 10.93.2.1) → b (10.93.2.2). After one `ping -M do -s 1372` from a while
  // r's b0 had MTU 1300, a's `ip -4 route show cache` holds `10.93.2.2 via 10.93.1.1 dev eth0 cache expires …sec mtu 1300`.
  // router-pmtu-cache-narrow (json): b0 still 1300; router-pmtu-cache-stale (txt): b0 back to 1500, the cache kept

  it('the sender refuses a DF packet over the learned MTU, while the path is still narrow: both fixes, traceroute as the path answers it', async () => {
    // kernel: ping -M do -s 1372 in a: "local error: message too long, mtu=1300"; traceroute -n -F 10.93.2.2 1400
    // (its probes ignore the learned MTU): 10.93.1.1, then 10.93.1.1 !F-1300
    const t = await trace('router-pmtu-cache-narrow', {src: 'a', dst: 'b', size: 1400})
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    expect(t.failure).to.include({node: 'a', step: 'mtu'})
    expect(t.failure!.evidence).to.match(/^10\.93\.2\.2 via 10\.93\.1\.1 dev eth0 cache expires \d+sec mtu 1300$/)
    expect(t.failure!.reason).to.contain('the path MTU 1300 a learned for 10.93.2.2').and.to.contain('without the learned MTU it fails on r too')
    expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`)).to.include.members(['r: ip link set b0 mtu 1500', 'a: ip route flush cache'])
    expect(t.failure!.fix.at(-1)).to.deep.equal({node: 'a', command: 'ip route flush cache'})
    expect(t.traceroute).to.deep.equal(['10.93.1.1', '10.93.1.1 !F-1300'])
    // a packet that fits the learned MTU goes on
    expect((await trace('router-pmtu-cache-narrow', {src: 'a', dst: 'b', size: 1300})).disposition).to.equal('DELIVERED')
  })

  it('the path carries the size again but the sender still refuses until the cache is flushed', async () => {
    // kernel: ping -M do -s 1372 in a: "message too long, mtu=1300"; traceroute -n -F 1400: 10.93.1.1, 10.93.2.2;
    // after `ip route flush cache` in a the ping is answered
    const t = await trace('router-pmtu-cache-stale', {src: 'a', dst: 'b', size: 1400})
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    expect(t.failure!.node).to.equal('a')
    expect(t.failure!.reason).to.contain('the flush is the fix')
    expect(t.failure!.fix).to.deep.equal([{node: 'a', command: 'ip route flush cache'}])
    expect(t.traceroute).to.deep.equal(['10.93.1.1', '10.93.2.2'])
    // only the sender's own packets obey it: from b to a, and from r, nothing is learned
    expect((await trace('router-pmtu-cache-stale', {src: 'b', dst: 'a', size: 1400})).disposition).to.equal('DELIVERED')
  })
})

describe('trace against the kernel: TCP and path MTU discovery, captured by collect', () => {
  // router-pmtu-black-hole (txt): a (10.94.1.2) → r1 → r2 → b (10.94.3.2); r2's b0 has MTU 1300 while b's eth0
  // has 1500 (so b announces MSS 1460), and r1 has `-A FORWARD -p icmp --icmp-type fragmentation-needed -j DROP`

  it('a black hole when the "fragmentation needed" is dropped on its way back: the fixes let it through first', async () => {
    // kernel: a python3 client in a connects to b:80 (MSS 1448), sends 8 KB: the listener gets nothing, the
    // client's MSS stays 1448; ping -M do -s 1372 gets no answer; traceroute -n -F 10.94.3.2 1400: 10.94.1.1 10.94.2.2 *
    const t = await trace('router-pmtu-black-hole', {src: 'a', dst: 'b', proto: 'tcp', dport: 80, size: 1400})
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    expect(t.failure).to.include({node: 'r2', step: 'mtu'})
    expect(t.failure!.reason).to.contain('TCP sets DF, so r2 drops it and sends "fragmentation needed" back to 10.94.1.2, but it is lost on its way back at r1 (DENIED_BY_FILTER)')
    expect(t.failure!.reason).to.contain('a path MTU black hole')
    expect(t.failure!.fix[0]).to.deep.equal({node: 'r1', command: 'iptables -D FORWARD -p icmp -m icmp --icmp-type 3/4 -j DROP'})
    expect(t.traceroute).to.deep.equal(['10.94.1.1', '10.94.2.2', '*'])
    expect(t.hops[0].steps.find(s => s.kind === 'mtu')!.explanation).to.equal('the 1400-byte packet fits eth0\'s MTU 1500 and the MSS 1460 10.94.3.2 announces')
  })

  it('an MSS clamp on the SYN-ACK\'s way back sizes the segments (TCPMSS --clamp-mss-to-pmtu, --set-mss): no black hole; one limited to the SYN\'s way does not', async () => {
    // router-pmtu-black-hole with r2's mangle FORWARD `-p tcp --tcp-flags SYN,RST SYN -j TCPMSS ...` (collected). kernel
    // (python3 8 KB transfer, tcpdump in a): --clamp-mss-to-pmtu made b's SYN-ACK arrive with MSS 1260 (announced 1460),
    // TCP_MAXSEG 1248, 8 KB arrived; --set-mss 1000: MSS 1000, TCP_MAXSEG 988, arrived; with `-o b0` only the SYN was
    // rewritten: the SYN-ACK kept 1460 and nothing arrived. Before, trace said MTU_EXCEEDED for all three, and ASSUMED
    const sent = (t: Awaited<ReturnType<typeof trace>>) => t.hops[0].steps.find(s => s.kind === 'mtu')!.explanation
    const clamp = await trace('router-pmtu-mss-clamp', {src: 'a', dst: 'b', proto: 'tcp', dport: 80, size: 1400})
    expect(clamp.disposition).to.equal('DELIVERED')
    expect(sent(clamp)).to.equal('TCP sends no 1400-byte packet: the SYN-ACK from 10.94.3.2 arrives with MSS 1260 (`-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu` on r2 rewrites it from the 1460 announced by eth0\'s MTU 1500 on b), below what eth0\'s MTU 1500 allows, so a sends the data as segments of at most 1300 bytes (MSS 1260); traced on with that size')
    expect(clamp.warnings.filter(w => w.code === 'ASSUMED')).to.deep.equal([])
    const set = await trace('router-pmtu-mss-set', {src: 'a', dst: 'b', proto: 'tcp', dport: 80, size: 1400})
    expect(set.disposition).to.equal('DELIVERED')
    expect(sent(set)).to.contain('arrives with MSS 1000').and.contain('segments of at most 1040 bytes (MSS 1000)')
    // below the clamp the size fits as it is
    expect(sent(await trace('router-pmtu-mss-set', {src: 'a', dst: 'b', proto: 'tcp', dport: 80, size: 900}))).to.equal('the 900-byte packet fits eth0\'s MTU 1500 and the MSS 1000 its SYN-ACK arrives with')
    const synOnly = await trace('router-pmtu-mss-syn-only', {src: 'a', dst: 'b', proto: 'tcp', dport: 80, size: 1400})
    expect(synOnly.disposition).to.equal('MTU_EXCEEDED')
    expect(sent(synOnly)).to.equal('the 1400-byte packet fits eth0\'s MTU 1500 and the MSS 1460 10.94.3.2 announces')
    expect(synOnly.warnings.filter(w => w.code === 'ASSUMED')).to.deep.equal([])
  })

  it('a TCP --size is checked as its data segments (ESTABLISHED, no SYN, as long as the segment); its SYN as the connection\'s set-up', async () => {
    // router-tcp-data-segment: a → r1 → r2 → b, every link 1500; r1's FORWARD drops (collected):
    //   dport 80: --ctstate NEW -m length --length 1000:65535; dport 81: ! --syn -m length --length 1000:65535; dport 82: --syn
    // kernel (python3 8 KB transfer, tcpdump in a: SYN 60 bytes, data segments 1500): 80 arrives, 81 gets nothing past
    // the handshake, 82 never connects. Before, trace walked a 8000-byte SYN: 80 DENIED_BY_FILTER, 81 DELIVERED
    const t = (dport: number) => trace('router-tcp-data-segment', {src: 'a', dst: 'b', proto: 'tcp', dport, size: 8000})
    const newOnly = await t(80)
    expect(newOnly.disposition).to.equal('DELIVERED')
    expect(newOnly.hops[1].steps.find(s => s.kind === 'filter')!.explanation).to.equal('FORWARD: tcp 10.94.1.2 → 10.94.3.2:80 (ESTABLISHED, a 1500-byte data segment) accepted by the chain policy')
    const data = await t(81)
    expect(data.disposition).to.equal('DENIED_BY_FILTER')
    expect(data.failure).to.include({node: 'r1', reason: 'FORWARD on r1 drops tcp 10.94.1.2 → 10.94.3.2:81 (ESTABLISHED, a 1500-byte data segment) at FORWARD'})
    expect(data.failure!.evidence).to.equal('-A FORWARD -p tcp -m tcp --dport 81 ! --tcp-flags FIN,SYN,RST,ACK SYN -m length --length 1000:65535 -j DROP')
    const syn = await t(82)
    expect(syn.disposition).to.equal('DENIED_BY_FILTER')
    expect(syn.failure).to.include({node: 'r1', reason: 'FORWARD on r1 drops tcp 10.94.1.2 → 10.94.3.2:82 (NEW) at FORWARD'})
    expect(syn.flow).to.include({size: 8000})
    // without --size the packet is the SYN: port 81's rule does not take it
    expect((await trace('router-tcp-data-segment', {src: 'a', dst: 'b', proto: 'tcp', dport: 81})).disposition).to.equal('DELIVERED')
    // the SYN's walk decides `-m length` by the 60 bytes Linux's SYN has (tcpdump): nothing assumed of it
    expect(newOnly.warnings.filter(w => w.code === 'ASSUMED')).to.deep.equal([])
    // what the SYN's walk assumed is said, though the data segments never meet the rule
    const dir = mkdtempSync(join(tmpdir(), 'tm-seg-'))
    try {
      cpSync(join(SNAPSHOTS, 'router-tcp-data-segment'), dir, {recursive: true})
      writeFileSync(join(dir, 'r1', 'iptables-save.txt'), ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]',
        '-A FORWARD -p tcp -m conntrack --ctstate NEW -m u32 --u32 "0x0>>0x16&0x3c@0xc>>0x1a&0x3f=0x10" -j DROP', 'COMMIT', ''].join('\n'))
      const {world} = await loadSource({snapshot: dir})
      const doubt = traceFlow(world, {src: 'a', dst: 'b', proto: 'tcp', dport: 80, size: 8000})
      expect(doubt.disposition).to.equal('DELIVERED')
      expect(doubt.warnings.filter(w => w.code === 'ASSUMED').map(w => w.message).join('\n')).to.contain('cannot evaluate `--u32 0x0>>0x16')
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('TCP shrinks its segments when "fragmentation needed" gets back (a route mtu on the way)', async () => {
    // kernel: with `mtu lock 1300` on the middle router's route to b, the python3 client's 8 KB arrives and its
    // TCP_MAXSEG drops from 1448 to 1248 (the learned path MTU 1300)
    const t = await trace('router-chain-route-mtu', {src: 'a', dst: 'b', proto: 'tcp', dport: 80, size: 1400})
    expect(t.disposition).to.equal('DELIVERED')
    const r1 = t.hops.find(h => h.node === 'r1')!.steps.find(s => s.kind === 'mtu')!
    expect(r1.verdict).to.equal('ok')
    expect(r1.explanation).to.contain('r1 drops it and sends "fragmentation needed" (mtu 1200) back to 10.91.1.2, whose TCP lowers its path MTU and sends segments of at most 1200 bytes from then on (path MTU discovery)')
    // ICMP keeps its DF packet as it was asked for
    expect((await trace('router-chain-route-mtu', {src: 'a', dst: 'b', size: 1400})).disposition).to.equal('MTU_EXCEEDED')
  })

  it('TCP with --no-df is a socket with IP_PMTUDISC_DONT: segments of the MSS, fragmented where a link is smaller, no black hole', async () => {
    // kernel (2-node lab, flannel.1 at 1300 on the sender's node): a python3 client with IP_MTU_DISCOVER = IP_PMTUDISC_DONT
    // sends 8 KB: 1450-byte segments (MSS 1410) without DF, which the node fragments into 1300 + 170; by default every
    // segment has DF. Before, trace had the client fragment an 8000-byte packet, which TCP never sends
    const t = await trace('router-pmtu-black-hole', {src: 'a', dst: 'b', proto: 'tcp', dport: 80, size: 8000, noDf: true})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops[0].steps.find(s => s.kind === 'mtu')!.explanation).to.match(/^TCP sends no 8000-byte packet: .*segments of at most 1500 bytes \(MSS 1460\)/)
    const r2 = t.hops.find(h => h.node === 'r2')!.steps.find(s => s.kind === 'mtu')!
    expect(r2.explanation).to.match(/^the 1500-byte packet does not fit .*MTU 1300: it has no DF \(a TCP socket with IP_PMTUDISC_DONT, or net\.ipv4\.ip_no_pmtu_disc=1: by default TCP sets DF\), so r2 sends it as 2 fragments of at most 1300 bytes/)
  })

  it('behind a DNAT the endpoint\'s SYN-ACK sizes the segments, not the address connected to', async () => {
    // router-chain: r1 DNATs 10.91.1.1:8080 to b (10.91.3.2:80), whose eth0 has MTU 1300. kernel: a client connecting
    // to a peer on a 1300 link gets MSS 1248 (1260 less timestamps) from the first segment on, no "fragmentation needed"
    const t = await trace('router-chain', {src: 'a', dst: '10.91.1.1', proto: 'tcp', dport: 8080, size: 1400})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops[0].steps.find(s => s.kind === 'mtu')!.explanation).to.contain('announces MSS 1260 in its SYN-ACK (eth0\'s MTU 1300 on b)')
    expect(t.hops.flatMap(h => h.steps).filter(s => s.explanation.includes('path MTU discovery'))).to.deep.equal([])
  })

  it('the sender\'s own route mtu and learned path MTU size its segments: no "message too long" for TCP', async () => {
    // kernel: with `mtu 1300` on a's own route, or a cached path MTU 1300, the client's MSS is 1248 and 8 KB arrive
    const cached = await trace('router-pmtu-cache-narrow', {src: 'a', dst: 'b', proto: 'tcp', dport: 80, size: 1400})
    expect(cached.disposition).to.equal('DELIVERED')
    expect(cached.hops[0].steps.find(s => s.kind === 'mtu')!.explanation).to.match(/^TCP sends no 1400-byte packet: its MSS follows the path MTU 1300 a learned for 10\.93\.2\.2 .*segments of at most 1300 bytes \(MSS 1260\)/)
    const t = await trace('router-chain-route-mtu', {src: 'r1', dst: 'b', proto: 'tcp', dport: 80, size: 1400})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops[0].steps.find(s => s.kind === 'mtu')!.explanation).to.contain('its MSS follows the mtu 1200 of the route it takes on r1')
  })
})

describe('trace against the kernel: a drop in a chain a controller owns says what to change instead, captured by collect', () => {
  it('Calico (cali-tw-…): the NetworkPolicy (recommended), or the deletion, a workaround Felix undoes, as two ways', async () => {
    const t = await trace('calico-policy-mark', {src: 'k1p1', dst: 'k2p1', proto: 'tcp', dport: 81})
    // before: the two as steps, the workaround said in a comment on the deletion
    expect(t.failure!.fix.map(f => [f.option?.choice, f.option?.recommended, f.command, f.option?.why])).to.deep.equal([
      [1, true, 'kubectl get networkpolicy -A   # Calico policy drops tcp 10.66.1.5 → 10.66.2.5:81: allow it in the NetworkPolicy (or Calico GlobalNetworkPolicy) that selects the pod',
        'change the policy: Felix writes this rule from the cluster\'s NetworkPolicy, so an allow there lasts'],
      [2, undefined, 'iptables -D cali-tw-calik2pa -m comment --comment "Drop if no policies passed packet" -j DROP',
        'delete the rule, a temporary workaround only: Calico\'s Felix owns cali-tw-calik2pa and puts the rule back at its next resync'],
    ])
    // the kubectl command is the cluster's, not k2's: said so in text and --json, and kept out of `lab exec`
    const [policy, workaround] = t.failure!.fix
    expect(policy).to.include({node: 'k2', scope: 'cluster'})
    expect(workaround.scope).to.equal(undefined)
    const text = renderTrace(t, {color: false})
    expect(text).to.contain('      (in the cluster, where kubectl works; the rule is on k2): kubectl get networkpolicy -A')
    expect(text).to.contain('      (on k2): iptables -D cali-tw-calik2pa')
    const lab = labFixes(t, 'demo')
    expect(lab).to.not.contain('kubectl')
    expect(lab).to.contain('flannelctl lab exec k2 -- iptables -D cali-tw-calik2pa')
    // the deletion, the one way a lab runs, is live, not introduced as "either" with no "or"
    expect(lab.split('\n').slice(1)).to.deep.equal([
      'In the lab, apply it with:',
      '  # delete the rule, a temporary workaround only: Calico\'s Felix owns cali-tw-calik2pa and puts the rule back at its next resync (of the ways printed above, the one a lab runs)',
      '  flannelctl lab exec k2 -- iptables -D cali-tw-calik2pa -m comment --comment "Drop if no policies passed packet" -j DROP',
    ])
  })

  it('docker (DOCKER-ISOLATION-STAGE-1): an accept in DOCKER-USER, which docker leaves alone (recommended), or the deletion, as two ways', async () => {
    // lab-docker-isolation-drop: n1's FORWARD jumps to DOCKER-USER (RETURN) and DOCKER-ISOLATION-STAGE-1, which drops
    // `-i cni0 ! -o cni0`. kernel: ping pod-1a → pod-2a is lost; after the first printed fix it is answered
    const t = await trace('lab-docker-isolation-drop', {src: 'pod-1a', dst: 'pod-2a'})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure!.fix).to.deep.equal([
      {node: 'n1', command: 'iptables -I DOCKER-USER -s 10.244.97.2 -d 10.244.19.2 -j ACCEPT',
        option: {choice: 1, recommended: true, why: 'an accept in DOCKER-USER, which is yours: FORWARD passes it first and docker leaves it alone'}},
      {node: 'n1', command: 'iptables -D DOCKER-ISOLATION-STAGE-1 -i cni0 ! -o cni0 -j DROP',
        option: {choice: 2, why: 'delete the rule, a temporary workaround only: docker owns DOCKER-ISOLATION-STAGE-1 and puts the rule back when it restarts'}},
    ])
  })
})

describe('trace against the kernel: cases the randomised differential test found', () => {
  it('rp_filter\'s lookup back to the source carries the packet\'s protocol: an `ipproto udp` rule sends it out of another device', async () => {
    // r2: strict rp_filter on m0; `100: from all ipproto udp lookup 100`, table 100 routing a's subnet by n0.
    // kernel: UDP from a to b dies at r2 (strict rp_filter: fib_validate_source's lookup carries the
    // packet's protocol); a ping, whose reverse lookup the rule does not match, passes
    const udp = await trace('router-chain-rpfilter-ipproto', {src: 'a', dst: 'b', proto: 'udp', dport: 80})
    expect(udp.disposition).to.equal('REVERSE_PATH_FILTERED')
    expect(udp.failure).to.include({node: 'r2', step: 'sysctl', evidence: 'net.ipv4.conf.m0.rp_filter = 1'})
    expect((await trace('router-chain-rpfilter-ipproto', {src: 'a', dst: 'b'})).disposition).to.equal('DELIVERED')
  })
})

describe('trace against the kernel: a route whose gateway\'s connected route is gone', () => {
  // r1: `ip route replace 10.91.2.0/24 via 10.91.9.9 dev n0 onlink` replaced the connected route of m0,
  // so no connected route covers 10.91.2.2 any more; `10.91.3.0/24 via 10.91.2.2 dev m0` stays.
  // kernel: ping from a to r2's 10.91.3.1 (and to b) passes: the gateway was checked when the route
  // was added (fib_check_nh); forwarding sends by m0 and ARPs there
  it('forwards by the route\'s device, as the kernel does, when something on that link answers for the gateway', async () => {
    const t = await trace('router-chain-gateway-route-gone', {src: 'a', dst: '10.91.3.1'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops.map(h => `${h.node} (${h.in} → ${h.out})`)).to.deep.equal(['a (local → eth0)', 'r1 (a0 → m0)', 'r2 (m0 → local)'])
  })
})

describe('trace against the kernel: the source is validated after the route lookup', () => {
  // r1: strict rp_filter on a0, and its route back to a (looked up from lo: `100: from all to 10.91.1.2
  // iif lo lookup 100`) leaves by n0; `unreachable 10.91.3.0/24`.
  // kernel: ip_route_input_slow looks the destination up first: the unreachable route ends the ping
  // (TcpExt IPReversePathFilter does not move) and r1 sends "host unreachable" out of n0, from 10.91.4.1,
  // which r2 sends back to r1, where it dies as a martian source
  it('a null route ends the packet before rp_filter is asked', async () => {
    const t = await trace('router-chain-rpfilter-after-route', {src: 'a', dst: 'b'})
    expect(t.disposition).to.equal('NULL_ROUTED')
    expect(t.failure).to.include({node: 'r1', step: 'route', evidence: 'unreachable 10.91.3.0/24'})
    expect(t.warnings.find(w => w.code === 'NO_RETURN_ROUTE')!.message).to.contain('an address of r1 itself')
  })
})

describe('trace against the kernel: the mark mangle PREROUTING gives, tested after routing', () => {
  // r1: mangle PREROUTING `-p icmp -j MARK --set-mark 0x1`, filter FORWARD `-m mark --mark 0x1 -j DROP`.
  // r2: mangle PREROUTING marks UDP for 10.91.3.3 0x10/0xff, nat PREROUTING DNATs it to 10.91.3.2,
  // filter FORWARD `-p udp -m mark --mark 0x10/0x10 -j REJECT`.
  // kernel: the ping dies at r1's FORWARD DROP (its counter moved); UDP to 10.91.3.3 at r2's REJECT,
  // UDP to 10.91.3.2 gets its answer: the skb keeps the mark from PREROUTING to FORWARD
  it('carries the mark a MARK rule surely gives into FORWARD: decided, not assumed 0', async () => {
    const ping = await trace('router-chain-mangle-mark', {src: 'a', dst: '10.91.3.2'})
    expect(ping.disposition).to.equal('DENIED_BY_FILTER')
    expect(ping.failure).to.include({node: 'r1', evidence: '-A FORWARD -m mark --mark 0x1 -j DROP'})
    expect(ping.warnings.filter(w => w.code === 'ASSUMED')).to.deep.equal([])
  })

  it('marks by the destination the packet had before nat PREROUTING rewrote it', async () => {
    const udp = await trace('router-chain-mangle-mark', {src: 'a', dst: '10.91.3.3', proto: 'udp', dport: 80})
    expect(udp.disposition).to.equal('DENIED_BY_FILTER')
    expect(udp.failure).to.include({node: 'r2', evidence: '-A FORWARD -p udp -m mark --mark 0x10/0x10 -j REJECT --reject-with icmp-port-unreachable'})
    const other = await trace('router-chain-mangle-mark', {src: 'a', dst: '10.91.3.2', proto: 'udp', dport: 80})
    expect(other.disposition).to.equal('DELIVERED')
    expect(other.warnings.filter(w => w.message.includes('packet mark unknown'))).to.deep.equal([])
  })
})

describe('trace against the kernel: a NOARP neighbour entry with a MAC nobody has', () => {
  // r1: `ip neigh replace 10.91.2.2 lladdr 02:00:00:00:00:01 dev m0 nud noarp`, which a plain `ip neigh show` does not list.
  // kernel: a's ping to b is lost (r1 sends its frames to 02:00:00:00:00:01), its ping to r2's 10.91.4.2 by n0 passes;
  // the printed fix (the entry with r2's MAC) makes the ping to b pass
  it('collect reads it (`ip neigh show nud all`), and the trace ends where the frames die', async () => {
    const t = await trace('router-chain-noarp', {src: 'a', dst: '10.91.3.2'})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure).to.include({node: 'r1', step: 'neigh', evidence: '10.91.2.2 dev m0 lladdr 02:00:00:00:00:01 NOARP'})
    expect(t.failure!.fix).to.deep.equal([{node: 'r1', command: 'ip neigh replace 10.91.2.2 lladdr fa:42:57:ef:82:52 dev m0'}])
    expect((await trace('router-chain-noarp', {src: 'a', dst: '10.91.4.2'})).disposition).to.equal('DELIVERED')
  })
})

describe('trace against the kernel: a masquerade that picks the source port from a range', () => {
  // r1: nat `-A POSTROUTING -o m0 -p udp -j MASQUERADE --to-ports 2000-3000`, filter FORWARD
  // `-d 10.91.1.2 -p udp --dport 2000:3000 -j DROP`; r2: filter FORWARD `-p udp --sport 32768:60999 -j DROP`.
  // kernel: UDP from a (port 40000) to b:80 gets its answer; b saw 10.91.2.1:2676; neither DROP counted a packet
  it('moves the client\'s port into the range: r2\'s rule on the ephemeral range no longer matches, r1\'s on the reply after it maps it back neither', async () => {
    const t = await trace('router-chain-masquerade-ports', {src: 'a', dst: 'b', proto: 'udp', dport: 80})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.equal('DELIVERED')
    expect(t.hops[1].steps.find(s => s.kind === 'nat')!.explanation).to.equal('POSTROUTING MASQUERADE: source 10.91.1.2 becomes 10.91.2.1, its port one of 2000-3000')
    expect(t.warnings.filter(w => w.code === 'ASSUMED')).to.deep.equal([])
  })
})

describe('trace against the kernel: a host\'s packet to its own address goes round by lo', () => {
  // r2: `table inet fz2 { chain input { type filter hook input priority 0; policy drop; iifname "m0" accept; } }`.
  // kernel: a's ping to 10.91.2.2 passes; r2's pings to 10.91.3.1 and to 10.91.2.2 are lost (INPUT sees them in by lo);
  // the printed fixes (the flow's accept and the established one) make r2's ping to 10.91.3.1 pass
  it('meets INPUT in by lo, to another address of the host and to the one it sends from', async () => {
    const t = await trace('router-chain-self-input-drop', {src: 'r2', dst: '10.91.3.1'})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure).to.include({node: 'r2', step: 'filter', evidence: 'table inet fz2 chain input { type filter hook input priority 0; policy drop; }'})
    expect(t.failure!.fix.map(f => f.command)).to.deep.equal(['nft insert rule inet fz2 input ip saddr 10.91.3.1 ip daddr 10.91.3.1 ip protocol icmp accept', 'nft insert rule inet fz2 input ct state established,related accept'])
    const itself = await trace('router-chain-self-input-drop', {src: 'r2', dst: 'r2'})
    expect(itself.disposition).to.equal('DENIED_BY_FILTER')
    expect(itself.failure!.reason).to.contain('by the chain policy drop')
    expect((await trace('router-chain-self-input-drop', {src: 'a', dst: '10.91.2.2'})).disposition).to.equal('DELIVERED')
  })
})

describe('trace against the kernel: ARP is answered only for a sender that passes rp_filter', () => {
  // r2: rp_filter=1 on m0 and `10.91.2.1 via 10.91.4.1 dev n0`; r1 has no neighbour entry for 10.91.2.2.
  // kernel: a's ping to b is lost, r1's entry for 10.91.2.2 stays INCOMPLETE (r2's arp_process validates the
  // request's sender 10.91.2.1 as a packet's source); with the printed fix (rp_filter=2 on m0) the ping passes
  it('ends at the router whose ARP goes unanswered, naming the answering host\'s rp_filter', async () => {
    const t = await trace('router-chain-arp-rpfilter', {src: 'a', dst: 'b'})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure).to.include({node: 'r1', step: 'neigh'})
    expect(t.failure!.reason).to.contain('r2 checks the request\'s sender 10.91.2.1').and.contain('leaves by n0')
    expect(t.failure!.fix).to.deep.equal([{node: 'r2', command: 'sysctl -w net.ipv4.conf.m0.rp_filter=2'}])
    expect(t.traceroute).to.deep.equal(['10.91.1.1', '10.91.1.1 !H'])
  })
})

describe('trace against the kernel: a REDIRECT in nat OUTPUT', () => {
  // r1 nat: `-A OUTPUT -p icmp -j REDIRECT`, `-A OUTPUT -p tcp -j REDIRECT`, `-A POSTROUTING -o lo -p tcp -j SNAT --to-source 10.91.1.5`.
  // kernel: r1's ping to 10.91.3.2 is answered by r1 itself (from 127.0.0.1, mapped back); its TCP connect to
  // 10.91.3.2:80 gets no answer while the SNAT is there, and r1's own listener's once it is gone
  it('the host itself answers from 127.0.0.1: the reply starts there, not at an address no host owns', async () => {
    const t = await trace('router-chain-output-redirect', {src: 'r1', dst: '10.91.3.2'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops[0].steps.find(s => s.kind === 'nat')!.explanation).to.equal('OUTPUT REDIRECT: destination 10.91.3.2 becomes 127.0.0.1')
    expect(t.returnPath.disposition).to.equal('DELIVERED')
    expect(t.returnPath.hops.map(h => h.node)).to.deep.equal(['r1'])
    expect(t.warnings).to.deep.equal([])
  })

  it('a source NAT of the looped packet is said, not modelled', async () => {
    const t = await trace('router-chain-output-redirect', {src: 'r1', dst: '10.91.3.2', proto: 'tcp', dport: 80})
    expect(t.warnings.map(w => w.message)).to.include('`-A POSTROUTING -o lo -p tcp -j SNAT --to-source 10.91.1.5` in nat POSTROUTING rewrites the source of the packet r1 sends itself (by lo) to 10.91.1.5: the trace keeps 10.91.2.1 and takes the reply as getting back (`conntrack -L -d 127.0.0.1` on r1 shows the connection)')
  })
})

describe('trace against the kernel: a host\'s own address is its source to itself', () => {
  // r2: `ip rule add not to 10.91.2.0/25 pref 27484 lookup 100`, `ip route add prohibit default table 100`, nat `-A POSTROUTING -m addrtype ! --src-type UNICAST -j SNAT --to-source 10.91.3.1`.
  // kernel: `ip route get 10.91.3.1` says `local 10.91.3.1 dev lo table local src 10.91.3.1`; r2's TCP connect to
  // 10.91.3.1:8080 reaches its listener from 10.91.3.1, and the SNAT (to the address it has) counts the packet
  it('takes the source from the local table, which comes before the rule that prohibits the rest', async () => {
    const t = await trace('router-chain-own-address-source', {src: 'r2', dst: '10.91.3.1', proto: 'tcp', dport: 8080})
    expect(t.src.ip).to.equal('10.91.3.1')
    expect(t.disposition).to.equal('DELIVERED')
    const nat = t.hops[0].steps.find(s => s.kind === 'nat')!
    expect(nat).to.include({verdict: 'unchanged', evidence: '-A POSTROUTING -m addrtype ! --src-type UNICAST -j SNAT --to-source 10.91.3.1'})
    expect(t.warnings.filter(w => w.code === 'ASSUMED')).to.deep.equal([])
  })
})

describe('trace against the kernel: raw and mangle OUTPUT, and native chains below nat, see a host\'s packet before nat OUTPUT', () => {
  // r1: nat `-A OUTPUT -p icmp -j DNAT --to-destination 10.91.3.3` (and -p udp), raw `-A OUTPUT -d 10.91.3.2/32 -p icmp -j DROP`,
  // `table ip fz9 { chain output { type filter hook output priority -300; ip daddr 10.91.3.2 meta l4proto udp counter drop } }`.
  // kernel: r1's ping to 10.91.3.2 is lost (the raw DROP counts it), its UDP send gets EPERM (the nft drop counts it);
  // its ping to 10.91.3.3 passes
  it('drops by the destination the socket sent to, not the one nat OUTPUT gives', async () => {
    const ping = await trace('router-chain-output-before-nat', {src: 'r1', dst: '10.91.3.2'})
    expect(ping.disposition).to.equal('DENIED_BY_FILTER')
    expect(ping.failure).to.include({node: 'r1', evidence: '-A OUTPUT -d 10.91.3.2/32 -p icmp -j DROP'})
    const udp = await trace('router-chain-output-before-nat', {src: 'r1', dst: '10.91.3.2', proto: 'udp', dport: 80})
    expect(udp.disposition).to.equal('DENIED_BY_FILTER')
    expect(udp.failure!.evidence).to.match(/^ip daddr 10\.91\.3\.2 meta l4proto udp counter packets \d+ bytes \d+ drop$/)
    expect((await trace('router-chain-output-before-nat', {src: 'r1', dst: '10.91.3.3'})).disposition).to.equal('DELIVERED')
  })
})

describe('trace against the kernel: `-o` in nat OUTPUT', () => {
  // r2: nat `-A OUTPUT -o b0 -p tcp -j DNAT --to-destination 10.91.3.3`.
  // kernel: r2's TCP connect to 10.91.3.2:8080 is answered by b's listener at 10.91.3.3:8080
  it('matches the device of the route the socket looked up', async () => {
    const t = await trace('router-chain-output-dnat-oif', {src: 'r2', dst: '10.91.3.2', proto: 'tcp', dport: 8080})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops[0].steps.find(s => s.kind === 'nat')!.explanation).to.equal('OUTPUT DNAT: destination 10.91.3.2 becomes 10.91.3.3')
  })
})

describe('trace against the kernel: connect() looks the route up from no address first', () => {
  // r2: `ip rule add not from 10.91.2.0/30 iif lo pref 7102 lookup 100`, `ip route add unreachable default table 100`
  // (the fuzz found it with the rule's own `unreachable`, which a snapshot without ip-rule could not doubt).
  // kernel: r2's TCP connect to 10.91.3.2:8080 fails at once with EHOSTUNREACH, though 10.91.2.2, the source the
  // lookup would give, is in 10.91.2.0/30
  it('fails where that first lookup does, not only where the one from the picked source does', async () => {
    const t = await trace('router-chain-connect-unrouted', {src: 'r2', dst: '10.91.3.2', proto: 'tcp', dport: 8080})
    expect(t.disposition).to.equal('NULL_ROUTED')
    expect(t.failure).to.include({node: 'r2', step: 'route', evidence: 'unreachable default table 100'})
    expect(t.failure!.reason).to.contain('chosen by the policy rule `7102:\tnot from 10.91.2.0/30 iif lo lookup 100`')
  })
})

describe('trace against the kernel: a rule\'s action ends connect() before nat OUTPUT', () => {
  // r2: `ip rule add not from 10.91.0.0/16 iif lo pref 6378 lookup 100`, `ip route add prohibit default table 100`,
  // `table ip fz2 { chain output_nat { type nat hook output priority 0; counter redirect } }` (the kept fuzz case has the rule's own `prohibit`).
  // kernel: r2's TCP connect to 10.91.3.3:80 fails at once with EACCES: its route lookup (from no address) meets the rule before the REDIRECT
  it('fails at the rule\'s route, not at the address nat OUTPUT would have given', async () => {
    const t = await trace('router-chain-connect-unrouted-redirect', {src: 'r2', dst: '10.91.3.3', proto: 'tcp', dport: 80})
    expect(t.disposition).to.equal('NULL_ROUTED')
    expect(t.failure).to.include({node: 'r2', step: 'route', evidence: 'prohibit default table 100'})
    expect(t.failure!.reason).to.contain('before nat OUTPUT would send it to 127.0.0.1')
  })
})

describe('trace against the kernel: a socket\'s failed lookup comes before every OUTPUT chain (trace-kernel-fuzz seed 2911 case 33)', () => {
  // r1: `ip rule add to 10.0.0.0/8 pref 5381 blackhole`, raw `-A OUTPUT ! -s 10.91.3.3/32 -m addrtype --dst-type UNICAST -j DROP`.
  // kernel: r1's UDP connect to 10.91.3.1:80 fails at once with EINVAL, and the raw DROP counts nothing
  it('ends at the rule, not at the raw OUTPUT drop that never sees a packet', async () => {
    const t = await trace('router-chain-connect-blackhole-raw', {src: 'r1', dst: '10.91.3.1', proto: 'udp', dport: 80})
    expect(t.disposition).to.equal('NULL_ROUTED')
    expect(t.failure).to.include({node: 'r1', step: 'route', evidence: '5381:\tfrom all to 10.0.0.0/8 blackhole'})
    expect(t.failure!.reason).to.contain('r1 never sends the packet: the program\'s connect() or sendto() fails at once with EINVAL')
    expect(t.hops[0].steps.map(s => s.kind)).to.deep.equal(['route'])
  })
})

describe('trace against the kernel: a host\'s packet REDIRECTed to itself and stopped on its way round by lo (trace-kernel-fuzz seed 2911 case 18)', () => {
  // r2: nft `table ip fz2 { chain output_nat { type nat hook output priority 100; ct state new meta mark != 0x1 redirect } }`,
  // `table inet fz1 { chain postrouting { type filter hook postrouting priority 100; policy drop; … meta mark set 0x3 return } }`.
  // kernel: r2's ping to 10.91.3.3 gets no reply, and the postrouting chain drops the request; with the fix's two
  // accepts (the request, and established,related for the echo reply that comes round the same chain) it is answered
  it('walks the reply from r2 itself, so the fix lets the reply round by lo too', async () => {
    const t = await trace('router-chain-output-redirect-lo-drop', {src: 'r2', dst: '10.91.3.3'})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.returnPath.hops.map(h => h.node)).to.deep.equal(['r2'])
    expect(t.returnPath.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure!.fix.map(f => f.command)).to.deep.equal([
      'nft insert rule inet fz1 postrouting ip saddr 10.91.3.1 ip daddr 127.0.0.1 ip protocol icmp accept',
      'nft insert rule inet fz1 postrouting ct state established,related accept',
    ])
  })
})

describe('trace against the kernel: the overlay (trace-kernel-fuzz-overlay)', () => {
  it('a vxlan device that differs from its peer\'s in both VNI and port is re-created, not added beside (seed 9001 case 17)', async () => {
    // overlay-vxlan-vni-and-port-differ: n1's flannel.1 is VNI 2 on 8472, n2's VNI 1 on 4789. kernel: p1b's ping to
    // n2's 10.92.0.2 gets there by the underlay; the reply through n2's flannel.1 finds nothing on n1's UDP 4789.
    // The fix was `ip link add flannel.1 …`, refused with "File exists"
    const t = await trace('overlay-vxlan-vni-and-port-differ', {src: 'p1b', dst: '10.92.0.2'})
    expect(t.returnPath.disposition).to.equal('PORT_MISMATCH')
    expect(t.returnPath.failure!.reason).to.equal('no vxlan device on n1 listens on UDP 4789 (its flannel.1 is for VNI 2 on UDP 8472, n2\'s for VNI 1 on UDP 4789): the kernel answers port unreachable')
    expect(t.returnPath.failure!.fix.slice(0, 2).map(f => f.command)).to.deep.equal(['ip link del flannel.1',
      'ip link add flannel.1 address 0e:00:00:00:00:01 mtu 1450 type vxlan id 1 local 10.92.0.1 dev eth0 dstport 4789 nolearning'])
  })

  // n2's flannel.1 is bound to local 10.92.0.9, an address n2 does not have. kernel: p1a's ping to p2b reaches p2b
  // (n2's flannel.1 counts the frame in, p2b's eth0 the request) and the reply is lost at n2 (flannel.1 counts a tx error)
  it('a vxlan device takes what comes to any address of its host, whatever its `local`: only its own packets die', async () => {
    const t = await trace('overlay-vxlan-local-lost', {src: 'p1a', dst: 'p2b'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.hops.map(h => `${h.node}:${h.in}>${h.out}`)).to.deep.equal(['p1a:local>eth0', 'n1:cni0>flannel.1', 'n2:flannel.1>cni0', 'p2b:eth0>local'])
    expect(t.returnPath.disposition).to.equal('NO_ROUTE')
    expect(t.returnPath.failure).to.include({node: 'n2', step: 'encap'})
    expect(t.returnPath.failure!.reason).to.contain('bound to local 10.92.0.9, which is no address of n2')
  })

  // n1: both ports of cni0 down (cni0 NO-CARRIER, its route `linkdown`), `-A OUTPUT -d 10.93.1.2 -j DROP`,
  // `-A FORWARD -d 10.93.1.2 -j DROP`. kernel: n1's ping to p1a and p2a's to p1a each count one packet on those
  // drops; n1's `ping -M do -s 1472 10.93.1.3` says "message too long, mtu=1450"
  it('a device up without carrier still routes: the MTU check and the filters meet the packet before it is lost', async () => {
    const own = await trace('overlay-bridge-no-carrier', {src: 'n1', dst: 'p1a'})
    expect(own.disposition).to.equal('DENIED_BY_FILTER')
    expect(own.failure).to.include({node: 'n1', step: 'filter', evidence: '-A OUTPUT -d 10.93.1.2/32 -j DROP'})
    const forwarded = await trace('overlay-bridge-no-carrier', {src: 'p2a', dst: 'p1a'})
    expect(forwarded.failure).to.include({node: 'n1', step: 'filter', evidence: '-A FORWARD -d 10.93.1.2/32 -j DROP'})
    const big = await trace('overlay-bridge-no-carrier', {src: 'n1', dst: 'p1b', size: 1500})
    expect(big.disposition).to.equal('MTU_EXCEEDED')
    expect(big.failure).to.include({node: 'n1', step: 'mtu'})
    const lost = await trace('overlay-bridge-no-carrier', {src: 'p2a', dst: 'p1b'})
    expect(lost.disposition).to.equal('DEVICE_DOWN')
    expect(lost.failure).to.include({node: 'n1', step: 'route'})
    // the drop comes after FORWARD and POSTROUTING: their steps are in the hop
    expect(lost.hops.find(h => h.node === 'n1')!.steps.map(s => s.kind)).to.include('filter')
    // of the bridge's ports, the one to p1b is what the packet needs: brought up, it gives cni0 its carrier
    expect(lost.failure!.reason).to.contain('no port of it is up, and its port to 10.93.1.3, vethb, is down')
    expect(lost.failure!.fix).to.deep.equal([{node: 'n1', command: 'ip link set vethb up'}])
  })

  // kernel (a veth whose other end is down, in a namespace of its own): ping is silent, traceroute -n -I prints `*`;
  // where the sender's device has its carrier and its ARP goes unanswered, both hear host unreachable from itself
  it('a sender whose own device has no carrier hears nothing back; one whose ARP goes unanswered hears host unreachable from itself', async () => {
    const silent = await trace('overlay-bridge-no-carrier', {src: 'p1a', dst: 'p1b'})
    expect(silent.failure).to.include({node: 'p1a', step: 'route'})
    expect(silent.traceroute).to.deep.equal([])
    expect(silent.failure!.reason).to.not.contain('Destination Host Unreachable')
    const looped = await trace('pod-looped-veth', {src: 'pod-1a', dst: '192.168.100.11'})
    expect(looped.failure!.reason).to.contain('pod-1a reports it to its own socket as ICMP host unreachable from 10.244.85.2 (ping prints "From 10.244.85.2 … Destination Host Unreachable", traceroute `10.244.85.2 !H`)')
  })
})

describe('trace against the kernel: a learning vxlan device and a static entry elsewhere', () => {
  // n2's flannel.1 has `learning` and `0e:00:00:00:00:01 dev flannel.1 dst 10.92.0.2 self permanent` (n1's VTEP MAC at
  // n2's own address). kernel: p1a's ping to p2a never gets in (n2's flannel.1 counts nothing: vxlan_snoop drops it);
  // p2a's ping to n1's 10.92.0.1 goes by the underlay and its reply, tunnelled back, is dropped the same way;
  // `bridge fdb replace … dst 10.92.0.1` makes both pass
  it('drops the frame at decap, naming the entry, where the same device with nolearning would take it', async () => {
    const t = await trace('overlay-vxlan-learning-static-entry', {src: 'p1a', dst: 'p2a'})
    expect(t.disposition).to.equal('WRONG_VTEP_HOST')
    expect(t.failure).to.include({node: 'n2', step: 'decap', evidence: '0e:00:00:00:00:01 dev flannel.1 dst 10.92.0.2 self permanent'})
    expect(t.failure!.fix).to.deep.equal([{node: 'n2', command: 'bridge fdb replace 0e:00:00:00:00:01 dev flannel.1 dst 10.92.0.1 self permanent'}])
    const back = await trace('overlay-vxlan-learning-static-entry', {src: 'p2a', dst: '10.92.0.1'})
    expect(back.disposition).to.equal('DELIVERED')
    expect(back.returnPath.disposition).to.equal('WRONG_VTEP_HOST')
    expect(back.returnPath.failure).to.include({node: 'n2', step: 'decap'})
  })
})

describe('trace against the kernel: two VTEPs with one MAC', () => {
  // n1's and n2's flannel.1 both 0e:00:00:00:00:01, each node's neighbour and fdb entries for the other naming it.
  // kernel: n1 tunnels p1a's ping (its flannel.1 counts it out, n2's eth0 in), n2's flannel.1 takes in nothing
  // (vxlan_set_mac: a frame from the device's own MAC is a loop); the four fixes, run in order, make both ways pass
  it('drops the frame at the receiver\'s decap, and one fix list mends both ways', async () => {
    const t = await trace('overlay-vxlan-same-mac', {src: 'p1a', dst: 'p2a'})
    expect(t.disposition).to.equal('STALE_VTEP_MAC')
    expect(t.failure).to.include({node: 'n2', step: 'decap'})
    expect(t.failure!.reason).to.contain('have the same MAC 0e:00:00:00:00:01')
    const fix = [
      {node: 'n2', command: 'ip link set flannel.1 address 1e:f9:bd:23:8e:6b'},
      {node: 'n2', command: 'ip neigh replace 10.93.1.0 lladdr 0e:00:00:00:00:01 dev flannel.1 nud permanent'},
      {node: 'n1', command: 'ip neigh replace 10.93.2.0 lladdr 1e:f9:bd:23:8e:6b dev flannel.1 nud permanent'},
      {node: 'n1', command: 'bridge fdb replace 1e:f9:bd:23:8e:6b dev flannel.1 dst 10.92.0.2 self permanent'},
    ]
    expect(t.failure!.fix).to.deep.equal(fix)
    const other = await trace('overlay-vxlan-same-mac', {src: 'p2a', dst: 'p1b'})
    expect(other.failure).to.include({node: 'n1', step: 'decap'})
    expect(other.failure!.fix).to.deep.equal(fix)
  })
})

describe('trace against the kernel: a learning vxlan device without an entry for its peer', () => {
  // n2's flannel.1 has `learning` and no fdb entry for n1's VTEP MAC. kernel: p1a's ping to p2a is answered (n2 learns
  // `0e:00:00:00:00:01 dst 10.92.0.1 self` from the request's frame and the reply follows it), traceroute -I shows
  // 10.93.1.1 10.93.2.0 10.93.2.2; p2a's own ping to p1a, with nothing learned yet, is lost at n2
  it('sends the reply where the request came from, but not a packet of its own', async () => {
    const t = await trace('overlay-vxlan-learning-reply', {src: 'p1a', dst: 'p2a'})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.equal('DELIVERED')
    const fdb = t.returnPath.hops.find(h => h.node === 'n2')!.steps.find(s => s.kind === 'fdb')!
    expect(fdb.evidence).to.equal('(learned: 0e:00:00:00:00:01 dev flannel.1 dst 10.92.0.1 self, from the frame n2 took in from 10.92.0.1)')
    expect(t.traceroute).to.deep.equal(['10.93.1.1', '10.93.2.0', '10.93.2.2'])
    const own = await trace('overlay-vxlan-learning-reply', {src: 'p2a', dst: 'p1a'})
    expect(own.disposition).to.equal('FDB_MISSING')
    expect(own.failure).to.include({node: 'n2', step: 'fdb'})
  })
})

describe('trace against the kernel: cases the foreign-hosts fuzz found', () => {
  /** the snapshot with `sysctls` over n's (a device's forwarding back on, say) */
  async function traceWith(snapshot: string, sysctls: Record<string, string>, req: TraceRequest) {
    const {world} = await loadSource({snapshot: join(SNAPSHOTS, snapshot)})
    return traceFlow({...world, hosts: world.hosts.map(h => (h.name === 'n' ? {...h, sysctls: {...h.sysctls, ...sysctls}} : h))}, req)
  }

  it('proxy ARP answers only on a device that forwards: a Calico pod\'s 169.254.1.1 goes unanswered on a node with ip_forward 0', async () => {
    // foreign-calico-proxy-arp-forwarding: n has proxy_arp on calip and routes 169.254.1.1 out of eth0 (its default),
    // but net.ipv4.ip_forward = 0; p's default is `via 169.254.1.1 dev eth0 onlink`. kernel: p's ping to n's own
    // 10.95.0.1 is lost, p's neighbour entry for 169.254.1.1 stays INCOMPLETE (arp_process: IN_DEV_FORWARD);
    // after `sysctl -w net.ipv4.ip_forward=1` it is answered
    const t = await trace('foreign-calico-proxy-arp-forwarding', {src: 'p', dst: '10.95.0.1'})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure).to.include({node: 'p', step: 'neigh'})
    expect(t.failure!.reason).to.contain('does not forward what arrives there (net.ipv4.ip_forward = 0)')
    expect(t.failure!.fix).to.deep.equal([{node: 'n', command: 'sysctl -w net.ipv4.ip_forward=1'}])
    const on = await traceWith('foreign-calico-proxy-arp-forwarding', {'net.ipv4.ip_forward': '1', 'net.ipv4.conf.calip.forwarding': '1'}, {src: 'p', dst: '10.95.0.1'})
    expect(on.disposition).to.equal('DELIVERED')
  })

  it('a Calico node with proxy_arp off and no default route: the fix turns proxy_arp on and routes the gateway, both (seed 5501 case 4)', async () => {
    // foreign-calico-proxy-arp-off-no-default: n1 `ip route del default`, `sysctl -qw net.ipv4.conf.calip1a.proxy_arp=0`.
    // kernel: p1a's UDP to n2 (10.95.0.2) gets nothing, its entry for 169.254.1.1 FAILED; with proxy_arp back alone
    // still nothing (n1 routes 169.254.1.1 nowhere); with both fixes the reply comes
    const t = await trace('foreign-calico-proxy-arp-off-no-default', {src: 'p1a', dst: '10.95.0.2', proto: 'udp', dport: 8080})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure!.reason).to.contain('proxy_arp is off, so nothing answers for 169.254.1.1; turning it on is not enough: n1 has no route to 169.254.1.1')
    expect(t.failure!.fix).to.deep.equal([
      {node: 'n1', command: 'sysctl -w net.ipv4.conf.calip1a.proxy_arp=1'},
      {node: 'n1', command: 'ip route replace 169.254.1.1 dev eth0 scope link'},
    ])
  })

  it('a request a published port sent to one of two docker hosts\' containers of one address is answered, as if it went on, by that host\'s', async () => {
    // foreign-docker-pair-published-no-forwarding: n1 and n2 are docker hosts (172.17.0.2 on each, 8080 published to it);
    // n2 has ip_forward 0. kernel: x's TCP connect to 10.95.0.2:8080 times out, n2 drops the DNATed SYN.
    // trace stopped with "172.17.0.2 is the address of pod p1a (on n1) and pod p2a (on n2)" when it traced the reply
    const t = await trace('foreign-docker-pair-published-no-forwarding', {src: 'x', dst: '10.95.0.2', proto: 'tcp', dport: 8080})
    expect(t.disposition).to.equal('FORWARDING_DISABLED')
    expect(t.failure).to.include({node: 'n2', step: 'sysctl'})
    expect(t.returnPath.hops.map(h => h.node)).to.deep.equal(['p2a', 'n2'])
  })

  it('br_netfilter runs nat POSTROUTING on a bridged frame: flannel 0.10\'s masquerade without its RETURN gives a pod\'s neighbour the bridge\'s address', async () => {
    // foreign-flannel-bridged-masquerade: n2 is a flannel 0.10 node (docker0 10.244.2.1/24, bridge-nf-call-iptables 1)
    // whose `-s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN` is gone, leaving `-s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE`.
    // kernel: p2b's UDP server sees p2a's datagram from 10.244.2.1 (conntrack: reply dst=10.244.2.1), and answers it
    const t = await trace('foreign-flannel-bridged-masquerade', {src: 'p2a', dst: 'p2b', proto: 'udp', dport: 80})
    const bridged = t.hops.find(h => h.node === 'n2')!
    expect(bridged.steps.map(s => [s.kind, s.verdict])).to.deep.equal([['fdb', 'ok'], ['filter', 'accept'], ['nat', 'masquerade']])
    expect(bridged.steps.at(-1)!.explanation).to.contain('source 10.244.2.2 becomes 10.244.2.1')
    expect([t.disposition, t.returnPath.disposition]).to.deep.equal(['DELIVERED', 'DELIVERED'])
    expect(t.returnPath.hops.map(h => h.node)).to.deep.equal(['p2b', 'n2', 'p2a'])
  })

  it('and the facing device\'s own forwarding is what counts: calip\'s off keeps it silent, eth0\'s off does not', async () => {
    // kernel: with ip_forward 1, `net.ipv4.conf.calip.forwarding=0` leaves 169.254.1.1 INCOMPLETE; eth0's forwarding 0 alone does not
    const calip = await traceWith('foreign-calico-proxy-arp-forwarding', {'net.ipv4.ip_forward': '1', 'net.ipv4.conf.calip.forwarding': '0', 'net.ipv4.conf.eth0.forwarding': '1'}, {src: 'p', dst: '10.95.0.1'})
    expect(calip.disposition).to.equal('NEIGHBOR_MISSING')
    expect(calip.failure!.fix).to.deep.equal([{node: 'n', command: 'sysctl -w net.ipv4.conf.calip.forwarding=1'}])
    const eth0 = await traceWith('foreign-calico-proxy-arp-forwarding', {'net.ipv4.ip_forward': '1', 'net.ipv4.conf.calip.forwarding': '1', 'net.ipv4.conf.eth0.forwarding': '0'}, {src: 'p', dst: '10.95.0.1'})
    expect(eth0.disposition).to.equal('DELIVERED')
  })
})

describe('trace against the kernel: rp_filter\'s lookup back for a forwarded packet', () => {
  // r1: strict rp_filter on a0, `ip rule add iif lo to 10.91.1.2 ipproto icmp pref 100 lookup 100`, table 100:
  // 10.91.1.2 via 10.91.4.2 (by n0). Found by the router fuzz running a NULL_ROUTED fix (its kept case 3):
  // once the route to b is back, the kernel forwards a's ping although trace said rp_filter drops it.

  it('looks the source up from the outgoing device, so an `iif lo` rule does not steer it (kernel: a → b replies)', async () => {
    // __mkroute_input passes the route's device (m0) as fib_validate_source's oif, the lookup's iif
    const t = await trace('router-rp-forward-iif', {src: 'a', dst: '10.91.3.2'})
    expect(t.disposition, t.failure?.reason).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.equal('DELIVERED')
  })
})

describe('trace against the kernel: a fix for both ways, run top to bottom', () => {
  // foreign-docker-flannel-blackhole-both-ways (the foreign fuzz's seed 2 case 14, its fix run): n1 a docker
  // host whose POSTROUTING was flushed (p1a's 172.17.0.2 leaves unmasqueraded), n2 an old flannel node with
  // strict rp_filter and `blackhole 172.17.0.0/16`: the request dies by rp_filter, its reply by the blackhole.

  it('deletes the null route before the replace of its prefix that the reply\'s fix shares with the request\'s', async () => {
    const t = await trace('foreign-docker-flannel-blackhole-both-ways', {src: 'p1a', dst: 'p2a', proto: 'tcp', dport: 80})
    expect(t.disposition).to.equal('REVERSE_PATH_FILTERED')
    // kernel: the replace overwrites the blackhole in its place, so a deletion after it fails ("No such process")
    expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`)).to.deep.equal([
      'n2: ip route del blackhole 172.17.0.0/16', 'n2: ip route replace 172.17.0.0/16 via 10.95.0.1 dev eth0'])
  })
})

describe('trace against the kernel: the accept a DNAT to an address range needs', () => {
  // router-dnat-range-forward-drop: r1 `-t nat -A PREROUTING -i a0 -p tcp -j DNAT --to-destination 10.91.3.2-10.91.3.3:8080`
  // and FORWARD policy DROP; b has both addresses. Found by the router fuzz running the fix.

  it('accepts the whole range: the kernel picks the address per connection, not the first trace follows', async () => {
    // kernel: a's connection from 10.91.1.2:40000 to 10.91.1.1:80 went to 10.91.3.3:8080, which
    // `-d 10.91.3.2` (the fix before) did not let through; `-m iprange --dst-range` did
    const t = await trace('router-dnat-range-forward-drop', {src: 'a', dst: '10.91.1.1', proto: 'tcp', dport: 80})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    // and it follows the address the kernel took (nf_nat's hash of the source, seeded by the destination)
    expect(t.hops.flatMap(h => h.steps).find(s => s.verdict === 'dnat')?.explanation).to.contain('becomes 10.91.3.3:8080')
    expect(t.warnings.map(w => w.message).join('\n')).to.not.contain('picks one per connection')
    expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`)).to.include(
      'r1: iptables -I FORWARD -s 10.91.1.2 -m iprange --dst-range 10.91.3.2-10.91.3.3 -p tcp --dport 8080 -j ACCEPT')
  })
})

describe('trace against the kernel: raw OUTPUT\'s `-o` is the device of the socket\'s route', () => {
  // router-raw-output-notrack-oif (the router fuzz's seed 2 case 25): r2 REDIRECTs a's TCP to 10.91.3.2:80 to
  // itself (`--to-ports 8080-8090`), `-t raw -A OUTPUT ! -o b+ -m mark ! --mark 0x3/0xff -j NOTRACK`, and an
  // nft output chain with policy drop. Found by running the fix `ct state established,related accept`: the
  // kernel still dropped the SYN-ACK, which leaves by m0 and so is not tracked.

  it('takes the reply out of conntrack where the rule names the device it leaves by (kernel: the accept of established does not let it by)', async () => {
    const t = await trace('router-raw-output-notrack-oif', {src: 'a', dst: '10.91.3.2', proto: 'tcp', dport: 80})
    expect(t.returnPath.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.returnPath.failure!.reason).to.contain('(UNTRACKED)')
    expect(t.warnings.filter(w => w.code === 'ASSUMED').map(w => w.message).join('\n')).to.not.contain('NOTRACK')
    expect(t.returnPath.failure!.fix.map(f => f.command).join('\n')).to.not.contain('ct state established')
    // the reply's accept names the server's port, its source: 40000 is this connection's ephemeral port only
    expect(t.returnPath.failure!.fix.map(f => f.command)).to.deep.equal(['nft insert rule inet fz2 output ip saddr 10.91.2.2 ip daddr 10.91.1.2 tcp sport 8080 accept'])
  })
})

describe('trace against the kernel: a reply conntrack does not map back (NAT_NOT_UNDONE)', () => {
  // router-output-dnat-reply-untracked (trace-kernel-fuzz seed 6262 case 42, FC_KDIFF_SOURCE=r2): r2's nat OUTPUT
  // DNATs its own connection to 10.91.3.1:80 to 10.91.3.3:80-81, and its raw `-A PREROUTING -m conntrack ! --ctstate
  // NEW -j NOTRACK` takes every packet coming in (the raw table runs before conntrack: there every state is INVALID).
  // kernel: b's listener counts the SYN, r2's connect times out; with the NOTRACK rule deleted it connects
  it('a NOTRACK on the host that DNATed the request: the reply keeps the server\'s address, which no socket takes', async () => {
    const t = await trace('router-output-dnat-reply-untracked', {src: 'r2', dst: '10.91.3.1', proto: 'tcp', dport: 80})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.equal('NAT_NOT_UNDONE')
    expect(t.returnPath.failure).to.include({node: 'r2', step: 'deliver'})
    expect(t.returnPath.failure!.reason).to.equal('the reply reaches r2 from 10.91.3.3:80, but the request went to 10.91.3.1:80: '
      + '`-A PREROUTING -m conntrack ! --ctstate NEW -j NOTRACK` (raw PREROUTING) takes the reply out of conntrack on r2, so r2 does not undo its DNAT '
      + '`-A OUTPUT -d 10.91.3.0/24 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.91.3.3:80-81`; no socket takes it (the SYN-ACK is answered with a reset, and the connection times out)')
    expect(t.returnPath.failure!.fix).to.deep.equal([{node: 'r2', command: 'iptables -t raw -D PREROUTING -m conntrack ! --ctstate NEW -j NOTRACK'}])
    expect(t.traceroute.at(-1)).to.equal('*')
  })

  // kernel (namespaces c — r — s): r DNATs every packet for 10.0.1.1 to s, and `-t raw -A PREROUTING -i rs -j NOTRACK`
  // untracks the replies: c's TCP and UDP connections time out, its ping prints "64 bytes from 10.0.2.2 … (DIFFERENT ADDRESS!)" and exits 0
  it('ping takes an echo reply from another address: still delivered, and the step says what a connection would get', async () => {
    const t = await traceEdited('router-output-dnat-reply-untracked', 'r2/iptables-save.txt',
      text => text.replace('-A OUTPUT -d 10.91.3.0/24 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.91.3.3:80-81', '-A OUTPUT -d 10.91.3.0/24 -j DNAT --to-destination 10.91.3.3'),
      {src: 'r2', dst: '10.91.3.1'})
    expect([t.disposition, t.returnPath.disposition]).to.deep.equal(['DELIVERED', 'DELIVERED'])
    expect(t.returnPath.hops.at(-1)!.steps.at(-1)!.explanation).to.contain('(the echo reply comes from 10.91.3.3, not 10.91.3.1: `-A PREROUTING -m conntrack ! --ctstate NEW -j NOTRACK` (raw PREROUTING) takes the reply out of conntrack on r2, so r2 does not undo its DNAT `-A OUTPUT -d 10.91.3.0/24 -j DNAT --to-destination 10.91.3.3`; ping takes it, printing "(DIFFERENT ADDRESS!)", where a TCP or UDP connection would get no answer)')
  })

  // kernel (checked while docs/trace.md listed it as not modelled): a UDP exchange REDIRECTed to r's port 8080, whose answers
  // `iptables -t raw -A OUTPUT -p udp --sport 8080 -j NOTRACK` untracks there, times out
  it('a REDIRECT whose answers the server\'s own raw OUTPUT untracks: the reply keeps the redirected port', async () => {
    const t = await traceEdited('router-output-dnat-reply-untracked', 'r2/iptables-save.txt', text => text
      .replace('-A PREROUTING -m conntrack ! --ctstate NEW -j NOTRACK\n', '-A OUTPUT -p udp -m udp --sport 8080 -j NOTRACK\n')
      .replace('*nat\n', '*nat\n-A PREROUTING -p udp -m udp --dport 80 -j REDIRECT --to-ports 8080\n'), {src: 'a', dst: '10.91.2.2', proto: 'udp', dport: 80})
    expect([t.disposition, t.returnPath.disposition]).to.deep.equal(['DELIVERED', 'NAT_NOT_UNDONE'])
    expect(t.returnPath.failure).to.include({node: 'a', step: 'deliver'})
    expect(t.returnPath.failure!.reason).to.contain('the reply reaches a from 10.91.2.2:8080, but the request went to 10.91.2.2:80: `-A OUTPUT -p udp -m udp --sport 8080 -j NOTRACK` (raw OUTPUT) takes the reply out of conntrack on r2, so r2 does not undo its REDIRECT')
    expect(t.returnPath.failure!.fix).to.deep.equal([{node: 'r2', command: 'iptables -t raw -D OUTPUT -p udp -m udp --sport 8080 -j NOTRACK'}])
  })

  // kernel (namespaces a — r, r with 10.77.0.2 and .3): r's `-t raw -A PREROUTING -p udp --dport 9999 -j CT --notrack` and
  // `-t nat -A POSTROUTING -p udp --sport 9999 -j SNAT --to-source 10.77.0.3`: the SNAT counts the answer, and a's connected
  // UDP socket times out; without the NOTRACK the answer is the connection's, nat never sees it, and the socket gets it
  it('a request untracked on its server: the answer starts a connection of its own there, which a source NAT rewrites', async () => {
    const req = {src: 'a', dst: '10.91.2.2', proto: 'udp' as const, dport: 9999}
    const t = await traceEdited('router-output-dnat-reply-untracked', 'r2/iptables-save.txt', text => text
      .replace('-A PREROUTING -m conntrack ! --ctstate NEW -j NOTRACK\n', '-A PREROUTING -p udp -m udp --dport 9999 -j CT --notrack\n')
      .replace('*nat\n', '*nat\n-A POSTROUTING -p udp -m udp --sport 9999 -j SNAT --to-source 10.91.3.1\n'), req)
    expect([t.disposition, t.returnPath.disposition]).to.deep.equal(['DELIVERED', 'NAT_NOT_UNDONE'])
    const snat = t.returnPath.hops[0].steps.find(s => s.kind === 'nat')!
    expect(snat.explanation).to.equal('POSTROUTING SNAT: source 10.91.2.2 becomes 10.91.3.1 (r2 has no connection for the reply: '
      + '`-A PREROUTING -p udp -m udp --dport 9999 -j CT --notrack` (raw PREROUTING) took the request out of conntrack there; so the reply starts one of its own, which nat sees)')
    expect(t.returnPath.failure).to.include({node: 'a', step: 'deliver'})
    expect(t.returnPath.failure!.reason).to.equal('the reply reaches a from 10.91.3.1:9999, but the request went to 10.91.2.2:9999: r2 has no connection for the reply '
      + '(`-A PREROUTING -p udp -m udp --dport 9999 -j CT --notrack` (raw PREROUTING) took the request out of conntrack there), so its nat takes the reply for a new connection '
      + 'and source NAT `-A POSTROUTING -p udp -m udp --sport 9999 -j SNAT --to-source 10.91.3.1` rewrites its source to 10.91.3.1; no socket takes it (the connected UDP socket waits in vain)')
    expect(t.returnPath.failure!.fix).to.deep.equal([{node: 'r2', command: 'iptables -t raw -D PREROUTING -p udp -m udp --dport 9999 -j CT --notrack'}])
    // tracked, the answer is the connection's: nat is not asked
    const tracked = await traceEdited('router-output-dnat-reply-untracked', 'r2/iptables-save.txt', text => text
      .replace('-A PREROUTING -m conntrack ! --ctstate NEW -j NOTRACK\n', '')
      .replace('*nat\n', '*nat\n-A POSTROUTING -p udp -m udp --sport 9999 -j SNAT --to-source 10.91.3.1\n'), req)
    expect([tracked.disposition, tracked.returnPath.disposition]).to.deep.equal(['DELIVERED', 'DELIVERED'])
    expect(tracked.returnPath.hops[0].steps.filter(s => s.kind === 'nat')).to.deep.equal([])
  })

  // trace-kernel-fuzz seed 4343 case 41 (this fixture's r2 edited to it; r1 masquerades a here): r2's raw PREROUTING untracks what comes in for 10.91.2.0/24 and its
  // OUTPUT policy is DROP. kernel: a's connect to 10.91.2.2:8080 times out, and an OUTPUT accept for ESTABLISHED changes nothing:
  // r2 never tracked the SYN, so its SYN-ACK starts no connection (INVALID)
  it('a SYN-ACK where the SYN passed untracked is INVALID: a stateful accept misses it, an accept for the flow does not', async () => {
    const t = await traceEdited('router-output-dnat-reply-untracked', 'r2/iptables-save.txt', text => text
      .replace('-A PREROUTING -m conntrack ! --ctstate NEW -j NOTRACK\n', '-A PREROUTING -d 10.91.2.0/24 -j CT --notrack\n')
      .replace(':OUTPUT ACCEPT [0:0]\n:fckd-U', ':OUTPUT DROP [0:0]\n:fckd-U'), {src: 'a', dst: '10.91.2.2', proto: 'tcp', dport: 8080})
    expect([t.disposition, t.returnPath.disposition]).to.deep.equal(['DELIVERED', 'DENIED_BY_FILTER'])
    expect(t.returnPath.failure!.reason).to.equal('OUTPUT on r2 drops tcp 10.91.2.2 → 10.91.2.1:40000 (INVALID) by the chain policy DROP (r2 has no connection for the reply: '
      + '`-A PREROUTING -d 10.91.2.0/24 -j CT --notrack` (raw PREROUTING) took the request out of conntrack there; so the SYN-ACK starts none and is INVALID)')
    expect(t.returnPath.failure!.fix).to.deep.equal([{node: 'r2', command: 'iptables -I OUTPUT -s 10.91.2.2 -d 10.91.2.1 -p tcp --sport 8080 -j ACCEPT'}])
  })

  // kube-proxy-clusterip: 10.96.0.11:80 → p1b (10.60.1.3:8080), on p1's bridge. kernel (trace-foreign-hosts, o1): with
  // net.bridge.bridge-nf-call-iptables=0 the endpoint's reply is switched straight to the client and the connect times out
  it('a Service endpoint on the client\'s bridge: with br_netfilter the bridge\'s conntrack maps the reply back, without it nothing does', async () => {
    const req = {src: 'p1', dst: '10.96.0.11', proto: 'tcp' as const, dport: 80}
    const on = await trace('kube-proxy-clusterip', req)
    expect([on.disposition, on.returnPath.disposition]).to.deep.equal(['DELIVERED', 'DELIVERED'])
    expect(on.returnPath.hops.find(h => h.node === 'n1')!.steps.find(s => s.verdict === 'de-nat')!.explanation).to.equal('conntrack gives the reply from 10.60.1.3 the source 10.96.0.11, the destination this host rewrote on the way in')
    const off = await traceEdited('kube-proxy-clusterip', 'n1/sysctl.json', text => text.replace('"net.bridge.bridge-nf-call-iptables": "1"', '"net.bridge.bridge-nf-call-iptables": "0"'), req)
    expect([off.disposition, off.returnPath.disposition]).to.deep.equal(['DELIVERED', 'NAT_NOT_UNDONE'])
    expect(off.returnPath.failure!.reason).to.contain('n1 switches the reply across cni0 without br_netfilter (net.bridge.bridge-nf-call-iptables = 0), so its conntrack never sees it')
    expect(off.returnPath.failure!.fix).to.deep.equal([{node: 'n1', command: 'sysctl -w net.bridge.bridge-nf-call-iptables=1'}])
  })
})

describe('trace against the kernel: a host\'s own connection and its route lookups', () => {
  // trace-kernel-fuzz seed 6464 case 42 (FC_KDIFF_SOURCE=r1): r1's rule `not sport 32768-60999 prohibit`. kernel: an unbound
  // TCP client on r1 gets EACCES from connect() (its first lookup has port 0); one bound to port 40000 connects, and UDP,
  // which binds its port before the lookup, gets through
  it('TCP\'s connect() looks its route up with source port 0: a rule refusing that port fails it, UDP passes', async () => {
    const edit = {'r1/ip-rule.txt': (text: string) => text.replace('32766:', '9078:\tnot from all sport 32768-60999 prohibit\n32766:')}
    const tcp = await traceEdited('router-output-dnat-reply-untracked', edit, undefined, {src: 'r1', dst: '10.91.3.2', proto: 'tcp', dport: 80})
    expect(tcp.disposition).to.equal('NULL_ROUTED')
    expect(tcp.failure).to.include({node: 'r1', step: 'route'})
    expect(tcp.failure!.reason).to.contain('connect() on r1 looks the route to 10.91.3.2 up before its socket has a port (source port 0), and the policy rule `9078:\tnot from all sport 32768-60999 prohibit` says prohibit for that')
    expect(tcp.failure!.reason).to.contain('EACCES')
    expect(tcp.failure!.fix).to.deep.equal([{node: 'r1', command: 'ip rule del pref 9078'}])
    const udp = await traceEdited('router-output-dnat-reply-untracked', edit, undefined, {src: 'r1', dst: '10.91.3.2', proto: 'udp', dport: 80})
    expect(udp.disposition).to.equal('DELIVERED')
    expect(udp.hops[0].steps.find(s => s.kind === 'route')!.evidence).to.not.contain('prohibit')
    // traceroute's probes have their port before their lookup: the refusal does not stop them
    expect(tcp.traceroute).to.deep.equal(udp.traceroute).and.to.have.length.above(0)
  })
})

describe('trace against the kernel: a stop behind a policy rule\'s refusal (trace-kernel-fuzz seed 8585 case 4)', () => {
  // router-rule-refusal-then-drop: r1's native prerouting chain (priority -150) drops everything (n1); r2 has
  // `ip rule add pref 18999 prohibit`. kernel: a's connect times out at r1; after the request's accept there and the
  // rule's deletion alone, r1's n1 drops the SYN-ACK (its counter counts it); with an established accept too, it connects
  it('the fix lets the reply by what stops it once the rule is gone, not only by the rule', async () => {
    const t = await trace('router-rule-refusal-then-drop', {src: 'a', dst: '10.91.3.3', proto: 'tcp', dport: 8080})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.returnPath.disposition).to.equal('NULL_ROUTED')
    expect(t.failure!.reason).to.contain('(once the fix is run, r1\'s `counter packets 3 bytes 204 drop comment "n1"` stops the reply: DENIED_BY_FILTER; the fix mends that too)')
    expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`)).to.deep.equal([
      'r1: nft insert rule inet fz1 prerouting ip saddr 10.91.1.2 ip daddr 10.91.3.3 tcp dport 8080 accept',
      'r2: ip rule del pref 18999',
      'r1: nft insert rule inet fz1 prerouting ct state established,related accept',
    ])
  })
})

describe('trace against the kernel: ARP and the lookup back to its sender (trace-kernel-fuzz seed 8585 case 46)', () => {
  // r2: `ip rule add not from 10.91.4.1/32 pref 3705 prohibit`, rp_filter=2. kernel: r1's ARP for 10.91.2.2 goes unanswered
  // (the target is local by table local, but the lookup back to the sender 10.91.2.1 from 10.91.2.2 is prohibited, which
  // rp_filter takes for no route); with the rule deleted r1's connect is answered. The fix used to be a route to 10.91.2.1
  // via 10.91.2.1 itself, which the kernel refuses ("Nexthop has invalid gateway")
  it('a rule that refuses the lookup back is the fault, and its deletion the fix', async () => {
    const t = await traceEdited('router-output-dnat-reply-untracked', {
      'r2/ip-rule.txt': text => text.replace('32766:', '3705:\tnot from 10.91.4.1 prohibit\n32766:'),
      'r2/sysctl.txt': text => text.replace('net.ipv4.conf.all.rp_filter = 0', 'net.ipv4.conf.all.rp_filter = 2'),
      'r1/ip-neigh.txt': text => text.split('\n').filter(l => !l.startsWith('10.91.2.2 ')).join('\n'),
    }, undefined, {src: 'a', dst: '10.91.3.2', proto: 'tcp', dport: 8080})
    expect(t.disposition).to.equal('NEIGHBOR_MISSING')
    expect(t.failure).to.include({node: 'r1', step: 'neigh'})
    expect(t.failure!.reason).to.contain('r2 checks the request\'s sender 10.91.2.1 as it checks a packet\'s source, and with net.ipv4.conf.all.rp_filter = 2 on m0 its policy rule `3705:\tnot from 10.91.4.1 prohibit` says prohibit for the lookup back to 10.91.2.1, so it ignores the request')
    expect(t.failure!.fix[0]).to.deep.equal({node: 'r2', command: 'ip rule del pref 3705'})
    expect(t.failure!.fix.map(f => f.command)).to.not.include('ip route replace 10.91.2.1 via 10.91.2.1 dev m0')
  })
})

describe('trace against the kernel: strict rp_filter and a route back by another device (trace-kernel-fuzz-overlay seed 8080 case 33)', () => {
  // overlay-strict-rpf-route-by-underlay: n1 routes 10.93.2.2 via 10.92.0.2 dev eth0 (by the underlay, not
  // flannel.1); n2 has no route to n1's pods and rp_filter=1 on eth0. kernel: p1a's ping is dropped by n2's
  // rp_filter; after `ip route replace 10.93.1.0/24 via 10.93.1.0 dev flannel.1 onlink` alone, still (strict: it came in on eth0)
  it('the fix that routes back by flannel.1 loosens rp_filter on eth0 too', async () => {
    const t = await trace('overlay-strict-rpf-route-by-underlay', {src: 'p1a', dst: '10.93.2.2', size: 1450})
    expect(t.disposition).to.equal('REVERSE_PATH_FILTERED')
    expect(t.failure!.reason).to.contain('(the route the fix adds leaves by flannel.1, not eth0, where the packet came in: strict rp_filter would drop it still, so it is loosened too)')
    expect(t.failure!.fix.map(f => f.command)).to.deep.equal(['ip route replace 10.93.1.0/24 via 10.93.1.0 dev flannel.1 onlink', 'sysctl -w net.ipv4.conf.eth0.rp_filter=2'])
  })
})

describe('trace against the kernel: a reply dropped twice on its way back (trace-kernel-fuzz)', () => {
  // router-forward-drop-reply-past-output (seed 7777 case 14): r1's native forward chain has policy drop, r2's output
  // chain too. kernel: a's UDP to r2 dies at r1; after the request's accept there and the reply's on r2 alone, r1's
  // forward policy drops the reply (its counter counts it); with an established accept there too, it is answered
  it('the fix lets the reply by every filter that drops it, not only the first', async () => {
    const t = await trace('router-forward-drop-reply-past-output', {src: 'a', dst: '10.91.2.2', proto: 'udp', dport: 80})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.returnPath.failure).to.include({node: 'r2', step: 'filter'})
    expect(t.returnPath.failure!.reason).to.contain('(past it, r1\'s `table inet fz2 chain forward { type filter hook forward priority -150; policy drop; }` drops the reply too: the fix lets it by there as well)')
    expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`)).to.deep.equal([
      'r1: nft insert rule inet fz2 forward ip saddr 10.91.1.2 ip daddr 10.91.2.2 udp dport 80 accept',
      'r2: nft insert rule ip fz1 output ct state established,related accept',
      'r1: nft insert rule inet fz2 forward ct state established,related accept',
    ])
  })

  // the same for the request: r1 drops it, and r2's FORWARD policy would drop it next (the router fuzz counted such
  // second drops as "died elsewhere" after the first fix)
  it('the fix lets the request by every filter that drops it, not only the first', async () => {
    const t = await traceEdited('router-output-dnat-reply-untracked', {
      'r1/iptables-save.txt': text => text.replace('-A FORWARD ! -o a0 -j fckd-U\n', '-A FORWARD -p udp -m udp --dport 80 -j DROP\n'),
      'r2/iptables-save.txt': text => text.replace('*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]', '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]'),
    }, undefined, {src: 'a', dst: '10.91.3.3', proto: 'udp', dport: 80})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure).to.include({node: 'r1', step: 'filter'})
    expect(t.failure!.reason).to.contain('(past it, r2\'s `-P FORWARD DROP` drops the request too: the fix lets it by there as well)')
    expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`).slice(0, 2)).to.deep.equal([
      'r1: iptables -D FORWARD -p udp -m udp --dport 80 -j DROP',
      'r2: iptables -I FORWARD -s 10.91.2.1 -d 10.91.3.3 -p udp --dport 80 -j ACCEPT',
    ])
  })

  // router-native-prerouting-drop-both-ways (seed 6161 case 46, FC_KDIFF_NATIVE=1): r1's prerouting chain at priority
  // -300 ends in `counter drop`, r2's output rejects what it sends. kernel: after the request's accept on r1 and an
  // established accept on r2, r1's "n3" drop counts the reply: at -300 no packet has its connection yet, so a
  // `ct state established,related` accept there would not match it; the reply's own accept by its source port does
  it('below conntrack\'s priority the reply is let by as a flow of its own, not by its state', async () => {
    const t = await trace('router-native-prerouting-drop-both-ways', {src: 'a', dst: '10.91.2.2', proto: 'udp', dport: 8080})
    expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`)).to.deep.equal([
      'r1: nft insert rule inet fz1 prerouting ip saddr 10.91.1.2 ip daddr 10.91.2.2 udp dport 8080 accept',
      'r2: nft insert rule inet fz2 output ct state established,related accept',
      'r1: nft insert rule inet fz1 prerouting ip saddr 10.91.2.2 ip daddr 10.91.1.2 udp sport 8080 accept',
    ])
  })

  // the raw table runs before conntrack (every state there is INVALID, as the router fuzz's raw rules showed): a reply
  // a raw rule drops is let by as a flow of its own there, by its source port, not by an established accept
  it('a reply raw PREROUTING\'s DROP policy drops gets an accept of its own, not one by its state', async () => {
    const t = await traceEdited('router-output-dnat-reply-untracked', 'r2/iptables-save.txt',
      text => text.replace('*raw\n:PREROUTING ACCEPT [0:0]', '*raw\n:PREROUTING DROP [0:0]').replace('-A PREROUTING -m conntrack ! --ctstate NEW -j NOTRACK\n', ''), {src: 'r2', dst: '10.91.3.1', proto: 'tcp', dport: 80})
    expect(t.returnPath.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.returnPath.failure!.fix.map(f => f.command)).to.deep.equal(['iptables -t raw -I PREROUTING -s 10.91.3.3 -d 10.91.3.1 -p tcp --sport 80 -j ACCEPT'])
  })
})

describe('trace against the kernel: a reply rejected by a rule whose deletion leaves it to the chain\'s drop policy (trace-kernel-fuzz seed 2727 case 31)', () => {
  // router-reply-reject-then-policy: r1's native forward chain (policy drop) rejects what is not NEW (n2, handle 4).
  // kernel: after the request's accept and n2's deletion alone, the SYN-ACK met the policy drop (no connection);
  // with the established accept too, a connects
  it('the fix, run on the tables, shows the policy behind the rule, and its accept of the reply is merged', async () => {
    const t = await trace('router-reply-reject-then-policy', {src: 'a', dst: '10.91.3.3', proto: 'tcp', dport: 8080})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.returnPath.failure!.evidence).to.contain('comment "n2"')
    expect(t.failure!.reason).to.contain('(once the fix is run, r1\'s `table inet fz1 chain forward { type filter hook forward priority -150; policy drop; }` stops the reply: DENIED_BY_FILTER; the fix mends that too)')
    expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`)).to.deep.equal([
      'r1: nft insert rule inet fz1 forward ip saddr 10.91.1.2 ip daddr 10.91.3.3 tcp dport 8080 accept',
      'r1: nft delete rule inet fz1 forward handle 4',
      'r1: nft insert rule inet fz1 forward ct state established,related accept',
    ])
  })
})

describe('trace against the kernel: what stops the packet behind a filter\'s drop (trace-kernel-fuzz seed 2828, cases 18 and 31)', () => {
  // kernel, case 18: after r1's accepts alone the ping died at r2's `blackhole 10.91.3.2`; with the
  // route fixed, r2's REJECT and its native n2 drop stopped it; with all of the fix below it is answered
  it('a null route behind the drop is named, and what the fix then meets past it', async () => {
    const t = await trace('router-forward-drop-then-blackhole', {src: 'a', dst: '10.91.3.2'})
    expect(t.failure!.evidence).to.equal('-P FORWARD DROP')
    expect(t.failure!.reason).to.contain('(past it, r2\'s `blackhole 10.91.3.2` stops the request: NULL_ROUTED; the fix mends that too)')
    expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`)).to.include.members([
      'r2: ip route del blackhole 10.91.3.2',
      'r2: iptables -D FORWARD -o b+ -m iprange --src-range 10.91.1.1-10.91.1.9 -j REJECT --reject-with icmp-admin-prohibited',
      'r2: nft insert rule ip fz2 postrouting ip saddr 10.91.1.2 ip daddr 10.91.3.2 ip protocol icmp accept',
    ])
  })

  // kernel, case 31: r2's raw PREROUTING NOTRACK takes a's UDP request out of conntrack, so r2's answer
  // starts a connection of its own, which r2's output_route chain rejects; an ESTABLISHED accept did nothing
  it('a request a filter stopped is answered as if it had gone on: the server that untracked it sends a NEW reply', async () => {
    const t = await trace('router-forward-drop-server-notrack', {src: 'a', dst: '10.91.2.2', proto: 'udp', dport: 8080})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.returnPath.failure!.reason).to.contain('r2 has no connection for the reply: `-A PREROUTING -j NOTRACK` (raw PREROUTING) took the request out of conntrack there')
    expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`)).to.include('r2: nft insert rule ip fz2 output_route ip saddr 10.91.2.2 ip daddr 10.91.1.2 udp sport 8080 accept')
  })
})

describe('trace against the kernel: a pod reaching itself through a Service behind a hairpin-off port (overlay fuzz seed 8181 case 34)', () => {
  // overlay-service-self-hairpin-martian: n1 DNATs 10.96.0.10 to p1a itself, and veth-a has hairpin off.
  // kernel: with hairpin on alone the frame came back to p1a, which dropped it as a martian source
  // (its own address, accept_local off); with the masquerade too, p1a's ping of 10.96.0.10 is answered
  it('hairpin on, run on the tables, brings the packet back to its own sender: the martian is named, its masquerade merged', async () => {
    const t = await trace('overlay-service-self-hairpin-martian', {src: 'p1a', dst: '10.96.0.10', size: 1422})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure).to.include({node: 'n1', step: 'fdb'})
    expect(t.failure!.reason).to.contain('(once the fix is run, p1a\'s `net.ipv4.conf.eth0.accept_local = 0` stops the request: REVERSE_PATH_FILTERED; the fix mends that too)')
    expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`)).to.deep.equal([
      'n1: bridge link set dev veth-a hairpin on',
      'n1: iptables -t nat -I POSTROUTING -s 10.93.1.2/32 -d 10.93.1.2/32 -j MASQUERADE',
    ])
  })
})

describe('trace against the kernel: a pod reaching itself through a Service, FORWARD flushed with policy DROP (overlay fuzz seed 1515 case 22)', () => {
  // overlay-service-self-hairpin-forward-drop: n1 DNATs 10.96.0.10 to p1a itself, veth-a has hairpin off, and n1's
  // FORWARD is flushed with policy DROP. kernel: with hairpin on and the masquerade, p1a's SYN died in n1's FORWARD
  // (the fix had not named it); with flanneld's FORWARD accepts too, p1a connects to 10.96.0.10:8080
  it('the masquerade the fix inserts is run on the tables: FORWARD\'s policy behind it is named, its accepts merged', async () => {
    const t = await trace('overlay-service-self-hairpin-forward-drop', {src: 'p1a', dst: '10.96.0.10', proto: 'tcp', dport: 8080})
    expect(t.failure).to.include({node: 'n1', step: 'fdb'})
    expect(t.failure!.reason).to.contain('(once the fix is run, n1\'s `-P FORWARD DROP` stops the request: DENIED_BY_FILTER; the fix mends that too)')
    expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`)).to.deep.equal([
      'n1: bridge link set dev veth-a hairpin on',
      'n1: iptables -t nat -I POSTROUTING -s 10.93.1.2/32 -d 10.93.1.2/32 -j MASQUERADE',
      'n1: iptables -I FORWARD 1 -s 10.93.0.0/16 -j ACCEPT',
      'n1: iptables -I FORWARD 1 -d 10.93.0.0/16 -j ACCEPT',
    ])
  })
})

describe('trace against the kernel: an onlink gateway nothing answers for, in a table a policy rule chose (router fuzz seed 2222 case 36)', () => {
  // router-rule-table-onlink-gateway: r2's `to 10.91.2.0/23 sport 32768-60999 lookup 200` sends a's UDP to table 200,
  // whose `10.91.2.0/23 via 10.91.9.9 dev n0 onlink` names a gateway nothing has. kernel: the fix that put a route in
  // main (`ip route replace 10.91.3.2 via 10.91.3.3 dev b0`) left the same drop; with the route and the rule deleted,
  // a's UDP to 10.91.3.2 is answered
  it('deletes the route and the rule that chose its table, not a route in main', async () => {
    const t = await trace('router-rule-table-onlink-gateway', {src: 'a', dst: '10.91.3.2', proto: 'udp', dport: 80})
    expect(t.disposition).to.equal('NEXT_HOP_NOT_ONLINK')
    expect(t.failure).to.include({node: 'r2', evidence: '10.91.2.0/23 via 10.91.9.9 dev n0 table 200 onlink'})
    expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`)).to.deep.equal([
      'r2: ip route del 10.91.2.0/23 via 10.91.9.9 table 200',
      'r2: ip rule del pref 14286',
    ])
  })

  // (b's second address, 10.91.3.3, was the gateway that first fix named for b's own 10.91.3.2)
  it('names no route via another address of the destination\'s host where a link of the router reaches it', async () => {
    const inMain = (route: string) => ({
      'r2/ip-route.txt': (text: string) => `${text.split('\n').filter(l => !l.includes('table 200')).join('\n')}${route}\n`,
      'r2/ip-rule.txt': (text: string) => text.split('\n').filter(l => !l.includes('14286')).join('\n'),
    })
    const blackhole = await traceEdited('router-rule-table-onlink-gateway', inMain('blackhole 10.91.3.2'), undefined, {src: 'a', dst: '10.91.3.2', proto: 'udp', dport: 80})
    expect(blackhole.disposition).to.equal('NULL_ROUTED')
    expect(blackhole.failure!.fix).to.deep.equal([{node: 'r2', command: 'ip route del blackhole 10.91.3.2'}])
    const onlink = await traceEdited('router-rule-table-onlink-gateway', inMain('10.91.3.2 via 10.91.9.9 dev n0 onlink'), undefined, {src: 'a', dst: '10.91.3.2', proto: 'udp', dport: 80})
    expect(onlink.disposition).to.equal('NEXT_HOP_NOT_ONLINK')
    expect(onlink.failure!.fix).to.deep.equal([{node: 'r2', command: 'ip route del 10.91.3.2 via 10.91.9.9'}])
  })
})

describe('trace against the kernel: a ping too big for a pod\'s bridge, whose "fragmentation needed" a filter drops on its way back (foreign fuzz seed 2525 case 19)', () => {
  // foreign-docker-pmtu-black-hole: p1b, a docker container on n1, pings p2a on flannel's n2 with 1451 bytes and DF; n2's
  // cni0 has MTU 1450; n1's `-I DOCKER-USER -i eth0 -j DROP` drops what comes back by eth0. kernel: no "fragmentation
  // needed" came back to p1b; n2's filter OUTPUT counted its error, n1's DOCKER-USER drop counted it
  it('says the sender is never told, and lets the error through first', async () => {
    const t = await trace('foreign-docker-pmtu-black-hole', {src: 'p1b', dst: 'p2a', size: 1451})
    expect(t.disposition).to.equal('MTU_EXCEEDED')
    expect(t.failure).to.include({node: 'n2', step: 'mtu'})
    expect(t.failure!.reason).to.contain('n2 drops it and sends "fragmentation needed" back to 10.95.0.1, but it is lost on its way back at n1 (DENIED_BY_FILTER)')
    expect(t.failure!.reason).to.contain('so the sender is never told: a path MTU black hole')
    expect(t.failure!.fix[0]).to.deep.equal({node: 'n1', command: 'iptables -D DOCKER-USER -i eth0 -j DROP'})
    expect(t.failure!.fix).to.deep.include({node: 'p1b', command: 'ip link set eth0 mtu 1450'})
  })
})

describe('trace against the kernel: a throw route in the place of a router\'s connected route (router fuzz seed 9191 case 11)', () => {
  // router-throw-own-subnet: r1's `throw 10.91.1.0/24` took the place of its `10.91.1.0/24 dev a0 proto kernel`
  // (same prefix and metric). kernel: the fix that routed a's subnet via r2 (10.91.4.2 on n0) sent the reply back
  // to r2, and the fixes behind it never delivered; with the connected route put back, a's UDP to 10.91.2.2 is answered
  it('puts the connected route back, not a route via a router', async () => {
    const t = await trace('router-throw-own-subnet', {src: 'a', dst: '10.91.2.2', proto: 'udp', dport: 80})
    expect(t.disposition).to.equal('DELIVERED')
    expect(t.returnPath.disposition).to.equal('NO_ROUTE')
    expect(t.returnPath.failure).to.include({node: 'r1', evidence: 'throw 10.91.1.0/24'})
    expect(t.returnPath.failure!.fix).to.deep.equal([{node: 'r1', command: 'ip route replace 10.91.1.0/24 dev a0 proto kernel scope link src 10.91.1.1'}])
    expect(t.returnPath.failure!.reason).to.not.contain('once the fix is run')
  })
})

describe('trace against the kernel: a route via a router whose link lost its connected route (router fuzz seed 9898 case 25)', () => {
  // router-link-route-displaced: r1's `10.91.2.0/24 via 10.91.1.2` took the place of its connected route on m0, and
  // `blackhole 10.91.3.0/24` stops r1's own packets to b. kernel: `ip route replace 10.91.3.0/24 via 10.91.2.2 dev m0`
  // failed ("Nexthop has invalid gateway"); with m0's connected route put back first, r1 connects to 10.91.3.2
  it('puts the link\'s connected route back before the route via the router on it', async () => {
    const t = await trace('router-link-route-displaced', {src: 'r1', dst: '10.91.3.2', proto: 'tcp', dport: 80})
    expect(t.disposition).to.equal('NULL_ROUTED')
    expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`)).to.deep.equal([
      'r1: ip route del blackhole 10.91.3.0/24',
      'r1: ip route replace 10.91.2.0/24 dev m0 proto kernel scope link src 10.91.2.1',
      'r1: ip route replace 10.91.3.0/24 via 10.91.2.2 dev m0',
      // (the reply's own fix, as a ping needs both ways)
      'r2: iptables -D FORWARD -j REJECT --reject-with icmp-admin-prohibited',
    ])
  })
})

describe('trace against the kernel: a stale route to an address no host has (foreign fuzz seed 9292 case 20)', () => {
  // foreign-stale-route-free-address: x routes 10.66.2.0/26 via n2 (a docker host, FORWARD policy DROP), which has no
  // route for it but its default back via x. kernel: x's TCP to 10.66.2.9 dies at n2's FORWARD; with n2's accept,
  // accept_local on x and x's route deleted, at x's missing route: nothing has 10.66.2.9
  it('the stale route goes, accept_local stays off, n2 gets no accept, and the missing route behind it is named', async () => {
    const t = await trace('foreign-stale-route-free-address', {src: 'x', dst: '10.66.2.9', proto: 'tcp', dport: 80})
    expect(t.disposition).to.equal('DENIED_BY_FILTER')
    expect(t.failure!.fix.map(f => `${f.node}: ${f.command}`)).to.deep.equal(['x: ip route del 10.66.2.0/26 via 10.95.0.2'])
    expect(t.failure!.reason).to.contain('(once the fix is run, x\'s `(no route to 10.66.2.9 in table main)` stops the request: NO_ROUTE; trace again then for its fix)')
    expect(t.failure!.reason).to.contain('accept_local stays off there')
    expect(t.failure!.reason).to.contain('(the rest of the fix keeps the packet away from n2\'s FORWARD chain: it needs no accept there)')
  })

  it('n2\'s own packet sent back to it is a martian there, mended as a loop: the stale route deleted, never n2\'s default route', async () => {
    const t = await trace('foreign-stale-route-free-address', {src: 'n2', dst: '10.66.2.9'})
    expect(t.disposition).to.equal('REVERSE_PATH_FILTERED')
    expect(t.failure).to.include({node: 'n2', step: 'sysctl'})
    expect(t.failure!.fix).to.deep.equal([{node: 'x', command: 'ip route del 10.66.2.0/26 via 10.95.0.2'}])
  })
})
