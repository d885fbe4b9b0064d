/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_status.c - poolev status codes and pev_strerror().
 */
#include <stdio.h>
#include <string.h>

#include <poolev.h>
#include "harness.h"

START_TEST(test_codes_in_user_range)
{
    ck_assert(PEV_START_ERROR >= APR_OS_START_USERERR);
    ck_assert(PEV_START_ERROR + PEV_ERRSPACE_SIZE <= APR_OS_START_USERERR + APR_OS_ERRSPACE_SIZE * 10);
    ck_assert(PEV_STATUS_IS_POOLEV(PEV_ENESTING));
    ck_assert(PEV_STATUS_IS_POOLEV(PEV_EDESTROYED));
    ck_assert(PEV_STATUS_IS_POOLEV(PEV_EREMOVED));
    ck_assert(PEV_STATUS_IS_POOLEV(PEV_ENOTARMED));
    ck_assert(PEV_STATUS_IS_POOLEV(PEV_EBUSY));
    ck_assert(PEV_STATUS_IS_POOLEV(PEV_ECLOSED));
    ck_assert(PEV_STATUS_IS_POOLEV(PEV_ELINE));
    ck_assert(PEV_STATUS_IS_POOLEV(PEV_EFULL));
    ck_assert(PEV_STATUS_IS_POOLEV(PEV_ECONFIG));
    ck_assert(PEV_STATUS_IS_POOLEV(PEV_ERESOLVE));
    ck_assert(!PEV_STATUS_IS_POOLEV(APR_EINVAL));
    ck_assert(!PEV_STATUS_IS_POOLEV(APR_SUCCESS));
}
END_TEST

START_TEST(test_strerror)
{
    char buf[128];

    ck_assert_ptr_eq(pev_strerror(PEV_ENESTING, buf, sizeof buf), buf);
    ck_assert_msg(strstr(buf, "nesting") != NULL, "got '%s'", buf);
    pev_strerror(PEV_EDESTROYED, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "destroyed") != NULL, "got '%s'", buf);
    pev_strerror(PEV_EREMOVED, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "removed") != NULL, "got '%s'", buf);
    pev_strerror(PEV_ENOTARMED, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "not armed") != NULL, "got '%s'", buf);
    pev_strerror(PEV_EBUSY, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "busy") != NULL, "got '%s'", buf);
    pev_strerror(PEV_ECLOSED, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "closed") != NULL, "got '%s'", buf);
    pev_strerror(PEV_ELINE, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "line too long") != NULL, "got '%s'", buf);
    pev_strerror(PEV_EFULL, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "full") != NULL, "got '%s'", buf);
    pev_strerror(PEV_ECONFIG, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "configuration") != NULL, "got '%s'", buf);
    pev_strerror(PEV_ETLS, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "TLS failure") != NULL, "got '%s'", buf);
    pev_strerror(PEV_ETLSVERIFY, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "verification") != NULL, "got '%s'", buf);
    pev_strerror(PEV_ETRUNCATED, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "truncated") != NULL, "got '%s'", buf);
    pev_strerror(PEV_ERESOLVE, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "resolved") != NULL, "got '%s'", buf);
    pev_strerror(PEV_START_ERROR + 999, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "unknown") != NULL, "got '%s'", buf);
    /* APR's own codes go through apr_strerror */
    {
        char want[128];
        apr_strerror(APR_ENOENT, want, sizeof want);
        pev_strerror(APR_ENOENT, buf, sizeof buf);
        ck_assert_str_eq(buf, want);
    }
    /* truncation is NUL-terminated */
    pev_strerror(PEV_ENESTING, buf, 8);
    ck_assert_uint_eq(strlen(buf), 7);
    ck_assert_ptr_eq(pev_strerror(PEV_ENESTING, NULL, 0), NULL);
}
END_TEST

/* poolev.h's version is the package's */
START_TEST(test_version)
{
    char want[32];

    ck_assert_str_eq(POOLEV_VERSION_STRING, PEV_PACKAGE_VERSION);
    snprintf(want, sizeof want, "%d.%d.%d", POOLEV_MAJOR, POOLEV_MINOR, POOLEV_PATCH);
    ck_assert_str_eq(want, PEV_PACKAGE_VERSION);
}
END_TEST

/* A build --without-openssl has the TLS calls, and each says APR_ENOTIMPL;
 * a build with OpenSSL makes contexts. */
START_TEST(test_tls_built_or_not)
{
    pev_tls_ctx_t *ctx = (pev_tls_ctx_t *) &ctx;

    if (pev_tls_available()) {
        ck_assert_int_eq(pev_tls_ctx_create(&ctx, PEV_TLS_SERVER, pt_pool), APR_SUCCESS);
        ck_assert_ptr_nonnull(pev_tls_ctx_ssl_ctx(ctx));
        return;
    }
    ck_assert_int_eq(pev_tls_ctx_create(&ctx, PEV_TLS_SERVER, pt_pool), APR_ENOTIMPL);
    ck_assert_ptr_null(ctx);
    ck_assert_int_eq(pev_tls_ctx_load_cert(NULL, "c", "k"), APR_ENOTIMPL);
    ck_assert_int_eq(pev_stream_start_tls(NULL, NULL, NULL, NULL, NULL, NULL), APR_ENOTIMPL);
    ck_assert_ptr_null(pev_stream_tls_ssl(NULL));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("status");

    tcase_add_checked_fixture(tc, pt_setup, pt_teardown);

    tcase_add_test(tc, test_codes_in_user_range);
    tcase_add_test(tc, test_strerror);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_tls_built_or_not);
    suite_add_tcase(s, tc);
    return pt_run(s);
}
