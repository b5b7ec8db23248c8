"""Evaluate the subset of MicroPython's manifest language this project uses.

Supported: metadata(), module(), package(), include(), require() (refused: we vendor
nothing), freeze() (treated as package of a directory), options. Paths are relative to
the manifest file's directory unless absolute; $(PROJECT) expands to the project root.
The result is an ordered list of (source path, target path in the image).
"""
import os
from pathlib import Path

from .paths import ROOT


class ManifestError(Exception):
    pass


class Manifest:
    def __init__(self, board=None):
        self.board = board
        self.files = []  # (source Path, target relative str)
        self.metadata = {}
        self._targets = {}

    def _expand(self, base, path):
        path = path.replace("$(PROJECT)", str(ROOT)).replace("$(MPY_DIR)", str(ROOT))
        p = Path(path)
        return p if p.is_absolute() else (base / p)

    def _add(self, src, target):
        src = Path(src).resolve()
        if not src.is_file():
            raise ManifestError(f"manifest names a missing file: {src}")
        prev = self._targets.get(target)
        if prev and prev != src:
            raise ManifestError(f"two sources for {target}: {prev} and {src}")
        if not prev:
            self._targets[target] = src
            self.files.append((src, target))

    def execute(self, path):
        path = Path(path).resolve()
        base = path.parent
        m = self

        def metadata(description=None, version=None, license=None, author=None):
            if not m.metadata:
                m.metadata = {"description": description, "version": version}

        def module(module_path, base_path=".", opt=None):
            root = m._expand(base, base_path)
            m._add(root / module_path, module_path.replace(os.sep, "/"))

        def package(package_path, files=None, base_path=".", opt=None):
            root = m._expand(base, base_path)
            pkg = root / package_path
            if not pkg.is_dir():
                raise ManifestError(f"package {package_path} not found under {root}")
            if files is None:
                found = sorted(p for p in pkg.rglob("*.py") if "__pycache__" not in p.parts)
            else:
                found = [pkg / f for f in files]
            for f in found:
                m._add(f, f.relative_to(root).as_posix())

        def include(manifest_path, **kwargs):
            p = m._expand(base, manifest_path)
            if p.is_dir():
                p = p / "manifest.py"
            m.execute(p)

        def require(name, **kwargs):
            raise ManifestError(
                f"require({name!r}): this project freezes nothing from other projects"
            )

        def freeze(path, script=None, opt=None):
            root = m._expand(base, path)
            if script is None:
                for f in sorted(root.rglob("*.py")):
                    m._add(f, f.relative_to(root).as_posix())
            else:
                for s in [script] if isinstance(script, str) else script:
                    m._add(root / s, s)

        def options(**kwargs):
            return kwargs

        env = {
            "metadata": metadata,
            "module": module,
            "package": package,
            "include": include,
            "require": require,
            "freeze": freeze,
            "options": options,
            "BOARD": self.board,
        }
        code = compile(path.read_text(), str(path), "exec")
        exec(code, env)
        return self


def load(path, board=None):
    return Manifest(board).execute(path)
