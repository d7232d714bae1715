/** Native nftables as the trace sees it: base chains from `nft list ruleset` (both forms), and which a packet passes. */
import {readFileSync} from 'node:fs'
import {expect} from 'chai'
import {parseNftRuleset, ParseError} from '../../src/core/parse/index.js'
import {parseIptables} from '../../src/core/parse/index.js'
import {type NftFacts, evaluateNftChain, mayDo, nativeChainsAt} from '../../src/core/trace/nft.js'
import type {HostSnapshot} from '../../src/core/model.js'
import {natRangeAddress} from '../../src/core/trace/nat-pick.js'

const real = (name: string): string => readFileSync(new URL(`../fixtures/parse/real/${name}`, import.meta.url), 'utf8')

describe('nftables: base chains of nft list ruleset', () => {
  // captured in a namespace with iptables-nft rules beside a firewalld-like inet table, a netdev
  // ingress chain and an ip table whose prerouting chain drops by policy
  const json = parseNftRuleset(real('nft-ruleset.json'), 'nft-ruleset.json')
  const text = parseNftRuleset(real('nft-ruleset.txt'), 'nft-ruleset.txt')

  it('reads the same chains from the JSON and the text form', () => {
    const brief = (cs: typeof json) => cs.map(c => `${c.family} ${c.table} ${c.name} ${c.type} ${c.hook} ${c.priority} ${c.policy} rules=${c.rules} drops=${c.drops}`)
    expect(brief(json)).to.deep.equal(brief(text))
    expect(brief(json)).to.deep.equal([
      'ip filter FORWARD filter forward 0 accept rules=1 drops=false',
      'ip nat POSTROUTING nat postrouting 100 accept rules=1 drops=false',
      'inet firewalld filter_FORWARD filter forward 10 accept rules=2 drops=true',
      'inet firewalld nat_POSTROUTING nat postrouting 110 accept rules=0 drops=false',
      'netdev ingressfw ing filter ingress 0 accept rules=0 drops=false',
      'ip mytable pre filter prerouting -150 drop rules=1 drops=false',
    ])
    // nft 1.0.6 prints a netdev chain's device in the text form only
    expect(text.find(c => c.family === 'netdev')?.device).to.equal('lo')
    expect(json.find(c => c.table === 'firewalld' && c.hook === 'forward')?.raw).to.equal('table inet firewalld chain filter_FORWARD { type filter hook forward priority 10; policy accept; }')
  })

  it('follows jumps: a base chain drops when a chain it jumps to does; comments are not statements', () => {
    const t = parseNftRuleset([
      'table inet fw {',
      '\tchain fwd {',
      '\t\ttype filter hook forward priority filter + 10; policy accept;',
      '\t\tiifname "cni0" jump pods comment "drop nothing here"',
      '\t}',
      '\tchain pods {',
      '\t\tip daddr 10.244.9.0/24 reject with icmp host-prohibited',
      '\t}',
      '\tchain post {',
      '\t\ttype nat hook postrouting priority srcnat; policy accept;',
      '\t\toifname "eth0" masquerade',
      '\t}',
      '\tchain quiet {',
      '\t\ttype filter hook input priority 0; policy accept;',
      '\t\tcounter comment "would drop"',
      '\t}',
      '}',
    ].join('\n'))
    expect(t.map(c => [c.name, c.priority, c.drops, c.rewrites, mayDo(c)])).to.deep.equal([
      ['fwd', 10, true, false, 'decide'],
      ['post', 100, false, true, 'rewrite'],
      ['quiet', 0, false, false, undefined],
    ])
  })

  it('follows a named verdict map too (kube-proxy\'s `vmap @service-ips`): its chains are reached, in both forms', () => {
    // one walk for the trace (may a chain it cannot evaluate drop?) and the forward check (does it read the mark?)
    // captured from kube-proxy's nftables mode: filter-output rejects a service without endpoints only
    // through `vmap @no-endpoint-services` (it was taken for a chain that drops nothing), and both forms agree
    const brief = (f: string) => parseNftRuleset(real(f)).filter(c => c.table === 'kube-proxy').map(c => `${c.name} drops=${c.drops} rewrites=${c.rewrites} ${c.reaches!.join(',')}`)
    expect(brief('nft-kube-proxy.json')).to.deep.equal(brief('nft-kube-proxy.txt'))
    expect(brief('nft-kube-proxy.json')).to.include('filter-output drops=true rewrites=false filter-output,service-endpoints-check,reject-chain')
    expect(brief('nft-kube-proxy.json').find(b => b.startsWith('nat-prerouting'))).to.match(/^nat-prerouting drops=false rewrites=true nat-prerouting,services,service-\S+,mark-for-masquerade,endpoint-/)
  })

  it('a paste that is not a ruleset is a ParseError naming the line', () => {
    expect(() => parseNftRuleset('chain x {\n}\n', 'nft.txt')).to.throw(ParseError, /nft\.txt line 1: expected "table FAMILY NAME \{"/)
    expect(() => parseNftRuleset('{"nope": 1}', 'nft.json')).to.throw(ParseError, /JSON without an "nftables" array/)
  })

  it('native chains at one priority run in the kernel\'s order: the one made last first', () => {
    // captured: ping in a namespace with these loaded by one nft -f counted 4 packets in third's `mark 1`
    // and none in second's: second ran before first set the mark
    const loaded = parseNftRuleset('table ip first {\n\tchain c {\n\t\ttype filter hook output priority filter; policy accept;\n\t\tmeta mark set 0x00000001\n\t}\n}\n'
      + 'table ip second {\n\tchain c {\n\t\ttype filter hook output priority filter; policy accept;\n\t\tmeta mark 0x00000001 counter packets 0 bytes 0\n\t\tmeta mark set 0x00000002\n\t}\n}\n'
      + 'table ip third {\n\tchain c {\n\t\ttype filter hook output priority filter + 1; policy accept;\n\t\tmeta mark 0x00000002 counter packets 0 bytes 0\n\t\tmeta mark 0x00000001 counter packets 4 bytes 336\n\t}\n}\n', 'nft.txt')
    expect(nativeChainsAt({name: 'h', nftables: loaded}, 'OUTPUT', {}).map(c => c.table)).to.deep.equal(['second', 'first', 'third'])
  })

  it('which chains a packet passes: iptables-nft\'s tables are the iptables rules; native ones by hook, family and device', () => {
    const ipt = parseIptables('# Generated by iptables-nft-save v1.8.9 (nf_tables) on Fri\n*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n')
    const snap: HostSnapshot = {name: 'n1', nftables: text, iptables: ipt}
    const names = (cs: ReturnType<typeof nativeChainsAt>) => cs.map(c => `${c.family} ${c.table} ${c.name}`)
    expect(names(nativeChainsAt(snap, 'FORWARD', {}))).to.deep.equal(['inet firewalld filter_FORWARD'])
    expect(names(nativeChainsAt(snap, 'PREROUTING', {inDev: 'eth0'}))).to.deep.equal(['ip mytable pre'])
    expect(names(nativeChainsAt(snap, 'PREROUTING', {inDev: 'lo'}))).to.deep.equal(['ip mytable pre', 'netdev ingressfw ing'])
    expect(names(nativeChainsAt(snap, 'POSTROUTING', {}))).to.deep.equal(['inet firewalld nat_POSTROUTING'])
    // rules read from iptables-legacy: the nft tables named filter and nat are someone else's
    const legacy = {...snap, iptables: {...ipt, flavour: 'legacy' as const}}
    expect(names(nativeChainsAt(legacy, 'FORWARD', {}))).to.deep.equal(['ip filter FORWARD', 'inet firewalld filter_FORWARD'])
  })
})

describe('nftables: rules, sets and maps of nft list ruleset, evaluated', () => {
  // captured from a namespace holding a kube-proxy-like table and an inet table written to use
  // every expression the trace reads (nft 1.0.6: `nft -j list ruleset` and `nft -a list ruleset`)
  const json = parseNftRuleset(real('nft-expressions.json'), 'nft-expressions.json')
  const text = parseNftRuleset(real('nft-expressions.txt'), 'nft-expressions.txt')
  const chain = (cs: typeof json, name: string) => cs.find(c => c.name === name)!
  const facts = (p: Partial<NftFacts> = {}): NftFacts => ({src: '10.0.0.5', dst: '10.9.9.9', proto: 'udp', dport: 1500, inDev: 'cni3', outDev: 'eth1', state: 'NEW', mark: 0, ...p})

  it('prints each JSON rule as nft prints it, and reads the text form into the same statements', () => {
    const byHandle = new Map(text[0].ruleset!.rules.filter(r => r.table === 't2' || r.table === 'kube-proxy').map(r => [`${r.table} ${r.handle}`, r]))
    for (const r of json[0].ruleset!.rules.filter(x => x.table === 't2' || x.table === 'kube-proxy')) {
      const t = byHandle.get(`${r.table} ${r.handle}`)!
      expect(r.text, `handle ${r.handle}`).to.equal(t.text)
      // `tcp option maxseg size set rt mtu` is not read from the text: kept, named unread
      if (r.handle === 18 && r.table === 't2') expect(t.unread).to.equal('"tcp option" is not an expression the trace reads')
    }
    // a verdict map's elements, from both forms
    const map = (cs: typeof json) => cs[0].ruleset!.sets.find(s => s.name === 'service-ips')
    expect(map(json)).to.deep.equal(map(text))
    expect(map(json)!.elem).to.deep.equal([[{concat: ['10.96.0.10', 'tcp', 80]}, {goto: {target: 'service-AAA-default/web/tcp/http'}}]])
  })

  for (const [form, cs] of [['json', json], ['txt', text]] as const) {
    it(`decides matches the way the kernel does (${form})`, () => {
      const fw = chain(cs, 'fw')
      const verdict = (p: Partial<NftFacts>) => {
        const o = evaluateNftChain(fw, facts(p))
        return `${o.verdict.kind}${'rule' in o.verdict && o.verdict.rule ? ` ${o.verdict.rule.handle}` : ''}`
      }
      expect(verdict({state: 'ESTABLISHED'})).to.equal('accept 6')
      expect(verdict({})).to.equal('accept 9') // iifname "cni*", oifname != "eth0", a range of sources, a set of ports
      expect(verdict({outDev: 'eth0', proto: 'tcp', dport: 22})).to.equal('accept 11') // th dport, the limit assumed to pass
      expect(verdict({outDev: 'eth0', proto: 'icmp', dport: undefined, icmpType: 8})).to.equal('accept 12')
      expect(verdict({outDev: 'eth0', ctDnat: true})).to.equal('accept 14')
      expect(verdict({outDev: 'eth0', mark: 0x4000})).to.equal('accept 15')
      expect(verdict({outDev: 'eth0', mark: 0x1234})).to.equal('reject 20') // 0x1234 & 0xff00 is 0x1200
      expect(verdict({outDev: 'eth0', mark: 0x0150})).to.equal('accept 16')
      expect(verdict({outDev: 'eth0', inDev: 'lo'})).to.equal('accept 17')
      expect(verdict({outDev: 'eth0', pktType: 'broadcast'})).to.equal('drop 13')
      expect(verdict({outDev: 'eth0'})).to.equal('reject 20')
      if (form === 'json') {
        // the MSS clamp changes nothing of the packet's way; then the TCP reset
        const o = evaluateNftChain(fw, facts({outDev: 'eth0', proto: 'tcp', dport: 80}))
        expect(o.verdict).to.include({kind: 'reject'})
        expect(o.verdict.kind === 'reject' && o.verdict.answer.error).to.equal('a TCP reset ("Connection refused")')
      } else {
        // the text form could not read the MSS clamp: the walk stops there and names it
        const o = evaluateNftChain(fw, facts({outDev: 'eth0', proto: 'tcp', dport: 80}))
        expect(o.verdict).to.include({kind: 'unknown'})
      }
    })

    it(`follows notrack, marks, goto and NAT statements (${form})`, () => {
      const raw = evaluateNftChain(chain(cs, 'rawc'), facts({dst: '10.1.1.1'}))
      expect(raw.notrack?.handle).to.equal(34)
      expect(raw.mark).to.equal(0x10)
      expect(raw.path).to.deep.equal(['rawc'])
      expect(raw.verdict).to.deep.equal({kind: 'accept'})
      const pre = chain(cs, 'pre')
      expect(evaluateNftChain(pre, facts({proto: 'tcp', dport: 80})).verdict).to.include({kind: 'nat', action: 'DNAT', toAddress: '10.0.0.1'})
        .and.to.have.deep.property('toPorts', [8080, 8080])
      // `dnat ip to 10.0.0.2/31`: a prefix is the range 10.0.0.2-10.0.0.3 to the kernel, which hashes the connection onto it
      const picks = ['10.0.0.5', '10.0.0.6', '10.0.0.7', '10.0.0.8'].map(src => evaluateNftChain(pre, facts({src, dst: '1.2.3.4'})))
      expect(picks.map(r => (r.verdict as {toAddress?: string}).toAddress)).to.deep.equal(['10.0.0.5', '10.0.0.6', '10.0.0.7', '10.0.0.8']
        .map(src => natRangeAddress('10.0.0.2-10.0.0.3', {src, dst: '1.2.3.4'}, {action: 'DNAT', persistent: false})))
      expect(picks[0].verdict).to.include({action: 'DNAT'})
      expect(picks.flatMap(r => r.assumptions).join('\n')).to.not.contain('picks one per connection')
      const post = chain(cs, 'post')
      expect(evaluateNftChain(post, facts({outDev: 'eth0', proto: 'icmp', dport: undefined})).verdict).to.include({action: 'SNAT', toAddress: '1.1.1.1'})
      expect(evaluateNftChain(post, facts()).verdict).to.include({action: 'MASQUERADE'})
    })
  }

  it('kube-proxy: a verdict map keyed by address . protocol . port, a named set, the mark for masquerade', () => {
    const nat = chain(json, 'nat-prerouting')
    const o = evaluateNftChain(nat, facts({src: '192.168.1.5', dst: '10.96.0.10', proto: 'tcp', dport: 80}))
    expect(o.path).to.deep.equal(['nat-prerouting', 'services', 'service-AAA-default/web/tcp/http', 'endpoint-X'])
    expect(o.verdict).to.include({kind: 'nat', action: 'DNAT', toAddress: '10.244.2.5'})
    expect(o.mark).to.equal(0x4000)
    expect(o.assumptions[0]).to.contain('picked at random by `numgen random`: traced the first (0 : goto endpoint-X)')
    const post = evaluateNftChain(chain(json, 'nat-postrouting'), facts({mark: 0x4000}))
    expect(post.verdict).to.include({kind: 'nat', action: 'MASQUERADE'})
    expect(post.mark).to.equal(0)
    expect(evaluateNftChain(chain(json, 'nat-postrouting'), facts()).returned?.handle).to.equal(24)
    const check = evaluateNftChain(chain(json, 'filter-forward'), facts({dst: '10.96.0.10', proto: 'tcp', dport: 81}))
    expect(check.verdict).to.include({kind: 'reject'})
    expect(check.path).to.deep.equal(['filter-forward', 'cluster-ips-check'])
  })
})

describe('nftables: what a packet does not carry, or the trace cannot know', () => {
  const chainWith = (...rules: unknown[][]) => parseNftRuleset(JSON.stringify({nftables: [
    {chain: {family: 'inet', table: 't', name: 'c', type: 'filter', hook: 'forward', prio: 0, policy: 'drop'}},
    ...rules.map((expr, i) => ({rule: {family: 'inet', table: 't', chain: 'c', handle: i + 2, expr}})),
  ]}))[0]
  const th = (field: string) => ({payload: {protocol: 'th', field}})
  const icmp: NftFacts = {src: '10.0.0.1', dst: '10.0.0.2', proto: 'icmp', icmpType: 8, state: 'NEW', mark: 0}

  it('th reads an ICMP header: its type as the source port, its checksum (unknown) as the destination port', () => {
    const bySport = chainWith([{match: {op: '==', left: th('sport'), right: 0x0800}}, {accept: null}])
    expect(evaluateNftChain(bySport, icmp).verdict).to.include({kind: 'accept'})
    const byDport = evaluateNftChain(chainWith([{match: {op: '==', left: th('dport'), right: 53}}, {accept: null}]), icmp)
    expect(byDport.verdict).to.include({kind: 'unknown', what: '`th dport` of an ICMP packet (its checksum)'})
    // in kube-proxy's key the protocol already tells the element apart
    const vmap = chainWith([{vmap: {key: {concat: [{payload: {protocol: 'ip', field: 'daddr'}}, {meta: {key: 'l4proto'}}, th('dport')]},
      data: {set: [[{concat: ['10.0.0.2', 'tcp', 80]}, {accept: null}]]}}}])
    expect(evaluateNftChain(vmap, icmp).verdict).to.deep.equal({kind: 'drop'})
    // a tcp port is not in a UDP packet: the rule does not match, `!=` neither
    const tcp = chainWith([{match: {op: '!=', left: {payload: {protocol: 'tcp', field: 'dport'}}, right: 22}}, {accept: null}])
    expect(evaluateNftChain(tcp, {...icmp, proto: 'udp', dport: 53}).verdict).to.deep.equal({kind: 'drop'})
  })

  it('flow offload and dynamic sets leave this packet\'s way alone; an unknown statement stops the walk', () => {
    const flow = chainWith([{flow: {op: 'add', flowtable: '@ft'}}], [{accept: null}])
    expect(evaluateNftChain(flow, icmp).verdict).to.include({kind: 'accept'})
    const tproxy = chainWith([{tproxy: {addr: '127.0.0.1', port: 80}}])
    expect(evaluateNftChain(tproxy, icmp).verdict).to.include({kind: 'unknown', what: 'the trace does not model `tproxy`'})
  })
})
