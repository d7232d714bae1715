/** The pure parts of bench: medians, ratios, verdicts, parsing of iperf3/ping output, formatting. No timing here. */
import {expect} from 'chai'
import {
  fakePeer, makeRow, median, medianBreakdown, parseIperfJson, parsePingAvg, ratioOf, snapshotNode, unavailableRow, verdictOf, type BenchReport,
} from '../../src/services/bench.js'
import {benchCore, leasesOf, pickAmong} from '../../src/services/bench-core.js'
import {formatGoal, formatRatio, formatValue, formatVerdict, renderBench, renderBreakdown} from '../../src/ui/bench.js'

describe('bench (pure parts)', () => {
  it('takes the median of odd and even sample counts, NaN of none', () => {
    expect(median([5, 1, 3])).to.equal(3)
    expect(median([4, 1, 3, 2])).to.equal(2.5)
    expect(median([7])).to.equal(7)
    expect(median([])).to.be.NaN
  })

  it('gives a ratio only for finite, positive limits', () => {
    expect(ratioOf(300, 100)).to.equal(3)
    expect(ratioOf(null, 100)).to.equal(null)
    expect(ratioOf(100, null)).to.equal(null)
    expect(ratioOf(100, 0)).to.equal(null)
    expect(ratioOf(NaN, 10)).to.equal(null)
  })

  it('judges costs against a maximum and rates against a minimum', () => {
    expect(verdictOf(2, {kind: 'max', value: 2})).to.equal('met')
    expect(verdictOf(2.01, {kind: 'max', value: 2})).to.equal('missed')
    expect(verdictOf(0.95, {kind: 'min', value: 0.95})).to.equal('met')
    expect(verdictOf(0.9, {kind: 'min', value: 0.95})).to.equal('missed')
    expect(verdictOf(1.4, undefined)).to.equal('info')
    expect(verdictOf(null, {kind: 'max', value: 2})).to.equal('n/a')
  })

  it('builds a row from samples: medians, ratio and verdict', () => {
    const row = makeRow({id: 'x', section: 'sync', what: 'sync', unit: 'ms', samples: [30, 10, 20], limitSamples: [10, 12, 8], limitWhat: 'raw', goal: {kind: 'max', value: 2}})
    expect(row.measured).to.equal(20)
    expect(row.limit).to.equal(10)
    expect(row.ratio).to.equal(2)
    expect(row.verdict).to.equal('met')
    const fixed = makeRow({id: 't', section: 'trace', what: 'trace', unit: 'ms', samples: [1500], limit: 1000, limitWhat: 'budget 1 s', goal: {kind: 'max', value: 1}})
    expect(fixed.ratio).to.equal(1.5)
    expect(fixed.verdict).to.equal('missed')
  })

  it('marks what could not be measured as n/a with the reason', () => {
    const row = unavailableRow({id: 'trace.1000', section: 'trace', what: 'trace', unit: 'ms', limitWhat: 'budget 1 s', goal: {kind: 'max', value: 1}}, 'n/a (not built)')
    expect(row).to.include({measured: null, limit: null, ratio: null, verdict: 'n/a'})
    expect(formatVerdict(row)).to.equal('n/a (not built)')
  })

  it('formats ratios, values and goals for the table', () => {
    expect(formatRatio(1.234)).to.equal('1.23×')
    expect(formatRatio(12.34)).to.equal('12.3×')
    expect(formatRatio(null)).to.equal('n/a')
    expect(formatValue(1234.4, 'ms')).to.equal('1234 ms')
    expect(formatValue(12.34, 'ms')).to.equal('12.3 ms')
    expect(formatValue(1.234, 'ms')).to.equal('1.23 ms')
    expect(formatValue(21.6, 'µs')).to.equal('22 µs')
    expect(formatValue(16794.2, 'Mbit/s')).to.equal('16,794 Mbit/s')
    expect(formatValue(null, 'ms')).to.equal('n/a')
    expect(formatGoal({kind: 'max', value: 2.5})).to.equal('≤ 2.5×')
    expect(formatGoal({kind: 'min', value: 0.95})).to.equal('≥ 0.95×')
    expect(formatGoal(undefined)).to.equal('-')
  })

  it('renders a report: one line per row, the goals met, and the growth table', () => {
    const report: BenchReport = {
      version: 1, startedAt: '2026-01-01T00:00:00.000Z', durationMs: 1,
      machine: {cpus: 2, cpuModel: 'cpu', kernel: '6.1', node: 'v20', loadAvg: {start: 0.5, end: 3.2}},
      options: {sections: ['sync', 'trace'], peers: 1000, reps: 5, startupRuns: 15, scale: [10]},
      rows: [
        makeRow({id: 'sync.vxlan.add', section: 'sync', what: 'sync 0 → 1000 peers', unit: 'ms', samples: [150], limitSamples: [100], limitWhat: 'raw batch', goal: {kind: 'max', value: 2}}),
        unavailableRow({id: 'trace.1000', section: 'trace', what: 'trace 1000 nodes', unit: 'ms', limitWhat: 'budget 1 s', goal: {kind: 'max', value: 1}}, 'n/a (not built)'),
      ],
      scale: [
        {backend: 'vxlan', peers: 10, step: 'add', ms: 40, rawMs: 8, ratio: 5},
        {backend: 'vxlan', peers: 1000, step: 'add', ms: 150, rawMs: 100, ratio: 1.5},
      ],
    }
    const text = renderBench(report)
    expect(text).to.match(/sync 0 → 1000 peers\s+150 ms\s+100 ms {2}raw batch\s+1\.50×\s+≤ 2×\s+met/)
    expect(text).to.match(/trace 1000 nodes\s+n\/a.*n\/a \(not built\)/)
    expect(text).to.include('goals met: 1/1; not measured: trace.1000')
    expect(text).to.match(/vxlan\s+10\s+add\s+40\.0 ms\s+8\.00 ms\s+5\.00×/)
    expect(text).to.include('load average 0.5 at the start, 3.2 at the end — above 2 CPUs')
  })

  it('splits each sync row into apply, record and the rest', () => {
    const row = makeRow({id: 'sync.vxlan.add', section: 'sync', what: 'sync', unit: 'ms', samples: [150], limitSamples: [50], limitWhat: 'raw',
      breakdown: {apply: 50, record: 8, readAndPlan: 92}})
    expect(renderBreakdown([row])).to.match(/sync\.vxlan\.add\s+150 ms\s+50\.0 ms\s+8\.00 ms\s+92\.0 ms/)
    expect(medianBreakdown([{apply: 1, record: 2, readAndPlan: 3}, {apply: 5, record: 6, readAndPlan: 7}, {apply: 9, record: 1, readAndPlan: 2}]))
      .to.deep.equal({apply: 5, record: 2, readAndPlan: 3})
    expect(medianBreakdown([])).to.equal(undefined)
  })

  it('parses iperf3 -J and ping summaries', () => {
    expect(parseIperfJson(JSON.stringify({end: {sum_received: {bits_per_second: 12.5e9}}}))).to.equal(12500)
    expect(parseIperfJson('{"error": "unable to connect"}')).to.equal(undefined)
    expect(parseIperfJson('not json')).to.equal(undefined)
    expect(parsePingAvg('200 packets transmitted, 200 received, 0% packet loss, time 1000ms\nrtt min/avg/max/mdev = 0.011/0.021/0.104/0.008 ms\n')).to.equal(0.021)
    expect(parsePingAvg('1 packets transmitted, 0 received, 100% packet loss')).to.equal(undefined)
  })

  it('generates distinct peers and snapshot nodes inside their networks', () => {
    expect(fakePeer(0)).to.deep.equal({subnet: '10.128.0.0/24', publicIP: '100.64.0.10', vtepMAC: '0e:fc:00:00:00:00'})
    expect(fakePeer(4999).subnet).to.equal('10.147.135.0/24')
    const n = snapshotNode(999)
    expect(n).to.include({name: 'node999', subnet: '10.19.231.0/24', vtep: '10.19.231.0', gw: '10.19.231.1', podIP: '10.19.231.2'})
    expect(new Set(Array.from({length: 1000}, (_, i) => snapshotNode(i).vtepMAC)).size).to.equal(1000)
  })

  it('core rows: a large input against ten of its tenth, each a ratio with the ≤ 2× goal (the numbers are bench\'s, not asserted)', () => {
    const rows = benchCore(1)
    expect(rows.map(r => r.id)).to.deep.equal(['core.parse.growth', 'core.parse.pathological', 'core.ipam.growth'])
    for (const r of rows) {
      expect(r.section).to.equal('core')
      expect(r.goal).to.deep.equal({kind: 'max', value: 2})
      expect(r.ratio).to.be.a('number').and.greaterThan(0)
    }
    // the IPAM row picks among the first 100 free subnets, past every leased one (the 100th: random is 0.999999)
    expect(pickAmong(leasesOf(6500))).to.equal('10.25.200.0/24')
  })
})
