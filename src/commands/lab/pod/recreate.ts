import {Args} from '@oclif/core'
import {BaseCommand} from '../../../cli/base.js'
import {labNameFlag} from '../../../cli/lab-flags.js'
import {jsonFlag} from '../../../cli/flags.js'
import {RealRunner} from '../../../adapters/runner.js'
import {commandEcho} from '../../../services/context.js'
import {Lab, loadLab} from '../../../services/lab.js'

export default class LabPodRecreate extends BaseCommand {
  static override summary = 'Re-create a lab pod\'s network: CNI DEL, then ADD, so it gets an address in its node\'s subnet now'
  static override description = `What a container runtime does when a pod is re-created: the CNI plugins of the pod's node tear down its interface and release its address (DEL), then wire it again from the conflist the node has now (ADD). A pod left on its node's old subnet after \`flannelctl reset --release\` and \`init\` (trace and doctor say "re-create the pod") gets an address in the new one; its peers reach it once they have synced. The pod's namespace and name stay (a namespace that is gone, deleted by hand, is made anew, as a runtime gives a re-created pod a new sandbox); its address changes, and lab status shows the new one.

Exit codes: 0 re-created, 2 no such lab or pod.`

  static override examples = [
    {description: 'pod-2a of the lab called demo, after n2 moved to a new lease', command: '<%= config.bin %> lab pod recreate pod-2a'},
    {description: 'In another lab, as JSON (the old and new address)', command: '<%= config.bin %> lab pod recreate pod-2a --name seg --json'},
  ]

  static override usage = 'lab pod recreate POD [--name LAB]'
  static override args = {pod: Args.string({description: 'the pod (pod-1a, pod-2b, …: lab status lists them)', required: true})}
  static override flags = {...labNameFlag, ...jsonFlag}

  async run(): Promise<void> {
    const {args, flags} = await this.parse(LabPodRecreate)
    const state = await loadLab(flags.name)
    this.progress({verbose: flags.verbose, quiet: flags.json}).step(`lab ${state.name}: re-creating ${args.pod}'s network (CNI DEL, ADD)`)
    const r = await new Lab(new RealRunner({kind: 'local'}, commandEcho(flags.verbose))).recreatePod(state, args.pod)
    if (flags.json) return this.outJson({lab: state.name, pod: r.pod.name, node: r.node.name, oldIP: r.oldIP, newIP: r.newIP, subnet: r.node.subnet ?? null, newNamespace: r.newNamespace})
    this.out(`lab ${state.name}: re-created ${r.pod.name} on ${r.node.name}: ${r.oldIP} → ${r.newIP}${r.node.subnet ? ` (${r.node.name}'s subnet ${r.node.subnet})` : ''}${r.newNamespace ? `; its namespace ${r.pod.netns} was gone and is made anew` : ''}`)
  }
}
