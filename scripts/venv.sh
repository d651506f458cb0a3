# Sourced by run.sh and test.sh: checks the Python version and installs the project into ./.venv.
# Usage: install_into_venv '.'  or  install_into_venv -e '.[test]'
PYTHON="${PYTHON:-python3}"

install_into_venv() {
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
    [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet "$@"
}
