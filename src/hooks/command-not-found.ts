/**
 * A mistyped command (`flannelctl staus`, `flannelctl lease lst`): said in flannelctl's own
 * Error/Hint form, exit 2, with the command meant when one is close, instead of oclif's bare
 * "command lease:lst not found".
 */
import type {Hook} from '@oclif/core'
import {ExitCode} from '../errors.js'
import {closest} from '../core/words.js'

const hook: Hook<'command_not_found'> = async function ({id, config}) {
  const commands = config.commands.filter(c => !c.hidden).map(c => c.id.replace(/:/g, ' '))
  // oclif hands over every word typed (`trce:a:b`): the command is the words as deep as the topics
  // they name go (`lab pod recreat`), the rest are its arguments
  const words = id.split(':')
  let depth = 1
  while (depth < words.length && commands.some(c => c.startsWith(`${words.slice(0, depth).join(' ')} `))) depth++
  const typed = words.slice(0, depth).join(' ')
  const meant = closest(typed, commands)
  process.stderr.write(`Error: ${config.bin} has no command ${typed}\n`)
  process.stderr.write(`Hint: ${meant === undefined ? '' : `did you mean ${config.bin} ${meant}? `}see ${config.bin} --help for the commands\n`)
  process.exitCode = ExitCode.usage
}

export default hook
