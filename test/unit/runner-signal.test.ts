/**
 * A program flannelctl runs that a signal ends: Ctrl-C on a terminal reaches the whole foreground
 * process group, so `ip` dies of SIGINT beside flannelctl. That is the user's Ctrl-C (exit 130,
 * two lines), not a raw "Command was killed with SIGINT" error exiting 1; another signal is a
 * program that failed (exit 3).
 */
import {expect} from 'chai'
import {RealRunner} from '../../src/adapters/runner.js'
import {FlannelctlError} from '../../src/errors.js'

async function failure(script: string): Promise<FlannelctlError> {
  const error = await new RealRunner({kind: 'local'}).run({file: 'sh', args: ['-c', script]}).then(() => undefined, (e: Error) => e)
  expect(error).to.be.instanceOf(FlannelctlError)
  return error as FlannelctlError
}

describe('a program ended by a signal', () => {
  it('SIGINT (Ctrl-C reaching the process group): exit 130, naming the program and where it ran', async () => {
    const e = await failure('kill -INT $$')
    expect(e.exitCode).to.equal(130)
    expect(e.message).to.equal('sh -c kill -INT $$ on local was stopped by SIGINT (Ctrl-C)')
    expect(e.hint).to.include('run the same command again')
  })

  it('SIGTERM: exit 143', async () => {
    expect((await failure('kill -TERM $$')).exitCode).to.equal(143)
  })

  it('any other signal (the OOM killer\'s SIGKILL): a program that failed, exit 3', async () => {
    const e = await failure('kill -KILL $$')
    expect(e.exitCode).to.equal(3)
    expect(e.message).to.include('was stopped by SIGKILL')
  })
})
