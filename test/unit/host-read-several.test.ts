/**
 * HostAdapter.readFiles: several files in one `sh` run must come back byte for byte, as separate
 * `cat` runs would return them, whatever the files hold and whatever their paths are called.
 * Runs sh and cat for real on temp files (no network).
 */
import {expect} from 'chai'
import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {HostAdapter} from '../../src/adapters/host.js'
import {RealRunner} from '../../src/adapters/runner.js'
import {tempDirHooks} from '../helpers/temp-dir.js'

describe('HostAdapter.readFiles (one program run for several files)', () => {
  let dir: string
  tempDirHooks('fc-readfiles-', d => (dir = d))

  it('returns each file as cat does, undefined for missing files and directories', async () => {
    const host = new HostAdapter(new RealRunner())
    const contents: Record<string, string> = {
      'plain': 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_MTU=1450\n',
      'no newline at end': '{"name":"cbr0"}',
      "it's $(id) `id` \"q\"": '\n\nleading blank lines\n\n',
      'empty': '',
      'marker-like': '\nflannelctl-0000 0\n',
      'new\nline': 'x',
    }
    for (const [name, text] of Object.entries(contents)) await writeFile(join(dir, name), text)
    await mkdir(join(dir, 'a-dir'))
    const names = [...Object.keys(contents), 'missing', 'a-dir', '-n']
    const got = await host.readFiles(names.map(n => join(dir, n)))
    const separately = await Promise.all(names.map(n => host.readFile(join(dir, n))))
    expect(got).to.deep.equal(separately)
    expect(got).to.deep.equal([...Object.values(contents), undefined, undefined, undefined])
  })
})
