/**
 * `sync --watch`: the node agent. Like flanneld it acts on store events without re-reading the
 * host: each round predicts the host's tables after its own plan (core/predict.ts), and the next
 * round triggered by the store plans against that prediction. Periodic rounds read the host, so
 * anything changed by hand is repaired within one interval, as before.
 */
import type {HostSnapshot} from '../core/model.js'
import {predictAfterOps} from '../core/predict.js'
import {leaseRenewalDue, LEASE_RENEW_AFTER_MS, type Lease, type Store} from '../store/store.js'
import type {ServiceContext} from './context.js'
import {readStoreView, reconcile, type NodeOptions, type ReconcileResult, type StoreView} from './node.js'

export class NodeAgent {
  /** the prediction after the last round, worked out after it returned: off the path from event to converged host */
  private model: Promise<HostSnapshot | undefined> = Promise.resolve(undefined)
  private seen?: string[]
  /** this host's lease as the store showed it last: when it expires decides when a round must renew it */
  private own?: Lease

  constructor(private readonly ctx: ServiceContext, private readonly node: NodeOptions, private readonly store: Store) {}

  /** Start from a round run elsewhere (the command's first sync). */
  adopt(result: ReconcileResult): void {
    this.model = modelAfter(result)
    this.own = result.lease
  }

  /**
   * How long until a round must run to renew this host's lease before it expires, whatever its TTL
   * (undefined: no expiry known, or a dry run, which renews nothing): flanneld renews an hour before
   * expiry; a lease with less than two hours left is renewed half-way through what it has left.
   */
  renewalDueInMs(nowMs = Date.now()): number | undefined {
    const expires = this.own?.expiresAt === undefined ? NaN : Date.parse(this.own.expiresAt)
    if (this.ctx.dryRun || Number.isNaN(expires)) return undefined
    const left = expires - nowMs
    return Math.max(MIN_RENEWAL_WAIT_MS, left - Math.min(LEASE_RENEW_AFTER_MS, left / 2))
  }

  /**
   * One round. A periodic round reads the host; a round on a store event plans against the model
   * and is skipped when nothing a node depends on changed (its own lease renewal is an event too).
   * When the host was not what the model said (an op fails), the round reads the host and plans again.
   */
  async round({periodic, keepVanishedPeers = false}: {periodic: boolean; keepVanishedPeers?: boolean}): Promise<ReconcileResult | undefined> {
    // Event rounds read only the leases the store's watch saw change; periodic rounds read them all.
    const view = await readStoreView(this.store, {fromWatch: !periodic})
    const fingerprint = storeFingerprint(view)
    // this host's own lease put back by hand with a short TTL is an event that changes no value: it
    // is renewed now, as flanneld renews on such an event, not left to expire before a periodic round
    const own = this.own && view[2].leases.find(l => l.subnet === this.own!.subnet && l.publicIP === this.own!.publicIP)
    if (own) this.own = own
    const renew = own?.expiresAt !== undefined && leaseRenewalDue(Date.parse(own.expiresAt), Date.now()) && !this.ctx.dryRun
    if (!periodic && this.seen !== undefined && sameFingerprint(fingerprint, this.seen) && !renew) return undefined
    const model = periodic ? undefined : await this.model
    this.model = Promise.resolve(undefined)
    const once = (hostModel?: HostSnapshot) =>
      reconcile(this.ctx, {node: this.node, creating: false, what: 'sync', keepVanishedPeers, hostModel, storeView: view})
    let result: ReconcileResult
    try {
      result = await once(model)
    } catch (error) {
      if (model === undefined) throw error
      result = await once()
    }
    this.seen = fingerprint
    this.model = modelAfter(result)
    this.own = result.lease
    return result
  }
}

/** however soon a lease expires, rounds to renew it are at least this far apart (one that cannot renew it must not spin) */
const MIN_RENEWAL_WAIT_MS = 1000

function modelAfter(result: ReconcileResult): Promise<HostSnapshot | undefined> {
  if (!result.applied) return Promise.resolve(undefined)
  // once the round's caller has had its turn (the agent then waits for the next event anyway)
  return new Promise(resolve => setImmediate(() => resolve(predictAfterOps(result.snapshot, result.ops))))
}

/** each lease's part of the fingerprint, kept while the store's listing hands out the same lease object */
const leaseTexts = new WeakMap<Lease, string>()

/**
 * What a node's reconcile depends on in the store, without lease lifetimes (they change on every
 * renewal): one line for the config and migration, one per lease. Compared line by line, not
 * joined: a lease kept by the listing keeps its text, so an unchanged line is the same string and
 * compares at once, where joining 5000 leases' texts cost ~0.7 ms a round.
 */
export function storeFingerprint([config, migration, {leases}]: StoreView): string[] {
  const lines = [JSON.stringify([config, migration])]
  for (const lease of leases) {
    let text = leaseTexts.get(lease)
    if (text === undefined) {
      const {expiresAt: _ttl, ...l} = lease
      text = JSON.stringify(l)
      leaseTexts.set(lease, text)
    }
    lines.push(text)
  }
  return lines
}

export function sameFingerprint(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((line, i) => line === b[i])
}
