/**
 * What an agent prints while etcd is gone or hung: grpc's status text reduced to its cause, in
 * words an operator can act on (an agent logs it every round).
 */
import {expect} from 'chai'
import {failureCause} from '../../src/store/etcd-store.js'

describe('etcd failure causes as the agent prints them', () => {
  it('connection refused and deadlines read as such', () => {
    expect(failureCause(new Error('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 192.168.160.254:23791 (2026-11-27T06:44:18.121Z)'))).to.equal('connection refused (ECONNREFUSED)')
    expect(failureCause(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded after 5.002s'))).to.equal('no answer within 5 s')
  })

  it('a connection lost under a call, or reset by the client after a hung call, is said so, not in grpc\'s words', () => {
    for (const text of ['14 UNAVAILABLE: Connection dropped', '1 CANCELLED: Channel closed before call started', '14 UNAVAILABLE: Channel closed before call started', 'Channel has been shut down']) {
      expect(failureCause(new Error(text)), text).to.equal('the connection dropped (etcd went away or stopped answering)')
    }
  })

  it('grpc redialling with no error to tell says no connection, not "null"', () => {
    // before: "etcd at 192.168.100.2:2379 is unreachable: null", between two "connection refused"
    expect(failureCause(new Error('14 UNAVAILABLE: No connection established. Last error: null'))).to.equal('no connection')
  })
})
