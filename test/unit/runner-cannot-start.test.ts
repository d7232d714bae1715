/**
 * `lab exec NODE -- nosuchcmd` ran `ip netns exec`, which says `exec of "nosuchcmd" failed` and
 * exits 1, as if the program had run and failed. A shell answers 127 (not found) or 126 (there but
 * not runnable): runAttached checks first, where this process sees the target's files.
 */
import {expect} from 'chai'
import {chmod, mkdtemp, mkdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {cannotStart} from '../../src/adapters/runner.js'

describe('a program lab exec cannot start', () => {
  let dir: string
  const netns = {kind: 'netns', name: 'fc-lab-n1'} as const
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fc-cannot-start-'))
    await writeFile(join(dir, 'tool'), '#!/bin/sh\n')
    await chmod(join(dir, 'tool'), 0o755)
    await writeFile(join(dir, 'data'), 'x')
    await chmod(join(dir, 'data'), 0o644)
    await mkdir(join(dir, 'adir'))
  })
  after(() => rm(dir, {recursive: true, force: true}))

  it('a name on no PATH directory: command not found, exit 127', () => {
    const e = cannotStart(netns, 'nosuchcmd', `${dir}:/nonexistent`)
    expect(e?.exitCode).to.equal(127)
    expect(e?.message).to.equal('nosuchcmd: command not found on netns:fc-lab-n1')
  })

  it('a path that is not there: exit 127; a file or directory that cannot run: exit 126', () => {
    expect(cannotStart(netns, join(dir, 'nope'), '')?.exitCode).to.equal(127)
    expect(cannotStart(netns, join(dir, 'data'), '')?.exitCode).to.equal(126)
    expect(cannotStart(netns, join(dir, 'adir'), '')?.exitCode).to.equal(126)
    expect(cannotStart(netns, 'data', dir)?.message).to.include('not an executable file')
  })

  it('a program found on PATH or by path starts; so does one the target may see otherwise', () => {
    expect(cannotStart(netns, 'tool', `/nonexistent:${dir}`)).to.equal(undefined)
    expect(cannotStart(netns, join(dir, 'tool'), '')).to.equal(undefined)
    expect(cannotStart({kind: 'ssh', destination: 'root@h1'}, 'nosuchcmd', dir)).to.equal(undefined)
    // /sys is remounted inside the namespace: not what this process sees
    expect(cannotStart(netns, '/sys/nosuch', '')).to.equal(undefined)
  })
})
