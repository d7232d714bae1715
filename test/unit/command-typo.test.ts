/**
 * A mistyped command gets flannelctl's Error/Hint lines and exit 2, with the command meant when
 * one is close (the command_not_found hook), instead of oclif's bare "command lease:lst not found".
 */
import {expect} from 'chai'
import {cli} from '../helpers/cli.js'
import {closest, editDistance} from '../../src/core/words.js'

describe('a mistyped command', function () {
  this.timeout(60000)

  it('is answered with the nearest command, none when nothing is near or two are as near', () => {
    const commands = ['status', 'sync', 'trace', 'lease list', 'lab up', 'lab down', 'peer add', 'peer list', 'peer remove', 'migrate']
    expect(closest('staus', commands)).to.equal('status')
    expect(closest('lease lst', commands)).to.equal('lease list')
    expect(closest('tarce', commands)).to.equal('trace')
    expect(closest('xyz', commands)).to.equal(undefined)
    expect(closest('lab u', commands)).to.equal('lab up')
    expect(closest('peer a', ['peer ab', 'peer ac'])).to.equal(undefined)
    expect(editDistance('tarce', 'trace')).to.equal(1)
  })

  it('prints Error and Hint, exit 2, in words with spaces', async () => {
    const r = await cli(['lease', 'lst'])
    expect(r.exitCode).to.equal(2)
    expect(r.stderr).to.equal('Error: flannelctl has no command lease lst\nHint: did you mean flannelctl lease list? see flannelctl --help for the commands')
    // before: "has no command trce pod-1a pod-2a", and no suggestion: the arguments were taken for the command
    const withArgs = await cli(['trce', 'pod-1a', 'pod-2a'])
    expect(withArgs.stderr).to.equal('Error: flannelctl has no command trce\nHint: did you mean flannelctl trace? see flannelctl --help for the commands')
    const deep = await cli(['lab', 'pod', 'recreat', 'pod-1a'])
    expect(deep.stderr).to.equal('Error: flannelctl has no command lab pod recreat\nHint: did you mean flannelctl lab pod recreate? see flannelctl --help for the commands')
    const none = await cli(['frobnicate'])
    expect(none.exitCode).to.equal(2)
    expect(none.stderr).to.equal('Error: flannelctl has no command frobnicate\nHint: see flannelctl --help for the commands')
  })
})
