#!/usr/bin/env python3
"""Build an OCI image layout from host directories, one gzip layer each.

Used by the demo and the benchmarks: no registry outside is reachable, so
images are made locally. Usage:

    mkimage.py LAYOUT TAG [--cmd JSON-ARRAY] [--compress gzip|zstd|none] ROOT:PATH...

Each ROOT:PATH becomes one layer holding PATH (relative to ROOT) as it
appears under ROOT, e.g. "/:usr/bin" or "/tmp/rootfs:.".
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

COMPRESSORS = {
    "gzip": (["pigz", "-6", "-c"] if shutil.which("pigz") else ["gzip", "-6", "-c"], "+gzip"),
    "zstd": (["zstd", "-3", "-q", "-c", "-T0"], "+zstd"),
    "none": (["cat"], ""),
}


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def put_blob(layout, path):
    digest = sha256_file(path)
    dest = os.path.join(layout, "blobs", "sha256", digest)
    shutil.move(path, dest)
    return digest, os.path.getsize(dest)


def put_json(layout, obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return digest, len(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("layout")
    ap.add_argument("tag")
    ap.add_argument("layers", nargs="+", metavar="ROOT:PATH")
    ap.add_argument("--cmd", type=json.loads, default=["/bin/sh"], help='JSON array, e.g. ["/bin/sh","-c","true"]')
    ap.add_argument("--compress", choices=COMPRESSORS, default="gzip")
    args = ap.parse_args()

    os.makedirs(os.path.join(args.layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(args.layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    compressor, suffix = COMPRESSORS[args.compress]
    layers, diff_ids = [], []
    with tempfile.TemporaryDirectory(dir=args.layout) as tmp:
        for i, spec in enumerate(args.layers):
            root, path = spec.split(":", 1)
            raw = os.path.join(tmp, f"layer{i}.tar")
            subprocess.run(["tar", "--sort=name", "--numeric-owner", "--xattrs", "-C", root, "-cf", raw, path], check=True)
            diff_ids.append("sha256:" + sha256_file(raw))
            packed = raw + ".c"
            with open(raw, "rb") as src, open(packed, "wb") as dst:
                subprocess.run(compressor, stdin=src, stdout=dst, check=True)
            digest, size = put_blob(args.layout, packed)
            layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar" + suffix,
                           "digest": "sha256:" + digest, "size": size})
    config = {
        "created": "2026-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": args.cmd, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    cdigest, csize = put_json(args.layout, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cdigest, "size": csize},
        "layers": layers,
    }
    mdigest, msize = put_json(args.layout, manifest)
    index_path = os.path.join(args.layout, "index.json")
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != args.tag]
    index["manifests"].append({"mediaType": manifest["mediaType"], "digest": "sha256:" + mdigest, "size": msize,
                               "annotations": {"org.opencontainers.image.ref.name": args.tag}})
    with open(index_path, "w") as f:
        json.dump(index, f)
    print("sha256:" + cdigest)


if __name__ == "__main__":
    main()
