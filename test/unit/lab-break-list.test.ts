/** `lab break --list`: every fault on lines a terminal shows whole. */
import {expect} from 'chai'
import {cli} from '../helpers/cli.js'
import {wrapWords} from '../../src/core/words.js'
import {FAULTS} from '../../src/services/faults.js'

describe('lab break --list', function () {
  this.timeout(60000)

  it('breaks what a fault does into lines of its column: no line over 125 characters (one ran to 240), every fault named', async () => {
    const r = await cli(['lab', 'break', '--list'])
    expect(r.exitCode, r.stderr).to.equal(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(Math.max(...lines.map(l => [...l].length))).to.be.at.most(125)
    for (const f of FAULTS) expect(lines.some(l => l.startsWith(` ${f.name} `)), f.name).to.equal(true)
    // the description's words all there, in order, across its lines
    const forwardDrop = lines.findIndex(l => l.startsWith(' forward-drop '))
    const column = lines[0].indexOf('WHAT IT DOES')
    const text = lines.slice(forwardDrop, forwardDrop + 4).filter((l, i) => i === 0 || l.startsWith(' '.repeat(column))).map(l => l.slice(column)).join(' ')
    expect(text).to.contain(FAULTS.find(f => f.name === 'forward-drop')!.description)
  })

  it('wrapWords: breaks between words, at most the width a line, a longer word on a line of its own', () => {
    expect(wrapWords('the node loses its route', 10)).to.deep.equal(['the node', 'loses its', 'route'])
    expect(wrapWords('a net.ipv4.conf.all.rp_filter=2 b', 8)).to.deep.equal(['a', 'net.ipv4.conf.all.rp_filter=2', 'b'])
    expect(wrapWords('', 8)).to.deep.equal([])
  })
})
