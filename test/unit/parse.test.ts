import {readFileSync} from 'node:fs'
import {expect} from 'chai'
import {FlannelctlError} from '../../src/errors.js'
import {lacksCarrier, type Address, type Link, type Neighbor, type Route} from '../../src/core/model.js'
import {
  ParseError, formatAddress, formatFdb, formatLink, formatNeighbor, formatRoute, parseAddrs, parseBridgeFdbJson,
  parseFdb, parseIpAddrJson, parseIpLinkJson, parseIpNeighJson, parseIpRouteJson, parseIptables, parseIptablesSave,
  parseIpsets, parseLinks, parseNeighbors, parseRoutes, parseSysctl, parseSysctls, routeFilterOfAll, entryDevicesOfAll,
} from '../../src/core/parse/index.js'

import {nodeTables, parseAllForms, parseNode, pathologicalText} from '../../src/services/bench-core.js'

const real = (name: string): string => readFileSync(new URL(`../fixtures/parse/real/${name}`, import.meta.url), 'utf8')
const pasted = (name: string): string => readFileSync(new URL(`../fixtures/parse/pasted/${name}`, import.meta.url), 'utf8')

/** ...and without the peer's namespace id, which only JSON prints (text prints the namespace's name where it has one) */
function withoutRaw<T extends {raw: string}>(items: T[]): Array<Omit<T, 'raw'>> {
  return items.map(({raw: _raw, ...rest}) => {
    delete (rest as {peerNetnsId?: number}).peerNetnsId
    return rest
  })
}

/** The output lines of a plain capture, as `raw` keeps them: no trailing blank, no prompt. */
function plainLines(text: string): string[] {
  return text.split('\n').map(l => l.trimEnd()).filter(l => l !== '' && !l.startsWith('root@'))
}

function byName(links: Link[], name: string): Link {
  const l = links.find(x => x.name === name)
  expect(l, `link ${name}`).to.not.equal(undefined)
  return l as Link
}

function routeTo(routes: Route[], dst: string, table?: string): Route {
  const r = routes.find(x => x.dst === dst && x.table === table)
  expect(r, `route ${dst}`).to.not.equal(undefined)
  return r as Route
}

describe('parse: JSON and text forms of the same captured tables', () => {
  it('ip -d link: same links, vxlan details, kinds, veth peers', () => {
    const fromJson = parseIpLinkJson(real('ip-link.json'))
    const fromText = parseLinks(real('ip-link.txt'))
    expect(withoutRaw(fromText)).to.deep.equal(withoutRaw(fromJson))
    expect(fromJson.map(l => l.name)).to.deep.equal(['lo', 'eth0', 'cni0', 'veth1a2b3c4d', 'vtest1', 'vtest0', 'flannel.1'])
    expect(byName(fromJson, 'veth1a2b3c4d').peerNetnsId, 'link_netnsid: where sync looks for a loose veth\'s pod').to.equal(1)
    for (const links of [fromJson, fromText]) {
      const flannel = byName(links, 'flannel.1')
      expect(flannel.kind).to.equal('vxlan')
      expect(flannel.mtu).to.equal(1450)
      expect(flannel.mac).to.equal('8e:6a:3c:00:01:01')
      expect(flannel.vxlan).to.deep.equal({id: 1, local: '192.168.100.11', dev: 'eth0', port: 8472, learning: false})
      expect(flannel.up).to.equal(true)
      expect(flannel.operstate).to.equal('UNKNOWN')
      expect(byName(links, 'lo').kind).to.equal('loopback')
      expect(byName(links, 'cni0').kind).to.equal('bridge')
      const eth0 = byName(links, 'eth0')
      expect([eth0.kind, eth0.peerIndex, eth0.index]).to.deep.equal(['veth', 2, 2])
      const pod = byName(links, 'veth1a2b3c4d')
      expect([pod.kind, pod.master, pod.peerIndex]).to.deep.equal(['veth', 'cni0', 2])
      // a same-namespace pair is printed by name and resolved to the peer's index
      expect(byName(links, 'vtest0').peerIndex).to.equal(byName(links, 'vtest1').index)
      expect(byName(links, 'vtest1').peerIndex).to.equal(byName(links, 'vtest0').index)
      expect(byName(links, 'vtest1').up).to.equal(false)
      expect(byName(links, 'vtest0').operstate).to.equal('LOWERLAYERDOWN')
    }
  })

  it('a link read after its carrier went and before operstate followed has no carrier, in both forms', () => {
    // the kernel drops LOWER_UP at once; operstate, and RUNNING with it, follow when the link watch
    // runs (up to a second later), so a read in between has UP without LOWER_UP, state UP
    const json = JSON.stringify([{ifindex: 2, link_index: 2, ifname: 'eth0', flags: ['BROADCAST', 'MULTICAST', 'UP'], mtu: 1500, qdisc: 'noqueue', operstate: 'UP', link_type: 'ether', address: '4a:14:a8:c3:ec:85', link_netnsid: 0}])
    const text = '2: eth0@if2: <BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\n    link/ether 4a:14:a8:c3:ec:85 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n'
    for (const links of [parseIpLinkJson(json), parseLinks(text)]) {
      const eth0 = byName(links, 'eth0')
      expect(eth0).to.deep.include({up: true, operstate: 'UP', lowerUp: false})
      expect(lacksCarrier(eth0)).to.equal(true)
      // printed back as `ip link` printed it: not RUNNING yet, so no NO-CARRIER; no LOWER_UP
      expect(formatLink(eth0).split('\n')[0]).to.equal('2: eth0@if2: <BROADCAST,MULTICAST,UP> mtu 1500 state UP')
      expect(lacksCarrier({...eth0, lowerUp: undefined}), 'operstate alone says UP').to.equal(false)
    }
    const carrier = byName(parseIpLinkJson(real('ip-link.json')), 'eth0')
    expect([carrier.lowerUp, lacksCarrier(carrier)]).to.deep.equal([true, false])
    // just up, the link watch not yet run: the carrier is there though operstate still says DOWN
    expect(lacksCarrier({...carrier, operstate: 'DOWN'})).to.equal(false)
    expect(formatLink({...carrier, operstate: 'DOWN'}).split('\n')[0]).to.equal('2: eth0@if2: <NO-CARRIER,BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state DOWN')
  })

  it('ip addr: same links and addresses, IPv4 and IPv6, peer and secondary', () => {
    const fromJson = parseAddrs(real('ip-addr.json'))
    const fromText = parseAddrs(real('ip-addr.txt'))
    expect(withoutRaw(fromText.addresses)).to.deep.equal(withoutRaw(fromJson.addresses))
    expect(withoutRaw(fromText.links)).to.deep.equal(withoutRaw(fromJson.links))
    expect(parseIpAddrJson(real('ip-addr.json'))).to.deep.equal(fromJson.addresses)
    const a = fromJson.addresses
    expect(a.find(x => x.dev === 'flannel.1' && x.family === 4)).to.include({local: '10.244.1.0', prefixlen: 32, scope: 'global'})
    expect(a.find(x => x.dev === 'cni0' && x.family === 4)).to.include({local: '10.244.1.1', prefixlen: 24})
    expect(a.find(x => x.local === 'fd00:100::11')).to.include({dev: 'eth0', family: 6, prefixlen: 64})
    expect(a.find(x => x.local === '10.99.0.1')).to.include({peer: '10.99.0.2', prefixlen: 32})
    expect(a.filter(x => x.dev === 'vtest0').map(x => x.local)).to.deep.equal(['10.99.0.1', '10.98.0.1', '10.98.0.2'])
    // without -d there is no kind: a bridge reads as a plain ethernet device
    expect(byName(fromText.links, 'cni0').kind).to.equal('ether')
  })

  it('ip -o addr / ip -o link / ip -br addr read like their multi-line forms', () => {
    const json = parseAddrs(real('ip-addr.json'))
    expect(withoutRaw(parseAddrs(real('ip-addr-oneline.txt')).addresses)).to.deep.equal(withoutRaw(json.addresses))
    expect(withoutRaw(parseLinks(real('ip-link-oneline.txt')))).to.deep.equal(withoutRaw(json.links))
    const brief = parseAddrs(real('ip-addr-brief.txt'))
    expect(brief.links).to.deep.equal([])
    expect(brief.addresses.map(({dev, family, local, prefixlen, peer}) => ({dev, family, local, prefixlen, peer})))
      .to.deep.equal(json.addresses.map(({dev, family, local, prefixlen, peer}) => ({dev, family, local, prefixlen, peer})))
  })

  it('ip route: same routes, onlink, blackhole, unreachable, metric, host route, ECMP', () => {
    const fromJson = parseIpRouteJson(real('ip-route.json'))
    const fromText = parseRoutes(real('ip-route.txt'))
    expect(withoutRaw(fromText)).to.deep.equal(withoutRaw(fromJson))
    for (const routes of [fromJson, fromText]) {
      expect(routeTo(routes, '10.244.2.0/24')).to.deep.include({type: 'unicast', gateway: '10.244.2.0', dev: 'flannel.1', onlink: true})
      expect(routeTo(routes, '10.244.99.0/24').type).to.equal('blackhole')
      expect(routeTo(routes, '10.244.98.0/24')).to.deep.include({type: 'unreachable', metric: 5})
      expect(routeTo(routes, 'default')).to.deep.include({gateway: '192.168.100.1', dev: 'eth0', proto: 'static', metric: 100})
      expect(routeTo(routes, '192.168.200.5/32')).to.deep.include({gateway: '192.168.100.12', src: '192.168.100.11'})
      expect(routeTo(routes, '10.244.1.0/24')).to.deep.include({dev: 'cni0', scope: 'link', proto: 'kernel', src: '10.244.1.1'})
      // ECMP: the first path in the model, all of them in raw
      const ecmp = routeTo(routes, '10.55.0.0/16')
      expect(ecmp).to.deep.include({gateway: '192.168.100.1', dev: 'eth0'})
      expect(ecmp.raw.split('\n')).to.have.length(3)
    }
  })

  it('ip route: linkdown marks a route whose device has no carrier; a dead nexthop is not the path', () => {
    // captured on a namespace whose veth v1 lost its other end (linkdown), then was set down itself (dead)
    for (const [name, parse] of [['json', parseIpRouteJson], ['txt', parseRoutes]] as const) {
      const linkdown = parse(real(`ip-route-linkdown.${name}`))
      expect(routeTo(linkdown, '172.30.0.0/24').linkdown, name).to.equal(true)
      expect(routeTo(linkdown, '172.31.0.0/24').linkdown, name).to.equal(undefined)
      // the kernel hashes flows over both paths, a linkdown one included: the first stays the path
      expect(routeTo(linkdown, '10.60.0.0/24'), name).to.deep.include({gateway: '172.30.0.2', dev: 'v1', linkdown: true})
      const dead = parse(real(`ip-route-multipath-dead.${name}`))
      const multipath = routeTo(dead, '10.60.0.0/24')
      expect(multipath, name).to.deep.include({gateway: '172.31.0.2', dev: 'v3'})
      expect(multipath.linkdown, name).to.equal(undefined)
      expect(multipath.raw.split('\n'), name).to.have.length(3)
    }
  })

  it('ip route show table all: tables, local and broadcast types, IPv6', () => {
    const fromJson = parseRoutes(real('ip-route-all.json'))
    const fromText = parseRoutes(real('ip-route-all.txt'))
    expect(withoutRaw(fromText)).to.deep.equal(withoutRaw(fromJson))
    expect(routeTo(fromJson, '172.16.0.0/16', '100').gateway).to.equal('192.168.100.12')
    expect(routeTo(fromJson, '10.244.1.0/32', 'local')).to.deep.include({type: 'local', dev: 'flannel.1', scope: 'host'})
    expect(routeTo(fromJson, '10.244.1.255/32', 'local').type).to.equal('broadcast')
    expect(routeTo(fromJson, 'fd00:200::/64')).to.deep.include({gateway: 'fd00:100::12', metric: 1024})
    expect(routeTo(fromJson, '::1/128', 'local').type).to.equal('local')
  })

  it('ip neigh: same neighbours and states', () => {
    const fromJson = parseIpNeighJson(real('ip-neigh.json'))
    const fromText = parseNeighbors(real('ip-neigh.txt'))
    expect(withoutRaw(fromText)).to.deep.equal(withoutRaw(fromJson))
    expect(fromJson.find(n => n.dev === 'flannel.1')).to.deep.include({dst: '10.244.2.0', lladdr: 'aa:bb:cc:dd:ee:02', state: ['PERMANENT']})
    expect(fromJson.find(n => n.dst === '192.168.100.99')).to.deep.include({dev: 'eth0', state: ['INCOMPLETE']})
    expect(fromJson.find(n => n.dst === '192.168.100.99')?.lladdr).to.equal(undefined)
  })

  it('ip neigh show dev X: the pasted filter supplies the missing dev (JSON needs it named)', () => {
    const fromText = parseNeighbors(real('ip-neigh-dev-flannel.txt'))
    const fromJson = parseNeighbors(real('ip-neigh-dev-flannel.json'), {source: 'ip-neigh.json', dev: 'flannel.1'})
    expect(withoutRaw(fromText)).to.deep.equal(withoutRaw(fromJson))
    expect(fromText).to.deep.equal([{dst: '10.244.2.0', dev: 'flannel.1', lladdr: 'aa:bb:cc:dd:ee:02', state: ['PERMANENT'],
      raw: '10.244.2.0 lladdr aa:bb:cc:dd:ee:02 PERMANENT'}])
  })

  it('bridge fdb: same entries; the state joins the flags', () => {
    const fromJson = parseBridgeFdbJson(real('bridge-fdb.json'))
    const fromText = parseFdb(real('bridge-fdb.txt'))
    expect(withoutRaw(fromText)).to.deep.equal(withoutRaw(fromJson))
    expect(fromJson.find(f => f.dev === 'flannel.1')).to.deep.include({mac: 'aa:bb:cc:dd:ee:02', dst: '192.168.100.12', flags: ['self', 'permanent']})
    expect(fromJson.find(f => f.mac === '0a:58:0a:f4:01:02')).to.deep.include({dev: 'veth1a2b3c4d', master: 'cni0', flags: []})
    const filtered = parseFdb(real('bridge-fdb-dev-flannel.txt'))
    expect(withoutRaw(filtered)).to.deep.equal(withoutRaw(parseFdb(real('bridge-fdb-dev-flannel.json'), {dev: 'flannel.1'})))
    expect(filtered[0]).to.deep.include({dev: 'flannel.1', dst: '192.168.100.12'})
  })
})

describe('parse: raw is the line the plain command prints', () => {
  it('routes (multipath lines joined)', () => {
    const raws = parseIpRouteJson(real('ip-route-all.json')).map(r => r.raw)
    const lines = plainLines(real('ip-route-all.txt'))
    const joined: string[] = []
    for (const l of lines) {
      if (l.startsWith('\t')) joined[joined.length - 1] += `\n${l}`
      else joined.push(l)
    }
    expect(raws).to.deep.equal(joined)
    expect(parseRoutes(real('ip-route-all.txt')).map(r => r.raw)).to.deep.equal(joined)
  })

  it('neighbours, fdb entries', () => {
    expect(parseIpNeighJson(real('ip-neigh.json')).map(n => n.raw)).to.deep.equal(plainLines(real('ip-neigh.txt')))
    expect(parseBridgeFdbJson(real('bridge-fdb.json')).map(f => f.raw)).to.deep.equal(plainLines(real('bridge-fdb.txt')))
    expect(parseIpNeighJson(real('ip-neigh-dev-flannel.json'), {dev: 'flannel.1'}).map(n => n.raw))
      .to.deep.equal(plainLines(real('ip-neigh-dev-flannel.txt')))
  })

  it('addresses', () => {
    const inetLines = plainLines(real('ip-addr.txt')).map(l => l.trim()).filter(l => l.startsWith('inet'))
    expect(parseIpAddrJson(real('ip-addr.json')).map(a => a.raw)).to.deep.equal(inetLines)
  })

  it('links: header, link-layer line and the vxlan line without per-device tuning', () => {
    const json = parseIpLinkJson(real('ip-link.json'))
    const text = parseLinks(real('ip-link.txt'))
    const headers = plainLines(real('ip-link.txt')).filter(l => /^\d+: /.test(l))
    expect(json.map(l => l.raw.split('\n')[0])).to.deep.equal(headers)
    expect(text.map(l => l.raw.split('\n')[0])).to.deep.equal(headers)
    const vxlanLine = '    vxlan id 1 local 192.168.100.11 dev eth0 srcport 0 0 dstport 8472 nolearning ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx'
    expect(byName(json, 'flannel.1').raw.split('\n')[2]).to.equal(vxlanLine)
    expect(byName(text, 'flannel.1').raw.split('\n')[2]).to.equal(vxlanLine)
    expect(byName(json, 'flannel.1').raw).to.equal(byName(text, 'flannel.1').raw)
    // JSON knows the peer namespace only by id, text by name
    expect(byName(text, 'eth0').raw).to.contain('link-netns fcp-peer')
    expect(byName(json, 'eth0').raw).to.contain('link-netnsid 0')
  })

  it('formatters print the plain lines for model entities', () => {
    const routes = parseIpRouteJson(real('ip-route.json'))
    for (const dst of ['10.244.2.0/24', '10.244.99.0/24', '10.244.98.0/24', 'default', '192.168.200.5/32', '10.244.1.0/24']) {
      const r = routeTo(routes, dst)
      expect(formatRoute(r)).to.equal(r.raw)
    }
    expect(formatRoute({dst: '10.244.3.0/24', type: 'unicast', gateway: '10.244.3.0', dev: 'flannel.1', onlink: true}))
      .to.equal('10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink')
    for (const n of parseIpNeighJson(real('ip-neigh.json'))) expect(formatNeighbor(n)).to.equal(n.raw)
    for (const f of parseBridgeFdbJson(real('bridge-fdb.json'))) expect(formatFdb(f)).to.equal(f.raw)
    expect(formatFdb({mac: 'aa:bb:cc:dd:ee:ff', dev: 'flannel.1', dst: '192.168.100.12', flags: ['self', 'permanent']}))
      .to.equal('aa:bb:cc:dd:ee:ff dev flannel.1 dst 192.168.100.12 self permanent')
    const flannelAddr = parseIpAddrJson(real('ip-addr.json')).find(a => a.dev === 'flannel.1' && a.family === 4) as Address
    expect(formatAddress(flannelAddr)).to.equal(flannelAddr.raw)
    expect(formatAddress({dev: 'vtest0', family: 4, local: '10.99.0.1', peer: '10.99.0.2', prefixlen: 32, scope: 'global'}))
      .to.equal('inet 10.99.0.1 peer 10.99.0.2/32 scope global vtest0')
    const flannel = byName(parseIpLinkJson(real('ip-link.json')), 'flannel.1')
    expect(formatLink(flannel)).to.equal([
      '7: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 state UNKNOWN',
      '    link/ether 8e:6a:3c:00:01:01',
      '    vxlan id 1 local 192.168.100.11 dev eth0 dstport 8472 nolearning'].join('\n'))
  })
})

describe('parse: net-tools forms captured on the same node', () => {
  const ipRoutes = parseIpRouteJson(real('ip-route.json'))

  it('route -n: default, on-link, gateways, host route, reject and blackhole routes', () => {
    const routes = parseRoutes(real('route-n.txt'))
    expect(routes.map(r => r.dst)).to.deep.equal(['default', '10.55.0.0/16', '10.96.0.0/12', '10.98.0.0/24', '10.99.0.2/32',
      '10.244.1.0/24', '10.244.2.0/24', '10.244.98.0/24', '10.244.99.0/24', '192.168.100.0/24', '192.168.200.5/32'])
    for (const r of routes) {
      const ip = routeTo(ipRoutes, r.dst)
      expect([r.type, r.gateway, r.dev], r.dst).to.deep.equal([ip.type, ip.gateway, ip.dev])
      if (r.type === 'unicast' && r.gateway === undefined) expect(r.scope).to.equal('link')
    }
    expect(routeTo(routes, 'default').metric).to.equal(100)
    expect(routeTo(routes, '10.244.1.0/24').metric).to.equal(undefined)
    expect(routes[0].raw).to.equal('0.0.0.0         192.168.100.1   0.0.0.0         UG    100    0        0 eth0')
  })

  it('route -n: a gateway no connected route of its device covers was added onlink', () => {
    const routes = parseRoutes(pasted('route-n-vxlan.txt'))
    for (const dst of ['10.244.27.0/24', '10.244.78.0/24']) expect(routeTo(routes, dst), dst).to.deep.include({dev: 'flannel.1', onlink: true})
    expect(routeTo(parseRoutes(real('route-n.txt')), '10.244.2.0/24').onlink).to.equal(true)
    for (const r of parseRoutes(real('route-n.txt')).filter(r => r.dev === 'eth0')) expect(r.onlink, r.dst).to.equal(undefined)
  })

  it('netstat -rn reads like route -n', () => {
    const strip = (rs: Route[]): unknown[] => rs.map(({dst, type, gateway, dev}) => ({dst, type, gateway, dev}))
    expect(strip(parseRoutes(real('netstat-rn.txt')))).to.deep.equal(strip(parseRoutes(real('route-n.txt'))))
  })

  it('route -A inet6 -n', () => {
    const routes = parseRoutes(real('route-n6.txt'))
    expect(routeTo(routes, 'fd00:200::/64')).to.deep.include({gateway: 'fd00:100::12', dev: 'eth0', metric: 1024})
    expect(routeTo(routes, 'fd00:100::/64')).to.deep.include({dev: 'eth0', scope: 'link'})
    expect(routes.filter(r => r.dst === 'default').every(r => r.type === 'unreachable')).to.equal(true)
  })

  it('arp -n and arp -an give the neighbours ip neigh shows', () => {
    const ipNeigh = parseIpNeighJson(real('ip-neigh.json'))
    const key = (ns: Neighbor[]): unknown[] =>
      ns.map(({dst, dev, lladdr}) => ({dst, dev, lladdr})).sort((a, b) => a.dst.localeCompare(b.dst))
    for (const file of ['arp-n.txt', 'arp-an.txt']) {
      const arp = parseNeighbors(real(file))
      expect(key(arp), file).to.deep.equal(key(ipNeigh))
      expect(arp.find(n => n.dev === 'flannel.1')?.state).to.deep.equal(['PERMANENT'])
      expect(arp.find(n => n.dst === '10.244.1.2')?.state).to.deep.equal(['REACHABLE'])
      expect(arp.find(n => n.dst === '192.168.100.99')?.state).to.deep.equal(['INCOMPLETE'])
    }
  })

  it('ifconfig: the same devices and (primary) addresses as ip addr', () => {
    const ip = parseAddrs(real('ip-addr.json'))
    const ifc = parseAddrs(real('ifconfig.txt'))
    const links = (ls: Link[]): unknown[] =>
      ls.map(({name, mtu, up, mac}) => ({name, mtu, up, mac: name === 'lo' ? undefined : mac})).sort((a, b) => a.name.localeCompare(b.name))
    expect(links(ifc.links)).to.deep.equal(links(ip.links))
    const ipAddrs = new Set(ip.addresses.map(a => `${a.dev} ${a.local}/${a.prefixlen}`))
    for (const a of ifc.addresses) expect(ipAddrs.has(`${a.dev} ${a.local}/${a.prefixlen}`), a.raw).to.equal(true)
    expect(ifc.addresses.find(a => a.local === 'fe80::5054:ff:fe00:111')?.scope).to.equal('link')
  })
})

describe('parse: pasted from terminals', () => {
  it('route -n from a host-gw node, prompt and trailing prompt included', () => {
    const routes = parseRoutes(pasted('route-n-hostgw.txt'), 'ip-route.txt')
    expect(routes).to.have.length(6)
    expect(routeTo(routes, 'default')).to.deep.include({gateway: '10.4.7.254', dev: 'ens33', metric: 100})
    expect(routeTo(routes, '172.7.21.0/24')).to.deep.include({gateway: '10.4.7.21', dev: 'ens33', type: 'unicast'})
    expect(routeTo(routes, '172.7.22.0/24')).to.deep.include({dev: 'cni0', scope: 'link'})
    expect(routeTo(routes, '172.7.22.0/24').gateway).to.equal(undefined)
  })

  it('arp -n', () => {
    const n = parseNeighbors(pasted('arp-n.txt'))
    expect(n).to.have.length(6)
    expect(n.filter(x => x.dev === 'flannel.1').map(x => x.state)).to.deep.equal([['PERMANENT'], ['PERMANENT']])
    expect(n.find(x => x.dst === '10.244.1.7')).to.deep.include({dev: 'cni0', state: ['INCOMPLETE']})
  })

  it('ifconfig, net-tools 2.x style', () => {
    const {links, addresses} = parseAddrs(pasted('ifconfig-new.txt'))
    expect(links.map(l => l.name)).to.deep.equal(['cni0', 'docker0', 'eth0', 'flannel.1', 'lo', 'vethf3a9c2d1'])
    expect(byName(links, 'flannel.1')).to.deep.include({mtu: 1450, mac: '7e:9f:4b:61:e0:c8', up: true, kind: 'ether'})
    expect(byName(links, 'lo').kind).to.equal('loopback')
    expect(addresses.find(a => a.dev === 'flannel.1' && a.family === 4)).to.include({local: '10.244.1.0', prefixlen: 32})
    expect(addresses.find(a => a.dev === 'docker0')).to.include({local: '172.17.0.1', prefixlen: 16})
  })

  it('ip -d link of iproute2 before 3.12: `port` is the source range, a missing dstport is the kernel default, marked assumed', () => {
    const links = parseLinks(pasted('ip-d-link-old-vxlan.txt'))
    expect(byName(links, 'flannel.1').vxlan).to.deep.equal({id: 1, local: '192.168.100.12', dev: 'eth0', port: 8472, portAssumed: true, learning: false})
    expect(byName(links, 'flannel.2').vxlan).to.deep.equal({id: 2, local: '192.168.100.12', dev: 'eth0', port: 4789, learning: false})
  })

  it('ifconfig: a device that is UP but not RUNNING has no carrier (state DOWN, as ip link says)', () => {
    const {links} = parseAddrs(real('ifconfig-no-carrier.txt'))
    expect(byName(links, 'v1')).to.deep.include({up: true, operstate: 'DOWN'})
    expect(byName(links, 'v3').operstate).to.equal(undefined)
    expect(byName(links, 'lo').operstate).to.equal(undefined)
    const old = parseAddrs('v1        Link encap:Ethernet  HWaddr A2:D9:81:CD:DF:D2\n          UP BROADCAST MULTICAST  MTU:1500  Metric:1\n').links
    expect(byName(old, 'v1')).to.deep.include({up: true, operstate: 'DOWN'})
    expect(byName(parseAddrs(pasted('ifconfig-new.txt')).links, 'docker0').operstate).to.equal('DOWN')
  })

  it('ifconfig, net-tools 1.60 style: aliases, upper-case MACs, point-to-point', () => {
    const {links, addresses} = parseAddrs(pasted('ifconfig-old.txt'))
    expect(links.map(l => l.name)).to.deep.equal(['cni0', 'eth0', 'flannel.1', 'lo', 'tun0'])
    expect(byName(links, 'cni0')).to.deep.include({mtu: 1450, mac: '0a:58:0a:f4:01:01', up: true, kind: 'ether'})
    expect(byName(links, 'lo')).to.deep.include({kind: 'loopback', mtu: 65536})
    expect(addresses.filter(a => a.dev === 'eth0' && a.family === 4).map(a => a.local)).to.deep.equal(['10.4.7.21', '10.4.7.100'])
    expect(addresses.find(a => a.dev === 'tun0')).to.include({local: '10.8.0.1', peer: '10.8.0.2', prefixlen: 32})
    expect(addresses.find(a => a.local === 'fe80::858:aff:fef4:101')).to.include({dev: 'cni0', prefixlen: 64, scope: 'link'})
  })

  it('ip r with a prompt line', () => {
    const routes = parseRoutes(pasted('ip-r-prompt.txt'))
    expect(routes).to.have.length(7)
    expect(routeTo(routes, '10.244.0.0/24')).to.deep.include({gateway: '10.244.0.0', dev: 'flannel.1', onlink: true})
    expect(routeTo(routes, '192.168.100.1/32')).to.deep.include({dev: 'eth0', scope: 'link', metric: 100})
  })

  it('prompts with spaces before their end (Flatcar/CoreOS, Gentoo), a virtualenv prefix, zsh themes', () => {
    for (const prompt of ['core@node1 ~ $ sudo ', 'node1 ~ # ', '(venv) root@node1:~# ', '❯ ', '➜  ~ ']) {
      const text = `${prompt}ip neigh show dev flannel.1\n10.244.2.0 lladdr 76:2f:9c:41:d2:22 PERMANENT\n${prompt.startsWith('node1') ? 'node1 ~ #' : ''}\n`
      expect(parseNeighbors(text), prompt).to.deep.equal([
        {dst: '10.244.2.0', dev: 'flannel.1', lladdr: '76:2f:9c:41:d2:22', state: ['PERMANENT'], raw: '10.244.2.0 lladdr 76:2f:9c:41:d2:22 PERMANENT'}])
    }
    // output words that end like a prompt are no prompt: `ip -br link`, ifconfig headers
    expect(parseAddrs(pasted('ifconfig-new.txt')).links).to.have.length(6)
  })

  it('ip addr show DEV / ifconfig DEV print some devices only: the parse says so', () => {
    const some = parseAddrs(pasted('ip-addr-some-devices.txt'))
    expect(some.links.map(l => l.name)).to.deep.equal(['flannel.1', 'cni0'])
    expect(some.someDevicesOnly).to.equal(true)
    expect(parseAddrs(real('ip-addr.txt')).someDevicesOnly).to.equal(undefined)
    expect(parseAddrs(`$ ip -4 addr\n${real('ip-addr.txt')}`).someDevicesOnly).to.equal(undefined)
    expect(parseAddrs(`$ ip link show type vxlan\n${real('ip-link.txt')}`).someDevicesOnly).to.equal(true)
    // one paste of every device makes the table whole
    expect(parseAddrs(`${pasted('ip-addr-some-devices.txt')}$ ip addr\n${real('ip-addr.txt')}`).someDevicesOnly).to.equal(undefined)
    expect(parseAddrs(`# ifconfig eth0\n${pasted('ifconfig-new.txt').split('\n').slice(1).join('\n')}`).someDevicesOnly).to.equal(true)
  })

  it('ip route show dev X prints some routes only; a table choice does not', () => {
    const flannel = '10.244.27.0/24 via 10.244.27.0 onlink\n'
    expect(routeFilterOfAll(`root@n1:~# ip route show dev flannel.1\n${flannel}`)).to.equal('dev flannel.1')
    expect(routeFilterOfAll(`$ ip r s proto kernel\n10.244.8.0/24 dev cni0 scope link src 10.244.8.1\n`)).to.equal('proto kernel')
    expect(routeFilterOfAll(`$ ip route show table 100\ndefault via 10.0.0.1 dev eth0\n`)).to.equal(undefined)
    expect(routeFilterOfAll(real('ip-route.txt'))).to.equal(undefined)
    expect(routeFilterOfAll(`$ ip route show dev flannel.1\n${flannel}$ ip route\n${real('ip-route.txt')}`)).to.equal(undefined)
  })

  it('neighbours and fdb pasted for some devices say which', () => {
    const devicesOf = (text: string, parse: (t: string) => Array<{dev: string}> = parseNeighbors): string[] | undefined => entryDevicesOfAll(text, parse(text))
    expect(devicesOf(pasted('ip-neigh-dev-cni0.txt'))).to.deep.equal(['cni0'])
    expect(devicesOf(pasted('bridge-fdb-br-cni0.txt'), parseFdb)).to.deep.equal(['master:cni0'])
    expect(devicesOf(`${pasted('ip-neigh-dev-cni0.txt')}$ ip neigh show dev flannel.1\n10.244.27.0 lladdr 16:58:7b:64:7f:ad PERMANENT\n`)).to.deep.equal(['cni0', 'flannel.1'])
    expect(devicesOf(real('ip-neigh.txt'))).to.equal(undefined)
    expect(devicesOf(`${pasted('ip-neigh-dev-cni0.txt')}$ ip neigh\n${real('ip-neigh.txt')}`)).to.equal(undefined)
    // a pipe kept some lines: the devices they show
    expect(devicesOf('$ ip neigh | grep flannel\n10.244.27.0 dev flannel.1 lladdr 16:58:7b:64:7f:ad PERMANENT\n')).to.deep.equal(['flannel.1'])
    expect(routeFilterOfAll('$ ip r | grep flannel\n10.244.27.0/24 via 10.244.27.0 dev flannel.1 onlink\n')).to.equal('| grep flannel')
    // ip route get: one destination's resolved path (as the kernel printed it for an onlink route), not the table
    for (const get of ['$ ip route get 10.2.0.5\n10.2.0.5 via 10.9.9.9 dev v1 src 10.1.0.1 uid 0 \n    cache \n',
      '$ ip -j route get 10.2.0.5\n[{"dst":"10.2.0.5","gateway":"10.9.9.9","dev":"v1","prefsrc":"10.1.0.1","flags":[],"uid":0,"cache":[]}]\n']) {
      expect(routeFilterOfAll(get)).to.equal('get 10.2.0.5')
      expect(parseRoutes(get)[0]).to.deep.include({dst: '10.2.0.5/32', gateway: '10.9.9.9', dev: 'v1', onlink: true})
    }
    // IPv6 only: every IPv4 entry is unknown
    expect(routeFilterOfAll('$ ip -6 route\nfe80::/64 dev eth0 proto kernel metric 256 pref medium\n')).to.equal('-6')
    expect(routeFilterOfAll('$ ip -4 route\ndefault via 10.0.0.1 dev eth0\n')).to.equal(undefined)
    expect(devicesOf('$ ip -f inet6 neigh\nfe80::1 dev eth0 lladdr 52:54:00:12:35:02 router REACHABLE\n')).to.deep.equal([])
    // narrowed by state or address: the entries shown are known, no device's table is whole
    const permanent = '10.244.27.0 dev flannel.1 lladdr 16:58:7b:64:7f:ad PERMANENT\n'
    for (const cmd of ['ip neigh show nud permanent', 'ip n show dev flannel.1 nud permanent', 'ip neigh show 10.244.27.0', 'ip neigh show to 10.244.0.0/16', 'ip neigh show to 10.244.0.0/16 nud all']) {
      expect(devicesOf(`$ ${cmd}\n${permanent}`), cmd).to.deep.equal([])
    }
    // `nud all` (what collect runs, NOARP entries included) narrows nothing
    expect(devicesOf(`$ ip neigh show nud all\n${permanent}`)).to.equal(undefined)
    const fdbLine = '16:58:7b:64:7f:ad dev flannel.1 dst 192.168.100.12 self permanent\n'
    expect(devicesOf(`$ bridge fdb show brport flannel.1\n${fdbLine}`, parseFdb)).to.deep.equal(['flannel.1'])
    for (const cmd of ['bridge fdb show dynamic', 'bridge fdb show dev flannel.1 state permanent', 'bridge fdb show br cni0 vlan 10']) {
      expect(devicesOf(`$ ${cmd}\n${fdbLine}`, parseFdb), cmd).to.deep.equal([])
    }
    expect(parseAddrs('$ ip -6 addr\n2: eth0: <UP> mtu 1500 state UP\n    inet6 fe80::1/64 scope link\n').someDevicesOnly).to.equal(true)
    expect(parseAddrs('$ ip a | grep -A3 flannel\n4: flannel.1: <UP,LOWER_UP> mtu 1450 state UNKNOWN\n    inet 10.244.27.0/32 scope global flannel.1\n').someDevicesOnly).to.equal(true)
  })

  it('bridge fdb show dev flannel.1 with the prompt: dev comes from the command', () => {
    const fdb = parseFdb(pasted('bridge-fdb-dev-flannel.txt'))
    expect(fdb.map(({mac, dev, dst, flags}) => ({mac, dev, dst, flags}))).to.deep.equal([
      {mac: '5e:3b:9c:1a:77:02', dev: 'flannel.1', dst: '192.168.100.11', flags: ['self', 'permanent']},
      {mac: 'ae:04:51:8d:20:c3', dev: 'flannel.1', dst: '192.168.100.12', flags: ['self', 'permanent']},
    ])
  })

  it('several commands in one paste, each with its own filter', () => {
    const n = parseNeighbors(pasted('ip-neigh-dev-flannel.txt'))
    expect(n.map(x => `${x.dst}@${x.dev}`)).to.deep.equal(['10.244.0.0@flannel.1', '10.244.1.0@flannel.1', '10.244.2.5@cni0',
      '10.244.2.9@cni0', '10.244.2.12@cni0'])
    expect(n[4].state).to.deep.equal(['FAILED'])
    const routes = parseRoutes(pasted('ip-route-v4-v6.txt'))
    expect(routes.map(r => `${r.dst} ${r.table ?? 'main'}`)).to.deep.equal(['default main', '10.244.1.0/24 main',
      'fd00:100::/64 main', 'default main', '172.16.0.0/16 100'])
  })

  it('dev, table and type filters of the pasted command fill what the lines leave out', () => {
    const routes = parseRoutes('$ sudo ip -4 route show dev flannel.1 table 7\n10.244.2.0/24 via 10.244.2.0 onlink\n')
    expect(routes[0]).to.deep.include({dev: 'flannel.1', table: '7', gateway: '10.244.2.0', onlink: true})
    expect(parseRoutes('# ip route show type blackhole\n10.244.99.0/24 \n')[0].type).to.equal('blackhole')
    expect(parseRoutes('root@n1:~# ip netns exec w1 ip r s dev eth0\ndefault via 10.0.0.1\n')[0].dev).to.equal('eth0')
  })

  it('JSON after a prompt, CRLF line ends and colour escapes', () => {
    const json = `root@n1:~# ip -j neigh show dev flannel.1\r\n${real('ip-neigh-dev-flannel.json')}\r\nroot@n1:~#\r\n`
    expect(parseNeighbors(json)[0]).to.deep.include({dev: 'flannel.1', dst: '10.244.2.0'})
    const coloured = '\x1b[36m10.244.2.0\x1b[0m dev \x1b[34mflannel.1\x1b[0m lladdr \x1b[33maa:bb:cc:dd:ee:02\x1b[0m PERMANENT \r\n'
    expect(parseNeighbors(coloured)[0]).to.deep.include({dst: '10.244.2.0', dev: 'flannel.1', lladdr: 'aa:bb:cc:dd:ee:02'})
  })
})

describe('parse: ipset', () => {
  // captured on a Calico-style node (k1 of snapshot calico-vxlan-bird): `ipset save` and `ipset list` of the same sets
  const pools = [{name: 'cali40masq-ipam-pools', type: 'hash:net', members: ['10.66.0.0/16']}, {name: 'cali40all-ipam-pools', type: 'hash:net', members: ['10.66.0.0/16']}]

  it('reads `ipset save` and `ipset list` alike', () => {
    const saved = readFileSync(new URL('../fixtures/snapshots/calico-vxlan-bird/k1/ipset.txt', import.meta.url), 'utf8')
    expect(parseIpsets(saved)).to.deep.equal(pools)
    expect(parseIpsets(real('ipset-list-calico.txt'))).to.deep.equal(pools)
  })

  it('keeps an entry\'s options, an empty capture is no sets, and a stray line is an error', () => {
    expect(parseIpsets('create S hash:net family inet\nadd S 10.1.0.0/16\nadd S 10.1.2.0/24 nomatch\n')[0].members).to.deep.equal(['10.1.0.0/16', '10.1.2.0/24 nomatch'])
    expect(parseIpsets('')).to.deep.equal([])
    expect(() => parseIpsets('add S 10.1.0.0/16\n', 'k1/ipset.txt')).to.throw(ParseError, 'k1/ipset.txt line 1')
  })
})

describe('parse: iptables-save and sysctl', () => {
  it('iptables-save: tables, policies, user chains, comments, flavour', () => {
    const ipt = parseIptables(real('iptables-save.txt'))
    expect(ipt.flavour).to.equal('nft')
    expect(ipt.chains).to.deep.include({table: 'filter', name: 'FORWARD', policy: 'DROP'})
    expect(ipt.chains).to.deep.include({table: 'filter', name: 'FLANNEL-FWD'})
    expect(ipt.chains).to.deep.include({table: 'nat', name: 'POSTROUTING', policy: 'ACCEPT'})
    const masq = ipt.rules.find(r => r.spec.includes('MASQUERADE'))
    expect(masq).to.deep.equal({table: 'nat', chain: 'FLANNEL-POSTRTG',
      spec: '-s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
      raw: '-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully'})
    expect(ipt.rules.filter(r => r.table === 'filter').map(r => r.chain)).to.deep.equal(['INPUT', 'FORWARD', 'FLANNEL-FWD', 'FLANNEL-FWD'])
    expect(parseIptablesSave(real('iptables-save.txt'))).to.deep.equal(ipt)
  })

  it('iptables-save: legacy header, counters; iptables -S with -t', () => {
    const legacy = parseIptables('# Generated by iptables-save v1.8.7 (legacy) on Mon\n*filter\n:FORWARD ACCEPT [3:180]\n[3:180] -A FORWARD -j ACCEPT\nCOMMIT\n')
    expect(legacy.flavour).to.equal('legacy')
    expect(legacy.rules).to.deep.equal([{table: 'filter', chain: 'FORWARD', spec: '-j ACCEPT', raw: '-A FORWARD -j ACCEPT'}])
    const s = parseIptables('$ iptables -t nat -S\n-P POSTROUTING ACCEPT\n-N FLANNEL-POSTRTG\n-A POSTROUTING -j FLANNEL-POSTRTG\n')
    expect(s.chains).to.deep.equal([{table: 'nat', name: 'POSTROUTING', policy: 'ACCEPT'}, {table: 'nat', name: 'FLANNEL-POSTRTG'}])
    expect(s.rules[0]).to.deep.include({table: 'nat', chain: 'POSTROUTING', spec: '-j FLANNEL-POSTRTG'})
    expect(s.flavour).to.equal(undefined)
  })

  it('iptables -S [CHAIN] says what it covers; iptables-save covers everything', () => {
    expect(parseIptables(real('iptables-save.txt')).covers).to.equal(undefined)
    expect(parseIptables('# iptables -S FORWARD\n-P FORWARD DROP\n-A FORWARD -j FLANNEL-FWD\n').covers).to.deep.equal([{table: 'filter', chain: 'FORWARD'}])
    expect(parseIptables('$ iptables -t nat -S\n-P POSTROUTING ACCEPT\n').covers).to.deep.equal([{table: 'nat'}])
    expect(parseIptables(`$ iptables-save -t filter\n*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n$ iptables -t nat -S POSTROUTING\n-P POSTROUTING ACCEPT\n`).covers)
      .to.deep.equal([{table: 'filter'}, {table: 'nat', chain: 'POSTROUTING'}])
  })

  it('sysctl: key = value, key=value, device names with dots, /proc paths, JSON', () => {
    const s = parseSysctls(real('sysctl.txt'))
    expect(s['net.ipv4.ip_forward']).to.equal('1')
    expect(s['net.ipv4.conf.all.rp_filter']).to.equal('2')
    expect(s['net.ipv4.conf.flannel.1.rp_filter']).to.equal('0')
    expect(parseSysctl('net.ipv4.ip_forward=1\n# comment\nnet.ipv4.tcp_rmem = 4096\t131072\t6291456\n'))
      .to.deep.equal({'net.ipv4.ip_forward': '1', 'net.ipv4.tcp_rmem': '4096\t131072\t6291456'})
    expect(parseSysctls('/proc/sys/net/ipv4/conf/flannel.1/rp_filter:2\nsysctl: permission denied on key "x"\n'))
      .to.deep.equal({'net.ipv4.conf.flannel.1.rp_filter': '2'})
    expect(parseSysctls('{"net.ipv4.ip_forward": 1}')).to.deep.equal({'net.ipv4.ip_forward': '1'})
  })
})

describe('parse: errors', () => {
  function parseErrorOf(f: () => unknown): ParseError {
    try {
      f()
    } catch (e) {
      expect(e).to.be.instanceOf(ParseError)
      return e as ParseError
    }
    throw new Error('expected a ParseError')
  }

  it('names the file and the 1-based line, exits 2, is a FlannelctlError', () => {
    const text = plainLines(real('ip-route.txt')).slice(0, 6).join('\n') + '\ngarbage here\n'
    const e = parseErrorOf(() => parseRoutes(text, 'ip-route.txt'))
    expect(e.message).to.equal("ip-route.txt line 7: cannot read 'garbage here' as a route")
    expect([e.source, e.line, e.exitCode]).to.deep.equal(['ip-route.txt', 7, 2])
    expect(e).to.be.instanceOf(FlannelctlError)
    expect(e.hint).to.not.equal('')
  })

  it('a line that looks like an entry but is malformed', () => {
    expect(parseErrorOf(() => parseRoutes('10.0.0.0/8 via nowhere dev eth0')).message).to.contain('via nowhere is not an address')
    expect(parseErrorOf(() => parseRoutes('10.0.0.0/8 dev eth0 metric lots')).message).to.contain('metric lots')
    expect(parseErrorOf(() => parseFdb('aa:bb:cc:dd:ee:ff dev flannel.1 dst 1.2.3')).line).to.equal(1)
    expect(parseErrorOf(() => parseAddrs('2: eth0: <UP> qdisc noop\n')).message).to.contain('no mtu')
    expect(parseErrorOf(() => parseAddrs('1: lo: <UP> mtu 65536\n    inet 127.0.0.1/99 scope host lo\n')).line).to.equal(2)
  })

  it('neighbour and fdb lines without dev say how to fix it', () => {
    const e = parseErrorOf(() => parseNeighbors('10.244.2.0 lladdr aa:bb:cc:dd:ee:02 PERMANENT\n', 'ip-neigh.txt'))
    expect(e.message).to.equal("ip-neigh.txt line 1: cannot read '10.244.2.0 lladdr aa:bb:cc:dd:ee:02 PERMANENT' as a neighbour (no dev)")
    expect(e.hint).to.contain('ip neigh show dev')
    expect(parseErrorOf(() => parseIpNeighJson(real('ip-neigh-dev-flannel.json'))).hint).to.contain('paste that command line')
    expect(parseErrorOf(() => parseFdb(real('bridge-fdb-dev-flannel.json'))).message).to.contain('without ifname')
  })

  it('JSON: syntax errors and wrong types point at a line', () => {
    const e = parseErrorOf(() => parseRoutes('[{"dst": "default",\n "dev": "eth0"\n', 'ip-route.json'))
    expect(e.source).to.equal('ip-route.json')
    expect(e.message).to.contain('cannot read routes JSON')
    const pretty = '[\n  {"dst": "default", "dev": "eth0"},\n  {"dst": 5}\n]'
    const bad = parseErrorOf(() => parseRoutes(pretty, 'ip-route.json'))
    expect(bad.line).to.equal(3)
    expect(bad.message).to.contain('dst is not a string')
    expect(parseErrorOf(() => parseLinks('[{"ifname": "x"}]')).message).to.contain('no mtu')
    expect(parseErrorOf(() => parseIpRouteJson('ip route output')).message).to.contain('expected routes as JSON')
  })

  it('forms that cannot be read say what to paste instead', () => {
    expect(parseErrorOf(() => parseIptables('Chain INPUT (policy ACCEPT)\ntarget prot opt source destination\n')).hint)
      .to.contain('iptables-save')
    expect(parseErrorOf(() => parseNeighbors('Address HWtype HWaddress Flags Mask Iface\n_gateway ether 52:54:00:12:35:02 C eth0\n')).hint)
      .to.contain('arp -n')
    expect(parseErrorOf(() => parseAddrs('lo UNKNOWN 00:00:00:00:00:00 <LOOPBACK,UP,LOWER_UP>\n')).hint).to.contain('ip -d link')
    expect(parseErrorOf(() => parseSysctls('just words\n')).line).to.equal(1)
  })

  it('a terminal session around the paste: ssh banner, exit, logout, a byte order mark', () => {
    const session = ['me@laptop:~$ ssh root@n1', 'Welcome to Ubuntu 22.04.3 LTS (GNU/Linux 5.15.0-91-generic x86_64)', '',
      'Last login: Thu Nov 26 21:00:01 2026 from 10.0.0.5', 'root@n1:~# ip neigh show dev flannel.1',
      '10.244.2.0 lladdr 76:2f:9c:41:d2:22 PERMANENT', 'root@n1:~# exit', 'logout', 'Connection to n1 closed.', 'me@laptop:~$ '].join('\r\n')
    expect(parseNeighbors(`\ufeff${session}`).map(n => [n.dst, n.dev])).to.deep.equal([['10.244.2.0', 'flannel.1']])
    expect(parseRoutes('\ufeff[{"dst":"default","gateway":"10.0.0.1","dev":"eth0"}]')[0].gateway).to.equal('10.0.0.1')
    // a command that is not a session's own is still read: its output must be the table
    expect(() => parseRoutes('$ cat routes\nnot a route\n')).to.throw(ParseError)
  })

  it('harmless lines are skipped: blank lines, headers, trailing prompts', () => {
    expect(parseRoutes('\n\n$ ip r\n\ndefault via 10.0.0.1 dev eth0\n\n$ \n')).to.have.length(1)
    expect(parseNeighbors('arp: in 0 entries no match found.\n')).to.deep.equal([])
    expect(parseRoutes('')).to.deep.equal([])
    expect(parseRoutes('[]')).to.deep.equal([])
  })
})

describe('parse: large and hostile inputs (their growth is timed by `bench --only core`)', () => {
  it('a node with 3000 routes, neighbours and fdb entries reads every entry', () => {
    const t = nodeTables(3000)
    expect(parseRoutes(t.routesText)).to.have.length(3000)
    expect(parseRoutes(t.routesJson)).to.have.length(3000)
    expect(parseNeighbors(t.neighText)).to.have.length(3000)
    expect(parseFdb(t.fdbText)).to.have.length(3000)
    expect(parseNode(t)).to.equal(12000)
  })

  it('a hostile paste gives every text parser a model or a ParseError', () => {
    expect(() => parseAllForms(pathologicalText(100_000))).to.not.throw()
  })
})

