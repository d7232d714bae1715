import {expect} from 'chai'
import {traceExitCode} from '../../src/core/trace/engine.js'
import type {Disposition, Proto, Trace} from '../../src/core/trace/types.js'

/** Only what the exit code reads: the request's end, the reply's, the protocol. */
const traced = (request: Disposition, reply: Disposition, proto: Proto = 'icmp') =>
  ({disposition: request, returnPath: {disposition: reply, hops: []}, flow: {proto}}) as unknown as Trace

describe('trace exit code: what ping would say', () => {
  it('0 when the request and its reply are delivered', () => {
    expect(traceExitCode(traced('DELIVERED', 'DELIVERED'))).to.equal(0)
  })
  it('1 when the request is lost, whatever the reply', () => {
    expect(traceExitCode(traced('NO_ROUTE', 'DELIVERED'))).to.equal(1)
    expect(traceExitCode(traced('INSUFFICIENT_INFO', 'DELIVERED'))).to.equal(1)
  })
  it('1 when a ping or TCP reply is lost on its way back', () => {
    expect(traceExitCode(traced('DELIVERED', 'NO_ROUTE'))).to.equal(1)
    expect(traceExitCode(traced('DELIVERED', 'MTU_EXCEEDED', 'tcp'))).to.equal(1)
  })
  it('0 when the way back leaves the tables read: unknown, not lost', () => {
    expect(traceExitCode(traced('DELIVERED', 'INSUFFICIENT_INFO'))).to.equal(0)
  })
  it('0 for a UDP datagram delivered: it needs no answer', () => {
    expect(traceExitCode(traced('DELIVERED', 'NO_ROUTE', 'udp'))).to.equal(0)
  })
})
