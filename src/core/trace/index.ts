/** The trace engine's public surface: one call in, a Trace (types.ts, schema.ts) out. */
export {traceFlow, traceExitCode, MAX_HOPS} from './engine.js'
export {traceJsonSchema} from './schema.js'
export {indexWorld} from './world.js'
export type {
  Disposition, Endpoint, Failure, Fix, Flow, Hop, PodRef, Proto, ReturnPath, Step, StepKind, StepVerdict, Trace,
  TraceRequest, TraceWarning, WarningCode, World,
} from './types.js'
export {DISPOSITIONS, STEP_KINDS, STEP_VERDICTS, WARNING_CODES, fixPlace} from './types.js'
