/**
 * core/predict.ts: what the host holds after a plan, without reading it. The integration test
 * agent-model.test.ts proves predictions equal real kernel dumps; these pin the edges.
 */
import {expect} from 'chai'
import {predictAfterOps} from '../../src/core/predict.js'
import {parseBridgeFdbJson, parseIpNeighJson, parseIpRouteJson} from '../../src/core/parse/json.js'
import type {HostSnapshot} from '../../src/core/model.js'
import type {Op} from '../../src/core/ops.js'

const ip = (...args: string[]): Op => ({tool: 'ip', args, why: 'test'})
const bridge = (...args: string[]): Op => ({tool: 'bridge', args, why: 'test'})

const base: HostSnapshot = {
  name: 'n1',
  routes: parseIpRouteJson(JSON.stringify([
    {dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'flannel.1', flags: ['onlink']},
    {dst: '10.244.3.0/24', gateway: '10.244.3.0', dev: 'flannel.1', flags: ['onlink']},
    {dst: '10.244.3.0/24', gateway: '192.168.1.3', dev: 'eth0', metric: 100, flags: []},
    {dst: '192.168.1.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '192.168.1.1', flags: []},
  ])),
  neighbors: parseIpNeighJson(JSON.stringify([{dst: '10.244.2.0', dev: 'flannel.1', lladdr: '0e:00:00:00:00:02', state: ['PERMANENT']}])),
  fdb: parseBridgeFdbJson(JSON.stringify([{mac: '0e:00:00:00:00:02', ifname: 'flannel.1', dst: '192.168.1.2', flags: ['self'], state: 'permanent'}])),
}

const dsts = (s: HostSnapshot) => (s.routes ?? []).map(r => `${r.dst} ${r.gateway ?? ''} ${r.dev} ${r.metric ?? 0}`)

describe('predictAfterOps', () => {
  it('adds, replaces and deletes routes, neighbours and fdb entries as the kernel does', () => {
    const after = predictAfterOps(base, [
      ip('neigh', 'replace', '10.244.4.0', 'lladdr', '0e:00:00:00:00:04', 'dev', 'flannel.1', 'nud', 'permanent'),
      bridge('fdb', 'replace', '0e:00:00:00:00:04', 'dev', 'flannel.1', 'dst', '192.168.1.4', 'self', 'permanent'),
      bridge('fdb', 'replace', '0e:00:00:00:00:02', 'dev', 'flannel.1', 'dst', '192.168.1.22', 'self', 'permanent'),
      ip('route', 'replace', '10.244.4.0/24', 'via', '10.244.4.0', 'dev', 'flannel.1', 'onlink'),
      // replace touches the metric-0 route only; the metric-100 one stays
      ip('route', 'replace', '10.244.3.0/24', 'via', '192.168.1.3', 'dev', 'eth0'),
      ip('route', 'del', '10.244.2.0/24', 'via', '10.244.2.0', 'dev', 'flannel.1'),
      ip('neigh', 'del', '10.244.2.0', 'dev', 'flannel.1'),
    ])!
    expect(dsts(after)).to.have.members([
      '10.244.3.0/24 192.168.1.3 eth0 0', '10.244.3.0/24 192.168.1.3 eth0 100', '192.168.1.0/24  eth0 0', '10.244.4.0/24 10.244.4.0 flannel.1 0',
    ])
    expect(after.routes!.find(r => r.dst === '10.244.4.0/24')!.onlink).to.equal(true)
    expect(after.neighbors!.map(n => `${n.dst} ${n.lladdr} ${n.state}`)).to.deep.equal(['10.244.4.0 0e:00:00:00:00:04 PERMANENT'])
    expect(after.fdb!.map(f => `${f.mac} ${f.dst}`)).to.have.members(['0e:00:00:00:00:02 192.168.1.22', '0e:00:00:00:00:04 192.168.1.4'])
    // the input is left as it was
    expect(dsts(base)).to.have.length(4)
  })

  it('gives no prediction for what it does not model, or for a delete of something absent', () => {
    for (const op of [
      ip('link', 'set', 'flannel.1', 'up'),
      ip('addr', 'add', '10.244.1.0/32', 'dev', 'flannel.1'),
      ip('route', 'replace', '10.244.9.0/24', 'via', '10.244.9.0', 'dev', 'flannel.1', 'metric', '5'),
      ip('route', 'del', '10.244.9.0/24', 'dev', 'flannel.1'),
      ip('neigh', 'del', '10.244.9.0', 'dev', 'flannel.1'),
      bridge('fdb', 'del', '0e:00:00:00:00:09', 'dev', 'flannel.1', 'dst', '192.168.1.9', 'self'),
      bridge('fdb', 'append', '00:00:00:00:00:00', 'dev', 'flannel.1', 'dst', '192.168.1.9', 'self'),
      {tool: 'iptables', table: 'nat', lines: ['-A X -j RETURN'], why: 'test'} as Op,
      {tool: 'file', path: '/run/flannel/subnet.env', content: '', mode: 0o644, why: 'test'} as Op,
    ]) expect(predictAfterOps(base, [op]), JSON.stringify(op)).to.equal(undefined)
    expect(predictAfterOps({...base, fdb: undefined}, [bridge('fdb', 'replace', '0e:00:00:00:00:04', 'dev', 'flannel.1', 'dst', '192.168.1.4', 'self', 'permanent')]))
      .to.equal(undefined)
  })

  it('stays linear: 5000 peers added then removed in one plan each', () => {
    const add: Op[] = []
    const del: Op[] = []
    for (let i = 0; i < 5000; i++) {
      const subnet = `10.${100 + (i >> 8)}.${i & 255}.0/24`
      add.push(ip('route', 'replace', subnet, 'via', '192.168.1.2', 'dev', 'eth0'))
      del.push(ip('route', 'del', subnet, 'via', '192.168.1.2', 'dev', 'eth0'))
    }
    const full = predictAfterOps(base, add)!
    expect(full.routes).to.have.length(5004)
    expect(predictAfterOps(full, del)!.routes).to.have.length(4)
  })
})
