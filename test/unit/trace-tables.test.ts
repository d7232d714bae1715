import {expect} from 'chai'
import type {Iptables, Route} from '../../src/core/model.js'
import {RuleSet, tokenize, type PacketFacts} from '../../src/core/trace/iptables.js'
import {RouteTable} from '../../src/core/trace/routes.js'
import {natRangeAddress} from '../../src/core/trace/nat-pick.js'
import {HostView} from '../../src/core/trace/host-view.js'
import {parseNftRuleset} from '../../src/core/parse/index.js'

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
      const unknownCode = r.evaluate('filter', 'OUTPUT', error)
      expect(unknownCode.action, 'code unknown: not guessed').to.equal('ACCEPT')
      expect(unknownCode.assumptions.join('\n')).to.contain('cannot evaluate `--icmp-type 3/3` (it depends on the ICMP code, which the trace does not know here)')
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

  // Each rule as iptables-save v1.8.9 prints it (captured from a namespace); the comments say what the kernel did.
  describe('match extensions and targets as real hosts write them', () => {
    const lines = (d: {assumptions: string[]}) => d.assumptions.join('\n')
    const nodeLocal = (ip: string) => ({'192.168.100.11': 'eth0', '10.244.1.0': 'tunl0', '10.244.1.1': 'cni0'} as Record<string, string>)[ip]

    it('addrtype --limit-iface-out: Calico\'s tunl0 masquerade takes a host source that lives on another device', () => {
      const r = new RuleSet(rules(`
        *nat
        :POSTROUTING ACCEPT
        :cali-POSTROUTING -
        -A POSTROUTING -j cali-POSTROUTING
        -A cali-POSTROUTING -o tunl0 -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully`))
      const out = (src: string, o: Partial<PacketFacts> = {}) => r.evaluate('nat', 'POSTROUTING', pkt({src, inDev: undefined, outDev: 'tunl0', srcIsLocal: nodeLocal(src) !== undefined, localDevOf: nodeLocal, ...o}))
      expect(out('192.168.100.11').action, 'eth0\'s address leaving by tunl0').to.equal('MASQUERADE')
      expect(out('10.244.1.0').action, 'tunl0\'s own address').to.equal('ACCEPT')
      expect(out('10.244.2.7', {inDev: 'cali1'}).action, 'a pod: no local source').to.equal('ACCEPT')
      const blind = out('192.168.100.11', {localDevOf: undefined})
      expect(blind.action).to.equal('ACCEPT')
      expect(lines(blind)).to.contain('cannot evaluate `! --src-type LOCAL --limit-iface-out` (it depends on which device holds the address)')
    })

    it('addrtype --limit-iface-in: an address of another device is not LOCAL (kernel: ping to cni0\'s address by flannel.1 dropped)', () => {
      const r = new RuleSet(rules(`
        :INPUT ACCEPT
        -A INPUT -m addrtype ! --dst-type LOCAL --limit-iface-in -j DROP`))
      const to = (dst: string, inDev: string) => r.evaluate('filter', 'INPUT', pkt({dst, inDev, dstIsLocal: true, localDevOf: nodeLocal})).action
      expect(to('10.244.1.1', 'flannel.1')).to.equal('DROP')
      expect(to('10.244.1.1', 'cni0')).to.equal('ACCEPT')
      expect(to('192.168.100.11', 'eth0')).to.equal('ACCEPT')
    })

    it('addrtype types: a local address is not UNICAST; broadcast and multicast by address', () => {
      const r = new RuleSet(rules(`
        :FORWARD ACCEPT
        :INPUT ACCEPT
        -A FORWARD -m addrtype --dst-type BROADCAST,MULTICAST -j DROP
        -A INPUT -m addrtype --dst-type UNICAST -j DROP`))
      expect(r.evaluate('filter', 'FORWARD', pkt({dst: '10.244.2.255', pktType: 'broadcast'})).action).to.equal('DROP')
      expect(r.evaluate('filter', 'FORWARD', pkt({dst: '224.0.0.251'})).action).to.equal('DROP')
      expect(r.evaluate('filter', 'FORWARD', pkt()).action).to.equal('ACCEPT')
      expect(r.evaluate('filter', 'INPUT', pkt({dst: '10.244.1.1', dstIsLocal: true})).action).to.equal('ACCEPT')
      expect(r.evaluate('filter', 'INPUT', pkt({dst: '10.244.2.5'})).action).to.equal('DROP')
    })

    it('conntrack --ctstate DNAT matches a connection this host translated (kernel: ping to the DNATed address dropped)', () => {
      const r = new RuleSet(rules(`
        :FORWARD ACCEPT
        -A FORWARD -m conntrack --ctstate DNAT -j DROP`))
      expect(r.evaluate('filter', 'FORWARD', pkt({ctDnat: true})).action).to.equal('DROP')
      expect(r.evaluate('filter', 'FORWARD', pkt({ctDnat: false})).action).to.equal('ACCEPT')
      const unknown = r.evaluate('filter', 'FORWARD', pkt())
      expect(unknown.action).to.equal('ACCEPT')
      expect(lines(unknown)).to.contain('cannot evaluate `--ctstate DNAT` (it depends on whether this host\'s nat translated the connection)')
      expect(r.evaluate('filter', 'FORWARD', pkt({ctDnat: true, state: 'UNTRACKED'})).action, 'no connection, no DNAT').to.equal('ACCEPT')
    })

    it('conntrack --ctdir and --ctorigdst/--ctorigdstport: exact where no nat changed the connection', () => {
      const r = new RuleSet(rules(`
        :FORWARD DROP
        -A FORWARD -m conntrack --ctorigdst 10.244.2.5 --ctorigdstport 80 --ctdir ORIGINAL -j ACCEPT
        -A FORWARD -m conntrack --ctdir REPLY -j ACCEPT`))
      const web = pkt({proto: 'tcp', sport: 40000, dport: 80, ctDnat: false, ctSnat: false})
      expect(r.evaluate('filter', 'FORWARD', web).action).to.equal('ACCEPT')
      expect(r.evaluate('filter', 'FORWARD', {...web, dport: 81}).action).to.equal('DROP')
      const reply = pkt({proto: 'tcp', src: '10.244.2.5', dst: '10.244.1.34', sport: 80, dport: 40000, state: 'ESTABLISHED', ctDir: 'REPLY', ctDnat: false, ctSnat: false})
      expect(r.evaluate('filter', 'FORWARD', reply).evidence).to.equal('-A FORWARD -m conntrack --ctdir REPLY -j ACCEPT')
      const translated = r.evaluate('filter', 'FORWARD', {...web, ctDnat: true})
      expect(lines(translated)).to.contain('cannot evaluate `--ctorigdst 10.244.2.5` (it depends on the connection\'s addresses before this host\'s nat)')
    })

    it('-m connmark --mark is the connection\'s mark, not the packet\'s (kernel: MARK 0x1 then connmark 0x1 DROP passes)', () => {
      const r = new RuleSet(rules(`
        :FORWARD ACCEPT
        -A FORWARD -s 10.244.1.34/32 -j MARK --set-xmark 0x1/0xffffffff
        -A FORWARD -m connmark --mark 0x1 -j DROP`))
      const d = r.evaluate('filter', 'FORWARD', pkt())
      expect(d.action).to.equal('ACCEPT')
      expect(lines(d)).to.contain('cannot evaluate `-m connmark --mark 0x1` (it depends on the connection\'s mark, which no table holds) in `-A FORWARD -m connmark --mark 0x1 -j DROP` (`conntrack -L` would tell); assumed the rule does not match, but where it does the packet is dropped')
    })

    it('CONNMARK --set-xmark and --save-mark leave the packet\'s mark as it was; --restore-mark makes it unknown', () => {
      const r = new RuleSet(rules(`
        *mangle
        :PREROUTING ACCEPT
        -A PREROUTING -j CONNMARK --set-xmark 0x5/0xff
        -A PREROUTING -j MARK --set-xmark 0x2/0xff
        -A PREROUTING -j CONNMARK --save-mark --nfmask 0xff --ctmask 0xff
        -A PREROUTING -m mark --mark 0x2/0xff -j DROP`))
      const d = r.evaluate('mangle', 'PREROUTING', pkt({outDev: undefined}))
      expect(d.action).to.equal('DROP')
      expect(d.assumptions).to.deep.equal([])
      expect(r.markAfter(pkt({outDev: undefined}), 'mangle', 'PREROUTING')).to.deep.equal({mark: 2})
      const hashed = new RuleSet(rules(`
        :FORWARD ACCEPT
        -A FORWARD -s 10.244.1.34/32 -j HMARK --hmark-src-prefix 32 --hmark-dst-prefix 32 --hmark-rnd 0x00000001 --hmark-mod 1 --hmark-offset 1
        -A FORWARD -m mark --mark 0x1 -j DROP`)).evaluate('filter', 'FORWARD', pkt())
      expect(lines(hashed)).to.contain('packet mark unknown: `-A FORWARD -s 10.244.1.34/32 -j HMARK')
      const restored = new RuleSet(rules(`
        *mangle
        :PREROUTING ACCEPT
        -A PREROUTING -j CONNMARK --restore-mark --nfmask 0xff --ctmask 0xff`))
      expect(restored.markAfter(pkt({outDev: undefined}), 'mangle', 'PREROUTING')).to.have.property('doubt')
    })

    it('--icmp-type by name as iptables reads it, and by number as iptables-save prints it', () => {
      const r = new RuleSet(rules(`
        :FORWARD DROP
        -A FORWARD -p icmp --icmp-type fragmentation-needed -j ACCEPT
        -A FORWARD -p icmp -m icmp --icmp-type 11 -j ACCEPT
        -A FORWARD -p icmp -m icmp ! --icmp-type 8 -j REJECT
        -A FORWARD -p icmp --icmp-type Echo-Request -j ACCEPT`))
      const icmp = (icmpType: number, icmpCode?: number) => r.evaluate('filter', 'FORWARD', pkt({icmpType, icmpCode, state: 'RELATED'})).action
      expect(icmp(3, 4)).to.equal('ACCEPT')
      expect(icmp(11, 0)).to.equal('ACCEPT')
      expect(icmp(3, 3)).to.equal('REJECT')
      expect(icmp(8)).to.equal('ACCEPT')
    })

    it('owner and cgroup: a forwarded packet has no socket; a local one is ASSUMED with the command that shows its owner', () => {
      const r = new RuleSet(rules(`
        *nat
        :POSTROUTING ACCEPT
        -A POSTROUTING -m owner --uid-owner 1000 -j MASQUERADE
        -A POSTROUTING -m cgroup --path system.slice/x.service -j MASQUERADE
        -A POSTROUTING -m owner ! --uid-owner 1000 -j SNAT --to-source 192.168.100.11`))
      const fwd = r.evaluate('nat', 'POSTROUTING', pkt({dstIsLocal: false}))
      expect(fwd).to.include({action: 'SNAT', toAddress: '192.168.100.11'})
      expect(fwd.assumptions).to.deep.equal([])
      const local = r.evaluate('nat', 'POSTROUTING', pkt({inDev: undefined}))
      expect(lines(local)).to.contain('cannot evaluate `--uid-owner 1000` (it depends on the user of the program that sends it) in `-A POSTROUTING -m owner --uid-owner 1000 -j MASQUERADE` (`ss -tuenp` would tell)')
      expect(lines(local)).to.contain('`cat /proc/PID/cgroup` would tell')
    })

    it('recent: --set matches; --update asks a list no table shows', () => {
      const r = new RuleSet(rules(`
        :INPUT ACCEPT
        -A INPUT -p tcp -m tcp --dport 22 -m recent --set --name SSH --mask 255.255.255.255 --rsource -j LOG
        -A INPUT -p tcp -m tcp --dport 22 -m recent --update --seconds 60 --hitcount 4 --name SSH --mask 255.255.255.255 --rsource -j DROP`))
      const d = r.evaluate('filter', 'INPUT', pkt({proto: 'tcp', dport: 22, dstIsLocal: true}))
      expect(d.action).to.equal('ACCEPT')
      expect(d.assumptions).to.deep.equal(['cannot evaluate `-m recent --update --name SSH` (it depends on the addresses list SSH holds from earlier packets) in `-A INPUT -p tcp -m tcp --dport 22 -m recent --update --seconds 60 --hitcount 4 --name SSH --mask 255.255.255.255 --rsource -j DROP` (`cat /proc/net/xt_recent/SSH` would tell); assumed the rule does not match, but where it does the packet is dropped'])
    })

    it('kube-proxy\'s sessionAffinity: the endpoint\'s `recent --set` DNAT is taken; the affinity check names its list', () => {
      const r = new RuleSet(rules(`
        *nat
        :PREROUTING ACCEPT
        :KUBE-SVC-WEB -
        :KUBE-SEP-AAA -
        -A PREROUTING -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-WEB
        -A KUBE-SVC-WEB -m comment --comment "default/web -> 10.244.2.5:80" -m recent --name KUBE-SEP-AAA --mask 255.255.255.255 --rsource --rcheck --seconds 10800 --reap -j KUBE-SEP-AAA
        -A KUBE-SVC-WEB -m comment --comment "default/web -> 10.244.2.5:80" -j KUBE-SEP-AAA
        -A KUBE-SEP-AAA -p tcp -m comment --comment "default/web" -m recent --set --name KUBE-SEP-AAA --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.2.5:80`))
      const d = r.evaluate('nat', 'PREROUTING', pkt({dst: '10.96.0.20', proto: 'tcp', dport: 80, outDev: undefined}))
      expect(d).to.include({action: 'DNAT', toAddress: '10.244.2.5'})
      expect(d.path).to.deep.equal(['PREROUTING', 'KUBE-SVC-WEB', 'KUBE-SEP-AAA'])
      expect(lines(d)).to.contain('cannot evaluate `-m recent --rcheck --name KUBE-SEP-AAA` (it depends on the addresses list KUBE-SEP-AAA holds from earlier packets)')
      expect(lines(d)).to.contain('`cat /proc/net/xt_recent/KUBE-SEP-AAA` would tell')
    })

    it('rpfilter by the route back (kernel: strict drops a pod packet whose route back leaves by eth0, --loose passes it)', () => {
      const save = (flags: string) => new RuleSet(rules(`
        *raw
        :PREROUTING ACCEPT
        -A PREROUTING -m rpfilter ${flags} -j DROP`))
      const byEth0 = pkt({outDev: undefined, inDev: 'flannel.1', routeBack: () => ({type: 'unicast', dev: 'eth0'})})
      expect(save('--invert').evaluate('raw', 'PREROUTING', byEth0).action).to.equal('DROP')
      expect(save('--loose --invert').evaluate('raw', 'PREROUTING', byEth0).action).to.equal('ACCEPT')
      expect(save('--invert').evaluate('raw', 'PREROUTING', {...byEth0, routeBack: () => ({type: 'unicast', dev: 'flannel.1'})}).action).to.equal('ACCEPT')
      expect(save('--invert').evaluate('raw', 'PREROUTING', {...byEth0, routeBack: () => ({type: 'none'})}).action, 'no route back').to.equal('DROP')
      const blind = save('--invert').evaluate('raw', 'PREROUTING', {...byEth0, routeBack: () => undefined})
      expect(lines(blind)).to.contain('cannot evaluate `-m rpfilter --invert` (it depends on the route back to the source)')
      // Calico's raw rule: a workload's packet (marked 0x40000 by cali-from-wl-dispatch's MARK) checked with its mark
      const calico = new RuleSet(rules(`
        *raw
        :PREROUTING ACCEPT
        -A PREROUTING -i cali+ -j MARK --set-xmark 0x40000/0x40000
        -A PREROUTING -m mark --mark 0x40000/0x40000 -m rpfilter --validmark --invert -j DROP`))
      const marks: number[] = []
      const fromPod = pkt({outDev: undefined, inDev: 'cali1234', routeBack: mark => (marks.push(mark), {type: 'unicast', dev: 'cali1234'})})
      expect(calico.evaluate('raw', 'PREROUTING', fromPod)).to.include({action: 'ACCEPT'})
      expect(marks).to.deep.equal([0x40000])
    })

    it('matches on what no table shows are ASSUMED, each with what it depends on', () => {
      const r = new RuleSet(rules(`
        :FORWARD ACCEPT
        -A FORWARD -m string --string "foo bar" --algo bm -j DROP
        -A FORWARD -m u32 --u32 "0x0>>0x16&0x3c@0xc>>0x1a&0x3f=0x10" -j DROP
        -A FORWARD -m physdev --physdev-in veth1 --physdev-is-bridged -j DROP
        -A FORWARD -m dscp --dscp 0x2e -j DROP
        -A FORWARD -m devgroup --src-group 0x2 -j DROP
        -A FORWARD -m realm --realm 0x3 -j DROP
        -A FORWARD -m hashlimit --hashlimit-upto 50/sec --hashlimit-burst 100 --hashlimit-mode srcip --hashlimit-name foo -j DROP
        -A FORWARD -m policy --dir in --pol ipsec -j DROP
        -A FORWARD -m nfacct --nfacct-name fwd -j SET --add-set seen src`))
      const d = r.evaluate('filter', 'FORWARD', pkt({bridged: true}))
      expect(d.action).to.equal('ACCEPT')
      const text = lines(d)
      for (const seen of ['`--string foo bar` (it depends on the packet\'s bytes', '`--u32 0x0>>0x16&0x3c@0xc>>0x1a&0x3f=0x10` (it depends on the packet\'s bytes',
        '`--physdev-in veth1` (it depends on the bridge port', '`bridge link show` would tell', '`--dscp 0x2e` (it depends on the packet\'s DSCP/TOS byte',
        '`--src-group 0x2` (it depends on the devices\' groups)', '`--realm 0x3` (it depends on the realm', 'rate limited: `--hashlimit-upto 50/sec',
        '`--pol ipsec` (it depends on the IPsec policy the packet passed)', '`-A FORWARD -m nfacct --nfacct-name fwd -j SET --add-set seen src` changes ipset seen as the packet passes']) {
        expect(text).to.contain(seen)
      }
    })

    it('DNAT to an address range takes the address nf_nat picks for the connection; TPROXY is taken by a socket it cannot see; NFQUEUE leaves to user space', () => {
      const r = new RuleSet(rules(`
        *nat
        :PREROUTING ACCEPT
        -A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.0.1-10.0.0.5:8080-8090 --random
        -A PREROUTING -p tcp -m tcp --dport 81 -j DNAT --to-destination 10.0.0.1-10.0.0.5 --persistent`))
      // the pick hashes the source, seeded by the destination (not by --random, which is for ports)
      const picks = ['10.244.1.34', '10.244.1.35', '10.244.1.36', '10.244.1.37'].map(src => r.evaluate('nat', 'PREROUTING', pkt({src, proto: 'tcp', dport: 80, outDev: undefined})))
      expect(picks.map(d => d.toAddress)).to.deep.equal(['10.244.1.34', '10.244.1.35', '10.244.1.36', '10.244.1.37'].map(src => natRangeAddress('10.0.0.1-10.0.0.5', {src, dst: '10.244.2.5'}, {action: 'DNAT', persistent: false})))
      expect(new Set(picks.map(d => d.toAddress)).size).to.be.above(1)
      expect(picks[0]).to.include({action: 'DNAT'})
      expect(picks[0].toPorts).to.deep.equal([8080, 8090])
      expect(lines(picks[0])).to.not.contain('picks one per connection')
      // --persistent seeds the hash with 0: every destination gives the source the same address
      const persistent = ['10.244.2.5', '10.244.3.9', '192.0.2.1'].map(dst => r.evaluate('nat', 'PREROUTING', pkt({dst, proto: 'tcp', dport: 81, outDev: undefined})).toAddress)
      expect(new Set(persistent).size).to.equal(1)
      expect(persistent[0]).to.equal(natRangeAddress('10.0.0.1-10.0.0.5', {src: '10.244.1.34', dst: '0.0.0.0'}, {action: 'DNAT', persistent: true}))
      // a conntrack zone (a CT --zone rule on the host) seeds the pick too: then the first address, said
      const zoned = r.evaluate('nat', 'PREROUTING', pkt({proto: 'tcp', dport: 80, outDev: undefined, ctZoneUnknown: true}))
      expect(zoned).to.include({action: 'DNAT', toAddress: '10.0.0.1'})
      expect(lines(zoned)).to.contain('translates to an address of 10.0.0.1-10.0.0.5: the kernel picks one per connection; traced 10.0.0.1')
      const zoneRules = (spec: string) => new HostView({name: 'h', iptables: {chains: [], rules: [{table: 'raw', chain: 'PREROUTING', spec, raw: `-A PREROUTING ${spec}`}]}}).setsConntrackZone
      expect(zoneRules('-i eth1 -j CT --zone 5')).to.equal(true)
      expect(zoneRules('-j CT --zone-orig mark')).to.equal(true)
      expect(zoneRules('-j CT --notrack')).to.equal(false)
      const nftZone = (rule: string) => new HostView({name: 'h', nftables: parseNftRuleset(`table ip raw {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
	}
	chain out {
		type filter hook output priority raw; policy accept;
		${rule}
	}
}
`, 'h/nft-ruleset')}).setsConntrackZone
      expect(nftZone('iifname "eth1" ct zone set 5')).to.equal(true)
      expect(nftZone('ct original zone set 7')).to.equal(true)
      expect(nftZone('ct state invalid drop')).to.equal(false)
      const tproxy = new RuleSet(rules(`
        *mangle
        :PREROUTING ACCEPT
        -A PREROUTING -p tcp -j TPROXY --on-port 8080 --on-ip 127.0.0.1 --tproxy-mark 0x1/0x1
        -A PREROUTING -p tcp -j DROP`)).evaluate('mangle', 'PREROUTING', pkt({proto: 'tcp', dport: 80, outDev: undefined}))
      expect(tproxy.action).to.equal('ACCEPT')
      expect(lines(tproxy)).to.contain('hands the packet to a local socket on port 8080: the trace cannot see sockets (`ss -ltnup` shows them)')
      const queued = new RuleSet(rules(`
        :FORWARD ACCEPT
        -A FORWARD -j NFQUEUE --queue-num 3`)).evaluate('filter', 'FORWARD', pkt())
      expect(queued.action).to.equal('QUEUE')
    })

    it('TCPMSS: said for a TCP trace with a size, which the trace does not shrink by it', () => {
      const r = new RuleSet(rules(`
        *mangle
        :FORWARD ACCEPT
        -A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1200`))
      const syn = pkt({proto: 'tcp', dport: 80, length: 1400})
      expect(lines(r.evaluate('mangle', 'FORWARD', syn))).to.contain('rewrites the MSS option of the SYN (and the SYN-ACK, where the rule takes that too) to at most 1200: the peer that reads it then sends segments no bigger than that')
      expect(lines(r.evaluate('mangle', 'FORWARD', {...syn, state: 'ESTABLISHED'}))).to.contain('of the SYN-ACK to at most 1200')
      expect(r.evaluate('mangle', 'FORWARD', {...syn, length: undefined}).assumptions).to.deep.equal([])
      // a trace that takes the rewrite sizes its segments by it: said only where it cannot (the reply's walk has no length)
      const taken: [string, number | undefined][] = []
      const takes = (known: boolean) => ({...syn, length: undefined, state: 'ESTABLISHED' as const, mssRewrite: (rule: string, mss: number | undefined) => (taken.push([rule, mss]), known)})
      expect(r.evaluate('mangle', 'FORWARD', takes(true)).assumptions).to.deep.equal([])
      expect(taken).to.deep.equal([['-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1200', 1200]])
      expect(lines(r.evaluate('mangle', 'FORWARD', takes(false)))).to.contain('of the SYN-ACK to at most 1200')
      const clamp = new RuleSet(rules(`
        *mangle
        :FORWARD ACCEPT
        -A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu`))
      expect(lines(clamp.evaluate('mangle', 'FORWARD', takes(false)))).to.contain('of the SYN-ACK to at most the MTU of the route this host sends it by, less 40')
      expect(taken.at(-1)).to.deep.equal(['-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu', undefined])
    })
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
