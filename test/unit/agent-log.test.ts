/**
 * RoundLog: which of an agent's rounds are printed. Times are given, not waited for: an hour is a
 * number here. On the kernel (lab sca, SubnetLen edited to 25 under n1, `sync --watch --interval 1`)
 * the off-config warning was printed by the first round only, then never again.
 */
import {expect} from 'chai'
import {RoundLog, WARNING_REPEAT_MS} from '../../src/core/agent-log.js'

const HOUR = WARNING_REPEAT_MS
const idle = (said: string, warnings: number, periodic = true) => ({said, changed: false, warnings, periodic})

describe('RoundLog: an idle agent is quiet, but says a standing warning again once an hour', () => {
  it('the first round prints; the same words again print nothing, until an hour has passed on a round that read the host', () => {
    const log = new RoundLog()
    expect(log.print(idle('kept /24', 1), 0)).to.equal(true)
    expect(log.print(idle('kept /24', 1), 10_000)).to.equal(false)
    expect(log.print(idle('kept /24', 1), HOUR - 1)).to.equal(false)
    // a store event's round an hour on: still quiet (it did not look at the host)
    expect(log.print(idle('kept /24', 1, false), HOUR + 5)).to.equal(false)
    expect(log.print(idle('kept /24', 1), HOUR + 10)).to.equal(true)
    // the hour counts from that reminder
    expect(log.print(idle('kept /24', 1), 2 * HOUR)).to.equal(false)
    expect(log.print(idle('kept /24', 1), 2 * HOUR + 10)).to.equal(true)
  })

  it('without warnings an idle agent stays quiet however long; news and changes print at once and restart the hour', () => {
    const log = new RoundLog()
    expect(log.print(idle('1 peer', 0), 0)).to.equal(true)
    expect(log.print(idle('1 peer', 0), 5 * HOUR)).to.equal(false)
    expect(log.print(idle('1 peer, a warning', 1, false), 5 * HOUR + 1)).to.equal(true)
    expect(log.print({said: '1 peer, a warning', changed: true, warnings: 1, periodic: true}, 5 * HOUR + 2)).to.equal(true)
    expect(log.print(idle('1 peer, a warning', 1), 6 * HOUR)).to.equal(false)
    expect(log.print(idle('1 peer, a warning', 1), 6 * HOUR + 2)).to.equal(true)
  })
})
