"""sha256 without OpenSSL: what every state, journal, history and enabled copy is checked with.

hashlib loads OpenSSL's libcrypto, 4 MB more in every process that imports
it (a `livemount show` of 10,000 mounts is 25 MB in all) and a few
milliseconds of start-up. The interpreter's built-in module (_sha2 from
Python 3.12, _sha256 before) gives the same digest; a build without it
(FIPS) uses hashlib.
"""

_SHA256 = None


def sha256(data=b""):
    """Return a sha256 hash object of `data` (hashlib.sha256's interface)."""
    global _SHA256  # pylint: disable=global-statement
    if _SHA256 is None:
        for name in ("_sha2", "_sha256"):
            try:
                _SHA256 = getattr(__import__(name), "sha256")
                break
            except (ImportError, AttributeError):
                continue
        else:
            import hashlib

            _SHA256 = hashlib.sha256
    return _SHA256(data)


def hexdigest(data):
    """Return the sha256 of bytes `data` as 64 hex digits."""
    return sha256(data).hexdigest()
