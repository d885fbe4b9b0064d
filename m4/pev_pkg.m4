# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The poolev Authors
# pev_pkg.m4 - poolev's dependency checks, with errors that name the Debian package.

# PEV_REQUIRE_PKG(VARIABLE-PREFIX, MODULES, DEBIAN-PACKAGE)
# ---------------------------------------------------------
# Like PKG_CHECK_MODULES, but a missing module stops configure with a message
# that names the package to install.
AC_DEFUN([PEV_REQUIRE_PKG],
[PKG_CHECK_MODULES([$1], [$2], [],
  [AC_MSG_ERROR([$2 was not found by pkg-config ($$1_PKG_ERRORS).
On Debian or Ubuntu install it with:  apt-get install $3
or set PKG_CONFIG_PATH to the directory holding its .pc file.])])])

# PEV_OPTIONAL_PKG(VARIABLE-PREFIX, MODULES, DEBIAN-PACKAGE, WHAT-NEEDS-IT)
# -------------------------------------------------------------------------
# Sets pev_have_PREFIX to yes or no; when no, warns with the package to install.
AC_DEFUN([PEV_OPTIONAL_PKG],
[PKG_CHECK_MODULES([$1], [$2], [pev_have_$1=yes],
  [pev_have_$1=no
   AC_MSG_WARN([$2 was not found: $4 will not be built.
Install it with:  apt-get install $3])])])
