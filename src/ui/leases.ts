/** The lease table, the same for every store. */
import {renderTable} from './table.js'
import type {Lease} from '../store/store.js'

export function leaseTable(leases: Lease[]): string {
  if (leases.length === 0) return 'no leases'
  return renderTable(['SUBNET', 'PUBLIC IP', 'BACKEND', 'VTEP MAC', 'EXPIRES'],
    leases.map(l => [l.subnet, l.publicIP, l.backendType, String(l.backendData?.VtepMAC ?? '-'), l.expiresAt ? l.expiresAt.replace(/\.\d+Z$/, 'Z') : '-']))
}
