#!/usr/bin/env python3
"""Check an OCI image layout the way a registry client would, independently
of the C builder (used by test/integration/oci_image.sh).

  oci_image_check.py LAYOUT SCHEMA_DIR

Validates index.json, the manifest and the config against the image-spec
JSON schemas (Debian golang-github-opencontainers-image-spec-dev; draft 4,
their relative $refs resolved to the files beside them), recomputes every
blob's sha256 and size, every layer's diff_id (sha256 of the gunzipped
tar), and checks the config's rootfs and the tar members' owners and order.
Prints one 'ok - ...' line per check; exits 1 at the first failure.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

import jsonschema


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print("ok - " + msg)


def validator(schema_dir, name):
    def load(uri):
        with open(os.path.join(schema_dir, uri.split("#")[0].rsplit("/", 1)[-1])) as f:
            return json.load(f)
    schema = load(name)
    resolver = jsonschema.RefResolver(base_uri="https://opencontainers.org/schema/image/" + name,
                                      referrer=schema, handlers={"https": load, "http": load, "file": load})
    return jsonschema.Draft4Validator(schema, resolver=resolver)


def blob(layout, desc):
    digest = desc["digest"]
    if not digest.startswith("sha256:"):
        fail("digest %s is not sha256" % digest)
    with open(os.path.join(layout, "blobs", "sha256", digest[7:]), "rb") as f:
        data = f.read()
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        fail("blob %s: sha256 differs" % digest)
    if len(data) != desc["size"]:
        fail("blob %s: %d bytes, descriptor says %d" % (digest, len(data), desc["size"]))
    return data


def main():
    layout, schema_dir = sys.argv[1], sys.argv[2]
    with open(os.path.join(layout, "oci-layout")) as f:
        validator(schema_dir, "image-layout-schema.json").validate(json.load(f))
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    validator(schema_dir, "image-index-schema.json").validate(index)
    ok("oci-layout and index.json valid against the image-spec schemas")
    mdesc = index["manifests"][0]
    manifest = json.loads(blob(layout, mdesc))
    validator(schema_dir, "image-manifest-schema.json").validate(manifest)
    ok("manifest valid against the image-spec schema; its digest and size recomputed")
    config = json.loads(blob(layout, manifest["config"]))
    validator(schema_dir, "config-schema.json").validate(config)
    ok("config valid against the image-spec schema; its digest and size recomputed")
    diff_ids = config["rootfs"]["diff_ids"]
    if len(diff_ids) != len(manifest["layers"]):
        fail("%d diff_ids for %d layers" % (len(diff_ids), len(manifest["layers"])))
    for i, layer in enumerate(manifest["layers"]):
        gz = blob(layout, layer)
        if gz[4:8] != b"\0\0\0\0":
            fail("layer %d: gzip header carries a timestamp" % i)
        tar = gzip.decompress(gz)
        if "sha256:" + hashlib.sha256(tar).hexdigest() != diff_ids[i]:
            fail("layer %d: diff_id differs from sha256 of the tar" % i)
        names = []
        with tarfile.open(fileobj=io.BytesIO(tar)) as t:
            for m in t.getmembers():
                if m.uid != 0 or m.gid != 0 or not (m.isfile() or m.isdir()):
                    fail("layer %d: member %s is not a plain entry owned by 0:0" % (i, m.name))
                names.append(m.name)
        if names != sorted(names):
            fail("layer %d: members are not sorted" % i)
        ok("layer %d: digest, size and diff_id recomputed; %d members sorted, owned 0:0" % (i, len(names)))
    print(json.dumps({"manifest": mdesc["digest"], "layers": [x["digest"] for x in manifest["layers"]],
                      "sizes": [x["size"] for x in manifest["layers"]], "config": config}), file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except jsonschema.ValidationError as e:
        fail("schema: %s at %s" % (e.message, list(e.absolute_path)))
