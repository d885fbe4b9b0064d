/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * poolev/export.h - the marks on poolev's public declarations.
 *
 * libpoolev and libpoolev-compat are compiled with -fvisibility=hidden where
 * the compiler has it: each exports only what its headers mark, libpoolev
 * the declarations marked PEV_API, libpoolev-compat those marked
 * PEV_COMPAT_API. Everything else they define, such as the pevi_* functions
 * shared between the library's own files, stays inside the library.
 *
 * Both marks expand the same way when the libraries are built and when a
 * program includes these headers: to default visibility with GCC 4 or later
 * and clang on ELF systems, to nothing elsewhere. On the declaration of a
 * function a program only calls, default visibility changes nothing, and it
 * keeps poolev callable from code compiled under
 * `#pragma GCC visibility push(hidden)`. So no define says which side is
 * compiling. They are two marks because they are two libraries.
 *
 * PEV_PRINTF(fmt, args) marks a printf-like function for the compiler's
 * format checks: parameter @a fmt is the format, the arguments it converts
 * start at parameter @a args (0 for a va_list). Empty for compilers other
 * than GCC and clang.
 */
#ifndef POOLEV_EXPORT_H
#define POOLEV_EXPORT_H

#if defined(__GNUC__) && __GNUC__ >= 4 && !defined(_WIN32) && !defined(__CYGWIN__)
#define PEV_API        __attribute__((__visibility__("default")))
#define PEV_COMPAT_API __attribute__((__visibility__("default")))
#else
#define PEV_API
#define PEV_COMPAT_API
#endif

#ifdef __GNUC__
#define PEV_PRINTF(fmt, args) __attribute__((__format__(__printf__, fmt, args)))
#else
#define PEV_PRINTF(fmt, args)
#endif

#endif /* POOLEV_EXPORT_H */
