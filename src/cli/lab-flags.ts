import {Flags} from '@oclif/core'

export const labNameFlag = {
  // 'demo' is services/lab.ts's DEFAULT_LAB, which printed lab commands leave unnamed
  name: Flags.string({char: 'n', description: 'lab name (its namespaces are called fc-NAME-…)', default: 'demo', env: 'FLANNELCTL_LAB'}),
}
