import {Args} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {labNameFlag} from '../../cli/lab-flags.js'
import {loadLab, findNamespace, nodeEnv} from '../../services/lab.js'
import {runAttached} from '../../adapters/runner.js'
import {userError} from '../../errors.js'

export default class LabExec extends BaseCommand {
  static override summary = 'Run a command inside a lab node or pod namespace'
  static override description = `Inside a node, flannelctl needs no flags: the node's store, subnet file, conflist directory
and state file are set in the environment.`
  static override examples = [
    '<%= config.bin %> lab exec n1 -- ip route',
    '<%= config.bin %> lab exec n1 -- flannelctl peer list',
    '<%= config.bin %> lab exec pod-1a -- ping -c 3 10.244.2.2',
  ]

  static override strict = false
  static override args = {target: Args.string({description: 'node (n1) or pod (pod-1a)', required: true})}
  static override flags = {...labNameFlag}

  async run(): Promise<void> {
    const {args, flags, argv} = await this.parse(LabExec)
    const rest = (argv as string[]).slice(1)
    if (rest.length === 0) throw userError('no command given', 'e.g. flannelctl lab exec n1 -- ip route')
    const state = await loadLab(flags.name)
    const netns = findNamespace(state, args.target)
    const node = state.nodes.find(n => n.name === args.target)
    let [file, ...cmdArgs] = rest
    const env = node ? nodeEnv(node, state) : {}
    if (file === 'flannelctl') {
      cmdArgs = [this.config.root + '/bin/run.js', ...cmdArgs]
      file = process.execPath
    }
    process.exitCode = await runAttached({kind: 'netns', name: netns}, file, cmdArgs, env)
  }
}
