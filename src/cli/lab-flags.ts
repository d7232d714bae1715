import {Flags} from '@oclif/core'

export const labNameFlag = {
  name: Flags.string({char: 'n', description: 'lab name (namespaces are called fc-NAME-…)', default: 'demo'}),
}
