#!/usr/bin/env python3
"""Write a small valid OCI image layout (image-spec 1.0) for the registry tests.

usage: make_layout.py DIR TAG SEED [BIG_LAYER_BYTES [huge]]
One config, a small gzip layer whose file content depends on SEED, and
optionally a second layer of BIG_LAYER_BYTES pseudo-random bytes (stored,
not compressed, so its size is what the test asks for).  With "huge", a
last layer claims 1 GiB + 1 byte (a sparse file: the 1 GiB limit is
checked before a byte is read).  Prints the
manifest digest.  The same arguments give the same bytes.
"""
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile


def blob(root, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d


def layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            t.addfile(info, io.BytesIO(data))
    tar = raw.getvalue()
    return gzip.compress(tar, mtime=0), hashlib.sha256(tar).hexdigest()


def main():
    root, tag, seed = sys.argv[1], sys.argv[2], sys.argv[3]
    big = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    layers = [layer([("etc/model.txt", ("model " + seed + "\n").encode())])]
    if big:
        rnd = random.Random(seed)
        data = rnd.randbytes(big)
        # gzip level 0 keeps the size (random bytes do not compress anyway)
        tar = io.BytesIO()
        with tarfile.open(fileobj=tar, mode="w", format=tarfile.USTAR_FORMAT) as t:
            info = tarfile.TarInfo("data/big.bin")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        layers.append((gzip.compress(tar.getvalue(), compresslevel=0, mtime=0),
                       hashlib.sha256(tar.getvalue()).hexdigest()))
    descs = []
    for gz, diff in layers:
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": blob(root, gz), "size": len(gz)})
    if len(sys.argv) > 5 and sys.argv[5] == "huge":
        d = hashlib.sha256(b"huge").hexdigest()
        with open(os.path.join(root, "blobs", "sha256", d), "wb") as f:
            f.truncate(2**30 + 1)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": "sha256:" + d, "size": 2**30 + 1})
        layers.append((b"", d))
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Entrypoint": ["/bin/true"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + d for _, d in layers]}},
                        sort_keys=True).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": blob(root, config), "size": len(config)},
                           "layers": descs}, sort_keys=True).encode()
    md = blob(root, manifest)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(manifest),
             "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
    print(md)


main()
