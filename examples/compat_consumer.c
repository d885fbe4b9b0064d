/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * compat_consumer.c - builds against an installed poolev-compat, and never
 * calls APR itself:
 *   cc compat_consumer.c $(pkg-config --cflags --libs poolev-compat) -o compat_consumer
 * Used by .ci/run as the install smoke test of the compatibility layers.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <poolev/compat/proftpd.h>
#include <poolev/compat/prot.h>

static module greeter_module = { NULL, NULL, 0x20, "greeter", NULL, NULL, NULL, NULL,
                                 NULL, NULL, NULL, 0 };

static void greet(const void *event_data, void *user_data)
{
    (void) user_data;
    printf("compat_consumer: %s\n", (const char *) event_data);
}

int main(void)
{
    struct protstream *in, *out;
    char line[64];
    int sv[2];

    if (pr_event_register(&greeter_module, "core.startup", greet, NULL) != 0
        || pr_event_listening("core.startup") != 1)
        return 1;
    pr_event_generate("core.startup", "ProFTPD events on an installed poolev-compat");

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 1;
    in = prot_new(sv[0], 0);
    out = prot_new(sv[1], 1);
    if (!in || !out || prot_printf(out, "* OK prot streams work\r\n") != 0
        || prot_flush(out) != 0 || !prot_fgets(line, sizeof line, in)
        || strcmp(line, "* OK prot streams work\r\n") != 0)
        return 1;
    printf("compat_consumer: %s", line);
    prot_free(in);
    prot_free(out);
    close(sv[0]);
    close(sv[1]);
    return 0;
}
