#!/usr/bin/env bash
# Install what rukt needs on a Debian 12 machine (run as root). Groups:
#   build  - compilers and -dev packages the workspace links against (libseccomp for nspawn)
#   test   - the real parts the functional tests drive (registry, skopeo, umoci, busybox,
#            systemd-analyze, systemd-socket-activate and systemd-tmpfiles from systemd)
#   bench  - test plus the peers the benchmarks measure (hyperfine, podman, pigz)
# Idempotent: packages already installed are not fetched again.
set -euo pipefail
groups=("${@:-test}")
pkgs=(ca-certificates gcc make pkg-config libseccomp-dev)
for g in "${groups[@]}"; do
    case "$g" in
    build) ;;
    test) pkgs+=(docker-registry skopeo umoci busybox-static zstd pigz tar python3 systemd) ;;
    bench) pkgs+=(docker-registry skopeo umoci busybox-static zstd pigz tar python3 systemd hyperfine podman) ;;
    *) echo "setup.sh: unknown group $g (build|test|bench)" >&2; exit 2 ;;
    esac
done
# Pod networking: Debian's CNI plugins (which run iptables) and iproute2 for the tests'
# stand-in hosts; for the network benchmark, iperf3 (throughput) and netavark (podman's
# network backend, its peer).
case " ${groups[*]} " in *" test "* | *" bench "*) pkgs+=(containernetworking-plugins iptables iproute2) ;; esac
case " ${groups[*]} " in *" bench "*) pkgs+=(iperf3 netavark aardvark-dns) ;; esac
# bench/nspawn.sh: the containers default seccomp profile its peers get, and strace for its
# breakdown's system-call counts; bench/logs-faults.sh: perf.
case " ${groups[*]} " in *" bench "*) pkgs+=(golang-github-containers-common strace linux-perf) ;; esac
# TPM event logging's tests and benchmark: a software TPM and tpm2-tools.
case " ${groups[*]} " in *" test "* | *" bench "*) pkgs+=(swtpm swtpm-tools tpm2-tools) ;; esac
# Image trust (docs/trust.md): gpg keys and signatures, openssl P-256 sigstore keys.
case " ${groups[*]} " in *" test "* | *" bench "*) pkgs+=(gnupg openssl) ;; esac
# `rukt completion` is checked by loading each script in its shell; man pages render with man.
case " ${groups[*]} " in *" test "* | *" bench "*) pkgs+=(zsh fish man-db) ;; esac
# The Debian package's test: lintian checks it (dpkg-deb builds it).
case " ${groups[*]} " in *" test "* | *" bench "*) pkgs+=(lintian) ;; esac
# The API service's Python client venv (scripts/setup-venv.sh).
case " ${groups[*]} " in *" test "* | *" bench "*) pkgs+=(python3-venv) ;; esac
# Registry auth tests (docs/registries.md): htpasswd makes the bcrypt entries docker-registry reads.
case " ${groups[*]} " in *" test "* | *" bench "*) pkgs+=(apache2-utils) ;; esac
# CRI conformance (docs/cri-conformance.md): containerd and runc from Debian, the peer that
# scripts/critest.sh and bench/cri.sh measure rukt's CRI server against.
case " ${groups[*]} " in *" test "* | *" bench "*) pkgs+=(containerd runc) ;; esac
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo is missing; rukt builds with the pinned toolchain in rust-toolchain.toml" >&2; exit 1; }
# The API service's tests and benchmark: a venv with grpcio from PyPI (issue 12).
case " ${groups[*]} " in *" test "* | *" bench "*) "$(dirname "$0")/setup-venv.sh" ;; esac
# The kvm stage1's qemu and guest kernel, unpacked into a private prefix.
case " ${groups[*]} " in *" test "* | *" bench "*) "$(dirname "$0")/setup-kvm.sh" ;; esac
# critest, crictl and ginkgo from cri-tools v1.36.0, built with Go (Debian has no cri-tools).
case " ${groups[*]} " in *" test "* | *" bench "*) "$(dirname "$0")/setup-critest.sh" ;; esac
# The CRI streaming server's tests: client-go's own exec/attach/port-forward client (issue 15).
case " ${groups[*]} " in *" test "* | *" bench "*) "$(dirname "$0")/setup-streamclient.sh" ;; esac
