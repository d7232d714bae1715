/**
 * Ctrl-C and SIGTERM as long-running commands (sync --watch, migrate) take them: the first asks
 * to stop at the next safe point, between rounds or steps, never halfway through a batch; a second
 * one does not wait and exits at once, with the shell's code for the signal.
 */
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : 143
}

export class StopSignals {
  /** the first signal received, once one was */
  signal?: NodeJS.Signals
  private readonly onSignal = (signal: NodeJS.Signals) => {
    if (this.signal) process.exit(signalExitCode(signal))
    this.signal = signal
    this.onFirst(signal)
  }

  /** `onFirst`: told of the first signal (to wake a sleeping loop, or say it will stop) */
  constructor(private readonly onFirst: (signal: NodeJS.Signals) => void = () => {}) {
    process.on('SIGINT', this.onSignal)
    process.on('SIGTERM', this.onSignal)
  }

  dispose(): void {
    process.off('SIGINT', this.onSignal)
    process.off('SIGTERM', this.onSignal)
  }
}
