/**
 * Traces over snapshots collected (`flannelctl collect --format txt`) from namespaces built by hand,
 * each checked against what the real kernel did with ping, a TCP connect and traceroute there.
 */
import {expect} from 'chai'
import {join} from 'node:path'
import {traceFlow} from '../../src/core/trace/engine.js'
import type {TraceRequest} from '../../src/core/trace/types.js'
import {loadSource} from '../../src/services/collect.js'

const SNAPSHOTS = join(import.meta.dirname, '..', 'fixtures', 'snapshots')

async function trace(snapshot: string, req: TraceRequest) {
  const {world} = await loadSource({snapshot: join(SNAPSHOTS, snapshot)})
  return traceFlow(world, req)
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
