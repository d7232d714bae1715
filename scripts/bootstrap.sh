#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for flannelctl: Debian packages, node modules, the build.
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have ip           || need_pkgs+=(iproute2)
have iptables     || need_pkgs+=(iptables)
have nft          || need_pkgs+=(nftables)
have etcd         || need_pkgs+=(etcd-server)
have etcdctl      || need_pkgs+=(etcd-client)
have iperf3       || need_pkgs+=(iperf3)
have ping         || need_pkgs+=(iputils-ping)
have traceroute   || need_pkgs+=(traceroute)
have tcpdump      || need_pkgs+=(tcpdump)
have ipset        || need_pkgs+=(ipset)
have conntrack    || need_pkgs+=(conntrack)
have sysctl       || need_pkgs+=(procps)
have openssl      || need_pkgs+=(openssl)
[ -x /usr/lib/cni/bridge ] || need_pkgs+=(containernetworking-plugins)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: missing Debian packages: ${need_pkgs[*]} (run as root, or install them)" >&2
    exit 2
  fi
  echo "bootstrap: installing ${need_pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/.bootstrap-lock ] || [ "$(cat node_modules/.bootstrap-lock)" != "$lock_sum" ]; then
  echo "bootstrap: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$lock_sum" > node_modules/.bootstrap-lock
fi

# Rebuild when any source is newer than the build.
if [ ! -f dist/.stamp ] || [ -n "$(find src package.json tsconfig.json -newer dist/.stamp -print -quit)" ]; then
  echo "bootstrap: build" >&2
  npm run -s build >&2
  touch dist/.stamp
fi
