/**
 * docs/commands/ is generated from the commands' help (`npm run docs:commands`, oclif readme
 * --multi). This regenerates it into a temporary directory from the build and fails when the
 * pages in the repository differ, so the reference cannot drift from --help.
 */
import {expect} from 'chai'
import {execa} from 'execa'
import {existsSync} from 'node:fs'
import {mkdtemp, readFile, readdir, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {ROOT} from '../helpers/cli.js'

const DOCS = join(ROOT, 'docs', 'commands')
const HINT = 'run `npm run docs:commands` and commit docs/commands/'

describe('docs/commands (generated command reference)', function () {
  this.timeout(120000)
  let fresh: string

  before(async function () {
    if (!existsSync(join(ROOT, 'oclif.manifest.json'))) throw new Error('no build: run `npm run build` first')
    fresh = await mkdtemp(join(tmpdir(), 'fc-docs-'))
    const r = await execa('bash', [join(ROOT, 'scripts', 'docs-commands.sh'), '--no-build', fresh], {reject: false})
    if (r.exitCode !== 0) throw new Error(`scripts/docs-commands.sh failed: ${r.stderr}`)
  })

  after(async () => {
    if (fresh) await rm(fresh, {recursive: true, force: true})
  })

  it('has one page per topic and top-level command, and an index', async () => {
    const pages = (await readdir(fresh)).sort()
    for (const page of ['README.md', 'trace.md', 'doctor.md', 'lab.md', 'peer.md', 'lease.md', 'migrate.md', 'status.md']) {
      expect(pages).to.include(page)
    }
    const index = await readFile(join(fresh, 'README.md'), 'utf8')
    expect(index).to.contain('[`flannelctl trace`](trace.md)')
    expect(index).to.not.contain('<!-- commands')
  })

  it('matches the pages in the repository', async () => {
    const want = (await readdir(fresh)).filter(f => f.endsWith('.md')).sort()
    const have = existsSync(DOCS) ? (await readdir(DOCS)).filter(f => f.endsWith('.md')).sort() : []
    const stale: string[] = []
    for (const page of new Set([...want, ...have])) {
      if (!want.includes(page)) stale.push(`${page} (no such command any more)`)
      else if (!have.includes(page)) stale.push(`${page} (missing)`)
      else if (await readFile(join(fresh, page), 'utf8') !== await readFile(join(DOCS, page), 'utf8')) stale.push(`${page} (differs)`)
    }
    expect(stale, `docs/commands is stale: ${stale.join(', ')}; ${HINT}`).to.deep.equal([])
  })
})
