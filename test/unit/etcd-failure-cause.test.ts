/** What an unreachable etcd's error says: the gist, never grpc's own wording (an agent logs it every round). */
import {expect} from 'chai'
import {failureCause} from '../../src/store/etcd-store.js'

describe('etcd failure cause', () => {
  it('a refused connection and a deadline, in plain words', () => {
    expect(failureCause(new Error('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 192.168.160.254:23791 (2026-11-27T06:44:18.121Z)')))
      .to.equal('connection refused (ECONNREFUSED)')
    expect(failureCause(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded after 5.002s'))).to.equal('no answer within 5 s')
  })

  it('a call on a connection given up on (sync --watch while etcd is stopped) is not "Channel closed before call started"', () => {
    expect(failureCause(new Error('14 UNAVAILABLE: Channel closed before call started'))).to.equal('the connection was closed before the request went out')
    expect(failureCause(new Error('Channel has been shut down'))).to.equal('the connection was closed before the request went out')
  })
})
