/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * consumer.c - builds against an installed poolev:
 *   cc consumer.c $(pkg-config --cflags --libs poolev) -o consumer
 * Used by .ci/run as the install smoke test.
 */
#include <stdio.h>
#include <apr_general.h>
#include <poolev.h>

static void hello(const void *event_data, void *user_data)
{
    (void) user_data;
    printf("consumer: %s\n", (const char *) event_data);
}

int main(void)
{
    apr_pool_t *pool;
    pev_bus_t *bus;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    if (pev_bus_create(&bus, pool) != APR_SUCCESS
        || pev_event_register(NULL, bus, NULL, "hello", hello, NULL, pool) != APR_SUCCESS
        || pev_event_generate(bus, "hello", "installed poolev works") != APR_SUCCESS)
        return 1;
    apr_pool_destroy(pool);
    apr_terminate();
    return 0;
}
