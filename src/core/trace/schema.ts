/**
 * The `trace --json` contract as JSON Schema (draft 2020-12). docs/trace.md embeds this object
 * verbatim and a test checks both agree, so the published schema cannot drift from the code.
 */
import {DISPOSITIONS, STEP_KINDS, STEP_VERDICTS, UNREAD_TABLES, WARNING_CODES} from './types.js'

export const traceJsonSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'urn:flannelctl:trace:1',
  title: 'flannelctl trace',
  description: 'One packet followed through the kernel tables of several hosts, and the fate of its reply.',
  type: 'object',
  required: ['src', 'dst', 'flow', 'disposition', 'hops', 'returnPath', 'traceroute', 'warnings'],
  additionalProperties: false,
  properties: {
    src: {$ref: '#/$defs/endpoint'},
    dst: {$ref: '#/$defs/endpoint'},
    flow: {$ref: '#/$defs/flow'},
    disposition: {$ref: '#/$defs/disposition'},
    hops: {type: 'array', items: {$ref: '#/$defs/hop'}},
    failure: {$ref: '#/$defs/failure'},
    returnPath: {$ref: '#/$defs/returnPath'},
    traceroute: {
      description: 'addresses `traceroute -n` would print, the destination last; "*" for a silent hop; "ADDR !H" (!X, !N) for a router that answers with host unreachable (administratively prohibited, network unreachable), "SRC !H" for a sender whose own ARP goes unanswered; with --size, "ADDR !F-MTU" for a router that answers fragmentation needed and "* !F-MTU" for a sender that refuses its own packet, as `traceroute -F DST SIZE` prints; "*" last when the destination\'s answer does not come back',
      type: 'array',
      items: {type: 'string'},
    },
    warnings: {type: 'array', items: {$ref: '#/$defs/warning'}},
  },
  $defs: {
    disposition: {enum: [...DISPOSITIONS]},
    endpoint: {
      type: 'object',
      required: ['kind', 'name', 'ip'],
      additionalProperties: false,
      properties: {
        kind: {enum: ['pod', 'node', 'address']},
        name: {type: 'string'},
        ip: {type: 'string'},
        node: {type: 'string', description: 'the node a pod runs on'},
      },
    },
    flow: {
      type: 'object',
      required: ['proto'],
      additionalProperties: false,
      properties: {
        proto: {enum: ['icmp', 'tcp', 'udp']},
        dport: {type: 'integer', minimum: 1, maximum: 65535},
        size: {type: 'integer', minimum: 28, maximum: 65535, description: 'IP packet size in bytes, sent with DF set unless df is false'},
        df: {const: false, description: 'with --no-df: the packet is sent without DF, and a link too small for it fragments it'},
      },
    },
    hop: {
      type: 'object',
      required: ['node', 'in', 'out', 'steps'],
      additionalProperties: false,
      properties: {
        node: {type: 'string'},
        in: {type: 'string', description: 'receiving device; "local" when the packet starts on this host'},
        out: {type: 'string', description: 'sending device; "local" when delivered here, "-" when none was chosen'},
        steps: {type: 'array', items: {$ref: '#/$defs/step'}},
      },
    },
    step: {
      type: 'object',
      required: ['kind', 'evidence', 'verdict', 'explanation'],
      additionalProperties: false,
      properties: {
        kind: {enum: [...STEP_KINDS]},
        evidence: {type: 'string', description: 'the exact table line, or a note in parentheses when there is none'},
        verdict: {enum: [...STEP_VERDICTS]},
        explanation: {type: 'string'},
      },
    },
    fix: {
      type: 'object',
      required: ['node', 'command'],
      additionalProperties: false,
      properties: {
        node: {type: 'string', description: 'the host to run the command on; with scope "cluster", the host whose rule it is about; with scope "lab", the node it is about'},
        command: {type: 'string'},
        scope: {enum: ['cluster', 'lab'], description: 'cluster: a command for the cluster\'s API (kubectl), run wherever kubectl reaches it, not on node; lab: a flannelctl lab command (trace --lab), run on the machine the lab is on'},
        sync: {enum: ['publish', 'peer'], description: 'a node\'s flannelctl sync that takes what the store says anew, so it leads: publish, the node\'s own (its lease announces its VTEP\'s MAC again); peer, the sync of a node behind a peer (its lease moved, or its VTEP\'s MAC changed)'},
        byHand: {enum: [true], description: 'one of the commands that do by hand what the sync "peer" fix of the same node before it does: run that sync or these, not both'},
        recreates: {type: 'string', description: 'the pod this fix re-creates (its runtime\'s CNI ADD; with scope "lab", flannelctl lab pod recreate): it gets an address in its node\'s pod subnet now, so it comes after the syncs that route that subnet'},
        option: {
          type: 'object',
          description: 'this fix is one of several ways to mend the fault: the fixes with the same choice are one way, run together; run the fixes of one way, not of another as well (fixes without option are needed whichever way is taken)',
          required: ['choice', 'why'],
          additionalProperties: false,
          properties: {
            choice: {type: 'integer', minimum: 1, description: 'which way: 1, 2, … in the order of the list, the recommended first'},
            why: {type: 'string', description: 'what this way does and when it is the one to take'},
            recommended: {enum: [true], description: 'the way trace recommends'},
          },
        },
      },
    },
    failure: {
      type: 'object',
      required: ['node', 'step', 'evidence', 'reason', 'fix'],
      additionalProperties: false,
      properties: {
        node: {type: 'string'},
        step: {enum: [...STEP_KINDS]},
        evidence: {type: 'string'},
        reason: {type: 'string'},
        fix: {type: 'array', items: {$ref: '#/$defs/fix'}},
      },
    },
    warning: {
      type: 'object',
      required: ['code', 'node', 'message'],
      additionalProperties: false,
      properties: {
        code: {enum: [...WARNING_CODES]},
        node: {type: 'string'},
        message: {type: 'string'},
        table: {enum: [...UNREAD_TABLES]},
      },
    },
    returnPath: {
      type: 'object',
      required: ['disposition', 'hops'],
      additionalProperties: false,
      properties: {
        disposition: {$ref: '#/$defs/disposition'},
        hops: {type: 'array', items: {$ref: '#/$defs/hop'}},
        failure: {$ref: '#/$defs/failure'},
      },
    },
  },
} as const
