import {expect} from 'chai'
import type {Iptables, Route} from '../../src/core/model.js'
import {RuleSet, tokenize, type PacketFacts} from '../../src/core/trace/iptables.js'
import {RouteTable} from '../../src/core/trace/routes.js'

function rules(text: string): Iptables {
  const chains: Iptables['chains'] = []
  const list: Iptables['rules'] = []
  let table = 'filter'
  for (const line of text.trim().split('\n').map(l => l.trim())) {
    if (line.startsWith('*')) table = line.slice(1)
    else if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/)
      chains.push(policy === '-' ? {table, name} : {table, name, policy})
    } else if (line.startsWith('-A ')) {
      const [, chain, ...rest] = line.split(' ')
      list.push({table, chain, spec: rest.join(' '), raw: line})
    }
  }
  return {chains, rules: list}
}

const pkt = (o: Partial<PacketFacts> = {}): PacketFacts => ({src: '10.244.1.34', dst: '10.244.2.5', proto: 'icmp', state: 'NEW', inDev: 'cni0', outDev: 'flannel.1', ...o})

describe('trace tables', () => {
  describe('iptables evaluation', () => {
    it('splits a spec like a shell, quotes and escapes included', () => {
      expect(tokenize('-m comment --comment "flanneld forward" -j ACCEPT')).to.deep.equal(['-m', 'comment', '--comment', 'flanneld forward', '-j', 'ACCEPT'])
      expect(tokenize('--comment "a \\"b\\"" -j X')).to.deep.equal(['--comment', 'a "b"', '-j', 'X'])
      expect(tokenize('--comment ""')).to.deep.equal(['--comment', ''])
    })

    it('walks jumps into user chains and takes the first deciding rule', () => {
      const r = new RuleSet(rules(`
        :FORWARD DROP
        :FLANNEL-FWD -
        -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
        -A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
        -A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT`))
      const d = r.evaluate('filter', 'FORWARD', pkt())
      expect(d.action).to.equal('ACCEPT')
      expect(d.path).to.deep.equal(['FORWARD', 'FLANNEL-FWD'])
      expect(d.evidence).to.equal('-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT')
      const other = r.evaluate('filter', 'FORWARD', pkt({src: '192.168.1.5', dst: '8.8.8.8'}))
      expect(other).to.include({action: 'DROP', evidence: '-P FORWARD DROP'})
    })

    it('matches `--icmp-type TYPE/CODE` (as iptables-save prints port-unreachable) on the code when it is known', () => {
      const r = new RuleSet(rules(`
        :OUTPUT ACCEPT
        -A OUTPUT -p icmp -m icmp --icmp-type 3/3 -j DROP`))
      const error = pkt({state: 'RELATED', icmpType: 3})
      expect(r.evaluate('filter', 'OUTPUT', {...error, icmpCode: 3}).action).to.equal('DROP')
      expect(r.evaluate('filter', 'OUTPUT', {...error, icmpCode: 4}).action).to.equal('ACCEPT')
      expect(r.evaluate('filter', 'OUTPUT', error).action, 'code unknown: the type decides').to.equal('DROP')
      expect(r.evaluate('filter', 'OUTPUT', pkt({icmpType: 11, icmpCode: 0})).action).to.equal('ACCEPT')
    })

    it('honours negation, interface wildcards, protocols and port ranges', () => {
      const r = new RuleSet(rules(`
        :FORWARD ACCEPT
        -A FORWARD -i docker0 ! -o docker0 -j DROP
        -A FORWARD -o cali+ -p tcp -m multiport --dports 80,8000:8080 -j REJECT
        -A FORWARD ! -s 10.0.0.0/8 -p udp --dport 53 -j DROP`))
      expect(r.evaluate('filter', 'FORWARD', pkt({inDev: 'docker0', outDev: 'eth0'})).action).to.equal('DROP')
      expect(r.evaluate('filter', 'FORWARD', pkt({inDev: 'docker0', outDev: 'docker0'})).action).to.equal('ACCEPT')
      expect(r.evaluate('filter', 'FORWARD', pkt({outDev: 'cali12', proto: 'tcp', dport: 8001})).action).to.equal('REJECT')
      expect(r.evaluate('filter', 'FORWARD', pkt({outDev: 'cali12', proto: 'tcp', dport: 443})).action).to.equal('ACCEPT')
      expect(r.evaluate('filter', 'FORWARD', pkt({outDev: 'cali12', proto: 'udp', dport: 8001})).action).to.equal('ACCEPT')
      expect(r.evaluate('filter', 'FORWARD', pkt({src: '192.168.0.9', proto: 'udp', dport: 53})).action).to.equal('DROP')
      expect(r.evaluate('filter', 'FORWARD', pkt({src: '10.1.0.9', proto: 'udp', dport: 53})).action).to.equal('ACCEPT')
    })

    it('knows NEW from ESTABLISHED', () => {
      const r = new RuleSet(rules(`
        :FORWARD DROP
        -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A FORWARD -m state --state NEW -p tcp --dport 22 -j ACCEPT`))
      expect(r.evaluate('filter', 'FORWARD', pkt({state: 'ESTABLISHED'})).action).to.equal('ACCEPT')
      expect(r.evaluate('filter', 'FORWARD', pkt()).action).to.equal('DROP')
      expect(r.evaluate('filter', 'FORWARD', pkt({proto: 'tcp', dport: 22})).action).to.equal('ACCEPT')
    })

    it('returns from a user chain to the caller, and a goto returns past it', () => {
      const r = new RuleSet(rules(`
        :FORWARD DROP
        :A -
        :B -
        -A FORWARD -j A
        -A FORWARD -s 10.244.1.34/32 -j ACCEPT
        -A A -j RETURN
        -A A -j DROP`))
      const d = r.evaluate('filter', 'FORWARD', pkt())
      expect(d.action).to.equal('ACCEPT')
      const g = new RuleSet(rules(`
        :FORWARD DROP
        :B -
        -A FORWARD -g B
        -A FORWARD -j ACCEPT
        -A B -j RETURN`))
      const e = g.evaluate('filter', 'FORWARD', pkt())
      expect(e).to.include({action: 'DROP', evidence: '-P FORWARD DROP'})
      expect(e.viaReturn?.raw).to.equal('-A B -j RETURN')
    })

    it('assumes no mark, and an undecidable match as not matching, saying so', () => {
      const r = new RuleSet(rules(`
        *nat
        :POSTROUTING ACCEPT
        -A POSTROUTING -m mark --mark 0x4000/0x4000 -j RETURN
        -A POSTROUTING -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN
        -A POSTROUTING -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully`))
      const d = r.evaluate('nat', 'POSTROUTING', pkt({dst: '8.8.8.8', outDev: 'eth0'}))
      expect(d.action).to.equal('MASQUERADE')
      expect(d.assumptions).to.have.length(2)
      // only the nat table was captured: nothing is known of rules that may have marked the packet
      expect(d.assumptions[0]).to.contain('packet mark unknown (only the nat table was captured)')
      expect(d.assumptions[1]).to.contain('--match-set KUBE-CLUSTER-IP dst,dst')
      const zero = new RuleSet(rules(`
        :FORWARD ACCEPT
        -A FORWARD -m mark ! --mark 0x0/0x1 -j DROP`))
      expect(zero.evaluate('filter', 'FORWARD', pkt()).action).to.equal('ACCEPT')
    })

    it('takes a packet\'s mark as 0 without a warning when no visible rule on its way could set one', () => {
      const flannel = `
        *filter
        :FORWARD ACCEPT
        *nat
        :PREROUTING ACCEPT
        :POSTROUTING ACCEPT
        :FLANNEL-POSTRTG -
        :KUBE-SERVICES -
        :KUBE-MARK-MASQ -
        :KUBE-POSTROUTING -
        -A PREROUTING -j KUBE-SERVICES
        -A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j KUBE-MARK-MASQ
        -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
        -A POSTROUTING -j KUBE-POSTROUTING
        -A POSTROUTING -j FLANNEL-POSTRTG
        -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
        -A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
        -A KUBE-POSTROUTING -j MASQUERADE --random-fully
        -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -j RETURN
        -A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN`
      const r = new RuleSet(rules(flannel))
      // pod to pod: KUBE-MARK-MASQ is only for the service address, and KUBE-POSTROUTING's MARK comes after its RETURN
      const d = r.evaluate('nat', 'POSTROUTING', pkt())
      expect(d.viaReturn?.raw).to.equal('-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.0.0/16 -j RETURN')
      expect(d.assumptions).to.deep.equal([])
      expect(r.markSetter(pkt(), 'nat', 'POSTROUTING')).to.equal(undefined)
      // to the service address the jump into KUBE-MARK-MASQ could fire: the mark is a guess then
      const svc = pkt({dst: '10.96.0.1', proto: 'tcp', dport: 443})
      expect(r.markSetter(svc, 'nat', 'POSTROUTING')?.raw).to.equal('-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000')
      const guessed = r.evaluate('nat', 'POSTROUTING', svc).assumptions
      expect(guessed).to.have.length(2) // KUBE-POSTROUTING's and FLANNEL-POSTRTG's mark matches
      for (const g of guessed) expect(g).to.contain('packet mark unknown').and.contain('KUBE-MARK-MASQ -j MARK')
      // a locally sent packet does not pass PREROUTING
      expect(r.markSetter({...svc, inDev: undefined}, 'nat', 'POSTROUTING')).to.equal(undefined)
      // a MARK or CONNMARK in mangle that may match (here on a device not known at this hook) counts
      const mangled = new RuleSet(rules(`${flannel}
        *mangle
        :PREROUTING ACCEPT
        -A PREROUTING -i eth0 -j CONNMARK --restore-mark`))
      expect(mangled.markSetter(pkt({inDev: undefined}), 'nat', 'POSTROUTING')).to.equal(undefined)
      expect(mangled.markSetter(pkt(), 'nat', 'POSTROUTING')).to.equal(undefined)
      expect(mangled.markSetter(pkt({inDev: 'eth0'}), 'nat', 'POSTROUTING')?.raw).to.equal('-A PREROUTING -i eth0 -j CONNMARK --restore-mark')
      // clearing bits of a zero mark leaves it 0
      const clearing = new RuleSet(rules(`${flannel}
        *mangle
        :FORWARD ACCEPT
        -A FORWARD -j MARK --set-xmark 0x0/0xf0000`))
      expect(clearing.markSetter(pkt(), 'nat', 'POSTROUTING')).to.equal(undefined)
    })

    it('reads SNAT targets and addrtype LOCAL', () => {
      const r = new RuleSet(rules(`
        *nat
        :POSTROUTING ACCEPT
        -A POSTROUTING -m addrtype --dst-type LOCAL -j RETURN
        -A POSTROUTING -s 10.244.0.0/16 -o eth0 -j SNAT --to-source 203.0.113.5:1024-65535`))
      expect(r.evaluate('nat', 'POSTROUTING', pkt({dst: '192.168.100.11', outDev: 'eth0', dstIsLocal: true})).action).to.equal('ACCEPT')
      const d = r.evaluate('nat', 'POSTROUTING', pkt({dst: '8.8.8.8', outDev: 'eth0'}))
      expect(d).to.include({action: 'SNAT', toAddress: '203.0.113.5'})
    })

    it('decides iprange, with negation', () => {
      const r = new RuleSet(rules(`
        :FORWARD ACCEPT
        -A FORWARD -m iprange --src-range 10.244.1.30-10.244.1.40 -j DROP
        -A FORWARD -m iprange ! --dst-range 10.244.0.0-10.244.255.255 -j REJECT`))
      expect(r.evaluate('filter', 'FORWARD', pkt()).action).to.equal('DROP')
      expect(r.evaluate('filter', 'FORWARD', pkt({src: '10.244.1.41'})).action).to.equal('ACCEPT')
      expect(r.evaluate('filter', 'FORWARD', pkt({src: '10.244.1.41', dst: '8.8.8.8'})).action).to.equal('REJECT')
      expect(r.evaluate('filter', 'FORWARD', pkt({src: '10.244.1.41'})).assumptions).to.deep.equal([])
    })

    it('decides ttl from the TTL the packet has at the hook, and leaves it open when unknown', () => {
      const r = new RuleSet(rules(`
        :FORWARD ACCEPT
        -A FORWARD -m ttl --ttl-lt 10 -j DROP
        -A FORWARD -m ttl ! --ttl-eq 63 -j REJECT
        -A FORWARD -m ttl --ttl-gt 100 -j DROP`))
      expect(r.evaluate('filter', 'FORWARD', pkt({ttl: 63})).action).to.equal('ACCEPT')
      expect(r.evaluate('filter', 'FORWARD', pkt({ttl: 5})).action).to.equal('DROP')
      expect(r.evaluate('filter', 'FORWARD', pkt({ttl: 62})).action).to.equal('REJECT')
      const unknown = r.evaluate('filter', 'FORWARD', pkt())
      expect(unknown.action).to.equal('ACCEPT')
      expect(unknown.assumptions[0]).to.contain('--ttl-lt 10').and.to.contain('where it does the packet is dropped')
    })

    it('decides pkttype: a traced packet is unicast unless its destination is a broadcast or multicast address', () => {
      const r = new RuleSet(rules(`
        :INPUT ACCEPT
        -A INPUT -m pkttype --pkt-type broadcast -j DROP
        -A INPUT -m pkttype ! --pkt-type unicast -j REJECT`))
      expect(r.evaluate('filter', 'INPUT', pkt()).action).to.equal('ACCEPT')
      expect(r.evaluate('filter', 'INPUT', pkt({pktType: 'broadcast'})).action).to.equal('DROP')
      expect(r.evaluate('filter', 'INPUT', pkt({pktType: 'multicast'})).action).to.equal('REJECT')
    })

    it('decides length from the IP length when the size is known, and assumes otherwise', () => {
      const r = new RuleSet(rules(`
        :FORWARD ACCEPT
        -A FORWARD -p icmp -m length --length 1000:65535 -j DROP
        -A FORWARD -p icmp -m length ! --length 0:100 -j REJECT`))
      expect(r.evaluate('filter', 'FORWARD', pkt({length: 1400})).action).to.equal('DROP')
      expect(r.evaluate('filter', 'FORWARD', pkt({length: 84})).action).to.equal('ACCEPT')
      expect(r.evaluate('filter', 'FORWARD', pkt({length: 500})).action).to.equal('REJECT')
      const unknown = r.evaluate('filter', 'FORWARD', pkt())
      expect(unknown.action).to.equal('ACCEPT')
      expect(unknown.assumptions).to.have.length(2)
      expect(unknown.assumptions[0]).to.contain('--length 1000:65535').and.to.contain('give --size')
    })

    it('takes a rate limit as undecidable: a limited DROP is an assumption, not a certain drop nor a certain pass', () => {
      const r = new RuleSet(rules(`
        :INPUT ACCEPT
        -A INPUT -p icmp -m limit --limit 1/sec --limit-burst 4 -j DROP`))
      const d = r.evaluate('filter', 'INPUT', pkt())
      expect(d.action).to.equal('ACCEPT')
      expect(d.assumptions).to.deep.equal([
        'rate limited: `--limit 1/sec --limit-burst 4` in `-A INPUT -p icmp -m limit --limit 1/sec --limit-burst 4 -j DROP` matches the first packets (up to its burst) and not those after them; assumed the rule does not match, but where it does the packet is dropped',
      ])
    })
  })

    it('follows the mark MARK rules give, in order and through jumps; a rule that may match leaves it unknown', () => {
      const r = new RuleSet(rules(`
        *mangle
        :PREROUTING ACCEPT
        :MARK-IT -
        -A PREROUTING -p udp -m udp --dport 53 -j MARK --set-xmark 0x10/0xffffffff
        -A PREROUTING -s 10.244.0.0/16 -j MARK-IT
        -A PREROUTING -m mark --mark 0x4010 -j MARK --and-mark 0x4000
        -A MARK-IT -j MARK --or-mark 0x4000
        -A MARK-IT -m set --match-set SOME src -j MARK --set-xmark 0x1/0x1`))
      expect(r.markAfter(pkt({inDev: 'eth0', outDev: undefined, src: '192.168.1.5', proto: 'udp', dport: 53}), 'mangle', 'PREROUTING')).to.deep.equal({mark: 0x10})
      expect(r.markAfter(pkt({inDev: 'eth0', outDev: undefined, src: '192.168.1.5'}), 'mangle', 'PREROUTING')).to.deep.equal({mark: 0})
      const doubt = r.markAfter(pkt({inDev: 'cni0', outDev: undefined, proto: 'udp', dport: 53}), 'mangle', 'PREROUTING')
      expect(doubt).to.have.property('doubt').that.has.property('raw', '-A MARK-IT -m set --match-set SOME src -j MARK --set-xmark 0x1/0x1')
    })

    it('decides --tcp-flags (and --syn): the request is a SYN, its reply a SYN-ACK', () => {
      // as iptables-save prints `--syn` and `! --syn`; checked with a TCP connect through namespaces
      const syn = new RuleSet(rules(`
        :FORWARD ACCEPT
        -A FORWARD -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j DROP`))
      const d = syn.evaluate('filter', 'FORWARD', pkt({proto: 'tcp', dport: 80}))
      expect(d.action).to.equal('DROP')
      expect(d.assumptions).to.deep.equal([])
      expect(syn.evaluate('filter', 'FORWARD', pkt({proto: 'tcp', sport: 80, dport: 40000, state: 'ESTABLISHED'})).action).to.equal('ACCEPT')
      const notSyn = new RuleSet(rules(`
        :FORWARD ACCEPT
        -A FORWARD -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -m state --state NEW -j DROP
        -A FORWARD -p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK -j REJECT`))
      expect(notSyn.evaluate('filter', 'FORWARD', pkt({proto: 'tcp', dport: 80})).action).to.equal('ACCEPT')
      expect(notSyn.evaluate('filter', 'FORWARD', pkt({proto: 'tcp', sport: 80, state: 'ESTABLISHED'})).action).to.equal('REJECT')
    })

    it('says ASSUMED for a target it does not model (TTL), not for LOG; NETMAP maps the prefix', () => {
      const r = new RuleSet(rules(`
        *mangle
        :PREROUTING ACCEPT
        -A PREROUTING -j LOG
        -A PREROUTING -j TTL --ttl-set 1`))
      const d = r.evaluate('mangle', 'PREROUTING', pkt({outDev: undefined}))
      expect(d.action).to.equal('ACCEPT')
      expect(d.assumptions).to.deep.equal(['`-A PREROUTING -j TTL --ttl-set 1`: the trace does not model the TTL target: assumed the packet goes on unchanged'])
      const n = new RuleSet(rules(`
        *nat
        :PREROUTING ACCEPT
        :POSTROUTING ACCEPT
        -A PREROUTING -d 10.99.3.0/24 -j NETMAP --to 10.91.3.0/24
        -A POSTROUTING -s 10.91.1.0/24 -o b0 -j NETMAP --to 10.98.1.0/24`))
      expect(n.evaluate('nat', 'PREROUTING', pkt({dst: '10.99.3.2', outDev: undefined}))).to.include({action: 'DNAT', toAddress: '10.91.3.2'})
      expect(n.evaluate('nat', 'POSTROUTING', pkt({src: '10.91.1.2', outDev: 'b0'}))).to.include({action: 'SNAT', toAddress: '10.98.1.2'})
    })

  describe('route lookup', () => {
    const route = (raw: string, o: Partial<Route>): Route => ({dst: 'default', type: 'unicast', raw, ...o})
    const table = new RouteTable([
      route('default via 192.168.100.1 dev eth0 metric 100', {gateway: '192.168.100.1', dev: 'eth0', metric: 100}),
      route('default via 10.0.2.2 dev eth1 metric 50', {gateway: '10.0.2.2', dev: 'eth1', metric: 50}),
      route('10.244.0.0/16 dev flannel.1', {dst: '10.244.0.0/16', dev: 'flannel.1'}),
      route('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink', {dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'flannel.1', onlink: true}),
      route('blackhole 10.244.9.0/24', {dst: '10.244.9.0/24', type: 'blackhole'}),
      route('10.244.9.7 dev cni0 scope link', {dst: '10.244.9.7/32', dev: 'cni0'}),
      route('192.168.100.0/24 dev eth0 proto kernel scope link src 192.168.100.11', {dst: '192.168.100.0/24', dev: 'eth0', src: '192.168.100.11'}),
      route('10.96.0.0/12 via 1.1.1.1 table 100', {dst: '10.96.0.0/12', gateway: '1.1.1.1', table: '100'}),
      route('local 192.168.100.11 dev eth0 table local', {dst: '192.168.100.11/32', type: 'local', table: 'local'}),
    ])

    it('takes the longest prefix, then the lowest metric, and only table main', () => {
      expect(table.lookup('10.244.2.5')!.raw).to.equal('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink')
      expect(table.lookup('10.244.3.5')!.raw).to.equal('10.244.0.0/16 dev flannel.1')
      expect(table.lookup('10.244.9.1')!.type).to.equal('blackhole')
      expect(table.lookup('10.244.9.7')!.raw).to.equal('10.244.9.7 dev cni0 scope link')
      expect(table.lookup('8.8.8.8')!.raw).to.equal('default via 10.0.2.2 dev eth1 metric 50')
      expect(table.lookup('10.96.0.1')!.raw).to.equal('default via 10.0.2.2 dev eth1 metric 50')
    })

    it('finds the connected route that makes a gateway on-link', () => {
      expect(table.connectedRoute('192.168.100.1', 'eth0')!.dst).to.equal('192.168.100.0/24')
      expect(table.connectedRoute('192.168.100.1', 'eth1')).to.equal(undefined)
      expect(table.connectedRoute('192.168.200.1')).to.equal(undefined)
    })
  })
})
