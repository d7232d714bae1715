import type {PeerRow} from '../services/node.js'
import {renderTable} from './table.js'

export function peerTable(rows: PeerRow[]): string {
  return renderTable(['SUBNET', 'BACKEND', 'PUBLIC IP', 'VTEP MAC', 'SOURCE', 'STATE'],
    rows.map(p => [p.subnet, p.backend, p.publicIP, p.vtepMAC ?? '-', p.source, p.state]))
}
