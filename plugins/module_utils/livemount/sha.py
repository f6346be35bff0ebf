"""sha256 without OpenSSL: what every state, journal, history and enabled copy is checked with.

hashlib loads OpenSSL's libcrypto, 4 MB more in every process that imports
it (a `livemount show` of 10,000 mounts is 25 MB in all) and a few
milliseconds of start-up. The interpreter's own module (_sha2 from Python
3.12, _sha256 before) gives the same digest; a build without it (FIPS) uses
hashlib. The module is imported here, when the engine is: a run acting in
another mount namespace may not find the interpreter's files there.
"""


def _constructor():
    for name in ("_sha2", "_sha256"):
        try:
            return getattr(__import__(name), "sha256")
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256


sha256 = _constructor()
