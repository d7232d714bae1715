/**
 * The init wizard, typed into through a real pseudo-terminal (util-linux `script`): answers go in
 * when each question appears, and the node that comes out is the one the answers describe.
 */
import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {mkdtemp, rm, readFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {sh, inNs, uniqueLab, BIN} from '../helpers/cli.js'

const ENTER = '\r'
const DOWN = '\u001B[B'

/** Run `cmd` on a pty; each time output matches a step's pattern, type its keys. Bounded by a timeout. */
function onPty(cmd: string, steps: {when: RegExp; type: string}[], timeoutMs = 30000): Promise<{output: string; code: number | null}> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], {env: {...process.env, NO_COLOR: '1', TERM: 'xterm'}})
    let output = ''
    let step = 0
    let consumed = 0
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`wizard timed out at step ${step}; output so far:\n${output}`))
    }, timeoutMs)
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString()
      // eslint-disable-next-line no-control-regex
      const plain = output.replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '')
      // Each question is matched only in output that came after the previous answer.
      if (step < steps.length && steps[step].when.test(plain.slice(consumed))) {
        consumed = plain.length
        const keys = steps[step++].type
        setTimeout(() => child.stdin.write(keys), 150)
      }
    })
    child.on('close', code => {
      clearTimeout(timer)
      resolve({output, code})
    })
  })
}

describe('init wizard (real pseudo-terminal)', function () {
  this.timeout(60000)
  const ns = `fcw-${uniqueLab('w')}`
  const peer = `${ns}-p`
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fcw-'))
    await sh('ip', ['netns', 'add', ns])
    await sh('ip', ['netns', 'add', peer])
    await sh('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer])
    await sh('ip', ['-n', ns, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', peer])
    await sh('ip', ['-n', ns, 'addr', 'add', '192.168.170.1/24', 'dev', 'eth0'])
    await sh('ip', ['-n', ns, 'addr', 'add', '192.168.171.1/24', 'dev', 'eth1'])
    for (const dev of ['eth0', 'eth1', 'lo']) await sh('ip', ['-n', ns, 'link', 'set', dev, 'up'])
  })
  after(async () => {
    await sh('ip', ['netns', 'del', ns])
    await sh('ip', ['netns', 'del', peer])
    await rm(dir, {recursive: true, force: true})
  })

  it('asks store, network, backend and interface, shows the plan, applies on yes', async () => {
    const cmd = `ip netns exec ${ns} ${process.execPath} ${BIN} init --subnet-file ${dir}/subnet.env --cni-conf-dir ${dir}/cni --state-file ${dir}/node.json`
    const {output, code} = await onPty(cmd, [
      {when: /Store/, type: `file:${dir}/store${ENTER}`},
      {when: /Pod network/, type: ENTER},
      {when: /Backend/, type: DOWN + ENTER},
      {when: /Interface/, type: DOWN + ENTER},
      {when: /Apply this plan/, type: `y${ENTER}`},
    ])
    expect(code, output).to.equal(0)
    expect(output).to.contain('plan (')
    expect(output).to.contain('applied')
    const env = await readFile(join(dir, 'subnet.env'), 'utf8')
    expect(env).to.contain('FLANNEL_NETWORK=10.244.0.0/16')
    expect(env).to.contain('FLANNEL_MTU=1500')
    const state = JSON.parse(await readFile(join(dir, 'node.json'), 'utf8'))
    expect(state).to.include({iface: 'eth1', publicIP: '192.168.171.1', backendType: 'host-gw'})
    expect(await inNs(ns, 'ip', 'link', 'show', 'cni0')).to.contain('cni0')
  })

  it('never prompts without a terminal', async () => {
    const r = await sh('ip', ['netns', 'exec', ns, process.execPath, BIN, 'init', '--subnet-file', `${dir}/x.env`,
      '--state-file', `${dir}/x.json`, '--store', `file:${dir}/empty`, '--iface', 'eth0'])
    expect(r.exitCode).to.equal(2)
    expect(r.stderr).to.contain('holds no network config')
  })
})
