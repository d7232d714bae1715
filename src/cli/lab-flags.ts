import {Flags} from '@oclif/core'

export const labNameFlag = {
  name: Flags.string({char: 'n', description: 'lab name (its namespaces are called fc-NAME-…)', default: 'demo', env: 'FLANNELCTL_LAB'}),
}
