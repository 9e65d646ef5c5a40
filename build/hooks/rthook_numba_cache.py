"""PyInstaller runtime hook: give numba a writable cache folder it can really use when frozen.

librosa (and the feature engine) decorate kernels with ``numba.jit(cache=True)``. Two things
stand in the way inside a one-folder bundle:

1. The package folders may be read-only, so the cache must live elsewhere: NUMBA_CACHE_DIR is
   set to the app's user cache folder (``genre_desktop.core.resources.cache_dir()/numba``,
   honouring GENRE_DESKTOP_CACHE_DIR), or a temporary folder when that cannot be written.
2. PyInstaller stores *relative* ``co_filename``s (``librosa/core/spectrum.py``), and numba's
   NUMBA_CACHE_DIR locator only accepts functions whose source file exists at that path, so it
   would silently fall back to ``~/.cache/numba``. When ``numba.core.caching`` is imported we
   put a locator first that resolves those names against ``sys._MEIPASS`` (the spec ships
   librosa's and the package's ``.py`` files for this). numba itself is not imported here, so
   `--help` stays instant.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import sys
import tempfile


def _writable(path):
    try:
        os.makedirs(path, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe-")  # noqa: SIM115
        probe.close()
        return True
    except OSError:
        return False


def _numba_cache_dir():
    override = os.environ.get("GENRE_DESKTOP_CACHE_DIR")
    if override:
        base = override
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "genre-desktop")
    return os.path.join(base, "numba")


def _add_bundle_locator(caching):
    base = caching.UserProvidedCacheLocator
    bundle = getattr(sys, "_MEIPASS", os.path.dirname(sys.executable))

    class BundleSourceCacheLocator(base):
        """NUMBA_CACHE_DIR locator for functions whose relative source path is in the bundle."""

        @classmethod
        def from_function(cls, py_func, py_file):
            if not os.path.isabs(py_file):
                py_file = os.path.join(bundle, py_file)
            return super().from_function(py_func, py_file)

    caching.CacheImpl._locator_classes.insert(0, BundleSourceCacheLocator)


class _PatchNumbaCaching(importlib.abc.MetaPathFinder):
    """Runs `_add_bundle_locator` right after numba.core.caching executes, once."""

    def find_spec(self, name, path=None, target=None):
        if name != "numba.core.caching":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        inner = spec.loader

        class Loader(importlib.abc.Loader):
            def create_module(self, spec):
                return inner.create_module(spec)

            def exec_module(self, module):
                inner.exec_module(module)
                # another numba layout: keep numba's own fallbacks
                with contextlib.suppress(AttributeError):
                    _add_bundle_locator(module)

            def __getattr__(self, attr):
                return getattr(inner, attr)

        spec.loader = Loader()
        return spec


if not os.environ.get("NUMBA_CACHE_DIR"):
    candidate = _numba_cache_dir()
    if not _writable(candidate):
        uid = getattr(os, "getuid", lambda: 0)()
        candidate = os.path.join(tempfile.gettempdir(), f"genre-desktop-numba-{uid}")
        os.makedirs(candidate, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = candidate

if getattr(sys, "frozen", False):
    sys.meta_path.insert(0, _PatchNumbaCaching())
