/**
 * Whether init could write subnet.env or the conflist at a path, asked before it takes a lease or
 * changes the host: the nearest existing directory decides, and the reason names what is in the way.
 */
import {expect} from 'chai'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {writableFileProblem} from '../../src/store/dirs.js'

describe('writableFileProblem', () => {
  let dir = ''
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fc-writable-'))
    await writeFile(join(dir, 'afile'), 'x')
    await mkdir(join(dir, 'adir'))
  })
  after(async () => rm(dir, {recursive: true, force: true}))

  it('a path whose directories do not exist yet under a writable one: fine (they are made)', async () => {
    expect(await writableFileProblem(join(dir, 'new', 'deeper', 'subnet.env'))).to.equal(undefined)
    expect(await writableFileProblem(join(dir, 'afile'))).to.equal(undefined)
  })

  it('a file in the way of a directory names that file, however deep the path goes on', async () => {
    expect(await writableFileProblem(join(dir, 'afile', 'cni', '10-flannel.conflist'))).to.equal(`not a directory: ${join(dir, 'afile')}`)
  })

  it('the path itself a directory', async () => {
    expect(await writableFileProblem(join(dir, 'adir'))).to.equal(`is a directory: ${join(dir, 'adir')}`)
  })

  it('/proc and /sys take no files, whatever the permissions say', async () => {
    expect(await writableFileProblem('/proc/fc/10-flannel.conflist')).to.equal('cannot create files there: /proc')
    expect(await writableFileProblem('/sys/fc/subnet.env', {permissions: false})).to.equal('cannot create files there: /sys')
  })
})
