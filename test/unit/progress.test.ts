import {expect} from 'chai'
import {createProgress, isNote} from '../../src/ui/progress.js'

function sink(isTTY: boolean) {
  const lines: string[] = []
  return {lines, stream: {isTTY, write: (s: string) => lines.push(s)}}
}

const ANSI = /\u001B\[/

describe('progress', () => {
  it('shows step lines on a terminal, with the time taken, in colour', () => {
    const {lines, stream} = sink(true)
    let t = 1000
    const p = createProgress({stream, env: {}, now: () => t})
    t = 3500
    p.step('provisioning nodes with flannelctl init')
    expect(p.live).to.equal(true)
    expect(lines).to.have.length(1)
    expect(lines[0]).to.match(ANSI)
    expect(lines[0].replace(/\u001B\[[0-9;]*m/g, '')).to.equal('› provisioning nodes with flannelctl init (2.5s)\n')
  })

  it('is quiet off a terminal, but notes and warnings still show', () => {
    const {lines, stream} = sink(false)
    const p = createProgress({stream, env: {}})
    p.report('creating pods with the CNI bridge and host-local plugins')
    p.report('[ 4/14] n1     peer routes → host-gw')
    p.report('note: host-gw across two segments cannot reach peers behind the router')
    p.report('resuming migration m1 at step 5 of 14')
    p.report('    n2: warning: rp_filter is strict on eth0')
    p.report('--ping: 2 pairs have no pod namespace to ping from')
    expect(p.live).to.equal(false)
    expect(lines).to.deep.equal([
      'note: host-gw across two segments cannot reach peers behind the router\n',
      'resuming migration m1 at step 5 of 14\n',
      '    n2: warning: rp_filter is strict on eth0\n',
      '--ping: 2 pairs have no pod namespace to ping from\n',
    ])
  })

  it('shows step lines off a terminal with --verbose, without colour', () => {
    const {lines, stream} = sink(false)
    createProgress({stream, env: {}, verbose: true}).step('pinging every pod pair')
    expect(lines).to.have.length(1)
    expect(lines[0]).to.not.match(ANSI)
    expect(lines[0]).to.match(/^› pinging every pod pair \(\d+\.\ds\)\n$/)
  })

  it('never paints with NO_COLOR or TERM=dumb', () => {
    for (const env of [{NO_COLOR: '1'}, {TERM: 'dumb'}]) {
      const {lines, stream} = sink(true)
      const p = createProgress({stream, env})
      p.step('reading 40 hosts')
      p.note('warning: something')
      expect(lines.join('')).to.not.match(ANSI)
    }
  })

  it('keeps only notes when quiet (--json)', () => {
    const {lines, stream} = sink(true)
    const p = createProgress({stream, env: {}, quiet: true})
    p.report('checking 40 hosts')
    p.report('note: the lab\'s store could not be read')
    expect(lines).to.deep.equal(['note: the lab\'s store could not be read\n'])
  })

  it('tells notes from steps', () => {
    expect(isNote('note: x')).to.equal(true)
    expect(isNote('bench: note: x')).to.equal(true)
    expect(isNote('Warning: x')).to.equal(true)
    expect(isNote('lab p1: 1 segment, 3 nodes')).to.equal(false)
    expect(isNote('read 10/100 hosts')).to.equal(false)
  })
})
