/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * harness_tls.h - a test PKI for the TLS tests: a CA and the certificates
 * and keys signed by it, made at test time with the OpenSSL 3 API (so
 * nothing checked in ever expires) in a fresh temporary directory.
 *
 * Plain C: no APR. Every file is PEM; keys are EC P-256, certificates
 * X.509 v3 with basicConstraints, keyUsage, subject and authority key
 * identifiers and random serial numbers. A leaf is valid from an hour ago
 * to a day from now unless said otherwise.
 */
#ifndef POOLEV_HARNESS_TLS_H
#define POOLEV_HARNESS_TLS_H

typedef struct pt_pki {
    const char *dir;            /* the temporary directory holding the files */
    const char *ca;             /* CA certificate, CN "poolev test CA" */
    /* CN=localhost, SAN DNS:localhost, DNS:test.poolev.invalid,
     * IP:127.0.0.1, IP:::1; extendedKeyUsage serverAuth; signed by ca */
    const char *server_cert, *server_key;
    /* names as server_cert, signed by ca; notBefore 2 days ago,
     * notAfter 1 day ago */
    const char *expired_cert, *expired_key;
    /* CN and SAN DNS:other.example only (the wrong host name); signed by ca */
    const char *other_cert, *other_key;
    /* names as server_cert, self-signed (trusted by no one) */
    const char *selfsigned_cert, *selfsigned_key;
    /* CN "poolev test client", extendedKeyUsage clientAuth, signed by ca */
    const char *client_cert, *client_key;
    /* a second CA ("poolev other test CA") that signed nothing here: a
     * client trusting only it rejects server_cert */
    const char *other_ca;
    /* server_cert followed by ca, for chain tests */
    const char *server_chain;
    /* a file of bytes that are not PEM, for unreadable-certificate tests */
    const char *garbage;
} pt_pki_t;

/* Make the PKI; NULL on failure, with a message on stderr (always NULL
 * when poolev is built --without-openssl). It takes well under a second:
 * one per test process is enough. */
pt_pki_t *pt_pki_create(void);

/* Remove the files and the directory and free @a pki (NULL: nothing). */
void pt_pki_destroy(pt_pki_t *pki);

#endif /* POOLEV_HARNESS_TLS_H */
