/**
 * A host's subnet leased to another address in the store while the host's own lease on it is still
 * alive (an edited entry, two hosts claiming one subnet): sync must refuse rather than lease another
 * subnet and readdress the bridge under running pods. Only a lease that has really expired moves on.
 */
import {expect} from 'chai'
import {subnetClaimedByAnother} from '../../src/services/node.js'
import {LEASE_RENEW_AFTER_MS, LEASE_TTL_SECONDS, type Lease} from '../../src/store/store.js'

const lease = (subnet: string, publicIP: string): Lease => ({subnet, publicIP, publicIPv6: null, backendType: 'vxlan', backendData: {}})
const now = Date.parse('2026-11-27T12:00:00Z')
const ago = (ms: number) => new Date(now - ms).toISOString()
const me = '192.168.100.13'

describe('subnetClaimedByAnother: this host\'s subnet held by another address', () => {
  it('names the holder when the host synced recently (its lease cannot have expired)', () => {
    const claim = subnetClaimedByAnother({subnet: '10.244.20.0/24', lastSync: ago(3000)}, [lease('10.244.20.0/24', '192.168.100.99')], me, now)
    expect(claim).to.deep.equal({publicIP: '192.168.100.99', syncedAgo: '3 s'})
  })

  it('holds up to the last moment the lease is certainly alive (TTL less one renewal interval)', () => {
    const edge = LEASE_TTL_SECONDS * 1000 - LEASE_RENEW_AFTER_MS
    const leases = [lease('10.244.20.0/24', '192.168.100.99')]
    expect(subnetClaimedByAnother({subnet: '10.244.20.0/24', lastSync: ago(edge - 1000)}, leases, me, now)?.syncedAgo).to.equal('23 h')
    expect(subnetClaimedByAnother({subnet: '10.244.20.0/24', lastSync: ago(edge)}, leases, me, now)).to.equal(undefined)
  })

  it('is no claim when the host holds its subnet, when nobody does, or when it never completed a sync', () => {
    expect(subnetClaimedByAnother({subnet: '10.244.20.0/24', lastSync: ago(1000)}, [lease('10.244.20.0/24', me)], me, now)).to.equal(undefined)
    expect(subnetClaimedByAnother({subnet: '10.244.20.0/24', lastSync: ago(1000)}, [lease('10.244.21.0/24', '192.168.100.99')], me, now)).to.equal(undefined)
    expect(subnetClaimedByAnother({subnet: '10.244.20.0/24'}, [lease('10.244.20.0/24', '192.168.100.99')], me, now)).to.equal(undefined)
    expect(subnetClaimedByAnother(undefined, [lease('10.244.20.0/24', '192.168.100.99')], me, now)).to.equal(undefined)
  })
})
