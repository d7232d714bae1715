/**
 * Libraries that every command used to load and few use are loaded on first use (see
 * docs/performance.md, "start-up"). A preloaded probe lists, at exit, which of them the CLI's
 * process loaded; a snapshot trace whose inventory only the yaml library reads shows the probe sees them.
 */
import {expect} from 'chai'
import {execa} from 'execa'
import {cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {BIN, ROOT} from '../helpers/cli.js'
import {parseInventory} from '../../src/core/inventory.js'

const WATCHED = ['yaml', 'ip-address', 'semver']

describe('start-up: libraries loaded only when a command needs them', function () {
  this.timeout(60000)
  let scratch = ''
  let probe = ''

  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'fc-lazy-'))
    probe = join(scratch, 'probe.mjs')
    writeFileSync(probe, `import {createRequire} from 'node:module'
const cache = createRequire(import.meta.url).cache
process.on('exit', () => {
  const loaded = new Set(Object.keys(cache).map(f => /node_modules\\/([^/]+)\\//.exec(f)?.[1]).filter(Boolean))
  process.stderr.write('<<' + ${JSON.stringify(WATCHED)}.filter(m => loaded.has(m)).join(',') + '>>')
})
`)
  })

  after(() => rmSync(scratch, {recursive: true, force: true}))

  async function loadedBy(args: string[]): Promise<{exitCode: number; loaded: string[]; stdout: string; stderr: string}> {
    const r = await execa(process.execPath, ['--import', pathToFileURL(probe).href, BIN, ...args], {reject: false, env: {NO_COLOR: '1'}})
    const stderr = String(r.stderr)
    const m = /<<([^>]*)>>$/.exec(stderr)
    expect(m, stderr).to.not.equal(null)
    return {exitCode: r.exitCode ?? -1, loaded: m![1] === '' ? [] : m![1].split(','), stdout: String(r.stdout), stderr}
  }

  it('a command that reads no inventory loads none of them; oclif still runs it', async () => {
    const usage = await loadedBy(['trace'])
    expect(usage.exitCode, usage.stderr).to.equal(2)
    expect(usage.stderr).to.match(/Missing 2 required args/)
    expect(usage.loaded).to.deep.equal([])
    const help = await loadedBy(['sync', '--help'])
    expect(help.exitCode, help.stderr).to.equal(0)
    expect(help.loaded).to.deep.equal([])
  })

  it('a trace over a snapshot loads yaml only for an inventory the line reader leaves to it (the probe sees what loads)', async () => {
    const fixture = join(ROOT, 'test', 'fixtures', 'snapshots', 'bridge-nft')
    const plain = await loadedBy(['trace', 'pod-1a', 'pod-1b', '--snapshot', fixture, '--json'])
    expect(plain.exitCode, plain.stderr).to.be.oneOf([0, 1])
    expect(plain.loaded).to.not.include('yaml')
    expect(plain.loaded).to.not.include('semver')
    // the same snapshot, its inventory written as JSON (which is YAML, in flow style)
    const copy = join(scratch, 'bridge-nft-json')
    cpSync(fixture, copy, {recursive: true})
    const inventory = parseInventory(readFileSync(join(copy, 'inventory.yaml'), 'utf8'))
    writeFileSync(join(copy, 'inventory.yaml'), JSON.stringify(inventory))
    const flow = await loadedBy(['trace', 'pod-1a', 'pod-1b', '--snapshot', copy, '--json'])
    expect(flow.exitCode, flow.stderr).to.equal(plain.exitCode)
    expect(flow.loaded).to.include('yaml')
    expect(flow.stdout).to.equal(plain.stdout)
    expect(flow.stderr.replace(/<<[^>]*>>$/, '')).to.equal(plain.stderr.replace(/<<[^>]*>>$/, ''))
  })

  it('sets no OCLIF_DISABLE_ENGINE_WARNING for the programs a command runs, and keeps one that was given', async () => {
    const env = join(scratch, 'env.mjs')
    writeFileSync(env, `process.on('exit', () => process.stderr.write('<<' + (process.env.OCLIF_DISABLE_ENGINE_WARNING ?? 'unset') + '>>'))\n`)
    for (const [given, want] of [[undefined, 'unset'], ['0', '0']] as const) {
      const base = {...process.env}
      delete base.OCLIF_DISABLE_ENGINE_WARNING
      const r = await execa(process.execPath, ['--import', pathToFileURL(env).href, BIN, 'trace'], {reject: false, env: given === undefined ? base : {...base, OCLIF_DISABLE_ENGINE_WARNING: given}, extendEnv: false})
      expect(String(r.stderr)).to.match(new RegExp(`<<${want}>>$`))
    }
  })
})
