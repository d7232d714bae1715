import {Args} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {labNameFlag} from '../../cli/lab-flags.js'
import {labNameArg, loadLab, findNamespace, nodeEnv, requireLabRoot} from '../../services/lab.js'
import {runAttached} from '../../adapters/runner.js'
import {targetToString, type Target} from '../../adapters/target.js'
import {userError} from '../../errors.js'

export default class LabExec extends BaseCommand {
  static override summary = 'Run a command inside a lab node or pod namespace'
  static override description = `TARGET is a node (n1, n2, …), a pod (pod-1a, pod-2b, …) or, in a two-segment lab, the router (rt). Everything after -- runs there, with this terminal attached; the exit code is the command's (127 when there is no such command, 126 when it cannot be run, as a shell answers).

Inside a node, flannelctl needs no flags: the node's store, subnet.env, conflist directory, host-local's allocation directory, state file, underlay interface and name (collect's and doctor's name for this host, which shares the machine's hostname) are set in the environment (FLANNELCTL_STORE, FLANNELD_SUBNET_FILE, FLANNELCTL_CNI_CONF_DIR, FLANNELCTL_CNI_IPAM_DIR, FLANNELCTL_STATE_FILE, FLANNELD_IFACE, FLANNELCTL_NODE_NAME), so init after a reset needs none either. This is also how to apply a fix that trace prints "on n1".`
  static override examples = [
    {description: 'A node\'s routes: one per peer subnet, via flannel.1', command: '<%= config.bin %> lab exec n1 -- ip route'},
    {description: 'flannelctl itself on a node, as on a real host', command: '<%= config.bin %> lab exec n1 -- flannelctl peer list'},
    {description: 'The vxlan device and its fdb entries (one per peer VTEP)', command: '<%= config.bin %> lab exec n2 -- bridge fdb show dev flannel.1'},
    {description: 'A pod\'s address (the CNI bridge plugin gave it)', command: '<%= config.bin %> lab exec pod-1a -- ip -4 addr show eth0'},
    {description: 'Node to node over the underlay (nodes are 192.168.100.11, .12, …)', command: '<%= config.bin %> lab exec n1 -- ping -c 2 192.168.100.12'},
  ]

  static override usage = 'lab exec TARGET [--name LAB] -- COMMAND [ARG...]'
  static override strict = false
  static override args = {target: Args.string({description: 'node (n1), pod (pod-1a) or router (rt)', required: true})}
  static override flags = {...labNameFlag}

  async run(): Promise<void> {
    const {args, flags, argv} = await this.parse(LabExec)
    // oclif's argv reorders repeated words (`ping -c 1 -W 1` loses its order): take what follows -- verbatim.
    const dashdash = this.argv.indexOf('--')
    const rest = dashdash >= 0 ? this.argv.slice(dashdash + 1) : (argv as string[]).slice(1)
    if (rest.length === 0) throw userError(`no command given to run in ${args.target}`, `e.g. flannelctl lab exec${labNameArg(flags.name)} ${args.target} -- ip route`)
    const state = await loadLab(flags.name)
    requireLabRoot(state.name, 'lab exec')
    const netns = findNamespace(state, args.target)
    const node = state.nodes.find(n => n.name === args.target)
    let [file, ...cmdArgs] = rest
    const env = node ? nodeEnv(node, state) : {}
    const target: Target = {kind: 'netns', name: netns}
    if (flags.verbose) process.stderr.write(`+ [${targetToString(target)}] ${rest.join(' ')}\n`)
    if (file === 'flannelctl') {
      cmdArgs = [this.config.root + '/bin/run.js', ...cmdArgs]
      file = process.execPath
    }
    process.exitCode = await runAttached(target, file, cmdArgs, env)
  }
}
