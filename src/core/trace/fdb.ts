/**
 * The forwarding database of a vxlan device: which remote VTEP gets a frame for an inner MAC.
 * An exact entry wins; without one the frame is flooded to the all-zero (default) entries, which
 * flannel never writes (it runs the device with `nolearning` and one permanent entry per peer).
 */
import type {FdbEntry} from '../model.js'
import type {HostView} from './host-view.js'

export interface FdbResult {
  /** the entry for the MAC, when there is one with a remote address */
  entry?: FdbEntry
  /** an entry for the MAC that names no remote (`dst`): useless for a vxlan device */
  withoutDst?: FdbEntry
  /** default (00:00:00:00:00:00) entries the frame is flooded to when no entry matches */
  flooded: FdbEntry[]
}

export function fdbLookup(view: HostView, dev: string, mac: string): FdbResult {
  const entries = view.fdb(dev, mac)
  const entry = entries.find(e => e.dst !== undefined)
  if (entry !== undefined) return {entry, flooded: []}
  return {withoutDst: entries[0], flooded: view.fdbDefaults(dev)}
}
