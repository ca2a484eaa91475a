#!/usr/bin/env python3
"""Builds the agent image without Docker.

Writes the image's file tree (what image/Dockerfile produces) and, with
--tar, a docker-archive tarball (`docker save` format: manifest.json, the
image config, one layer) that `ctr images import` and `docker load` accept.
The layer holds:

  bin/busybox (+ cp, sh, ls links)   from Debian's busybox-static
  autoinstrumentation/               the package (glibc pods)
  autoinstrumentation-musl/          the same files (musl pods)

The output is reproducible: sorted entries, fixed times and owners, and
no __pycache__.

Usage: build.py --tree DIR [--tar FILE] [--image NAME:TAG] [--busybox PATH]
"""

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
FOLDERS = ("autoinstrumentation", "autoinstrumentation-musl")
BUSYBOX_LINKS = ("cp", "sh", "ls")
EPOCH = 0


def version():
    with open(os.path.join(SRC, "autotel_agent", "__init__.py")) as f:
        for line in f:
            if line.startswith("__version__"):
                return line.split("=", 1)[1].strip().strip("\"'")
    raise SystemExit("build.py: no __version__ in autotel_agent/__init__.py")


def package_files():
    """Relative paths of the package, sorted, without caches."""
    out = []
    for root, dirs, files in os.walk(SRC):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith((".pyc", ".pyo")):
                continue
            out.append(os.path.relpath(os.path.join(root, f), SRC))
    if not out:
        raise SystemExit("build.py: no files under %s" % SRC)
    return out


def write_tree(tree, busybox):
    if os.path.exists(tree):
        shutil.rmtree(tree)
    files = package_files()
    for folder in FOLDERS:
        for rel in files:
            dst = os.path.join(tree, folder, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(os.path.join(SRC, rel), dst)
            os.chmod(dst, 0o644)
    bindir = os.path.join(tree, "bin")
    os.makedirs(bindir)
    shutil.copyfile(busybox, os.path.join(bindir, "busybox"))
    os.chmod(os.path.join(bindir, "busybox"), 0o755)
    for name in BUSYBOX_LINKS:
        os.symlink("busybox", os.path.join(bindir, name))
    for root, dirs, _ in os.walk(tree):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    return files


def _entries(tree):
    """(archive name, path) for every file, dir and link, sorted."""
    out = []
    for root, dirs, files in os.walk(tree):
        dirs.sort()
        for name in sorted(dirs + files):
            p = os.path.join(root, name)
            out.append((os.path.relpath(p, tree), p))
    return sorted(out)


def layer_tar(tree):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, path in _entries(tree):
            info = tar.gettarinfo(path, arcname=name)
            info.mtime = EPOCH
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if info.isfile():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buf.getvalue()


def _arch():
    m = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(m, m)


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = EPOCH
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def docker_archive(tree, path, image):
    layer = layer_tar(tree)
    layer_id = hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": _arch(),
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + layer_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "agent/python/image/build.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_id = hashlib.sha256(config_bytes).hexdigest()
    repo, _, tag = image.rpartition(":")
    if not repo or "/" in tag:
        raise SystemExit("build.py: --image must be NAME:TAG, got %r" % image)
    manifest = [{"Config": config_id + ".json", "RepoTags": [image], "Layers": [layer_id + "/layer.tar"]}]
    with tarfile.open(path, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        _add(tar, config_id + ".json", config_bytes)
        _add(tar, layer_id + "/layer.tar", layer)
        _add(tar, "manifest.json", json.dumps(manifest, separators=(",", ":")).encode())
        _add(tar, "repositories", json.dumps({repo: {tag: layer_id}}, separators=(",", ":")).encode())
    return layer_id, config_id


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", required=True, help="directory for the image file tree (replaced)")
    ap.add_argument("--tar", help="also write a docker-archive tarball here")
    ap.add_argument("--image", default="autotel/autoinstrumentation-python-logs:" + version(),
                    help="NAME:TAG recorded in the tarball (default: %(default)s)")
    ap.add_argument("--busybox", default="/bin/busybox",
                    help="a static busybox binary for cp (Debian: busybox-static)")
    args = ap.parse_args(argv)
    if not os.path.isfile(args.busybox):
        raise SystemExit("build.py: %s not found; install Debian's busybox-static or pass --busybox" % args.busybox)
    files = write_tree(args.tree, args.busybox)
    print("tree: %s (%d package files in each of %s)" % (args.tree, len(files), ", ".join(FOLDERS)))
    if args.tar:
        layer_id, _ = docker_archive(args.tree, args.tar, args.image)
        print("docker-archive: %s (%s, %d bytes, layer sha256:%s)" % (args.tar, args.image, os.path.getsize(args.tar), layer_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
