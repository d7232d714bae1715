/**
 * EnableNFTables: flanneld's nftables objects planned against what `nft -j` printed on a real
 * namespace. flanneld.json holds what flanneld's knftables transactions left (the read of
 * HostAdapter: `nft -j list tables`, then each of flanneld's tables); foreign-rules.json the same
 * table after a lease change, with a rule and a chain someone added and the forward chain's policy
 * set to drop, beside another program's table (inet fw). The .nft files are the same rulesets as text.
 */
import {expect} from 'chai'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {planNode, planReset, rulesLostWithChains, type NodeIntent} from '../../src/core/planner.js'
import type {HostSnapshot, IptablesRule} from '../../src/core/model.js'
import type {Op} from '../../src/core/ops.js'
import {describePlan} from '../../src/core/ops.js'
import {forwardJump, forwardRules, masqJump, masqRules, FWD_CHAIN, MASQ_CHAIN} from '../../src/core/flannel.js'
import {deletingEmptiedIptablesTables, flannelRulesOf, nftForwardRules, nftMasqRules, nftResetWarnings, parseFlannelNftRead, rulesMode} from '../../src/core/flannel-nft.js'
import {batchesOf} from '../../src/adapters/host.js'
import {ROOT} from '../helpers/cli.js'
import {misplacedRules} from '../../src/services/status.js'

const NET = '10.244.0.0/16'
const SUBNET = '10.244.1.0/24'
const fixture = (name: string) => readFileSync(join(ROOT, 'test', 'fixtures', 'nft-build', name), 'utf8')

const intent: NodeIntent = {
  network: NET, subnet: SUBNET, backend: {type: 'host-gw', vni: 1, port: 8472, directRouting: false}, iface: 'eth0', publicIP: '192.168.100.11',
  vtepMAC: '02:00:00:00:00:01', bridge: 'cni0', mtu: 1500, ipMasq: true, nftables: true, peers: [], onLinkPeers: new Set(), subnetFile: '/x/subnet.env',
  cniConfDir: '/x/cni', cniPlugin: 'bridge', ownedRoutes: [],
}

const rule = (table: string, chain: string, spec: string): IptablesRule => ({table, chain, spec, raw: `-A ${chain} ${spec}`})

/** A host as init left it (bridge, forwarding), with flannel's iptables chains when asked and flanneld's tables as `nft` printed them. */
function host({iptables = false, nft}: {iptables?: boolean; nft?: string}): HostSnapshot {
  return {
    name: 'n1',
    links: [{name: 'eth0', kind: 'ether', mtu: 1500, up: true, raw: ''}, {name: 'cni0', kind: 'bridge', mtu: 1500, up: true, raw: ''}],
    addresses: [{dev: 'cni0', family: 4, local: '10.244.1.1', prefixlen: 24, raw: ''}],
    routes: [], neighbors: [], fdb: [], sysctls: {'net.ipv4.ip_forward': '1'},
    iptables: iptables ? {
      chains: [{table: 'filter', name: 'FORWARD', policy: 'ACCEPT'}, {table: 'filter', name: FWD_CHAIN}, {table: 'nat', name: MASQ_CHAIN}],
      rules: [
        rule('filter', 'FORWARD', forwardJump().spec), ...forwardRules(NET).map(r => rule('filter', FWD_CHAIN, r.spec)),
        rule('nat', 'POSTROUTING', masqJump().spec), ...masqRules(NET, SUBNET).map(r => rule('nat', MASQ_CHAIN, r.spec)),
      ],
    } : {chains: [{table: 'filter', name: 'FORWARD', policy: 'ACCEPT'}], rules: []},
    ...(nft === undefined ? {} : {flannelNft: parseFlannelNftRead(nft)}),
  }
}

const files = {subnetEnv: undefined, conflist: undefined}
const ruleOps = (i: NodeIntent, snap: HostSnapshot): Op[] => planNode(i, snap, files).ops.filter(o => o.tool === 'nft' || o.tool === 'iptables')
const nftLines = (ops: Op[]) => ops.flatMap(o => (o.tool === 'nft' ? o.lines : []))

/** What flanneld's transactions write (nftables.go: initTable, SetupAndEnsureMasqRules, SetupAndEnsureForwardRules), as knftables spells them. */
const FLANNELD = [
  'add table ip flannel-ipv4 { comment "rules for flannel-ipv4" ; }',
  'add table ip6 flannel-ipv6 { comment "rules for flannel-ipv6" ; }',
  'add chain ip flannel-ipv4 postrtg { type nat hook postrouting priority 100 ; comment "chain to manage traffic masquerading by flannel" ; }',
  'add rule ip flannel-ipv4 postrtg meta mark 0x4000 return',
  'add rule ip flannel-ipv4 postrtg ip saddr 10.244.1.0/24 ip daddr 10.244.0.0/16 return',
  'add rule ip flannel-ipv4 postrtg ip saddr 10.244.0.0/16 ip daddr 10.244.1.0/24 return',
  'add rule ip flannel-ipv4 postrtg ip saddr != 10.244.1.0/24 ip daddr 10.244.0.0/16 return',
  'add rule ip flannel-ipv4 postrtg ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random',
  'add rule ip flannel-ipv4 postrtg ip saddr != 10.244.0.0/16 ip daddr 10.244.0.0/16 masquerade fully-random',
  'add chain ip flannel-ipv4 forward { type filter hook forward priority 0 ; comment "chain to accept flannel traffic" ; }',
  'add rule ip flannel-ipv4 forward ip saddr 10.244.0.0/16 accept',
  'add rule ip flannel-ipv4 forward ip daddr 10.244.0.0/16 accept',
]

describe('planner: EnableNFTables (flanneld\'s native nftables rules)', () => {
  it('reads flanneld\'s tables from nft -j, each rule as nft list prints it (a mark padded to 8 hex digits)', () => {
    const tables = parseFlannelNftRead(fixture('flanneld.json'))
    expect(tables.map(t => `${t.family} ${t.name}`)).to.deep.equal(['ip flannel-ipv4', 'ip6 flannel-ipv6'])
    const [postrtg, forward] = tables[0].chains
    expect(postrtg).to.deep.include({name: 'postrtg', type: 'nat', hook: 'postrouting', priority: 100, policy: 'accept'})
    expect(postrtg.rules.map(r => r.text)).to.deep.equal(nftMasqRules(NET, SUBNET).map(r => r.replace('0x4000', '0x00004000')))
    expect(forward).to.deep.include({name: 'forward', type: 'filter', hook: 'forward', priority: 0, policy: 'accept'})
    expect(forward.rules.map(r => r.text)).to.deep.equal(['ip saddr 10.244.0.0/16 accept', 'ip daddr 10.244.0.0/16 accept'])
    expect(tables[1].chains).to.deep.equal([])
  })

  it('a fresh host gets flanneld\'s exact objects in one nft transaction, then loses the iptables chains (new first, old after)', () => {
    const ops = ruleOps(intent, host({iptables: true, nft: '{"nftables": [{"metainfo": {"version": "1.0.6"}}]}\n'}))
    expect(nftLines(ops)).to.deep.equal(FLANNELD)
    const tools = ops.map(o => o.tool)
    expect(tools.lastIndexOf('nft')).to.be.below(tools.indexOf('iptables'))
    expect(ops.filter(o => o.tool === 'iptables').flatMap(o => (o as {lines: string[]}).lines)).to.deep.equal([
      `-D POSTROUTING ${masqJump().spec}`, `:${MASQ_CHAIN} - [0:0]`, `-X ${MASQ_CHAIN}`,
      `-D FORWARD ${forwardJump().spec}`, `:${FWD_CHAIN} - [0:0]`, `-X ${FWD_CHAIN}`,
    ])
    // consecutive nft ops are one `nft -f -` run: all of it applies, or none
    const nftBatches = batchesOf(ops).filter(b => b.file === 'nft')
    expect(nftBatches).to.have.length(1)
    expect(nftBatches[0].args).to.deep.equal(['-f', '-'])
    expect(nftBatches[0].input).to.equal(FLANNELD.join('\n') + '\n')
    expect(describePlan(ops)[0]).to.match(/^nft 'add table ip flannel-ipv4 \{ comment "rules for flannel-ipv4" ; \}'\s+# /)
  })

  it('a host as flanneld left it plans nothing (a resync is quiet)', () => {
    expect(ruleOps(intent, host({nft: fixture('flanneld.json')}))).to.deep.equal([])
  })

  it('another lease: flanneld\'s old rules go, the new ones go in before the rule someone added; their chain stays; a drop policy is set back in place', () => {
    const ops = ruleOps({...intent, subnet: '10.244.2.0/24'}, host({nft: fixture('foreign-rules.json')}))
    const masq = nftMasqRules(NET, '10.244.2.0/24')
    expect(nftLines(ops)).to.deep.equal([
      ...[2, 3, 4, 5, 6, 7].map(h => `delete rule ip flannel-ipv4 postrtg handle ${h}`),
      ...masq.map(r => `insert rule ip flannel-ipv4 postrtg position 11 ${r}`),
      // in place: the rules in it stay (deleting the chain took any someone added there)
      'add chain ip flannel-ipv4 forward { type filter hook forward priority 0 ; policy accept ; }',
    ])
    expect(nftLines(ops).join('\n')).to.not.contain('mine')
    expect(nftLines(ops).join('\n')).to.not.contain('inet fw')
  })

  it('a rule someone put above or between flanneld\'s stays there: no drift; another lease rewrites flanneld\'s rules around it', () => {
    const withTheirsAt = (index: number) => {
      const tables = parseFlannelNftRead(fixture('foreign-rules.json'))
      const rules = tables[0].chains[0].rules
      const theirs = rules.pop()!
      rules.splice(index, 0, theirs)
      return {...host({}), flannelNft: tables}
    }
    const postrtg = (ops: Op[]) => nftLines(ops).filter(l => l.includes(' postrtg '))
    expect(postrtg(ruleOps(intent, withTheirsAt(0)))).to.deep.equal([])
    expect(postrtg(ruleOps(intent, withTheirsAt(4)))).to.deep.equal([])
    const masq = nftMasqRules(NET, '10.244.2.0/24')
    const deletes = [2, 3, 4, 5, 6, 7].map(h => `delete rule ip flannel-ipv4 postrtg handle ${h}`)
    // above all of flanneld's: they go in after it
    expect(postrtg(ruleOps({...intent, subnet: '10.244.2.0/24'}, withTheirsAt(0)))).to.deep.equal([
      ...deletes, ...masq.map(r => `add rule ip flannel-ipv4 postrtg ${r}`)])
    // after the lease's RETURNs, before the MASQUERADEs: the new RETURNs go before it, the MASQUERADEs after
    expect(postrtg(ruleOps({...intent, subnet: '10.244.2.0/24'}, withTheirsAt(4)))).to.deep.equal([
      ...deletes, ...masq.slice(0, 4).map(r => `insert rule ip flannel-ipv4 postrtg position 11 ${r}`), ...masq.slice(4).map(r => `add rule ip flannel-ipv4 postrtg ${r}`)])
  })

  it('a rule someone added that is only shaped like flanneld\'s stays (sync flushed an accept for another range, and a RETURN for the service range, every time)', () => {
    const tables = parseFlannelNftRead(fixture('flanneld.json'))
    const [postrtg, forward] = tables[0].chains
    postrtg.rules.splice(4, 0, {handle: 50, text: `ip saddr ${NET} ip daddr 10.96.0.0/12 return`})
    forward.rules.push({handle: 51, text: 'ip saddr 10.99.0.0/16 accept'})
    const snap = {...host({}), flannelNft: tables}
    expect(ruleOps(intent, snap)).to.deep.equal([])
    const moved = nftLines(ruleOps({...intent, subnet: '10.244.2.0/24'}, snap))
    expect(moved.filter(l => l.startsWith('delete rule'))).to.deep.equal([2, 3, 4, 5, 6, 7].map(h => `delete rule ip flannel-ipv4 postrtg handle ${h}`))
    expect(moved.join('\n')).to.not.contain('flush')
    // reset says both go with the table
    expect(nftResetWarnings(tables, undefined)).to.deep.equal([
      `1 rule not flannel's in chain postrtg of ip flannel-ipv4 goes with the table (ip saddr ${NET} ip daddr 10.96.0.0/12 return)`,
      '1 rule not flannel\'s in chain forward of ip flannel-ipv4 goes with the table (ip saddr 10.99.0.0/16 accept)'])
  })

  it('flanneld\'s rules out of order (no foreign rule): flush and refill, as flanneld does', () => {
    const tables = parseFlannelNftRead(fixture('flanneld.json'))
    tables[0].chains[1].rules.reverse()
    const ops = ruleOps(intent, {...host({}), flannelNft: tables})
    expect(nftLines(ops)).to.deep.equal(['flush chain ip flannel-ipv4 forward', FLANNELD[10], FLANNELD[11]])
  })

  it('ip-masq off: no postrtg chain (flanneld leaves the old one; it is deleted); static peers get the narrowed SNAT there', () => {
    const off = ruleOps({...intent, ipMasq: false}, host({nft: fixture('flanneld.json')}))
    expect(nftLines(off)).to.deep.equal(['delete chain ip flannel-ipv4 postrtg'])
    const manual = ruleOps({...intent, ipMasq: false, peers: [{subnet: '10.244.2.0/24', publicIP: '192.168.100.12', backendType: 'host-gw', static: true}]}, host({nft: fixture('flanneld.json')}))
    expect(nftLines(manual)).to.deep.equal([
      'flush chain ip flannel-ipv4 postrtg',
      'add rule ip flannel-ipv4 postrtg ip saddr 10.244.1.0/24 ip daddr != 10.244.0.0/16 oifname != "cni0" masquerade comment "flannelctl manual masq"',
    ])
  })

  it('switched off: iptables chains first, then flanneld\'s two tables deleted (and no other table)', () => {
    const ops = ruleOps({...intent, nftables: false}, host({nft: fixture('foreign-rules.json')}))
    const tools = ops.map(o => o.tool)
    expect(tools.indexOf('iptables')).to.be.below(tools.indexOf('nft'))
    expect(nftLines(ops)).to.deep.equal(['delete table ip flannel-ipv4', 'delete table ip6 flannel-ipv6'])
  })

  it('a switch either way says which rules of someone else\'s go with flannel\'s chains or tables (a DROP in FLANNEL-FWD stopped dropping without a word)', () => {
    const snap = host({iptables: true})
    snap.iptables!.rules.unshift(rule('filter', FWD_CHAIN, '-s 10.244.45.0/24 -p tcp -m tcp --dport 9999 -j DROP'), rule('nat', MASQ_CHAIN, '-d 198.51.100.0/24 -j RETURN'))
    expect(planNode(intent, snap, files).warnings).to.deep.equal([
      `1 rule not flannel's in iptables' ${MASQ_CHAIN} (nat table) goes with the chain, and no longer applies: -A ${MASQ_CHAIN} -d 198.51.100.0/24 -j RETURN`,
      `1 rule not flannel's in iptables' ${FWD_CHAIN} (filter table) goes with the chain, and no longer applies: -A ${FWD_CHAIN} -s 10.244.45.0/24 -p tcp -m tcp --dport 9999 -j DROP`,
    ])
    expect(planNode({...intent, nftables: false}, host({iptables: true, nft: fixture('foreign-rules.json')}), files).warnings).to.deep.equal([
      '1 rule not flannel\'s in chain postrtg of ip flannel-ipv4 goes with the table (ip saddr 192.0.2.0/24 counter packets 0 bytes 0 masquerade)',
      '1 rule not flannel\'s in chain mine of ip flannel-ipv4 goes with the table (ip daddr 198.51.100.1 drop)'])
    // kept where flannel keeps its chains: nothing to say
    expect(planNode({...intent, nftables: false}, snap, files).warnings).to.deep.equal([])
  })

  it('tables not read (a prediction, a failed read): flanneld\'s own idempotent transaction, so no rule is ever added twice', () => {
    const lines = nftLines(ruleOps(intent, host({})))
    expect(lines).to.deep.equal([...FLANNELD.slice(0, 3), 'flush chain ip flannel-ipv4 postrtg', ...FLANNELD.slice(3, 10), 'flush chain ip flannel-ipv4 forward', ...FLANNELD.slice(10)])
  })

  it('iptables mode on a host without nft (nothing read) plans no nft op', () => {
    expect(ruleOps({...intent, nftables: false}, host({iptables: true}))).to.deep.equal([])
  })

  it('reset deletes flanneld\'s tables only', () => {
    const ops = planReset({...intent, ownedRoutes: []}, host({iptables: true, nft: fixture('foreign-rules.json')}))
    expect(nftLines(ops)).to.deep.equal(['delete table ip flannel-ipv4', 'delete table ip6 flannel-ipv6'])
    // what goes with them is said: someone's rules (sync keeps those), or tables that could not be read stay
    expect(nftResetWarnings(parseFlannelNftRead(fixture('foreign-rules.json')), undefined)).to.deep.equal([
      '1 rule not flannel\'s in chain postrtg of ip flannel-ipv4 goes with the table (ip saddr 192.0.2.0/24 counter packets 0 bytes 0 masquerade)',
      '1 rule not flannel\'s in chain mine of ip flannel-ipv4 goes with the table (ip daddr 198.51.100.1 drop)'])
    expect(nftResetWarnings(parseFlannelNftRead(fixture('flanneld.json')), undefined)).to.deep.equal([])
    expect(nftResetWarnings(undefined, 'nft -j list tables: Operation not permitted')).to.deep.equal([
      'nftables could not be read (nft -j list tables: Operation not permitted): flanneld\'s tables, where this host has them, stay; delete them as root: nft delete table ip flannel-ipv4; nft delete table ip6 flannel-ipv6'])
  })

  it('reset names the rules someone put in flannel\'s iptables chains, which go with them (it said nothing)', () => {
    const snap = host({iptables: true})
    const lost = () => rulesLostWithChains(planReset({...intent, ownedRoutes: []}, snap), snap)
    expect(lost()).to.deep.equal([])
    snap.iptables!.rules.unshift(rule('filter', FWD_CHAIN, '-s 10.244.9.9/32 -j DROP'))
    expect(lost()).to.deep.equal(['1 rule not flannel\'s in iptables\' FLANNEL-FWD (filter table) goes with the chain, and no longer applies: -A FLANNEL-FWD -s 10.244.9.9/32 -j DROP'])
  })

  // iptables-nft-{nat,filter}.json: `nft -j list table ip …` on a namespace right after init (iptables-nft made both tables
  // for flannel's chains); the -foreign ones after `iptables -A FORWARD -s 10.9.9.9 -j DROP` and `nft add set ip nat mine`.
  it('reset and a switch to nftables delete an iptables-nft table flannel\'s chain leaves empty, whole and in its place, and no table holding anything else', () => {
    const listings = (kind: '' | '-foreign') => new Map(['nat', 'filter'].map(t => [t, fixture(`iptables-nft-${t}${kind}.json`)]))
    const shown = (ops: Op[]) => ops.flatMap(o => (o.tool === 'nft' ? o.lines : o.tool === 'iptables' ? [`iptables ${o.table}`] : []))
    const resetOps = planReset({...intent, ownedRoutes: []}, host({iptables: true}))
    expect(shown(resetOps)).to.deep.equal(['iptables nat', 'iptables filter'])
    const resetDone = deletingEmptiedIptablesTables(resetOps, listings(''))
    expect(shown(resetDone)).to.deep.equal(['delete table ip nat', 'delete table ip filter'])
    expect(resetDone.filter(o => o.tool !== 'nft')).to.deep.equal(resetOps.filter(o => o.tool !== 'iptables'))
    // someone's rule in FORWARD, a set in nat: both tables stay, flannel's chains go as before
    expect(deletingEmptiedIptablesTables(resetOps, listings('-foreign'))).to.deep.equal(resetOps)
    // a table not listed (absent, no nft) is left to the iptables lines
    expect(shown(deletingEmptiedIptablesTables(resetOps, new Map([['nat', fixture('iptables-nft-nat.json')]])))).to.deep.equal(['delete table ip nat', 'iptables filter'])
    // switched to nftables: flanneld's objects first, then the old tables, in the same nft transaction
    const switched = deletingEmptiedIptablesTables(ruleOps(intent, host({iptables: true})), listings(''))
    expect(shown(switched).slice(-2)).to.deep.equal(['delete table ip nat', 'delete table ip filter'])
    expect(switched.every(o => o.tool === 'nft')).to.equal(true)
    // ip-masq turned off in iptables mode: the nat table empties; filter keeps FLANNEL-FWD
    const noMasq = ruleOps({...intent, nftables: false, ipMasq: false}, host({iptables: true}))
    expect(shown(deletingEmptiedIptablesTables(noMasq, listings('')))).to.deep.equal(['delete table ip nat'])
    // a drop policy on a base chain is someone's setting: the table stays
    const dropPolicy = fixture('iptables-nft-filter.json').replace('"policy": "accept"', '"policy": "drop"')
    expect(deletingEmptiedIptablesTables(resetOps, new Map([['filter', dropPolicy]]))).to.deep.equal(resetOps)
    // so does a chain of someone else's, even empty
    const theirChain = fixture('iptables-nft-filter.json').replace('{"chain": {"family": "ip", "table": "filter", "name": "FORWARD"',
      '{"chain": {"family": "ip", "table": "filter", "name": "MINE", "handle": 99}}, {"chain": {"family": "ip", "table": "filter", "name": "FORWARD"')
    expect(theirChain).to.contain('MINE')
    expect(deletingEmptiedIptablesTables(resetOps, new Map([['filter', theirChain]]))).to.deep.equal(resetOps)
  })

  it('status warns where the rules are not where the network config puts them', () => {
    expect(misplacedRules('nftables', true)).to.deep.equal([])
    expect(misplacedRules('none', true), 'the drift lists what sync adds').to.deep.equal([])
    expect(misplacedRules('iptables', true)).to.deep.equal(['flannel\'s rules are in iptables, but the network config puts them in nftables (EnableNFTables): flannelctl sync moves them (the drift below)'])
    expect(misplacedRules('both', false)).to.deep.equal(['flannel\'s rules are in both iptables and nftables, but the network config puts them in iptables: flannelctl sync moves them (the drift below)'])
  })

  it('tells flannel\'s rules from others\' and where a host keeps them', () => {
    const theirsIn = (texts: (string | undefined)[], wanted?: string[]) => {
      const rules = texts.map((text, i) => ({handle: i + 2, text}))
      const ours = flannelRulesOf(rules, wanted)
      return rules.filter(r => !ours(r)).map(r => r.text)
    }
    const [postrtg] = parseFlannelNftRead(fixture('foreign-rules.json'))[0].chains
    expect(postrtg.rules[6]).to.deep.equal({handle: 11, text: 'ip saddr 192.0.2.0/24 counter packets 0 bytes 0 masquerade'})
    expect(theirsIn(postrtg.rules.map(r => r.text))).to.deep.equal([postrtg.rules[6].text])
    expect(postrtg.rules[0].text, 'the mark as nft prints it').to.equal('meta mark 0x00004000 return')
    // a whole set of flanneld's, for an earlier network and subnet, and as written where the kernel has no fully-random
    expect(theirsIn(nftMasqRules('10.42.0.0/16', '10.42.3.0/24').map(r => r.replace(' fully-random', '')))).to.deep.equal([])
    // shaped like flanneld's, in no whole set of them: someone's (an accept for another range, a RETURN keeping sources to the service range)
    expect(theirsIn([...nftForwardRules(NET), 'ip saddr 10.99.0.0/16 accept', undefined])).to.deep.equal(['ip saddr 10.99.0.0/16 accept', undefined])
    expect(theirsIn([...nftMasqRules(NET, SUBNET), `ip saddr ${NET} ip daddr 10.96.0.0/12 return`, 'ip saddr 10.244.1.0/24 ip daddr 10.244.0.0/17 return'])).to.deep.equal(
      [`ip saddr ${NET} ip daddr 10.96.0.0/12 return`, 'ip saddr 10.244.1.0/24 ip daddr 10.244.0.0/17 return'])
    // what is wanted now is flannel's, whole or not
    expect(theirsIn(['ip saddr 10.99.0.0/16 accept'], nftForwardRules('10.99.0.0/16'))).to.deep.equal([])
    expect(rulesMode(host({nft: fixture('flanneld.json')}))).to.equal('nftables')
    expect(rulesMode(host({iptables: true, nft: fixture('flanneld.json')}))).to.equal('both')
    expect(rulesMode(host({iptables: true}))).to.equal('iptables')
    expect(rulesMode({name: 'x'})).to.equal('unknown')
  })

  it('output that is not nft JSON is a clear error, not a crash', () => {
    expect(() => parseFlannelNftRead('Error: something\n')).to.throw(/nft -j printed what is not JSON/)
  })
})
