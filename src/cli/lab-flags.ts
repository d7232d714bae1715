import {Flags} from '@oclif/core'
import {join} from 'node:path'
import {reachesLabStore, type LabState} from '../services/lab.js'
import {runAttached} from '../adapters/runner.js'
import {backendChoiceProblem, BUILT_BACKENDS} from '../core/netconf.js'

export const labNameFlag = {
  // 'demo' is services/lab.ts's DEFAULT_LAB, which printed lab commands leave unnamed
  name: Flags.string({char: 'n', description: 'lab name (its namespaces are called fc-NAME-…)', default: 'demo', env: 'FLANNELCTL_LAB'}),
}

/**
 * The backend a lab is built with. Not oclif's `options`: `--backend udp` said "Expected
 * --backend=udp to be one of: vxlan, host-gw", where init, backend set and migrate say what udp is
 * and what to use instead (labBackend, with backendChoiceProblem's words).
 */
export const labBackendFlag = (helpGroup?: string) => ({
  backend: Flags.string({description: 'flannel backend', helpValue: BUILT_BACKENDS.join('|'), default: 'vxlan', ...(helpGroup ? {helpGroup} : {})}),
})

export function labBackend(type: string): 'vxlan' | 'host-gw' {
  const problem = backendChoiceProblem(type, t => `--backend ${t}`)
  if (problem) throw problem
  return type as 'vxlan' | 'host-gw'
}

/**
 * A lab's own etcd answers only inside the lab, where its nodes reach it: a command that opens the
 * lab's store from this machine runs itself there instead. The exit code when it did, else undefined.
 */
export async function runInLabStore(lab: LabState, root: string, command: string[], argv: string[], verbose: boolean): Promise<number | undefined> {
  if (reachesLabStore(lab)) return undefined
  if (verbose) process.stderr.write(`+ [netns:${lab.etcd!.netns}] flannelctl ${[...command, ...argv].join(' ')}\n`)
  return runAttached({kind: 'netns', name: lab.etcd!.netns}, process.execPath, [join(root, 'bin', 'run.js'), ...command, ...argv])
}
