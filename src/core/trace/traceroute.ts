/**
 * Which address a forwarding host answers `traceroute` from. Linux sends its ICMP time-exceeded
 * from the source address its route back to the prober selects (the route's `src`, else the
 * outgoing device's primary address, else an address of another interface), or from the inbound
 * interface's address when net.ipv4.icmp_errors_use_inbound_ifaddr=1. That is why a flannel vxlan
 * path shows the peer's `<subnet>.0` and a host-gw path the peer's underlay address.
 */
import {type HostView, fromAddress} from './host-view.js'

/**
 * `*` when the host has no route back to the prober: traceroute prints a star for it. `mark` is
 * what traceroute appends for an ICMP error other than time-exceeded (`!N`, `!H`, `!X`).
 */
export function icmpErrorSource(view: HostView, inDev: string, prober: string, mark?: string): string {
  const from = errorSourceAddress(view, inDev, prober)
  return from === undefined ? '*' : mark === undefined ? from : `${from} ${mark}`
}

/**
 * icmp_send: the error is routed like a packet this host sends (iif lo, protocol icmp, mark 0 as
 * net.ipv4.fwmark_reflect is off by default, no oif without a VRF), so the policy rules decide its
 * route back; it has no source yet (no `from` rule matches) unless icmp_errors_use_inbound_ifaddr
 * gives it the inbound interface's address first. No route back: no error, traceroute's star.
 */
function errorSourceAddress(view: HostView, inDev: string, prober: string): string | undefined {
  const flow = {dst: prober, iif: 'lo', proto: 'icmp', oifKnown: true}
  if (view.sysctlNumber('net.ipv4.icmp_errors_use_inbound_ifaddr') === 1) {
    const a = view.deviceAddress(inDev, prober) ?? view.firstGlobalAddress()
    if (a !== undefined) return view.routes === undefined || view.routeFor(fromAddress(flow, a)).route?.type === 'unicast' ? a : undefined
  }
  return view.sourceRoute(flow).src
}
