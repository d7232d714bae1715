/**
 * `flannelctl bench` end to end at a small scale: every sync row (one-shot and agent) and the
 * start-up rows are measured against a limit from the same run, and nothing is left behind.
 * No timing is asserted: the ratios are the bench's to report, not a test's to judge.
 */
import {expect} from 'chai'
import {mkdir, readFile, readdir} from 'node:fs/promises'
import {join} from 'node:path'
import {BIN, cli, sh} from '../helpers/cli.js'
import {tempDirHooks} from '../helpers/temp-dir.js'

describe('flannelctl bench (small scale, real namespaces)', function () {
  this.timeout(180000)
  let dir: string
  tempDirHooks('fc-bench-', d => (dir = d))

  it('measures every sync and start-up row, writes the JSON it prints and cleans up', async () => {
    const out = join(dir, 'bench.json')
    const r = await cli(['bench', '--only', 'sync,startup', '--peers', '20', '--reps', '1', '--runs', '2', '--json', '--out', out])
    expect(r.exitCode, r.stderr).to.equal(0)
    const report = JSON.parse(r.stdout) as {rows: {id: string; measured: number | null; limit: number | null; ratio: number | null; verdict: string}[]}
    expect(JSON.parse(await readFile(out, 'utf8'))).to.deep.equal(report)
    const ids = report.rows.map(row => row.id)
    for (const backend of ['vxlan', 'host-gw']) {
      for (const step of ['add', 'resync', 'remove', 'agent-add', 'agent-one', 'agent-remove', 'add.cli']) expect(ids).to.include(`sync.${backend}.${step}`)
    }
    expect(ids).to.include.members(['startup.version', 'startup.help', 'startup.command'])
    for (const row of report.rows) {
      expect(row.measured, row.id).to.be.a('number').and.above(0)
      expect(row.limit, row.id).to.be.a('number').and.above(0)
      expect(row.ratio, row.id).to.be.a('number').and.above(0)
    }
    const left = (await sh('ip', ['netns', 'list'])).stdout.split('\n').filter(l => l.startsWith('fcbench-'))
    expect(left, 'namespaces left behind').to.deep.equal([])
  })

  it('a reader that goes away (`| head`) stops it, and what it built is removed before it exits', async () => {
    // the cleanup runs while the measurement still writes into its directory (lease files, node.json),
    // and that work's own cleanup asks again: both left directories behind in /tmp before
    const tmp = join(dir, 'tmp')
    await mkdir(tmp)
    // one rep: a line for each backend, then one for each of its six rows. Line 8 (host-gw's) comes
    // as its 1000 peers' lease files are written, line 13 during its agent's rounds, line 18 in the report
    for (const lines of [8, 13, 18]) {
      // sh waits for every program of the pipeline: bench has exited when it returns
      const r = await sh('sh', ['-c', `TMPDIR="$1" "$2" "$3" bench --only sync --reps 1 --verbose 2>&1 | head -${lines}`, 'sh', tmp, process.execPath, BIN])
      expect(r.stdout.split('\n').filter(Boolean), r.stderr).to.have.length(lines)
      expect(await readdir(tmp), `after ${lines} lines`).to.deep.equal([])
      const left = (await sh('ip', ['netns', 'list'])).stdout.split('\n').filter(l => l.startsWith('fcbench-'))
      expect(left, 'namespaces left behind').to.deep.equal([])
    }
  })
})
