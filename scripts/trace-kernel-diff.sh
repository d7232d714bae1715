#!/usr/bin/env bash
# Differential test of `flannelctl trace` against the kernel: builds a router chain in network
# namespaces (a → r1 → r2 → b, with a detour r1 ↔ r3 ↔ r2), breaks it N times at random (one or two
# faults from the list below: deleted or null routes, forwarding off, filters, NAT, policy rules,
# marks, NOTRACK, NFQUEUE, MTU, a wrong permanent MAC, …), then for each compares whether
# `ping a → b` passes with whether the trace (request and reply) says DELIVERED, and prints every
# disagreement with its faults. Needs root; touches only namespaces named PREFIX-*; removes them.
#
#   bash scripts/trace-kernel-diff.sh [N=20] [SEED=1] [PREFIX=tkd]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
N=${1:-20}
RANDOM=${2:-1}
P=${3:-tkd}
X() { ip netns exec "$@"; }
work=$(mktemp -d)
cleanup() {
  for n in a r1 r2 r3 b; do ip netns del "$P-$n" 2>/dev/null || true; done
}
trap 'cleanup; rm -rf "$work"' EXIT

build() {
  cleanup
  for n in a r1 r2 r3 b; do ip netns add "$P-$n"; ip -n "$P-$n" link set lo up; done
  link() { ip link add "$2" netns "$P-$1" type veth peer name "$4" netns "$P-$3"; ip -n "$P-$1" link set "$2" up; ip -n "$P-$3" link set "$4" up; }
  link a eth0 r1 a0; link r1 m0 r2 m0; link r2 b0 b eth0; link r2 x0 r3 x0; link r3 y0 r1 y0
  X "$P-a" ip addr add 10.91.1.2/24 dev eth0; X "$P-a" ip route add default via 10.91.1.1
  X "$P-r1" sh -c 'ip addr add 10.91.1.1/24 dev a0; ip addr add 10.91.2.1/24 dev m0; ip addr add 10.91.4.1/24 dev y0
    ip route add 10.91.3.0/24 via 10.91.2.2; ip route add 10.91.5.0/24 via 10.91.4.3'
  X "$P-r2" sh -c 'ip addr add 10.91.2.2/24 dev m0; ip addr add 10.91.3.1/24 dev b0; ip addr add 10.91.5.2/24 dev x0
    ip route add 10.91.1.0/24 via 10.91.2.1; ip route add 10.91.4.0/24 via 10.91.5.3'
  X "$P-r3" sh -c 'ip addr add 10.91.5.3/24 dev x0; ip addr add 10.91.4.3/24 dev y0
    ip route add 10.91.1.0/24 via 10.91.4.1; ip route add 10.91.3.0/24 via 10.91.5.2; ip route add 10.91.2.0/24 via 10.91.5.2'
  X "$P-b" ip addr add 10.91.3.2/24 dev eth0; X "$P-b" ip route add default via 10.91.3.1
  for n in r1 r2 r3; do X "$P-$n" sysctl -qw net.ipv4.ip_forward=1; done
}

FAULTS=(
  "r1 ip route del 10.91.3.0/24"
  "r2 ip route del 10.91.1.0/24"
  "r2 ip route replace 10.91.1.0/24 via 10.91.5.3; sysctl -qw net.ipv4.conf.all.rp_filter=1 # (on r1 too)"
  "r1 sysctl -qw net.ipv4.ip_forward=0"
  "r2 sysctl -qw net.ipv4.conf.m0.forwarding=0"
  "r1 ip route replace blackhole 10.91.3.0/24"
  "r1 ip route replace unreachable 10.91.3.0/24"
  "r2 ip route replace prohibit 10.91.1.2/32"
  "r2 iptables -P FORWARD DROP; iptables -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
  "r2 iptables -P FORWARD DROP; iptables -A FORWARD -i m0 -o b+ -j ACCEPT; iptables -A FORWARD -m state --state ESTABLISHED -j ACCEPT"
  "r1 iptables -A FORWARD ! -s 10.91.1.0/24 -j DROP"
  "r2 iptables -A FORWARD -p icmp --icmp-type echo-reply -j DROP"
  "r2 iptables -t mangle -A FORWARD -d 10.91.1.0/24 -j DROP"
  "r1 iptables -t raw -A PREROUTING -p icmp -j DROP"
  "r1 iptables -t nat -A POSTROUTING -o m0 -j SNAT --to-source 10.91.2.77"
  "r1 iptables -t nat -A POSTROUTING -o m0 -j MASQUERADE"
  "r2 iptables -t raw -A PREROUTING -p icmp -j NOTRACK; iptables -P FORWARD DROP; iptables -A FORWARD -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT"
  "r1 iptables -A FORWARD -p icmp -j NFQUEUE --queue-num 2"
  "r1 iptables -t mangle -A PREROUTING -p icmp -j MARK --set-mark 0x4; ip rule add fwmark 0x4/0x4 lookup 44 pref 44; ip route add unreachable 10.91.3.0/24 table 44"
  "r2 ip rule add iif m0 lookup 50 pref 10; ip route add blackhole default table 50"
  "r2 ip rule add not from 10.91.3.0/24 lookup 78 pref 6; ip route add blackhole 10.91.3.0/24 table 78"
  "r1 ip route replace 10.91.3.0/24 via 10.91.4.3; ip route replace 10.91.5.0/24 via 10.91.2.2"
  "r1 ip neigh replace 10.91.2.2 lladdr 02:00:00:00:00:01 dev m0 nud permanent"
  "r2 ip link set b0 down"
  "b ip route del default"
  "b iptables -A INPUT -p icmp -j REJECT --reject-with icmp-host-prohibited"
  "b iptables -P OUTPUT DROP"
  "a ip route replace default via 10.91.1.9"
)

cd "$root"
disagreements=0
for i in $(seq 1 "$N"); do
  build
  applied=()
  for _ in $(seq 1 $((1 + RANDOM % 2))); do
    f=${FAULTS[$((RANDOM % ${#FAULTS[@]}))]}
    host=${f%% *}
    X "$P-$host" sh -c "${f#* }" 2>/dev/null || true
    [[ $f == *"(on r1 too)"* ]] && X "$P-r1" sysctl -qw net.ipv4.conf.all.rp_filter=1
    applied+=("$f")
  done
  printf 'nodes:\n' >"$work/inv.yaml"
  for n in a r1 r2 r3 b; do printf '  - {name: %s, exec: "netns:%s-%s"}\n' "$n" "$P" "$n" >>"$work/inv.yaml"; done
  kernel=no
  # a second try: the first packet may die on ARP alone
  if timeout 10 ip netns exec "$P-a" ping -c 2 -i 0.3 -W 1 10.91.3.2 >/dev/null 2>&1 ||
     timeout 5 ip netns exec "$P-a" ping -c 1 -W 1 10.91.3.2 >/dev/null 2>&1; then kernel=yes; fi
  # trace exits 1 when not delivered: the verdict is read from its JSON
  verdict=$(timeout 60 node bin/run.js trace a b --inventory "$work/inv.yaml" --json 2>&1 |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const t=JSON.parse(s);console.log(t.disposition+" "+t.returnPath.disposition)}catch{console.log("ERROR "+s.split("\n")[0])}})' || true)
  traced=no
  [ "$verdict" = "DELIVERED DELIVERED" ] && traced=yes
  if [ "$kernel" != "$traced" ]; then
    disagreements=$((disagreements + 1))
    echo "#$i kernel ping: $kernel, trace: $verdict"
    printf '    %s\n' "${applied[@]}"
  fi
done
echo "$N variations, $disagreements disagreements"
[ "$disagreements" = 0 ]
