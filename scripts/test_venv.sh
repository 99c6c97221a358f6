#!/bin/sh
# The test venv: moto's S3 server (and boto3, which moto brings) for the object-storage tests,
# in build/venv-s3. Tests run with Debian's /usr/bin/python3; only the S3 server and the test
# helpers that talk to it (tests/servers/) use this venv. A no-op once it works.
# Usage: scripts/test_venv.sh [VENV_DIR]
set -eu
cd "$(dirname "$0")/.."
venv=${1:-build/venv-s3}
if [ -x "$venv/bin/python3" ] && "$venv/bin/python3" -c 'import moto.server, boto3' 2>/dev/null; then
    exit 0
fi
echo "test_venv: installing moto[server] into $venv"
mkdir -p "$(dirname "$venv")"
/usr/bin/python3 -m venv "$venv"
if ! "$venv/bin/pip" install -q 'moto[server]>=5,<6'; then
    echo "test_venv: could not install moto[server] (PyPI unreachable?); the object-storage tests will be skipped" >&2
    exit 0
fi
