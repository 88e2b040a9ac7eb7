#!/usr/bin/env bash
# Prints a Python >= 3.12 interpreter command, or explains what is missing.
set -u
ok() { "$@" -c 'import sys; raise SystemExit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
for candidate in python3.13 python3.12 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && ok "$candidate"; then
    command -v "$candidate"; exit 0
  fi
done
# pyenv installs whose shims are not selected (PYENV_VERSION unset): use the binaries directly.
root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
for bin in $(ls -d "$root"/versions/3.12*/bin/python3 2>/dev/null | sort -rV) \
           $(ls -d "$root"/versions/3.1[3-9]*/bin/python3 2>/dev/null | sort -V); do
  if ok "$bin"; then echo "$bin"; exit 0; fi
done
echo "Custos needs Python 3.12 or newer (python3.13, python3.12 or a pyenv 3.12+ install)." >&2
exit 1
