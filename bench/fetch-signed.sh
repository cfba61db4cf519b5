#!/usr/bin/env bash
# Benchmark row of bench/fetch.sh: the cost of image trust. A small image
# signed by `skopeo copy --sign-by` (gpg key made here) on a loopback
# registry, fetched side by side in one run:
#   rukt fetch, policy signedBy (lookaside signature checked)
#   rukt fetch, policy insecureAcceptAnything (same image, no check)
#   skopeo copy to an OCI layout with the same signedBy policy
#   rukt fetch of the image already stored, under each policy: signedBy
#   re-checks the signature and transfers nothing, so the difference is the
#   check alone
# Prints medians, the differences signedBy - insecureAcceptAnything
# (target: verification adds <= 10 ms) and skopeo / rukt.
# Not a test: it never fails on a time.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-$here/bench/out/fetch-signed}
runs=${BENCH_RUNS:-20}
"$here/scripts/setup.sh" bench >/dev/null
(cd "$here" && cargo build --release -q -p rukt)
rukt="$here/target/release/rukt"

rm -rf "$work"
mkdir -p "$work/conf/registries.d" "$work/gnupg" "$work/lookaside" "$work/trash"
chmod 700 "$work/gnupg"
export GNUPGHOME="$work/gnupg"
trap 'gpgconf --kill gpg-agent 2>/dev/null || true; "$here/scripts/registry.sh" stop "$work/reg"; rm -rf "$work/trash"' EXIT
gpg --batch --pinentry-mode loopback --passphrase '' --quick-gen-key 'rukt bench <bench@x.invalid>' ed25519 sign never 2>/dev/null
fpr=$(gpg --with-colons --list-keys | awk -F: '/^fpr:/ {print $10; exit}')
gpg --export "$fpr" >"$work/key.gpg"

host=$("$here/scripts/registry.sh" start "$work/reg")
cat >"$work/conf/registries.d/bench.yaml" <<YAML
docker:
  $host:
    lookaside: file://$work/lookaside
YAML
# A small image (busybox-static in one layer) so the check is not lost in transfer time.
mkdir -p "$work/root/bin"
cp /bin/busybox "$work/root/bin/busybox"
python3 "$here/scripts/mkimage.py" "$work/layout" signed "$work/root:bin" >/dev/null
skopeo --insecure-policy --registries.d "$work/conf/registries.d" copy -q --dest-tls-verify=false \
    --sign-by "$fpr" "oci:$work/layout:signed" "docker://$host/bench/signed:1"

cat >"$work/signed.json" <<JSON
{"default": [{"type": "reject"}],
 "transports": {"docker": {"$host/bench": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "$work/key.gpg"}]}}}
JSON
echo '{"default": [{"type": "insecureAcceptAnything"}]}' >"$work/open.json"
ref="docker://$host/bench/signed:1"
aside() { echo "for d in $*; do if [ -e \$d ]; then mv \$d \$(mktemp -d -p $work/trash)/; fi; done"; }
r="$rukt --dir $work/store --config-dir $work/conf --insecure-options=http"
kept="$rukt --dir $work/kept --config-dir $work/conf --insecure-options=http"
$kept --signature-policy "$work/signed.json" fetch -q "$ref" >/dev/null
hyperfine --style basic --runs "$runs" --warmup 2 --export-json "$work/result.json" \
    -n rukt-signedBy --prepare "$(aside "$work/store")" "$r --signature-policy $work/signed.json fetch -q $ref" \
    -n rukt-insecureAcceptAnything --prepare "$(aside "$work/store")" "$r --signature-policy $work/open.json fetch -q $ref" \
    -n skopeo-signedBy --prepare "$(aside "$work/oci")" \
    "skopeo --policy $work/signed.json --registries.d $work/conf/registries.d copy -q --remove-signatures --src-tls-verify=false $ref oci:$work/oci:1" \
    -n rukt-stored-signedBy --prepare true "$kept --signature-policy $work/signed.json fetch -q $ref" \
    -n rukt-stored-insecureAcceptAnything --prepare true "$kept --signature-policy $work/open.json fetch -q $ref" >&2

python3 - "$work/result.json" <<'PY'
import json, sys
res = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
print(f"{'signed image':<36} {'median ms':>9}")
for k, v in res.items():
    print(f"{k:<36} {v * 1000:9.1f}")
extra = (res["rukt-signedBy"] - res["rukt-insecureAcceptAnything"]) * 1000
print(f"signedBy - insecureAcceptAnything = {extra:.1f} ms   (target <= 10 ms)")
check = (res["rukt-stored-signedBy"] - res["rukt-stored-insecureAcceptAnything"]) * 1000
print(f"the check alone (stored image)    = {check:.1f} ms")
print(f"skopeo signedBy / rukt signedBy  = {res['skopeo-signedBy'] / res['rukt-signedBy']:.2f}x")
PY
