/** lab pod recreate, and "re-create the pod" as that command in a lab's trace and doctor fixes. */
import {expect} from 'chai'
import {mkdir, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {Lab, withLabCommands, type LabState} from '../../src/services/lab.js'
import {recreatePodFix} from '../../src/core/trace/fixes.js'
import {CONFLIST_NAME} from '../../src/core/flannel.js'
import {labFixes} from '../../src/commands/trace.js'
import {renderTrace} from '../../src/ui/trace-render.js'
import type {Fix, Trace} from '../../src/core/trace/types.js'
import {isNetworkFix, type DoctorReport, type PairResult} from '../../src/services/doctor.js'
import {labFixLine, renderDoctor} from '../../src/ui/doctor.js'
import type {Command, CommandResult, Runner} from '../../src/adapters/runner.js'
import {tempDirHooks} from '../helpers/temp-dir.js'

describe('lab: "re-create the pod" is lab pod recreate', () => {
  const other = {node: 'n1', command: 'flannelctl sync'}

  it('the stranded pod\'s fix becomes the lab command, run from here (scope lab); other fixes stay', () => {
    expect(withLabCommands([other, recreatePodFix('n2', 'pod-2a')], 'lpone')).to.deep.equal([other, {node: 'n2', command: 'flannelctl lab pod recreate pod-2a --name lpone', scope: 'lab', recreates: 'pod-2a'}])
    // the default lab needs no --name, as every lab command
    expect(withLabCommands([recreatePodFix('n2', 'pod-2a')], 'demo')[0].command).to.equal('flannelctl lab pod recreate pod-2a')
  })

  it('trace prints it as from here, and pastes it as it is, not through lab exec', () => {
    const fix = withLabCommands([recreatePodFix('n2', 'pod-2a')], 'demo')
    const t = {src: {name: 'pod-1a', ip: '10.244.1.2'}, dst: {name: 'pod-2a', ip: '10.244.2.2'}, flow: {proto: 'icmp', size: 84}, disposition: 'NO_ROUTE', hops: [], traceroute: [], warnings: [],
      failure: {node: 'n2', step: 'route', evidence: '(no route)', reason: 'pod-2a is on a subnet its node no longer has', fix}, returnPath: {disposition: 'DELIVERED', hops: []}} as unknown as Trace
    expect(renderTrace(t, {color: false})).to.contain('Fix (from here, not inside n2): flannelctl lab pod recreate pod-2a')
    expect(labFixes(t, 'demo').split('\n')).to.deep.equal(['', 'In the lab, apply it with:', '  flannelctl lab pod recreate pod-2a'])
  })
})

describe('doctor --lab: the lab command runs from here', () => {
  const recreate = withLabCommands([recreatePodFix('n2', 'pod-2a')], 'demo')[0]
  const pair = (fix: Fix[]): PairResult => ({from: 'pod-1a', to: 'pod-2a', disposition: 'NO_ROUTE', node: 'n2', reason: 'pod-2a is on a subnet its node no longer has', fix, warnings: []})
  const report = (pairs: PairResult[]): DoctorReport => ({source: 'lab demo', nodes: ['n1', 'n2'], pods: ['pod-1a', 'pod-2a'], sampled: false, pairs, findings: [], rules: {}, healthy: false})

  it('printed as from here; the closing line says so beside the commands run on a host, and is left out when there are none', () => {
    const both = report([pair([{node: 'n1', command: 'flannelctl sync'}, recreate])])
    expect(renderDoctor(both, {color: false})).to.contain('    fix [from here, not inside n2]: flannelctl lab pod recreate pod-2a')
    expect(labFixLine(both, 'demo')).to.equal('In the lab, run each fix on its host: flannelctl lab exec HOST -- COMMAND (a flannelctl lab command from here, as printed)')
    expect(labFixLine(report([pair([recreate])]), 'demo')).to.equal(undefined)
    expect(isNetworkFix(recreate)).to.equal(true)
  })
})

describe('lab pod recreate (a recording runner)', () => {
  let dir = ''
  tempDirHooks('fc-labpod-', d => (dir = d), {each: true})

  class Recorder implements Runner {
    readonly target = {kind: 'local'} as const
    readonly calls: {plugin: string; command: string; ip?: string}[] = []
    readonly namespaces = ['fc-t-n2', 'fc-t-n2-a']
    async run(cmd: Command): Promise<CommandResult> {
      if (cmd.args[0] === 'netns' && cmd.args[1] === 'list') return {exitCode: 0, stderr: '', stdout: this.namespaces.join('\n')}
      if (cmd.args[0] === 'netns' && cmd.args[1] === 'add') {
        this.calls.push({plugin: cmd.args[2], command: 'netns add'})
        this.namespaces.push(cmd.args[2])
        return {exitCode: 0, stderr: '', stdout: ''}
      }
      const plugin = cmd.args.at(-1)!.split('/').at(-1)!
      const command = String(cmd.env?.CNI_COMMAND)
      this.calls.push({plugin, command})
      return {exitCode: 0, stderr: '', stdout: command === 'ADD' ? JSON.stringify({cniVersion: '1.0.0', ips: [{address: '10.244.16.2/24'}]}) : ''}
    }
  }

  async function lab(): Promise<LabState> {
    const node = {name: 'n2', netns: 'fc-t-n2', segment: 1, underlayIP: '192.168.100.12', subnet: '10.244.51.0/24', dir: join(dir, 'n2')}
    await mkdir(join(node.dir, 'cni'), {recursive: true})
    await writeFile(join(node.dir, 'cni', CONFLIST_NAME), JSON.stringify({name: 'cbr0', cniVersion: '1.0.0', plugins: [{type: 'bridge', ipam: {type: 'host-local'}}, {type: 'portmap'}]}))
    await writeFile(join(node.dir, 'subnet.env'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.16.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n')
    return {name: 't', prefix: 'fc-t-', backend: 'vxlan', directRouting: false, segments: 1, store: 'file:/x', dir, switches: [], nodes: [node],
      pods: [{name: 'pod-2a', netns: 'fc-t-n2-a', node: 'n2', ip: '10.244.51.2'}]}
  }

  it('DEL from the last plugin to the first, then ADD in order; the new address and the node\'s subnet now go to lab.json', async () => {
    const state = await lab()
    const runner = new Recorder()
    const r = await new Lab(runner).recreatePod(state, 'pod-2a')
    expect(runner.calls.map(c => `${c.command} ${c.plugin}`)).to.deep.equal(['DEL portmap', 'DEL bridge', 'ADD bridge', 'ADD portmap'])
    expect(r).to.deep.include({oldIP: '10.244.51.2', newIP: '10.244.16.2'})
    const saved = JSON.parse(await readFile(join(dir, 'lab.json'), 'utf8')) as LabState
    expect(saved.pods[0].ip).to.equal('10.244.16.2')
    expect(saved.nodes[0].subnet).to.equal('10.244.16.0/24')
  })

  it('a plugin that fails: its error, and to run the command again (DEL and ADD finish what is half done), not the half-built lab\'s lab down', async () => {
    const runner = new Recorder()
    const listed = runner.run.bind(runner)
    runner.run = async (cmd: Command) => cmd.args[0] === 'netns' && cmd.args[1] !== 'exec' ? listed(cmd) : ({exitCode: 1, stdout: '', stderr: `plugin ${cmd.args.at(-1)} failed`})
    const err = await new Lab(runner).recreatePod(await lab(), 'pod-2a').catch((e: Error & {hint?: string}) => e)
    expect(err.message).to.match(/portmap failed$/)
    expect(err).to.include({hint: 'run it again: flannelctl lab pod recreate pod-2a --name t'})
  })

  it('a pod whose namespace is gone (ip netns del): a new one first, as a runtime gives a re-created pod a new sandbox, then DEL and ADD', async () => {
    const runner = new Recorder()
    runner.namespaces.splice(runner.namespaces.indexOf('fc-t-n2-a'), 1)
    const r = await new Lab(runner).recreatePod(await lab(), 'pod-2a')
    expect(runner.calls.map(c => `${c.command} ${c.plugin}`)).to.deep.equal(['netns add fc-t-n2-a', 'DEL portmap', 'DEL bridge', 'ADD bridge', 'ADD portmap'])
    expect(r).to.deep.include({newIP: '10.244.16.2', newNamespace: true})
  })

  it('an unknown pod: a user error naming the lab\'s pods, nothing run', async () => {
    const runner = new Recorder()
    const err = await new Lab(runner).recreatePod(await lab(), 'pod-9z').catch((e: Error & {hint?: string}) => e)
    expect(err).to.include({message: 'lab \'t\' has no pod \'pod-9z\'', hint: 'its pods: pod-2a'})
    expect(runner.calls).to.deep.equal([])
  })
})
