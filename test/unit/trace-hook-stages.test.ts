import {expect} from 'chai'
import {readdirSync} from 'node:fs'
import {join} from 'node:path'
import {loadSource} from '../../src/services/collect.js'
import {parseIptables, parseNftRuleset} from '../../src/core/parse/index.js'
import type {HostSnapshot} from '../../src/core/model.js'
import {HostView} from '../../src/core/trace/host-view.js'
import {dropTables, type Hook} from '../../src/core/trace/iptables.js'
import {nativeChainsAt, stagesAt} from '../../src/core/trace/nft.js'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'snapshots')
const HOOKS: Hook[] = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']

/** Every hook, receiving device and bridging asked of `view`, twice, the second time in reverse: what was kept for one must not answer another. */
function expectSameAnswers(view: HostView, devices: (string | undefined)[], where: string): number {
  const snap = view.snap
  const rules = view.iptables
  let asked = 0
  for (const order of [devices, [...devices].reverse()]) {
    for (const hook of HOOKS) {
      for (const inDev of order) {
        for (const bridged of [false, true]) {
          const at = `${where} ${hook} ${inDev ?? '-'} ${bridged}`
          expect(view.hooks.chains(hook, inDev, bridged), at).to.deep.equal(nativeChainsAt(snap, hook, {inDev, bridged}))
          const filter = stagesAt(snap, hook, 'filter', rules !== undefined ? dropTables(hook) : [], {inDev, bridged})
            .filter(s => 'chain' in s || rules!.active(s.table, hook) || (s.table === 'filter' && hook === 'FORWARD'))
          expect(view.hooks.stages(hook, 'filter', inDev, bridged), at).to.deep.equal(filter)
          const nat = stagesAt(snap, hook, 'nat', rules !== undefined && rules.active('nat', hook) ? ['nat'] : [], {inDev, bridged})
          expect(view.hooks.stages(hook, 'nat', inDev, bridged), at).to.deep.equal(nat)
          asked++
        }
      }
    }
  }
  return asked
}

describe('HookStages: a host\'s stages at each hook, kept by its view', () => {
  it('where netdev and bridge chains make the stages differ by device and bridging', () => {
    const nftables = parseNftRuleset([
      'table netdev ing {', '\tchain in0 {', '\t\ttype filter hook ingress device "eth0" priority -500; policy accept;', '\t\tcounter', '\t}', '}',
      'table bridge br {', '\tchain fwd {', '\t\ttype filter hook forward priority 0; policy drop;', '\t}', '}',
      'table ip fw {', '\tchain f {', '\t\ttype filter hook forward priority 10; policy accept;', '\t}',
      '\tchain post {', '\t\ttype nat hook postrouting priority 100; policy accept;', '\t}', '}', '',
    ].join('\n'), 'nft.txt')
    expect(nftables.map(c => `${c.family} ${c.name}`)).to.deep.equal(['netdev in0', 'bridge fwd', 'ip f', 'ip post'])
    const iptables = parseIptables('*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -i eth1 -j NOTRACK\nCOMMIT\n*filter\n:FORWARD DROP [0:0]\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 10.0.0.0/8 -j MASQUERADE\nCOMMIT\n')
    const snap: HostSnapshot = {name: 'n1', nftables, iptables}
    expect(expectSameAnswers(new HostView(snap), [undefined, 'eth0', 'eth1', 'cni0'], 'netdev+bridge')).to.equal(80)
    expect(new HostView(snap).hooks.stages('PREROUTING', 'filter', 'eth0')).to.have.length(2)
    expect(new HostView(snap).hooks.stages('PREROUTING', 'filter', 'eth1')).to.have.length(1)
  })

  it('answers as stagesAt and nativeChainsAt do, less the iptables tables that cannot act, for every device and bridging, asked in any order', async () => {
    let asked = 0
    for (const name of readdirSync(FIXTURES)) {
      const {world} = await loadSource({snapshot: join(FIXTURES, name)})
      for (const snap of world.hosts) {
        // the receiving devices a packet may have: none (born here), each link, one no link has
        asked += expectSameAnswers(new HostView(snap), [undefined, ...(snap.links ?? []).map(l => l.name), 'nosuchdev'], `${name} ${snap.name}`)
      }
    }
    expect(asked).to.be.greaterThan(1000)
  })
})
