/**
 * `init` without flags on a terminal: the few questions that matter, then the plan, then "apply?".
 * Prompts are imported on use so other commands never load inquirer.
 */
import type {InterfaceChoice} from '../services/wizard.js'
import type {NetConf} from '../core/netconf.js'
import {isCanonicalCidr} from '../core/addr.js'
import {DEFAULT_STORE} from '../store/store.js'

export interface WizardAnswers {
  store: string
  network?: string
  backend?: string
  iface: string
}

export async function askInit(opts: {
  store?: string
  interfaces: InterfaceChoice[]
  loadNetConf: (store: string) => Promise<NetConf | undefined>
}): Promise<WizardAnswers> {
  const {input, select} = await import('@inquirer/prompts')
  const store = opts.store ?? await input({
    message: 'Store (file:DIR or etcd://HOST:2379)',
    default: DEFAULT_STORE,
    validate: v => /^(file:.+|etcds?:\/\/.+)$/.test(v) || 'write file:DIR or etcd://HOST:2379',
  })
  const existing = await opts.loadNetConf(store)
  let network: string | undefined
  let backend: string | undefined
  if (existing) {
    process.stderr.write(`The store holds network ${existing.network} on ${existing.backend.type}; this node joins it.\n`)
  } else {
    network = await input({
      message: 'Pod network (CIDR)',
      default: '10.244.0.0/16',
      validate: v => isCanonicalCidr(v) || 'a CIDR with zero host bits, e.g. 10.244.0.0/16',
    })
    backend = await select({
      message: 'Backend',
      choices: [
        {name: 'vxlan — works across routers (encapsulation, MTU − 50)', value: 'vxlan'},
        {name: 'host-gw — plain routes, every node on one L2 segment', value: 'host-gw'},
      ],
    })
  }
  const iface = await select({
    message: 'Interface for node-to-node traffic',
    choices: opts.interfaces.map(i => ({
      name: `${i.name}${i.address ? ` (${i.address})` : ' (no IPv4 address)'}${i.isDefaultRoute ? ' — default route' : ''}`,
      value: i.name,
    })),
  })
  return {store, network, backend, iface}
}

export async function confirmApply(message: string): Promise<boolean> {
  const {confirm} = await import('@inquirer/prompts')
  return confirm({message, default: true})
}
