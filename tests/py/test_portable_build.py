"""A default build runs on every x86-64-v3 CPU: libmlic.so and build/mlic hold no AVX-512
instruction (EVEX-encoded: mask registers, zmm, xmm16-31), which an AVX2-only node of the same
cluster could not execute. A build for x86-64-v2 holds no AVX either. make NATIVE=1 (or another
MARCH) builds for its own machine and is not checked."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD

# first opcode byte after the prefixes an EVEX or VEX instruction may carry (address size,
# segment); in 64-bit code 0x62 always starts an EVEX instruction, 0xc4 / 0xc5 a VEX one
PREFIXES = {"26", "2e", "36", "3e", "64", "65", "67"}


def march():
    with open(os.path.join(BUILD, "config.stamp")) as f:
        m = re.search(r"-march=(\S+)", f.read())
    return m.group(1) if m else None


def first_bytes(path):
    """The first opcode byte of every instruction objdump finds in path, with its mnemonic."""
    out = subprocess.run(["objdump", "-d", path], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        cols = line.split("\t")
        if len(cols) < 3 or not cols[0].strip().endswith(":"):
            continue
        code = [b for b in cols[1].split() if b not in PREFIXES]
        if code:
            yield code[0], cols[2].strip()


@pytest.mark.parametrize("binary", ["libmlic.so", "mlic"])
def test_default_build_is_portable(binary):
    if shutil.which("objdump") is None:
        pytest.skip("no objdump (binutils)")
    target = march()
    if target not in ("x86-64-v3", "x86-64-v2"):
        pytest.skip("built for %s (make NATIVE=1 or MARCH=...): not a portable build" % target)
    forbidden = {"62"} if target == "x86-64-v3" else {"62", "c4", "c5"}
    seen, bad = 0, []
    for byte, insn in first_bytes(os.path.join(BUILD, binary)):
        seen += 1
        if byte in forbidden:
            bad.append(insn)
    assert seen > 10000, "objdump found only %d instructions in %s" % (seen, binary)
    assert not bad, "%s built for %s holds %d instructions beyond it, e.g. %s" % (
        binary, target, len(bad), bad[:5])
