/**
 * docs/getting-started.md, run as a reader runs it: `lab demo --keep`, then every `$ flannelctl …`
 * line of its blocks in order, each output compared with what the guide shows. The guide's lab
 * drew other subnets and its pods' veths other MACs, so the comparison maps each node's subnet
 * onto the guide's (from the guide's lab status table), and leaves MACs, neighbour states and
 * lease expiry times, column widths and the lab's name aside; everything else (steps, verdicts,
 * dispositions, fixes, the matrix, the tables' rows) must be what the guide says.
 */
import {expect} from 'chai'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {Lab, loadLab} from '../../src/services/lab.js'
import {ROOT, cli, uniqueLab, withoutNudStates} from '../helpers/cli.js'
import {shownRuns, unlike} from '../helpers/doc-blocks.js'

const GUIDE = 'docs/getting-started.md'

/** Output that depends on the run, not on the code: ping's own lines, and tables sorted by the subnets drawn. */
const NOT_COMPARED = /^lab exec \S+ -- (ping|ip route|bridge fdb show)/

/** The guide's node → pod subnet third octet, from its lab status block. */
function guideOctets(): Map<string, string> {
  const status = shownRuns(GUIDE).find(r => r.argv.join(' ') === 'lab status')
  if (!status) throw new Error(`${GUIDE} has no $ flannelctl lab status block`)
  return new Map(status.shown.flatMap(l => {
    const m = /^ (n\d+)\s.*\s10\.244\.(\d+)\.0\/24\s/.exec(l)
    return m ? [[m[1], m[2]] as [string, string]] : []
  }))
}

describe('docs/getting-started.md, run as written (real kernel)', function () {
  this.timeout(240000)
  const name = uniqueLab('gs')
  let demo = ''
  /** the subnets this run drew, as the guide's: applied to this run's output only (a guide octet may be one drawn here for another node) */
  let asGuides: (line: string) => string

  before(async () => {
    const r = await cli(['lab', 'demo', '--name', name, '--keep'])
    if (r.exitCode !== 0) throw new Error(`lab demo failed: ${r.stderr}`)
    demo = r.stdout
    const theirs = guideOctets()
    const ours = new Map((await loadLab(name)).nodes.map(n => [n.subnet!.split('.')[2], theirs.get(n.name)!]))
    asGuides = (line: string) => line.replace(/10\.244\.(\d+)\./g, (all, octet: string) => ours.has(octet) ? `10.244.${ours.get(octet)}.` : all)
  })

  /** What neither the guide nor this run decides: the lab's name, MACs, neighbour states, times, column widths. */
  const normalize = (line: string) => withoutNudStates(line)
    .replaceAll(` --name ${name}`, '')
    .replaceAll(name, 'demo')
    .replace(/\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b/g, 'MAC')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, 'TIME')
    .replace(/─+/g, '─')
    .replace(/ {2,}/g, '  ')
    .trimEnd()

  after(async () => {
    await new Lab().down(name) // the service, not the CLI: a concurrent rebuild of dist must not leave the lab up
  })

  /** Lines without the blank ones at the end, normalized; this run's (`ours`) with its subnets as the guide's. */
  const lines = (text: string | string[], ours = false) => {
    const all = (typeof text === 'string' ? text.split('\n') : text).map(l => normalize(ours ? asGuides(l) : l))
    while (all.at(-1) === '') all.pop()
    return all
  }

  it('lab demo prints what the guide shows (its tables\' rows in any order: they follow the subnets drawn)', () => {
    const text = readFileSync(join(ROOT, GUIDE), 'utf8').split('\n')
    const start = text.indexOf('lab demo: vxlan, 1 segment, store file:/run/flannelctl/labs/demo/store')
    const shown = text.slice(start, text.indexOf('```', start))
    expect(lines(demo, true).sort()).to.deep.equal(lines(shown).sort())
  })

  it('every $ flannelctl line prints what the guide shows under it', async () => {
    const runs = shownRuns(GUIDE)
    expect(runs.map(r => r.argv.slice(0, 2).join(' '))).to.include.members(['trace pod-1a', 'lab break', 'doctor --lab'])
    for (const run of runs) {
      const command = run.argv.join(' ')
      if (NOT_COMPARED.test(command)) continue
      const argv = run.argv.map(w => w === 'demo' ? name : w)
      const r = await cli(argv, {env: {FLANNELCTL_LAB: name}})
      expect(r.exitCode, `${run.where}: ${command}: ${r.stderr}`).to.be.oneOf([0, 1])
      const wrong = unlike(lines(run.shown), lines(r.stdout, true))
      expect(wrong, `${run.where}: ${command} printed\n${r.stdout}\nwhere the guide shows ${wrong}`).to.equal(undefined)
    }
  })
})
