/**
 * The flags this process's command was given, carried into every command it prints
 * (src/core/carry.ts). One command runs per process: BaseCommand sets them once its flags are
 * parsed; until then (and in tests that call services directly) nothing is carried.
 */
import {carryFlags, carryFlagsIn, type Carry} from '../core/carry.js'
import type {Fix} from '../core/trace/types.js'

let current: Carry = {given: [], commands: {}}

export function setCarry(carry: Carry): void {
  current = carry
}

/** `text` as printed: its `flannelctl …` commands with the flags they need from this command line. */
export function carried(text: string): string {
  return carryFlags(text, current)
}

/**
 * Fixes as they run on hosts read through an inventory, each with its host's own state file (the
 * node's stateFile:): a doctor or trace fix for node h1 runs on h1, whose record is there. A fix
 * run from here (a migrate, a lab's command, kubectl's) is no host's.
 */
export function withHostStateFiles(fixes: Fix[], stateFiles: ReadonlyMap<string, string>): Fix[] {
  if (stateFiles.size === 0) return fixes
  return fixes.map(x => {
    const stateFile = stateFiles.get(x.node)
    return stateFile === undefined || x.scope !== undefined ? x : {...x, command: carryFlags(x.command, {given: [{name: 'state-file', value: stateFile}], commands: current.commands})}
  })
}

/** Each node's stateFile: of an inventory, by node name. */
export function inventoryStateFiles(nodes: readonly {name: string; stateFile?: string}[]): Map<string, string> {
  return new Map(nodes.flatMap(n => (n.stateFile === undefined ? [] : [[n.name, n.stateFile] as const])))
}

/** The same for each string of a --json answer. */
export function carriedIn<T>(value: T): T {
  return carryFlagsIn(value, current)
}
