/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_bridge.c - the Redis bridge (poolev/bridge.h) against redis-server
 * processes of its own (t/harness_redis.h).
 */
#include "harness.h"
#include "harness_redis.h"

#include <signal.h>
#include <stdlib.h>

/* ------------------------------------------------------------------------ */
/* The fixture itself                                                        */

START_TEST(test_harness_redis)
{
    pt_redis_t *r = pt_redis_start(NULL);
    unsigned port = pt_redis_port(r);

    ck_assert_str_eq(pt_redis_cmd(r, "PING", NULL), "+PONG");
    ck_assert_str_eq(pt_redis_cmd(r, "SET", "k", "v", NULL), "+OK");
    ck_assert_str_eq(pt_redis_cmd(r, "GET", "k", NULL), "$v");
    ck_assert_str_eq(pt_redis_cmd(r, "CONFIG", "GET", "save", NULL), "*2\n$save\n$");
    pt_redis_restart(r);
    ck_assert_uint_eq(pt_redis_port(r), port);
    ck_assert_str_eq(pt_redis_cmd(r, "GET", "k", NULL), "$");     /* no persistence */
    pt_redis_pause(r);
    pt_redis_resume(r);
    ck_assert_str_eq(pt_redis_cmd(r, "PING", NULL), "+PONG");
    pt_redis_free(r);

    r = pt_redis_start("s3cret");
    ck_assert_str_eq(pt_redis_cmd(r, "PING", NULL), "+PONG");     /* AUTH first */
    ck_assert_str_eq(pt_redis_cmd(r, "ACL", "SETUSER", "bob", "on", ">pw", "+@all", "~*",
                                  "&*", NULL), "+OK");
    pt_redis_free(r);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *bridge_suite(void)
{
    Suite *s = suite_create("bridge");
    TCase *tc = tcase_create("harness");

    tcase_add_checked_fixture(tc, pt_setup, pt_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_harness_redis);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    pt_redis_require("check_bridge");
    return pt_run(bridge_suite());
}
