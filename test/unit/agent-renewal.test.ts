/**
 * When sync --watch must run a round to renew its own lease: before the lease expires whatever its
 * TTL (one put back by hand with a few seconds left), not only every --interval.
 */
import {expect} from 'chai'
import {NodeAgent} from '../../src/services/agent.js'
import type {ReconcileResult} from '../../src/services/node.js'
import type {ServiceContext} from '../../src/services/context.js'
import type {Store} from '../../src/store/store.js'
import {leaseRenewalDue} from '../../src/store/store.js'

const NOW = Date.parse('2026-11-27T10:00:00Z')
const HOUR = 3600_000

function agentHolding(expiresAt: string | undefined, {dryRun = false} = {}): NodeAgent {
  const agent = new NodeAgent({dryRun} as ServiceContext, {}, {} as Store)
  const lease = {subnet: '10.244.1.0/24', publicIP: '192.168.100.11', publicIPv6: null, backendType: 'vxlan', ...(expiresAt ? {expiresAt} : {})}
  agent.adopt({applied: false, lease} as unknown as ReconcileResult)
  return agent
}
const expiringIn = (ms: number) => new Date(NOW + ms).toISOString()

describe('agent: renewing its own lease before it expires', () => {
  it('a fresh 24 h lease is due an hour before it expires, as flanneld renews it', () => {
    expect(agentHolding(expiringIn(24 * HOUR)).renewalDueInMs(NOW)).to.equal(23 * HOUR)
  })

  it('a lease with little left is due half-way through what it has left, however short', () => {
    expect(agentHolding(expiringIn(90 * 60_000)).renewalDueInMs(NOW)).to.equal(45 * 60_000)
    expect(agentHolding(expiringIn(15_000)).renewalDueInMs(NOW)).to.equal(7500)
    // never a round in a tight loop, even for one already past its time
    expect(agentHolding(expiringIn(1000)).renewalDueInMs(NOW)).to.equal(1000)
    expect(agentHolding(expiringIn(-5000)).renewalDueInMs(NOW)).to.equal(1000)
  })

  it('no expiry known (a reservation), or a dry run that renews nothing: no renewal round', () => {
    expect(agentHolding(undefined).renewalDueInMs(NOW)).to.equal(undefined)
    expect(agentHolding(expiringIn(15_000), {dryRun: true}).renewalDueInMs(NOW)).to.equal(undefined)
  })

  it('a round renews a lease with less life left than one renewed an hour ago', () => {
    expect(leaseRenewalDue(NOW + 24 * HOUR, NOW)).to.equal(false)
    expect(leaseRenewalDue(NOW + 23 * HOUR + 1, NOW)).to.equal(false)
    expect(leaseRenewalDue(NOW + 23 * HOUR, NOW)).to.equal(true)
    expect(leaseRenewalDue(NOW + 3000, NOW)).to.equal(true)
  })
})
