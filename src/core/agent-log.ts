/**
 * Which of an agent's (`sync --watch`) rounds are printed. Pure: the caller gives the time.
 */

/** How often an idle agent says again the warnings it keeps finding. */
export const WARNING_REPEAT_MS = 60 * 60 * 1000

/** A round as the log sees it: what it says (lease, peers, warnings, without the changes), whether it changed the host. */
export interface RoundSaid {
  said: string
  changed: boolean
  warnings: number
  /** the round read the host (the --interval timer, a lease renewal, a retry), not only a store event */
  periodic: boolean
}

/**
 * flanneld is quiet when idle: a round that changed nothing and says what the last printed one
 * said prints nothing. Warnings are said again at most once an hour, by a round that read the
 * host (its warning is current): a standing problem (a subnet kept off an edited SubnetLen, a
 * firewall dropping vxlan's port) would otherwise appear once at the agent's start, lost to log
 * rotation, while one-shot sync and status say it every time. Store-event rounds stay quiet: they
 * answer a change elsewhere, not a look at this host.
 */
export class RoundLog {
  private said?: string
  private printedAt = Number.NEGATIVE_INFINITY

  print(round: RoundSaid, nowMs: number): boolean {
    const news = round.changed || round.said !== this.said
    const reminder = round.periodic && round.warnings > 0 && nowMs - this.printedAt >= WARNING_REPEAT_MS
    if (!news && !reminder) return false
    this.said = round.said
    this.printedAt = nowMs
    return true
  }
}
