import {expect} from 'chai'
import {FlannelctlError} from '../../src/errors.js'
import {backendChoiceProblem, netConfToJson, parseNetConf, udpUnsupported} from '../../src/core/netconf.js'

function errorOf(json: string): FlannelctlError {
  try {
    parseNetConf(json)
  } catch (e) {
    expect(e).to.be.instanceOf(FlannelctlError)
    return e as FlannelctlError
  }
  throw new Error(`accepted: ${json}`)
}

describe('parseNetConf', () => {
  it('fills in flannel defaults for a /16 with vxlan', () => {
    expect(parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')).to.deep.equal({
      network: '10.244.0.0/16',
      subnetLen: 24,
      subnetMin: '10.244.1.0',
      subnetMax: '10.244.255.0',
      backend: {type: 'vxlan', vni: 1, port: 8472, directRouting: false},
      enableIPv4: true,
    })
  })

  it('defaults SubnetLen to 24 up to a /22, else to prefix + 2 (flannel config.go)', () => {
    expect(parseNetConf('{"Network":"10.0.0.0/22"}').subnetLen).to.equal(24)
    expect(parseNetConf('{"Network":"10.0.0.0/23"}').subnetLen).to.equal(25)
    const small = parseNetConf('{"Network":"10.0.0.0/28"}')
    expect([small.subnetLen, small.subnetMin, small.subnetMax]).to.deep.equal([30, '10.0.0.4', '10.0.0.12'])
    expect(parseNetConf('{"Network":"10.0.0.0/8","SubnetLen":0}').subnetLen).to.equal(24)
  })

  it('matches field names case-insensitively, the last spelling winning like Go', () => {
    const nc = parseNetConf('{"network":"10.1.0.0/16","SUBNETLEN":26,"backend":{"type":"host-gw"},"subnetlen":25}')
    expect(nc.network).to.equal('10.1.0.0/16')
    expect(nc.subnetLen).to.equal(25)
    expect(nc.backend.type).to.equal('host-gw')
  })

  it('a backend named on the command line: udp and flanneld\'s other backends said as such, in the words of the command typed', () => {
    // before: backend set udp and migrate --backend udp said only "Expected udp to be one of: vxlan, host-gw"
    const setUse = (t: string) => `flannelctl backend set ${t}`
    expect(backendChoiceProblem('vxlan', setUse)).to.equal(undefined)
    expect(backendChoiceProblem('host-gw', setUse)).to.equal(undefined)
    const udp = backendChoiceProblem('udp', setUse)!
    expect(udp.message).to.equal(udpUnsupported())
    expect(udp.hint).to.equal('use flannelctl backend set vxlan (or flannelctl backend set host-gw when all nodes share one L2 segment)')
    expect(backendChoiceProblem('udp', t => `--backend ${t}`)!.message).to.equal(udp.message)
    expect(backendChoiceProblem('wireguard', setUse)!.message).to.equal('wireguard is a flanneld backend that flannelctl does not build')
    expect(backendChoiceProblem('hostgw', setUse)!.message).to.match(/^'hostgw' is not a backend: flannelctl builds vxlan and host-gw/)
    expect(backendChoiceProblem('VXLAN', setUse)).to.not.equal(undefined)
  })

  it('takes the udp backend when Backend is absent, as flanneld does', () => {
    expect(parseNetConf('{"Network":"10.244.0.0/16"}').backend).to.deep.equal({type: 'udp', vni: 1, port: 8285, directRouting: false})
  })

  it('reads VNI, Port and DirectRouting; Port 0 means the default', () => {
    const nc = parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":4096,"Port":4789,"DirectRouting":true}}')
    expect(nc.backend).to.deep.equal({type: 'vxlan', vni: 4096, port: 4789, directRouting: true})
    expect(parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","Port":0}}').backend.port).to.equal(8472)
  })

  it('takes VNI 0 as given, as flanneld does (its default 1 only fills an absent VNI; the kernel makes flannel.0 with id 0)', () => {
    expect(parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":0}}').backend.vni).to.equal(0)
    expect(parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":null}}').backend.vni).to.equal(1)
    expect(errorOf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":16777216}}').message).to.equal('net-conf: Backend.VNI must be between 0 and 16777215, got 16777216')
  })

  it('checks the rest of flanneld\'s vxlan config: GBP, Learning and MTU are typed, GBP is refused, MTU sizes the VTEP', () => {
    const vxlan = (fields: string) => `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan",${fields}}}`
    const gbp = errorOf(vxlan('"GBP":true'))
    expect(gbp.message).to.contain('Backend.GBP is true, but flannelctl builds vxlan devices without the Group Based Policy extension')
    expect(gbp.hint).to.equal('remove "GBP" from the Backend (or set "GBP": false)')
    expect(errorOf(vxlan('"gbp":"false"')).message).to.equal('net-conf: Backend.GBP must be true or false, got the string "false"')
    expect(errorOf(vxlan('"Learning":1')).message).to.equal('net-conf: Backend.Learning must be true or false, got the number 1')
    expect(errorOf(vxlan('"MTU":"1400"')).message).to.equal('net-conf: Backend.MTU must be a whole number, got the string "1400"')
    expect(errorOf(vxlan('"MTU":0')).message).to.equal('net-conf: Backend.MTU must be between 118 and 65535, got 0')
    const nc = parseNetConf(vxlan('"GBP":false,"Learning":true,"MTU":1400'))
    expect(nc.backend.mtu).to.equal(1400)
    expect(JSON.parse(netConfToJson(nc)).Backend, 'kept verbatim on a rewrite').to.include({GBP: false, Learning: true, MTU: 1400})
    expect(parseNetConf(netConfToJson(nc))).to.deep.equal(nc)
    // host-gw has none of these: flanneld does not read them there
    expect(parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw","GBP":true,"MTU":"x"}}').backend.mtu).to.equal(undefined)
  })

  it('accepts SubnetMin/SubnetMax inside the network on a subnet boundary; 0.0.0.0 means unset', () => {
    const nc = parseNetConf('{"Network":"10.244.0.0/16","SubnetMin":"10.244.10.0","SubnetMax":"10.244.20.0"}')
    expect([nc.subnetMin, nc.subnetMax]).to.deep.equal(['10.244.10.0', '10.244.20.0'])
    expect(parseNetConf('{"Network":"10.244.0.0/16","SubnetMin":"0.0.0.0"}').subnetMin).to.equal('10.244.1.0')
  })

  it('names the field and the wrong type', () => {
    const e = errorOf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","DirectRouting":"true"}}')
    expect(e.message).to.equal('net-conf: Backend.DirectRouting must be true or false, got the string "true"')
    expect(e.hint).to.equal('write it without quotes: "DirectRouting": true')
    const len = errorOf('{"Network":"10.244.0.0/16","SubnetLen":"24"}')
    expect(len.message).to.equal('net-conf: SubnetLen must be a whole number, got the string "24"')
    expect(len.hint).to.contain('"SubnetLen": 24')
    expect(errorOf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":1.5}}').message).to.contain('Backend.VNI must be a whole number')
    expect(errorOf('{"Network":"10.244.0.0/16","EnableIPv4":"yes"}').message).to.contain('EnableIPv4 must be true or false')
    // flanneld's Go bool: a quoted "true" is not true
    const nft = errorOf('{"Network":"10.244.0.0/16","EnableNFTables":"true"}')
    expect(nft.message).to.equal('net-conf: EnableNFTables must be true or false, got the string "true"')
    expect(nft.hint).to.equal('write it without quotes: "EnableNFTables": true')
    // a word or a number has no quotes to remove
    expect(errorOf('{"Network":"10.244.0.0/16","EnableNFTables":"yes"}').hint).to.equal('write true or false, without quotes: "EnableNFTables": true')
    expect(errorOf('{"Network":"10.244.0.0/16","EnableNFTables":1}').hint).to.equal('write true or false, without quotes: "EnableNFTables": true')
    expect(errorOf('{"Network":16}').message).to.contain('Network must be a string')
    expect(errorOf('{"Network":"10.244.0.0/16","Backend":"vxlan"}').message).to.contain('Backend must be an object')
  })

  it('refuses a Network no pod address can come from (0/8, loopback, multicast, class E), a whole-space one included', () => {
    expect(errorOf('{"Network":"0.0.0.0/0"}').message).to.equal('net-conf: Network 0.0.0.0/0 overlaps 0.0.0.0/8 ("this network"): pods cannot have addresses there')
    expect(errorOf('{"Network":"127.0.0.0/16"}').message).to.contain('overlaps 127.0.0.0/8 (loopback)')
    expect(errorOf('{"Network":"224.0.0.0/8"}').message).to.contain('overlaps 224.0.0.0/4 (multicast)')
    expect(errorOf('{"Network":"240.0.0.0/16"}').message).to.contain('overlaps 240.0.0.0/4')
    expect(errorOf('{"Network":"0.0.0.0/0"}').hint).to.contain('10.244.0.0/16')
    expect(parseNetConf('{"Network":"100.64.0.0/10"}').network).to.equal('100.64.0.0/10')
  })

  it('refuses what flanneld refuses', () => {
    expect(errorOf('{}').message).to.equal('net-conf: Network is missing')
    expect(errorOf('{"Network":"10.0.0.0/29"}').message).to.contain('too small')
    expect(errorOf('{"Network":"10.244.0.0/16","SubnetLen":31}').message).to.contain('at most 30')
    expect(errorOf('{"Network":"10.244.0.0/16","SubnetLen":17}').message).to.contain('at least four subnets')
    expect(parseNetConf('{"Network":"10.244.0.0/16","SubnetLen":18}').subnetLen).to.equal(18)
    expect(errorOf('{"Network":"10.244.0.0/16","SubnetMin":"10.245.0.0"}').message).to.contain('not in the range of the Network')
    const unaligned = errorOf('{"Network":"10.244.0.0/16","SubnetMax":"10.244.3.7"}')
    expect(unaligned.message).to.contain('SubnetLen (/24) boundary')
    expect(unaligned.hint).to.contain('"10.244.3.0"')
    expect(errorOf('{"Network":"10.244.0.0/16","SubnetMin":"10.244.1.0/24"}').message).to.contain('IPv4 address')
    expect(errorOf('{"Network":"10.244.0.0/16","Backend":{}}').message).to.contain('Backend.Type is missing')
    expect(errorOf('{"Network":"10.244.0.0/16","Backend":{"Type":"VXLAN"}}').message).to.contain('case-sensitive')
    expect(errorOf('{"Network":"10.244.0.0/16","Backend":{"Type":"wireguard"}}').message).to.contain('does not build')
  })

  it('goes beyond flanneld where its silence hurts', () => {
    const masked = errorOf('{"Network":"10.244.1.0/16"}')
    expect(masked.message).to.contain('host bits')
    expect(masked.hint).to.contain('"10.244.0.0/16"')
    expect(errorOf('{"Network":"10.244.0.0/16","SubnetMin":"10.244.9.0","SubnetMax":"10.244.8.0"}').message).to.contain('above SubnetMax')
    expect(errorOf('{"Network":"10.244.0.0/16","EnableIPv4":false}').message).to.contain('IPv4 networks only')
    expect(errorOf('not json').message).to.match(/^net-conf: not valid JSON/)
    expect(errorOf('[1]').message).to.contain('JSON object')
  })
})

describe('netConfToJson', () => {
  it('writes flannel field names and round-trips', () => {
    const nc = parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","DirectRouting":true}}')
    const json = netConfToJson(nc)
    expect(JSON.parse(json)).to.deep.equal({
      Network: '10.244.0.0/16', SubnetLen: 24, SubnetMin: '10.244.1.0', SubnetMax: '10.244.255.0', EnableIPv4: true,
      Backend: {Type: 'vxlan', VNI: 1, Port: 8472, DirectRouting: true},
    })
    expect(parseNetConf(json)).to.deep.equal(nc)
  })

  it('keeps fields flannelctl does not use', () => {
    const nc = parseNetConf('{"Network":"10.244.0.0/16","EnableNFTables":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan","MacPrefix":"0E:6A"}}')
    const out = JSON.parse(netConfToJson(nc))
    expect(out.EnableNFTables).to.equal(true)
    expect(nc.enableNFTables, 'read, case-insensitively as flanneld does').to.equal(true)
    expect(parseNetConf('{"Network":"10.244.0.0/16","enablenftables":true}').enableNFTables).to.equal(true)
    expect(parseNetConf('{"Network":"10.244.0.0/16","EnableNFTables":false}').enableNFTables).to.equal(undefined)
    expect(out.IPv6Network).to.equal('fc00::/48')
    expect(out.Backend.MacPrefix).to.equal('0E:6A')
    expect(parseNetConf(netConfToJson(nc))).to.deep.equal(nc)
  })

  it('reads EnableIPv6 as flanneld does (a bool; a string is an error) and keeps the dual-stack fields on a rewrite', () => {
    const nc = parseNetConf('{"Network":"10.244.0.0/16","enableipv6":true,"IPv6Network":"fc00::/48","IPv6SubnetLen":64,"Backend":{"Type":"vxlan"}}')
    expect(nc.enableIPv6).to.equal(true)
    const out = JSON.parse(netConfToJson(nc))
    expect([out.EnableIPv6, out.IPv6Network, out.IPv6SubnetLen]).to.deep.equal([true, 'fc00::/48', 64])
    expect(parseNetConf(netConfToJson(nc))).to.deep.equal(nc)
    expect(parseNetConf('{"Network":"10.244.0.0/16","EnableIPv6":false}').enableIPv6).to.equal(undefined)
    // flanneld: json: cannot unmarshal string into Go struct field Config.EnableIPv6 of type bool
    expect(() => parseNetConf('{"Network":"10.244.0.0/16","EnableIPv6":"true"}')).to.throw(/EnableIPv6 must be true or false, got the string "true"/)
  })

  it('writes only what a host-gw backend reads', () => {
    const nc = parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}')
    expect(JSON.parse(netConfToJson(nc)).Backend).to.deep.equal({Type: 'host-gw'})
  })
})
