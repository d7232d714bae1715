/**
 * Native nftables forward chains on the build side (nativeForwardDrops): rulesets captured with
 * `nft -j list ruleset` in a lab node (10.244.0.0/16, iptables-nft holding flannel's FORWARD
 * accepts) after `nft -f` of a host firewall; the pings noted were sent pod to pod across nodes.
 */
import {expect} from 'chai'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {firewalldRichRuleOwner, forwardVerdict, inputDropAdvice, nativeDropText, nativeForwardDrops, podPathsOf, tablesToJudge, vxlanInputDrop, type PodPaths} from '../../src/core/forward-verdict.js'
import {hostChecks} from '../../src/core/migrate-plan.js'
import {parseIptablesSave} from '../../src/core/parse/iptables.js'
import {parseNftRuleset} from '../../src/core/parse/nft.js'
import type {HostSnapshot} from '../../src/core/model.js'
import {ROOT} from '../helpers/cli.js'
import {loadSource} from '../../src/services/collect.js'

const fixture = (...path: string[]) => readFileSync(join(ROOT, 'test', 'fixtures', ...path), 'utf8')
const NET = '10.244.0.0/16'
const paths: PodPaths = {network: NET, subnet: '10.244.97.0/24', bridge: 'cni0', peerDevs: ['flannel.1']}
/** the lab node: its iptables-save (iptables-nft, FLANNEL-FWD accepting the network) and the ruleset with the firewall loaded */
const node = (ruleset: string): HostSnapshot => ({
  name: 'n1',
  iptables: {...parseIptablesSave(fixture('nft-build', 'forward-iptables-save.txt')), flavour: 'nft'},
  nftables: parseNftRuleset(fixture('nft-build', ruleset)),
})

describe('nativeForwardDrops: native nftables forward chains on the build side', () => {
  it('Debian\'s nftables.conf with `policy drop` (ping lost though FLANNEL-FWD accepts): the chain, its policy, accepts at its top', () => {
    const [d, ...more] = nativeForwardDrops(node('forward-debian.json'), paths)
    expect(more).to.deep.equal([])
    expect([d.chain.family, d.chain.table, d.chain.name, d.rule, d.reject, d.remove]).to.deep.equal(['inet', 'filter', 'forward', undefined, false, undefined])
    expect(d.fix).to.deep.equal(['nft insert rule inet filter forward ip saddr 10.244.0.0/16 accept', 'nft insert rule inet filter forward ip daddr 10.244.0.0/16 accept'])
    expect(nativeDropText(d)).to.equal('nftables chain inet filter forward (hook forward, priority 0) drops forwarded pod traffic (icmp 10.244.97.2 → 10.244.0.2 (NEW) cni0 → flannel.1) by its policy drop')
  })

  it('a mark an iptables MARK rule gives by `-m set` is decided from the captured ipsets, as trace decides it', async () => {
    // lab-forward-mark-by-ipset (collect, txt): n1 has `ipset fct3pods hash:net` holding 10.244.0.0/16, mangle
    // `-A FORWARD -m set --match-set fct3pods src -j MARK --set-xmark 0x8/0x8` and table inet fw's forward chain
    // `meta mark & 0x8 == 0x8 drop`. kernel: ping pod-1a → pod-2a is lost; trace says DENIED_BY_FILTER at that rule
    const {world} = await loadSource({snapshot: join(ROOT, 'test', 'fixtures', 'snapshots', 'lab-forward-mark-by-ipset')})
    const n1 = world.hosts.find(h => h.name === 'n1')!
    const [d, ...more] = nativeForwardDrops(n1, paths)
    expect(more).to.deep.equal([])
    expect(d.at).to.equal('at `meta mark & 0x00000008 == 0x00000008 drop` (inet fw forward, handle 2)')
    expect(d.remove).to.equal('nft delete rule inet fw forward handle 2')
    // without the sets the MARK rule may or may not match: the mark is in doubt and nothing is said, no guess
    expect(nativeForwardDrops({...n1, ipsets: undefined}, paths)).to.deep.equal([])
  })

  it('a reject in an ip family table (ping lost): the rule as nft prints it with its handle, its deletion, or accepts before it', () => {
    const [d, ...more] = nativeForwardDrops(node('forward-ip-reject.json'), paths)
    expect(more).to.deep.equal([])
    expect(d.reject).to.equal(true)
    expect(d.at).to.equal('at `ip daddr 10.244.0.0/16 reject` (ip fw podfw, handle 3)')
    expect(d.remove).to.equal('nft delete rule ip fw podfw handle 3')
    expect(d.fix).to.deep.equal(['nft insert rule ip fw podfw ip saddr 10.244.0.0/16 accept', 'nft insert rule ip fw podfw ip daddr 10.244.0.0/16 accept'])
    // the drop is of traffic to the network: the pod here → there is dropped as the reply direction would be
    expect(d.flow).to.equal('icmp 10.244.97.2 → 10.244.0.2 (NEW) cni0 → flannel.1')
  })

  it('no false alarm (pings pass): policy accept; `ct state established,related accept` then pod-network accepts; a drop on another interface', () => {
    for (const f of ['forward-accept.json', 'forward-ct-est.json', 'forward-eth9.json']) expect(nativeForwardDrops(node(f), paths), f).to.deep.equal([])
  })

  it('a drop on another interface is one when pod traffic passes it (host-gw over eth9)', () => {
    const [d] = nativeForwardDrops(node('forward-eth9.json'), {...paths, peerDevs: ['eth9']})
    expect(d.at).to.equal('at `iifname "eth9" drop` (inet filter forward, handle 2)')
    expect(d.flow).to.equal('icmp 10.244.0.2 → 10.244.97.2 (NEW) eth9 → cni0')
  })

  it('flanneld\'s own forward chain (EnableNFTables) accepts, and does not save a packet from another table\'s drop', () => {
    expect(nativeForwardDrops({name: 'n', nftables: parseNftRuleset(fixture('nft-build', 'flanneld.nft'))}, paths)).to.deep.equal([])
    const both = nativeForwardDrops({name: 'n', nftables: parseNftRuleset(fixture('parse', 'real', 'nft-flannel-debian.json'))}, paths)
    expect(both.map(d => `${d.chain.family} ${d.chain.table} ${d.chain.name} ${d.at}`)).to.deep.equal(['inet filter forward by its policy drop'])
  })

  it('iptables-nft\'s own chains are iptables-save\'s to judge; nothing read, nothing said', () => {
    const n = node('forward-accept.json')
    expect(n.nftables!.some(c => c.family === 'ip' && c.table === 'filter' && c.hook === 'forward')).to.equal(true)
    expect(nativeForwardDrops({...n, iptables: {...n.iptables!, chains: n.iptables!.chains.map(c => (c.name === 'FORWARD' ? {...c, policy: 'DROP'} : c))}}, paths)).to.deep.equal([])
    expect(nativeForwardDrops({name: 'n'}, paths)).to.deep.equal([])
  })

  it('a chain that accepts by mark sees the mark iptables\' mangle table gave the packet (iptables-nft and native chains share it)', () => {
    const nftables = parseNftRuleset('table inet fw {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tmeta mark 0x00000001 accept\n\t}\n}\n')
    const save = (mark: string) => parseIptablesSave(`*mangle\n:PREROUTING ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n${mark}COMMIT\n*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n`)
    expect(nativeForwardDrops({name: 'n', nftables, iptables: save('-A FORWARD -s 10.244.0.0/16 -j MARK --set-xmark 0x1/0xffffffff\n-A FORWARD -d 10.244.0.0/16 -j MARK --set-xmark 0x1/0xffffffff\n')}, paths)).to.deep.equal([])
    expect(nativeForwardDrops({name: 'n', nftables, iptables: save('')}, paths).map(d => d.at)).to.deep.equal(['by its policy drop'])
  })

  it('firewalld\'s zones reject forwarded pod traffic whose devices are in no zone of their own', () => {
    const [d] = nativeForwardDrops({name: 'n', nftables: parseNftRuleset(fixture('parse', 'real', 'nft-firewalld-zones.json'))}, paths)
    expect(d.at).to.match(/^at `reject with icmpx admin-prohibited` \(inet firewalld filter_FWD_public, handle \d+\)$/)
    // firewalld writes its table anew on --reload: an inserted accept would not last, its trusted zone does
    expect(d.fix).to.deep.equal(['firewall-cmd --zone=trusted --add-source=10.244.0.0/16', 'firewall-cmd --permanent --zone=trusted --add-source=10.244.0.0/16'])
    // with the source in the trusted zone (firewalld 1.3 as it wrote it), nothing is said
    expect(nativeForwardDrops({name: 'n', nftables: parseNftRuleset(fixture('parse', 'real', 'nft-firewalld-1.3-fixed.json'))}, paths)).to.deep.equal([])
    expect(nativeForwardDrops({name: 'n', nftables: parseNftRuleset(fixture('parse', 'real', 'nft-firewalld-1.3.json'))}, paths).map(x => x.fix)).to.deep.equal([d.fix])
  })
})

describe('tablesToJudge: which nft tables the builder reads', () => {
  const tables = (...t: string[]) => JSON.stringify({nftables: [{metainfo: {version: '1.0.6'}}, ...t.map(x => ({table: {family: x.split(' ')[0], name: x.split(' ')[1], handle: 1}}))]})
  it('ip and inet tables other than flanneld\'s and iptables-nft\'s', () => {
    const listed = tables('ip filter', 'ip nat', 'ip flannel-ipv4', 'ip6 flannel-ipv6', 'inet filter', 'ip6 filter', 'bridge filter', 'ip fw')
    expect(tablesToJudge(listed, 'nft')).to.deep.equal([{family: 'inet', name: 'filter'}, {family: 'ip', name: 'fw'}])
    // iptables-legacy does not live in nftables: a table ip filter there is someone's own
    expect(tablesToJudge(listed, 'legacy').map(t => `${t.family} ${t.name}`)).to.deep.equal(['ip filter', 'ip nat', 'inet filter', 'ip fw'])
  })
  it('a host with flannel\'s and iptables-nft\'s tables only reads nothing more', () => {
    expect(tablesToJudge(tables('ip filter', 'ip nat', 'ip flannel-ipv4', 'ip6 flannel-ipv6'), 'nft')).to.deep.equal([])
    expect(tablesToJudge('not json', 'nft')).to.deep.equal([])
  })
})

describe('podPathsOf and migrate\'s preflight', () => {
  const snap: HostSnapshot = {
    name: 'n1',
    links: [{name: 'cni0', kind: 'bridge', mtu: 1450, up: true, raw: ''}, {name: 'flannel.1', kind: 'vxlan', mtu: 1450, up: true, raw: ''}, {name: 'eth0', kind: 'veth', mtu: 1500, up: true, raw: ''}],
    addresses: [{dev: 'cni0', family: 4, local: '10.244.97.1', prefixlen: 24, raw: ''}, {dev: 'eth0', family: 4, local: '192.168.100.11', prefixlen: 24, raw: ''}],
    routes: [{dst: '10.244.64.0/24', type: 'unicast', gateway: '192.168.100.12', dev: 'eth0', raw: ''}, {dst: '10.244.97.0/24', type: 'unicast', dev: 'cni0', raw: ''}],
    sysctls: {'net.ipv4.ip_forward': '1'},
  }
  it('the bridge with the pods\' gateway, its subnet, the devices of routes to other subnets and the vxlan device', () => {
    expect(podPathsOf(snap, NET)).to.deep.equal({network: NET, subnet: '10.244.97.0/24', bridge: 'cni0', peerDevs: ['eth0', 'flannel.1']})
    expect(podPathsOf({name: 'bare'}, NET)).to.deep.equal({network: NET})
  })
  it('migrate\'s host checks report the native drop with the accepts that fix it', () => {
    const checks = hostChecks('n1', {...snap, nftables: parseNftRuleset(fixture('nft-build', 'forward-debian.json'))}, {}, NET)
    const bad = checks.filter(c => !c.ok)
    expect(bad.map(c => c.check)).to.deep.equal(['forward-policy'])
    expect(bad[0].message).to.contain('nftables chain inet filter forward (hook forward, priority 0) drops forwarded pod traffic')
    expect(bad[0].message).to.contain('nft insert rule inet filter forward ip saddr 10.244.0.0/16 accept; nft insert rule inet filter forward ip daddr 10.244.0.0/16 accept')
  })
})

describe('forwardVerdict: iptables FORWARD with an ipset match', () => {
  it('a drop by `-m set` whose collected set holds the pod subnet is the verdict, as trace decides it', async () => {
    // lab-forward-drop-by-ipset (collect, txt): n1 has `ipset fct3blk hash:net` holding 10.244.0.0/16 and
    // `-A FORWARD -m set --match-set fct3blk src -j DROP` above flannel's jump. kernel: ping pod-1a → pod-2a is lost
    const {world} = await loadSource({snapshot: join(ROOT, 'test', 'fixtures', 'snapshots', 'lab-forward-drop-by-ipset')})
    const n1 = world.hosts.find(h => h.name === 'n1')!
    const v = forwardVerdict(n1, '10.244.97.0/24')
    expect(v?.verdict).to.equal('DROP')
    expect(v?.verdict === 'DROP' && v.rule.spec).to.equal('-m set --match-set fct3blk src -j DROP')
    // a set without the subnet, or no sets read: the rule says nothing, flannel's accept decides
    expect(forwardVerdict(n1, '10.245.0.0/24')?.verdict).to.not.equal('DROP')
    expect(forwardVerdict({...n1, ipsets: undefined}, '10.244.97.0/24')?.verdict).to.equal('ACCEPT')
  })

  it('a set entry that overlaps the subnet counts, as `-s`/`-d` do, whatever address of it stands for the subnet', async () => {
    // kernel (namespaces): with `add fct3blk 10.244.97.5` only, ping from 10.244.97.5 through the router is
    // dropped while 10.244.97.2 passes: the rule concerns pod traffic of the subnet, as `-s 10.244.97.5 -j DROP` would
    const {world} = await loadSource({snapshot: join(ROOT, 'test', 'fixtures', 'snapshots', 'lab-forward-drop-by-ipset')})
    const n1 = world.hosts.find(h => h.name === 'n1')!
    const holding = (...members: string[]) => forwardVerdict({...n1, ipsets: n1.ipsets!.map(s => s.name === 'fct3blk' ? {...s, members} : s)}, '10.244.97.0/24')?.verdict
    expect(holding('10.244.97.5')).to.equal('DROP')
    expect(holding('10.244.97.128/25')).to.equal('DROP')
    expect(holding('10.244.0.0/16', '10.244.97.0/24 nomatch')).to.not.equal('DROP')
    expect(holding('10.244.0.0/16', '10.244.97.0/25 nomatch')).to.equal('DROP')
    expect(holding('10.244.98.0/24')).to.not.equal('DROP')
    // a range is not decided: the rule says nothing, flannel's accept decides
    expect(holding('10.244.97.1-10.244.97.9')).to.equal('ACCEPT')
  })

  it('an accept counts when it holds the whole network; one for a part of it is `only`, carried to the drop or the policy', () => {
    const rules = (...specs: string[]): HostSnapshot => ({name: 'n1', iptables: parseIptablesSave(['*filter', ':FORWARD DROP [0:0]', ...specs.map(x => `-A FORWARD ${x}`), 'COMMIT', ''].join('\n'))})
    expect(forwardVerdict(rules('-s 10.244.0.0/16 -j ACCEPT'), NET)).to.deep.equal({verdict: 'ACCEPT'})
    expect(forwardVerdict(rules('-s 10.0.0.0/8 -d 10.244.0.0/16 -j ACCEPT'), NET)).to.deep.equal({verdict: 'ACCEPT'})
    expect(forwardVerdict(rules('-s 10.244.7.0/24 -j ACCEPT', '-d 10.244.7.0/24 -j ACCEPT'), NET)).to.deep.equal({verdict: 'PARTIAL', only: ['from 10.244.7.0/24', 'to 10.244.7.0/24']})
    const v = forwardVerdict(rules('-s 10.244.7.0/24 -j ACCEPT', '-j REJECT'), NET)
    expect(v?.verdict === 'DROP' && v.only).to.deep.equal(['from 10.244.7.0/24'])
    expect(forwardVerdict(rules('-s 192.0.2.0/24 -j ACCEPT'), NET)).to.equal(undefined)
  })
})

describe('vxlanInputDrop: sync asks whether INPUT lets the peers\' vxlan packets in', () => {
  const peers = ['192.168.100.12', '192.168.100.13']
  const on = (iptables: string[], nftables?: string): HostSnapshot => ({name: 'n1',
    iptables: parseIptablesSave(['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ...iptables, 'COMMIT', ''].join('\n')),
    ...(nftables !== undefined ? {nftables: parseNftRuleset(fixture('parse', 'real', nftables))} : {})})
  const ask = (h: HostSnapshot) => vxlanInputDrop(h, {port: 8472, local: '192.168.100.11', peers, dev: 'eth0'})

  it('a drop of the port in iptables\' INPUT (lab fcd3a: `iptables -I INPUT -p udp --dport 8472 -j DROP`, pods lost): the rule, every peer, the accept', () => {
    const d = ask(on(['-A INPUT -p udp -m udp --dport 8472 -j DROP']))
    expect(d).to.deep.equal({where: 'iptables INPUT', evidence: '-A INPUT -p udp -m udp --dport 8472 -j DROP', reject: false, firewalld: false, peers,
      fix: ['iptables -I INPUT -p udp --dport 8472 -j ACCEPT']})
    // a host firewall's final reject behind an accept for one peer's address: the other is cut off
    const r = ask(on(['-A INPUT -s 192.168.100.12/32 -j ACCEPT', '-A INPUT -j REJECT --reject-with icmp-host-prohibited']))
    expect(r).to.include({reject: true, evidence: '-A INPUT -j REJECT --reject-with icmp-host-prohibited'})
    expect(r?.peers).to.deep.equal(['192.168.100.13'])
  })

  it('nothing said: another port dropped, the node network accepted first', () => {
    expect(ask(on(['-A INPUT -p udp -m udp --dport 4789 -j DROP']))).to.equal(undefined)
    expect(ask(on(['-A INPUT -s 192.168.100.0/24 -j ACCEPT', '-A INPUT -j DROP']))).to.equal(undefined)
  })

  it('an accept the evaluator cannot decide before the drop says nothing: it may have let the packets in (a guess is no warning)', () => {
    // rate limits and sockets are not in the tables read: the accept may hold for the peers
    expect(ask(on(['-A INPUT -p udp -m limit --limit 100/sec -j ACCEPT', '-A INPUT -j DROP']))).to.equal(undefined)
    expect(ask(on([':FROMPEERS - [0:0]', '-A INPUT -m socket -j FROMPEERS', '-A INPUT -j DROP', '-A FROMPEERS -j ACCEPT']))).to.equal(undefined)
    // an undecidable rule that would only drop does not make the drop after it a guess
    expect(ask(on(['-A INPUT -p udp -m limit --limit 1/sec -j DROP', '-A INPUT -p udp -m udp --dport 8472 -j DROP']))).to.include({evidence: '-A INPUT -p udp -m udp --dport 8472 -j DROP'})
  })

  it('no peer yet (lab scb, one node: sync said nothing): a drop whatever the source is the first peer\'s; one a source match decides, or none, says nothing', () => {
    const alone = (h: HostSnapshot) => vxlanInputDrop(h, {port: 8472, local: '192.168.100.11', peers: [], dev: 'eth0'})
    expect(alone(on(['-A INPUT -p udp -m udp --dport 8472 -j DROP']))).to.deep.equal({where: 'iptables INPUT', evidence: '-A INPUT -p udp -m udp --dport 8472 -j DROP',
      reject: false, firewalld: false, peers: [], fix: ['iptables -I INPUT -p udp --dport 8472 -j ACCEPT']})
    // firewalld beside iptables-nft's (empty) tables: its zone's reject holds for any source
    expect(alone(on([], 'nft-firewalld-1.3.json'))).to.include({firewalld: true, reject: true})
    // who joins decides: not known yet
    expect(alone(on(['-A INPUT -s 192.168.100.0/24 -j ACCEPT', '-A INPUT -j DROP']))).to.equal(undefined)
    expect(alone(on(['-A INPUT -s 10.1.2.3/32 -j ACCEPT', '-A INPUT -j DROP']))).to.equal(undefined)
    expect(alone(on([]))).to.equal(undefined)
    expect(alone(on([], 'nft-firewalld-1.3-fixed.json'))).to.equal(undefined)
  })

  it('firewalld 1.3 as it starts rejects the port in its zone: opened there, now and --permanent (what lasts a reload); opened, nothing said', () => {
    const d = ask(on([], 'nft-firewalld-1.3.json'))
    expect(d?.where).to.match(/^nftables chain inet firewalld filter_INPUT \(hook input, priority \d+\)$/)
    expect(d?.evidence).to.match(/\(inet firewalld filter_IN_public, handle \d+\)$/)
    expect(d).to.include({reject: true, firewalld: true})
    expect(d?.fix).to.deep.equal(['firewall-cmd --add-port=8472/udp', 'firewall-cmd --permanent --add-port=8472/udp'])
    expect(ask(on([], 'nft-firewalld-1.3-fixed.json'))).to.equal(undefined)
  })

  it('the way in from PREROUTING (lab sca, pings lost, sync had said nothing): raw and mangle drops, a native prerouting chain, a raw NOTRACK that INPUT\'s `--ctstate NEW` accept then misses', () => {
    const tables = (lines: Record<string, string[]>): HostSnapshot => ({name: 'n1', iptables: parseIptablesSave(Object.entries(lines)
      .flatMap(([table, rules]) => [`*${table}`, ...(table === 'filter' ? [':INPUT ACCEPT [0:0]'] : [':PREROUTING ACCEPT [0:0]']), ...rules, 'COMMIT']).join('\n') + '\n')})
    const drop = '-A PREROUTING -p udp -m udp --dport 8472 -j DROP'
    expect(ask(tables({raw: [drop]}))).to.deep.equal({where: 'iptables -t raw PREROUTING', evidence: drop, reject: false, firewalld: false, peers,
      fix: ['iptables -t raw -I PREROUTING -p udp --dport 8472 -j ACCEPT']})
    expect(ask(tables({mangle: [drop]}))?.fix).to.deep.equal(['iptables -t mangle -I PREROUTING -p udp --dport 8472 -j ACCEPT'])
    // the accept that the printed fix inserts (checked on the kernel: pings pass again)
    expect(ask(tables({raw: ['-A PREROUTING -p udp -m udp --dport 8472 -j ACCEPT', drop]}))).to.equal(undefined)
    const untracked = ask(tables({raw: ['-A PREROUTING -p udp -m udp --dport 8472 -j NOTRACK'],
      filter: ['-A INPUT -p udp -m conntrack --ctstate NEW -m udp --dport 8472 -j ACCEPT', '-A INPUT -p udp -m udp --dport 8472 -j DROP']}))
    expect(untracked).to.include({where: 'iptables INPUT', evidence: '-A INPUT -p udp -m udp --dport 8472 -j DROP; `-A PREROUTING -p udp -m udp --dport 8472 -j NOTRACK` took the packet out of conntrack, so rules accepting state NEW miss it'})
    expect(ask(tables({filter: ['-A INPUT -p udp -m conntrack --ctstate NEW -m udp --dport 8472 -j ACCEPT', '-A INPUT -p udp -m udp --dport 8472 -j DROP']}))).to.equal(undefined)
    const nft = ask(on([], 'nft-prerouting-vxlan-drop.json'))
    expect(nft?.where).to.equal('nftables chain inet scpre pre (hook prerouting, priority -300)')
    expect(nft?.fix).to.deep.equal(['nft insert rule inet scpre pre udp dport 8472 accept'])
  })

  // firewalld 1.3.3 in lab node sca-n1 (private dbus), port and trusted source opened, then
  // `firewall-cmd --add-rich-rule='rule family="ipv4" source address="192.168.100.12" port port="8472"
  // protocol="udp" reject'` (and --permanent): n2's pod lost its pings. `nft delete rule … handle N`
  // let them through until `firewall-cmd --reload`; the rich accept printed here (and trace's, for
  // the one peer), now and --permanent, kept them through a reload.
  it('a firewalld rich rule rejecting a peer (port already opened, so --add-port was no fix): accepted ahead of it in its zone by a rich rule, now and --permanent, not by an nft change a reload undoes', () => {
    const rich = on([], 'nft-firewalld-1.3-rich-reject.json')
    const d = vxlanInputDrop(rich, {port: 8472, local: '192.168.100.11', peers: ['192.168.100.12', '192.168.100.13'], dev: 'eth0'})
    expect(d).to.include({reject: true, firewalld: true, richRuleOf: '--zone=public'})
    expect(d?.evidence).to.match(/^`ip saddr 192\.168\.100\.12 udp dport 8472 reject[^`]*` \(inet firewalld filter_IN_public_deny, handle 249\)$/)
    expect(d?.peers).to.deep.equal(['192.168.100.12'])
    const accept = 'rule priority="-32768" family="ipv4" port port="8472" protocol="udp" accept'
    expect(d?.fix).to.deep.equal([`firewall-cmd --zone=public --add-rich-rule='${accept}'`, `firewall-cmd --permanent --zone=public --add-rich-rule='${accept}'`])
    expect(inputDropAdvice(d!)).to.contain('A rich rule of firewalld\'s zone public drops it').and.contain('firewall-cmd --zone=public --list-rich-rules')
    // firewalld's table after trace's fix for the one peer (a rich accept of priority -32768, in the zone's _pre chain, walked before _deny)
    expect(vxlanInputDrop(on([], 'nft-firewalld-1.3-rich-fixed.json'), {port: 8472, local: '192.168.100.11', peers: ['192.168.100.12', '192.168.100.13'], dev: 'eth0'})).to.equal(undefined)
    // the policy-level name of a rich rule's chain
    expect(firewalldRichRuleOwner('filter_IN_policy_allow-host-ipv6_deny')).to.equal('--policy=allow-host-ipv6')
    expect(firewalldRichRuleOwner('filter_IN_public_allow')).to.equal(undefined)
    expect(firewalldRichRuleOwner('filter_IN_public')).to.equal(undefined)
  })

  it('a verdict no rule reached by the source is every peer\'s; one a source match decides is each peer\'s own', () => {
    const many = Array.from({length: 300}, (_, i) => `192.168.${101 + (i >> 8)}.${i & 255}`)
    const byPort = vxlanInputDrop(on(['-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-A INPUT -p udp -m udp --dport 8472 -j DROP']), {port: 8472, local: '192.168.100.11', peers: many, dev: 'eth0'})
    expect(byPort?.peers).to.deep.equal(many)
    const bySource = vxlanInputDrop(on(['-A INPUT ! -s 192.168.101.7/32 -p udp -m udp --dport 8472 -j DROP']), {port: 8472, local: '192.168.100.11', peers: many, dev: 'eth0'})
    expect(bySource?.peers).to.deep.equal(many.filter(ip => ip !== '192.168.101.7'))
  })

  // lab tm (n1, vxlan, n2 its peer): `iptables -P INPUT DROP; iptables -A INPUT -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT`,
  // or `iptables -t mangle -P PREROUTING DROP; iptables -t mangle -A PREROUTING -m rpfilter -j ACCEPT` (xt_rpfilter is refused in INPUT):
  // pod-2a pinged pod-1a, while sync warned that the policy dropped vxlan's port for every peer
  it('rpfilter and addrtype --limit-iface-in accepts before a DROP policy are decided by the host\'s addresses and routes, as trace decides them', () => {
    const host = (table: 'filter' | 'mangle', rule: string): HostSnapshot => ({name: 'n1',
      iptables: parseIptablesSave([`*${table}`, table === 'filter' ? ':INPUT DROP [0:0]' : ':PREROUTING DROP [0:0]', rule, 'COMMIT', ''].join('\n')),
      addresses: [{dev: 'eth0', family: 4, local: '192.168.100.11', prefixlen: 24, raw: ''}, {dev: 'eth1', family: 4, local: '192.168.200.11', prefixlen: 24, raw: ''}],
      routes: [{dst: '192.168.100.0/24', type: 'unicast', dev: 'eth0', scope: 'link'}, {dst: '192.168.200.0/24', type: 'unicast', dev: 'eth1', scope: 'link'},
        {dst: 'default', type: 'unicast', gateway: '192.168.100.1', dev: 'eth0'}]})
    const rpfilter = host('mangle', '-A PREROUTING -m rpfilter -j ACCEPT')
    expect(ask(rpfilter)).to.equal(undefined)
    // a peer whose route back leaves by eth1: its packet on eth0 fails the strict check, the policy drops it (its own verdict: the rule read the source)
    const spoofed = vxlanInputDrop(rpfilter, {port: 8472, local: '192.168.100.11', peers: ['192.168.100.12', '192.168.200.12'], dev: 'eth0'})
    expect(spoofed).to.include({where: 'iptables -t mangle PREROUTING', evidence: '-P PREROUTING DROP'})
    expect(spoofed?.peers).to.deep.equal(['192.168.200.12'])
    // no peer yet: the route back is the joining peer's, not known
    expect(vxlanInputDrop(rpfilter, {port: 8472, local: '192.168.100.11', peers: [], dev: 'eth0'})).to.equal(undefined)
    const addrtype = host('filter', '-A INPUT -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT')
    expect(ask(addrtype)).to.equal(undefined)
    // eth0's address asked for on eth1: not LOCAL there, dropped whoever sends (it reads no source, so said with no peer too)
    const wrongDev = (peers: string[]) => vxlanInputDrop(addrtype, {port: 8472, local: '192.168.100.11', peers, dev: 'eth1'})
    expect(wrongDev(peers)?.peers).to.deep.equal(peers)
    expect(wrongDev([])).to.include({where: 'iptables INPUT', evidence: '-P INPUT DROP'})
  })

  it('an agent asking again with the same tables gets the same answer; other tables, port or peers are asked afresh', () => {
    const h = on(['-A INPUT -s 192.168.100.12/32 -j ACCEPT', '-A INPUT -j DROP'])
    const first = ask(h)
    expect(ask(h)).to.deep.equal(first)
    expect(vxlanInputDrop(h, {port: 8472, local: '192.168.100.11', peers: [...peers, '192.168.100.14'], dev: 'eth0'})?.peers).to.deep.equal(['192.168.100.13', '192.168.100.14'])
    expect(vxlanInputDrop(h, {port: 4789, local: '192.168.100.11', peers, dev: 'eth0'})?.fix).to.deep.equal(['iptables -I INPUT -p udp --dport 4789 -j ACCEPT'])
    // the same iptables object with a native table beside it now: asked afresh
    const withNft = {...h, nftables: parseNftRuleset(fixture('parse', 'real', 'nft-firewalld-1.3.json'))}
    expect(vxlanInputDrop(withNft, {port: 8472, local: '192.168.100.11', peers: ['192.168.100.12'], dev: 'eth0'})?.firewalld).to.equal(true)
    expect(ask(h)).to.deep.equal(first)
  })
})
