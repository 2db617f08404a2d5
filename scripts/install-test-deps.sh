#!/usr/bin/env bash
# Installs what the test suite needs beyond cargo, and nothing else:
#   minisign   - interoperability tests of the trust store's signatures
#                and of keys imported into / exported from the keystore
#   openssl    - PKCS#8 / SPKI interoperability of imported and exported keys
#   e2fsprogs  - mkfs.ext4 for the QEMU /state disk image
#   cpio       - the QEMU initramfs
#   openssh-client, openssh-server, git - interoperability tests of
#                the SSH agent (ssh, ssh-add, ssh-keygen -Y, ssh-agent, an
#                unprivileged sshd, git commit -S / verify-commit)
#   systemd    - systemd-analyze verify of the shipped systemd units
#   groff-base - groff -ww checks the man pages nx generates
#   passwd, util-linux - useradd/groupadd and setpriv: the end-to-end test
#                of a non-root caller creates real users
#   pycose, cbor2 (PyPI) - third-party verification of attestation tokens
# Idempotent: installed tools are left alone.
set -euo pipefail

need_apt=()
command -v minisign >/dev/null 2>&1 || need_apt+=(minisign)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v mkfs.ext4 >/dev/null 2>&1 || need_apt+=(e2fsprogs)
command -v cpio >/dev/null 2>&1 || need_apt+=(cpio)
command -v ssh-add >/dev/null 2>&1 || need_apt+=(openssh-client)
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
command -v groff >/dev/null 2>&1 || need_apt+=(groff-base)
command -v useradd >/dev/null 2>&1 || need_apt+=(passwd)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "install-test-deps: apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! python3 -c 'import pycose, cbor2' >/dev/null 2>&1; then
  echo "install-test-deps: pip install pycose cbor2"
  python3 -m pip install -q --disable-pip-version-check pycose cbor2
fi
echo "install-test-deps: ok"
