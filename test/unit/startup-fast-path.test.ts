/**
 * bin/run.js answers `--version` and the root help from what the build stored (src/cli/fast-start.ts).
 * The promise: byte for byte what oclif prints, and oclif for everything else. Each case runs the
 * built CLI twice, once with the fast path switched off, and compares; a preloaded probe says who
 * answered (@oclif/core sets globalThis.oclif as soon as it loads).
 */
import {expect} from 'chai'
import {execa} from 'execa'
import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {ANSWERS_FILE, FAST_START_ENV, fastAnswer, loadAnswers, stillFresh} from '../../src/cli/fast-start.js'
import {BIN} from '../helpers/cli.js'

type Who = 'fast' | 'oclif'
interface Answer {
  stdout: string
  stderr: string
  exitCode: number
  who: Who
}

describe('start-up fast path (--version, root --help)', function () {
  this.timeout(180000)
  let scratch: string
  let probe: string
  let baseEnv: NodeJS.ProcessEnv

  before(() => {
    if (!existsSync(ANSWERS_FILE)) throw new Error('no stored answers: run `npm run build` first')
    scratch = mkdtempSync(join(tmpdir(), 'fc-fast-start-'))
    probe = join(scratch, 'probe.mjs')
    writeFileSync(probe, `process.on('exit', () => process.stderr.write(globalThis.oclif ? '<<oclif>>' : '<<fast>>'))\n`)
    // Nothing from the tester's shell or home that either path would treat differently.
    baseEnv = {...process.env, XDG_DATA_HOME: join(scratch, 'data')}
    for (const k of ['FORCE_COLOR', 'OCLIF_COLUMNS', 'NODE_ENV', 'DEBUG', 'NO_COLOR', FAST_START_ENV, 'FLANNELCTL_DATA_DIR', 'FLANNELCTL_DEBUG']) delete baseEnv[k]
  })

  after(() => {
    if (scratch) rmSync(scratch, {recursive: true, force: true})
  })

  async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Answer> {
    const r = await execa(process.execPath, ['--import', pathToFileURL(probe).href, BIN, ...args],
      {reject: false, env: {...baseEnv, ...env}, extendEnv: false, stripFinalNewline: false})
    const stderr = String(r.stderr)
    const who = stderr.endsWith('<<fast>>') ? 'fast' : 'oclif'
    return {stdout: String(r.stdout), stderr: stderr.replace(/<<(fast|oclif)>>$/, ''), exitCode: r.exitCode ?? -1, who}
  }

  /** Both ways at once; the fast one must print what oclif prints. */
  async function bothWays(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{fast: Answer; slow: Answer}> {
    const [fast, slow] = await Promise.all([run(args, env), run(args, {...env, [FAST_START_ENV]: '0'})])
    const what = `flannelctl ${args.join(' ')} ${JSON.stringify(env)}`
    expect(slow.who, what).to.equal('oclif')
    expect(fast.stdout, what).to.equal(slow.stdout)
    expect(fast.exitCode, what).to.equal(slow.exitCode)
    return {fast, slow}
  }

  const answered: string[][] = [['--version'], ['--version', '--json'], ['--help'], ['help'], []]
  const notAnswered: string[][] = [['-v'], ['-h'], ['version']]

  for (const env of [{}, {OCLIF_COLUMNS: '100'}, {NO_COLOR: '1'}, {OCLIF_COLUMNS: '57', NO_COLOR: '1'}] as NodeJS.ProcessEnv[]) {
    it(`prints what oclif prints, without loading it, with ${JSON.stringify(env)}`, async () => {
      for (const args of answered) {
        const {fast, slow} = await bothWays(args, env)
        expect(fast.who, args.join(' ')).to.equal('fast')
        expect(fast.stdout).to.not.equal('')
        expect(fast.stderr).to.equal('')
        expect(slow.stderr).to.equal('')
      }
      // oclif takes neither for the version or help: they end in "command not found", from oclif.
      for (const args of notAnswered) {
        const {fast} = await bothWays(args, env)
        expect(fast.who, args.join(' ')).to.equal('oclif')
        expect(fast.exitCode).to.equal(2)
      }
    })
  }

  it('shows the version line oclif shows, and help with today\'s commands', async () => {
    const version = await run(['--version'])
    expect(version.stdout).to.match(/^flannelctl\/\d+\.\d+\.\d+\S* \S+-\S+ node-v\d+\.\d+\.\d+\n$/)
    const help = await run(['--help'])
    expect(help.stdout).to.contain(`VERSION\n  ${version.stdout.trim()}\n`)
    for (const cmd of ['trace', 'doctor', 'sync', 'lab']) expect(help.stdout).to.match(new RegExp(`^  ${cmd} `, 'm'))
    expect(help.stdout).to.contain('GETTING STARTED')
  })

  it('leaves everything else to oclif', async () => {
    for (const args of [['trace', '--help'], ['lab', '--help'], ['lab'], ['help', 'trace'], ['--bogus'], ['--help', '--bogus'], ['lease', 'list', '--help']]) {
      const {fast} = await bothWays(args)
      expect(fast.who, args.join(' ')).to.equal('oclif')
    }
  })

  it('leaves colour, unusual widths, debug output and user plugins to oclif', async () => {
    // Where oclif looks for plugins a user installed or linked: <XDG_DATA_HOME>/flannelctl/package.json.
    const userData = join(scratch, 'user-data')
    mkdirSync(join(userData, 'flannelctl'), {recursive: true})
    writeFileSync(join(userData, 'flannelctl', 'package.json'), '{"oclif": {"plugins": []}}')
    const envs = [{FORCE_COLOR: '1'}, {OCLIF_COLUMNS: '1000'}, {OCLIF_COLUMNS: '20'}, {DEBUG: 'nothing-here'}, {FLANNELCTL_DATA_DIR: join(scratch, 'elsewhere')},
      {XDG_DATA_HOME: userData}]
    for (const env of envs) {
      const {fast} = await bothWays(['--help'], env)
      expect(fast.who, JSON.stringify(env)).to.equal('oclif')
    }
  })

  it('on a terminal: plain with stderr elsewhere, at the terminal\'s width (40 at least); oclif when both are terminals', async () => {
    const env = {...baseEnv}
    const term = (stdoutColumns: number, stderrIsTTY = false) => ({stdoutIsTTY: true, stderrIsTTY, stdoutColumns})
    for (const [columns, width] of [[120, 120], [30, 40], [80, 80]]) {
      const slow = await run(['--help'], {OCLIF_COLUMNS: String(width), [FAST_START_ENV]: '0'})
      expect(fastAnswer(['--help'], env, term(columns)), `${columns} columns`).to.equal(slow.stdout)
    }
    expect(fastAnswer(['--help'], env, term(120, true))).to.equal(undefined)
    expect(fastAnswer(['--version'], env, term(120, true))).to.match(/^flannelctl\//)
  })

  it('trusts the stored answers only while the files they came from are unchanged', () => {
    const answers = loadAnswers()!
    expect(answers.fingerprint.files).to.include.members(['package.json', 'oclif.manifest.json', 'dist/bundle/cli/help.js'])
    expect(stillFresh(answers)).to.equal(true)
    expect(stillFresh({...answers, fingerprint: {...answers.fingerprint, sha1: '0'.repeat(40)}})).to.equal(false)
    expect(stillFresh({...answers, fingerprint: {...answers.fingerprint, files: [...answers.fingerprint.files, 'no-such-file']}})).to.equal(false)
  })
})
