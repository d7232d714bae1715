/** What the init wizard offers: this host's interfaces and what the store already says. */
import {HostAdapter} from '../adapters/host.js'
import {openStore, parseStoredNetConf, DEFAULT_STORE} from '../store/store.js'
import type {NetConf} from '../core/netconf.js'
import type {ServiceContext} from './context.js'

export interface InterfaceChoice {
  name: string
  address?: string
  isDefaultRoute: boolean
}

export async function hostInterfaces(ctx: ServiceContext): Promise<InterfaceChoice[]> {
  const snap = await new HostAdapter(ctx.runner).snapshot()
  const defaultDev = snap.routes?.find(r => r.dst === 'default')?.dev
  return (snap.links ?? [])
    .filter(l => l.kind !== 'loopback' && l.kind !== 'vxlan' && l.kind !== 'bridge' && !l.name.startsWith('veth'))
    .map(l => ({name: l.name, address: snap.addresses?.find(a => a.dev === l.name && a.family === 4)?.local, isDefaultRoute: l.name === defaultDev}))
    .sort((a, b) => Number(b.isDefaultRoute) - Number(a.isDefaultRoute))
}

/** The network config already in the store, if any (then the wizard does not ask for one). */
export async function existingNetConf(store: string | undefined): Promise<NetConf | undefined> {
  const s = await openStore(store ?? DEFAULT_STORE)
  try {
    const raw = await s.getConfig()
    return raw === undefined ? undefined : parseStoredNetConf(s, raw)
  } finally {
    await s.close()
  }
}
