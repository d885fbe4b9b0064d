# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The poolev Authors
# pev_check_flags.m4 - poolev's compiler checks: the C11 it needs, and
# compiler flags that are added only when the compiler takes them silently.

# PEV_PROG_CC_C11
# ---------------
# Compiles and links a program with the C11 poolev uses (_Static_assert,
# _Alignof, <stdatomic.h> with _Atomic pointers and 64-bit atomics), first
# with $CC as it is, then with -std=gnu11, then with -std=c11; the first
# option that works is appended to CC. Stops configure if none does.
#
# The program is written to be warning-free under -Wall -Wextra, so a
# -Werror in the user's CFLAGS does not make a good compiler look bad.
AC_DEFUN([PEV_PROG_CC_C11],
[AC_CACHE_CHECK([for $CC option to compile poolev's C11], [pev_cv_prog_cc_c11],
[pev_cv_prog_cc_c11=no
pev_save_CC=$CC
for pev_opt in '' -std=gnu11 -std=c11; do
  CC="$pev_save_CC${pev_opt:+ $pev_opt}"
  AC_LINK_IFELSE([AC_LANG_PROGRAM(
[[#include <stdatomic.h>
#include <stddef.h>

#if !defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L
#error "not C11"
#endif

struct pev_c11_probe { char c; double d; };
_Static_assert(_Alignof(struct pev_c11_probe) >= 1, "_Alignof");
_Static_assert(sizeof(atomic_ullong) >= 8, "64-bit atomics");

static atomic_int pev_c11_count;
static atomic_ullong pev_c11_total;
static int pev_c11_slot;
static int *_Atomic pev_c11_ptr;]],
[[    int *expected = NULL;

    atomic_init(&pev_c11_count, 0);
    atomic_fetch_add(&pev_c11_count, 1);
    atomic_fetch_add_explicit(&pev_c11_total, 2, memory_order_relaxed);
    if (!atomic_compare_exchange_strong(&pev_c11_ptr, &expected, &pev_c11_slot))
        return 1;
    return atomic_load(&pev_c11_count) == 1 && atomic_load(&pev_c11_total) == 2 ? 0 : 1;]])],
    [pev_cv_prog_cc_c11=${pev_opt:-none needed}; break])
done
CC=$pev_save_CC])
AS_CASE([$pev_cv_prog_cc_c11],
  [no], [AC_MSG_ERROR([poolev needs a C11 compiler: $CC $CFLAGS cannot build
_Static_assert, _Alignof and <stdatomic.h>, even with -std=gnu11 or -std=c11
(config.log has the compiler's messages)])],
  ["none needed"], [],
  [CC="$CC $pev_cv_prog_cc_c11"])])

# PEV_CHECK_CFLAG(FLAG, [ACTION-IF-ACCEPTED], [ACTION-IF-REJECTED])
# -----------------------------------------------------------------
# Whether $CC compiles a small program with FLAG added to CFLAGS without an
# error or a warning: the check adds -Werror, so a flag the compiler does not
# know and only warns about (clang's -Wunknown-warning-option) is rejected.
# The result is cached in pev_cv_cflag_FLAG (FLAG with its punctuation made
# into underscores). GCC takes any -Wno-NAME silently, known or not: check
# -WNAME and add the -Wno- form in ACTION-IF-ACCEPTED.
AC_DEFUN([PEV_CHECK_CFLAG],
[AS_VAR_PUSHDEF([pev_flag_var], [pev_cv_cflag_$1])dnl
AC_CACHE_CHECK([whether $CC accepts $1], [pev_flag_var],
[pev_save_CFLAGS=$CFLAGS
CFLAGS="$CFLAGS -Werror $1"
AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[static int pev_flag_probe(int x) { return x + 1; }]],
                                   [[return pev_flag_probe(-1);]])],
                  [AS_VAR_SET([pev_flag_var], [yes])],
                  [AS_VAR_SET([pev_flag_var], [no])])
CFLAGS=$pev_save_CFLAGS])
AS_VAR_IF([pev_flag_var], [yes], [$2], [$3])
AS_VAR_POPDEF([pev_flag_var])])

# PEV_APPEND_CFLAGS(VARIABLE, FLAG...)
# ------------------------------------
# Appends to the shell VARIABLE each FLAG that PEV_CHECK_CFLAG accepts, in
# order; FLAGs are separated by blanks. Rejected flags are left out.
AC_DEFUN([PEV_APPEND_CFLAGS],
[m4_foreach_w([pev_flag], [$2],
  [PEV_CHECK_CFLAG(pev_flag, [$1="${$1}${$1:+ }pev_flag"])
])])
