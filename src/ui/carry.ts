/**
 * The flags this process's command was given, carried into every command it prints
 * (src/core/carry.ts). One command runs per process: BaseCommand sets them once its flags are
 * parsed; until then (and in tests that call services directly) nothing is carried.
 */
import {carryFlags, carryFlagsIn, type Carry} from '../core/carry.js'

let current: Carry = {given: [], commands: {}}

export function setCarry(carry: Carry): void {
  current = carry
}

/** `text` as printed: its `flannelctl …` commands with the flags they need from this command line. */
export function carried(text: string): string {
  return carryFlags(text, current)
}

/** The same for each string of a --json answer. */
export function carriedIn<T>(value: T): T {
  return carryFlagsIn(value, current)
}
