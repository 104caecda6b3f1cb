"""Builds TUF repositories for vouch-trust's tests with python-tuf, an
implementation independent of the Rust client under test.

Usage: python tuf_repo.py OUT_DIR TRUSTED_ROOT_FILE

Every repository below OUT_DIR is a directory a static HTTP server can serve
(consistent snapshots on, as Sigstore's): N.root.json, timestamp.json,
N.snapshot.json, N.targets.json, targets/<sha256>.trusted_root.json.

  bootstrap/root.json   root v1, the root a client is given (--tuf-root)
  v1/                   the repository at version 1 (timestamp +7 d)
  v2/                   one publication later (timestamp v2 expires +1 d)
  v3/                   another (timestamp +30 d, snapshot +40 d)
  rotated/              v2 plus 2.root.json: a new root key, signed by both
  skip/                 v2 plus a root version 3 published as 2.root.json
  frozen-timestamp/     v1 whose timestamp expired a day ago
  frozen-snapshot/      v1 whose snapshot expired a day ago
  mix-snapshot/         timestamp v2 next to the v1 snapshot under its name
  mix-targets/          timestamp and snapshot v2 next to the v1 targets
  bad-target/           v1 whose trusted_root.json is not the bytes pinned
  dup/                  its own root (dup/root.json): timestamp threshold 2,
                        met only by one key's signature listed twice
  unusable-target/      v1 whose trusted_root.json target is correctly signed
                        and pinned, but not a trusted root
  dup-key/              its own root (dup-key/root.json): timestamp threshold
                        2, the online key listed under two key IDs, the
                        timestamp signed by that one key under both
  snapshot-rollback/    timestamp v3 (+7 d) pinning snapshot version 1 (v1's)
  targets-rollback/     timestamp and snapshot v3 (+7 d), the snapshot pinning
                        targets version 1 (v1's)
  odd-hash/             v1 whose targets metadata also lists an unknown hash
                        algorithm with a path as its value
"""

import copy
import hashlib
import json
import os
import shutil
import sys
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner, SSlibKey
from tuf.api.metadata import (
    MetaFile,
    Metadata,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def days(n):
    return NOW + timedelta(days=n)


def write(md, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    md.to_file(path)


def make_root(version, root_signers, online, signers_for_signing, threshold_ts=1, extra_ts=()):
    root = Root(version=version, expires=days(365), consistent_snapshot=True)
    for s in root_signers:
        root.add_key(s.public_key, "root")
    for role in ("snapshot", "targets"):
        root.add_key(online.public_key, role)
    root.add_key(online.public_key, "timestamp")
    for s in extra_ts:
        root.add_key(s.public_key, "timestamp")
    root.roles["timestamp"].threshold = threshold_ts
    md = Metadata(root)
    for s in signers_for_signing:
        md.sign(s, append=True)
    return md


def publish(out, online, version, target_bytes, ts_expires, snap_expires=30, tgt_expires=60,
            extra_hashes=None):
    """Writes targets, snapshot and timestamp of `version` into `out`."""
    targets = Targets(version=version, expires=days(tgt_expires))
    tf = TargetFile.from_data("trusted_root.json", target_bytes, ["sha256"])
    if extra_hashes:
        tf.hashes.update(extra_hashes)
    targets.targets["trusted_root.json"] = tf
    tmd = Metadata(targets)
    tmd.sign(online)
    tpath = os.path.join(out, f"{version}.targets.json")
    write(tmd, tpath)

    snap = Snapshot(version=version, expires=days(snap_expires))
    snap.meta["targets.json"] = MetaFile(version=version)
    smd = Metadata(snap)
    smd.sign(online)
    spath = os.path.join(out, f"{version}.snapshot.json")
    write(smd, spath)
    sbytes = open(spath, "rb").read()

    ts = Timestamp(
        version=version,
        expires=days(ts_expires),
        snapshot_meta=MetaFile(
            version=version,
            length=len(sbytes),
            hashes={"sha256": hashlib.sha256(sbytes).hexdigest()},
        ),
    )
    tsmd = Metadata(ts)
    tsmd.sign(online)
    write(tsmd, os.path.join(out, "timestamp.json"))

    digest = tf.hashes["sha256"]
    os.makedirs(os.path.join(out, "targets"), exist_ok=True)
    with open(os.path.join(out, "targets", f"{digest}.trusted_root.json"), "wb") as f:
        f.write(target_bytes)


def main():
    out, trusted_root_file = sys.argv[1], sys.argv[2]
    target = open(trusted_root_file, "rb").read()
    root_key = CryptoSigner.generate_ed25519()
    new_root_key = CryptoSigner.generate_ed25519()
    online = CryptoSigner.generate_ed25519()

    root1 = make_root(1, [root_key], online, [root_key])
    write(root1, os.path.join(out, "bootstrap", "root.json"))

    def base(name, version, **kw):
        d = os.path.join(out, name)
        write(root1, os.path.join(d, "1.root.json"))
        publish(d, online, version, target, **kw)
        return d

    v1 = base("v1", 1, ts_expires=7)
    base("v2", 2, ts_expires=1)
    base("v3", 3, ts_expires=30, snap_expires=40)

    rotated = base("rotated", 2, ts_expires=1)
    root2 = make_root(2, [new_root_key], online, [root_key, new_root_key])
    write(root2, os.path.join(rotated, "2.root.json"))

    skip = base("skip", 2, ts_expires=1)
    root3 = make_root(3, [new_root_key], online, [root_key, new_root_key])
    write(root3, os.path.join(skip, "2.root.json"))

    base("frozen-timestamp", 1, ts_expires=-1)
    base("frozen-snapshot", 1, ts_expires=7, snap_expires=-1)

    # Mix-and-match: the v2 timestamp pins snapshot v2 (by hash); the file
    # under that name is v1's snapshot.
    mix = base("mix-snapshot", 2, ts_expires=7)
    shutil.copy(os.path.join(v1, "1.snapshot.json"), os.path.join(mix, "2.snapshot.json"))
    # The v2 snapshot pins targets v2 (by version); the file under that name
    # is v1's targets.
    mix = base("mix-targets", 2, ts_expires=7)
    shutil.copy(os.path.join(v1, "1.targets.json"), os.path.join(mix, "2.targets.json"))

    unusable = os.path.join(out, "unusable-target")
    write(root1, os.path.join(unusable, "1.root.json"))
    publish(unusable, online, 1, b"this is not a trusted root", ts_expires=7)

    # Rollbacks one level down: newer timestamp (or snapshot), older child.
    def signed_timestamp(d, snap_name):
        sbytes = open(os.path.join(d, snap_name), "rb").read()
        ts = Timestamp(version=3, expires=days(7), snapshot_meta=MetaFile(
            version=int(snap_name.split(".")[0]), length=len(sbytes),
            hashes={"sha256": hashlib.sha256(sbytes).hexdigest()}))
        md = Metadata(ts)
        md.sign(online)
        write(md, os.path.join(d, "timestamp.json"))

    srb = base("snapshot-rollback", 1, ts_expires=7)
    signed_timestamp(srb, "1.snapshot.json")

    trb = base("targets-rollback", 1, ts_expires=7)
    snap = Snapshot(version=3, expires=days(30))
    snap.meta["targets.json"] = MetaFile(version=1)
    smd = Metadata(snap)
    smd.sign(online)
    write(smd, os.path.join(trb, "3.snapshot.json"))
    signed_timestamp(trb, "3.snapshot.json")

    # A client skips hash algorithms it does not know; the value must never
    # become a file name (vouch trust export once wrote it as one).
    base("odd-hash", 1, ts_expires=7, extra_hashes={"x-odd": "../../../../ESCAPED"})

    bad = base("bad-target", 1, ts_expires=7)
    for name in os.listdir(os.path.join(bad, "targets")):
        path = os.path.join(bad, "targets", name)
        data = open(path, "rb").read()
        # Same length, other bytes: only the hash can tell.
        data = data.replace(b"sigstore", b"sigst0re", 1)
        open(path, "wb").write(data)

    # Duplicate key IDs: threshold 2 for timestamp, one key signing, its
    # signature listed twice.
    online2 = CryptoSigner.generate_ed25519()
    dup = os.path.join(out, "dup")
    droot = make_root(1, [root_key], online, [root_key], threshold_ts=2, extra_ts=[online2])
    write(droot, os.path.join(dup, "root.json"))
    write(droot, os.path.join(dup, "1.root.json"))
    publish(dup, online, 1, target, ts_expires=7)
    ts_path = os.path.join(dup, "timestamp.json")
    doc = json.load(open(ts_path))
    doc["signatures"].append(copy.deepcopy(doc["signatures"][0]))
    json.dump(doc, open(ts_path, "w"), indent=1)

    # One key under two key IDs: TUF counts a threshold by key ID, so the
    # online key alone meets the timestamp threshold of 2.
    dupk = os.path.join(out, "dup-key")
    kroot = make_root(1, [root_key], online, [], threshold_ts=1)
    k = online.public_key
    alias = SSlibKey("aa" * 32, k.keytype, k.scheme, dict(k.keyval))
    kroot.signed.add_key(alias, "timestamp")
    kroot.signed.roles["timestamp"].threshold = 2
    kroot.signatures.clear()
    kroot.sign(root_key)
    write(kroot, os.path.join(dupk, "root.json"))
    write(kroot, os.path.join(dupk, "1.root.json"))
    publish(dupk, online, 1, target, ts_expires=7)
    ts_path = os.path.join(dupk, "timestamp.json")
    doc = json.load(open(ts_path))
    twin = copy.deepcopy(doc["signatures"][0])
    twin["keyid"] = alias.keyid
    doc["signatures"].append(twin)
    json.dump(doc, open(ts_path, "w"), indent=1)


if __name__ == "__main__":
    main()
