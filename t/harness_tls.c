/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * harness_tls.c - the test PKI (harness_tls.h), made with the OpenSSL 3
 * API.
 */
#include "config.h"

#include "harness_tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_OPENSSL
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#endif

/* The PKI and what it owns: its directory and every file in it. */
#define PKI_MAX_FILES 20
typedef struct {
    pt_pki_t pub;               /* first: a pt_pki_t * is a pki_t * */
    char *dir;
    char *files[PKI_MAX_FILES];
    int nfiles;
} pki_t;

void pt_pki_destroy(pt_pki_t *pub)
{
    pki_t *pki = (pki_t *) pub;
    int i;

    if (!pki)
        return;
    for (i = 0; i < pki->nfiles; i++) {
        unlink(pki->files[i]);
        free(pki->files[i]);
    }
    if (pki->dir && rmdir(pki->dir) != 0)
        fprintf(stderr, "pt_pki_destroy: rmdir %s: %s\n", pki->dir, strerror(errno));
    free(pki->dir);
    free(pki);
}

#ifndef HAVE_OPENSSL

pt_pki_t *pt_pki_create(void)
{
    fprintf(stderr, "pt_pki_create: poolev is built without OpenSSL\n");
    return NULL;
}

#else

/* A new path in the PKI's directory, owned by the PKI (removed by
 * pt_pki_destroy() if it was made); NULL when out of memory. */
static const char *pki_path(pki_t *pki, const char *name)
{
    size_t len = strlen(pki->dir) + 1 + strlen(name) + 1;
    char *path;

    if (pki->nfiles == PKI_MAX_FILES || !(path = malloc(len)))
        return NULL;
    snprintf(path, len, "%s/%s", pki->dir, name);
    pki->files[pki->nfiles++] = path;
    return path;
}

/* What a certificate is for: its extensions. */
enum cert_kind { KIND_CA, KIND_SERVER, KIND_CLIENT };

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    int ok = ext && X509_add_ext(x, ext, -1);

    X509_EXTENSION_free(ext);
    if (!ok)
        fprintf(stderr, "pt_pki_create: extension %s = %s failed\n", OBJ_nid2sn(nid), value);
    return ok;
}

/* A new EC P-256 key; NULL on failure. */
static EVP_PKEY *new_key(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/*
 * A certificate for @a key with subject CN=@a cn, subjectAltName @a san
 * (NULL: none), valid from @a from to @a to seconds from now, signed by
 * @a issuer with @a issuer_key (NULL: self-signed). NULL on failure.
 */
static X509 *new_cert(EVP_PKEY *key, const char *cn, const char *san, enum cert_kind kind,
                      X509 *issuer, EVP_PKEY *issuer_key, long from, long to)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    X509_NAME *name = X509_NAME_new();
    X509V3_CTX ctx;
    int ok;

    ok = x && serial && name
         && X509_set_version(x, X509_VERSION_3)
         /* 64 random bits, the top one set: positive, never 0 */
         && BN_rand(serial, 64, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY)
         && BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x))
         && X509_gmtime_adj(X509_getm_notBefore(x), from)
         && X509_gmtime_adj(X509_getm_notAfter(x), to)
         && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                       (const unsigned char *) "poolev tests", -1, -1, 0)
         && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                       (const unsigned char *) cn, -1, -1, 0)
         && X509_set_subject_name(x, name)
         && X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name)
         && X509_set_pubkey(x, key);
    if (ok) {
        X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
        /* the subject key identifier first: a self-signed certificate's
         * authority key identifier is its own */
        ok = add_ext(x, &ctx, NID_subject_key_identifier, "hash")
             && add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
    }
    if (ok && kind == KIND_CA)
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE")
             && add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    if (ok && kind != KIND_CA)
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE")
             && add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyAgreement")
             && add_ext(x, &ctx, NID_ext_key_usage,
                        kind == KIND_SERVER ? "serverAuth" : "clientAuth");
    if (ok && san)
        ok = add_ext(x, &ctx, NID_subject_alt_name, san);
    ok = ok && X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    X509_NAME_free(name);
    BN_free(serial);
    if (!ok) {
        fprintf(stderr, "pt_pki_create: certificate %s failed\n", cn);
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Write @a x1 and @a x2 (each NULL: none), or @a key, to @a path as PEM. */
static int write_pem(const char *path, X509 *x1, X509 *x2, EVP_PKEY *key)
{
    FILE *f;
    int ok;

    if (!path) {
        fprintf(stderr, "pt_pki_create: out of memory\n");
        return 0;
    }
    if (!(f = fopen(path, "w"))) {
        fprintf(stderr, "pt_pki_create: %s: %s\n", path, strerror(errno));
        return 0;
    }
    ok = (!x1 || PEM_write_X509(f, x1))
         && (!x2 || PEM_write_X509(f, x2))
         && (!key || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
    if (fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "pt_pki_create: writing %s failed\n", path);
    return ok;
}

/* A key and a certificate for it, written to @a name.crt and @a name.key. */
typedef struct {
    EVP_PKEY *key;
    X509 *cert;
} pair_t;

static int make_pair(pki_t *pki, pair_t *p, const char *name, const char **cert_path,
                     const char **key_path, const char *cn, const char *san,
                     enum cert_kind kind, const pair_t *issuer, long from, long to)
{
    char file[64];

    if (!(p->key = new_key())) {
        fprintf(stderr, "pt_pki_create: key for %s failed\n", cn);
        return 0;
    }
    if (!(p->cert = new_cert(p->key, cn, san, kind, issuer ? issuer->cert : NULL,
                             issuer ? issuer->key : NULL, from, to)))
        return 0;
    snprintf(file, sizeof file, "%s.crt", name);
    if (!write_pem(*cert_path = pki_path(pki, file), p->cert, NULL, NULL))
        return 0;
    if (!key_path)
        return 1;
    snprintf(file, sizeof file, "%s.key", name);
    return write_pem(*key_path = pki_path(pki, file), NULL, NULL, p->key);
}

#define HOUR 3600L
#define DAY  (24 * HOUR)
#define LOCALHOST_SAN "DNS:localhost,DNS:test.poolev.invalid,IP:127.0.0.1,IP:::1"

pt_pki_t *pt_pki_create(void)
{
    /* not a PEM file: binary bytes, no BEGIN line */
    static const unsigned char garbage[] = {
        0x00, 0xff, 0x30, 0x82, 0x13, 0x37, 'n', 'o', 't', ' ', 'P', 'E', 'M', 0x0a,
        0xde, 0xad, 0xbe, 0xef, 0x2d, 0x2d, 0x2d, 0x00, 0x01, 0x02, 0x03, 0x0a
    };
    enum { CA, OTHER_CA, SERVER, EXPIRED, OTHER, SELFSIGNED, CLIENT, NPAIRS };
    pair_t p[NPAIRS];
    const char *tmp = getenv("TMPDIR");
    pki_t *pki = calloc(1, sizeof *pki);
    pt_pki_t *pub;
    size_t len;
    FILE *f;
    int ok = 0, i;

    memset(p, 0, sizeof p);
    if (!pki) {
        fprintf(stderr, "pt_pki_create: out of memory\n");
        return NULL;
    }
    pub = &pki->pub;
    if (!tmp || !*tmp)
        tmp = "/tmp";
    len = strlen(tmp) + sizeof "/poolev-pki-XXXXXX";
    if (!(pki->dir = malloc(len))) {
        fprintf(stderr, "pt_pki_create: out of memory\n");
        goto done;
    }
    snprintf(pki->dir, len, "%s/poolev-pki-XXXXXX", tmp);
    if (!mkdtemp(pki->dir)) {
        fprintf(stderr, "pt_pki_create: mkdtemp %s: %s\n", pki->dir, strerror(errno));
        free(pki->dir);
        pki->dir = NULL;
        goto done;
    }
    pub->dir = pki->dir;

    ok = make_pair(pki, &p[CA], "ca", &pub->ca, NULL, "poolev test CA", NULL,
                   KIND_CA, NULL, -HOUR, 30 * DAY)
         && make_pair(pki, &p[OTHER_CA], "other-ca", &pub->other_ca, NULL,
                      "poolev other test CA", NULL, KIND_CA, NULL, -HOUR, 30 * DAY)
         && make_pair(pki, &p[SERVER], "server", &pub->server_cert, &pub->server_key,
                      "localhost", LOCALHOST_SAN, KIND_SERVER, &p[CA], -HOUR, DAY)
         && make_pair(pki, &p[EXPIRED], "expired", &pub->expired_cert, &pub->expired_key,
                      "localhost", LOCALHOST_SAN, KIND_SERVER, &p[CA], -2 * DAY, -DAY)
         && make_pair(pki, &p[OTHER], "other", &pub->other_cert, &pub->other_key,
                      "other.example", "DNS:other.example", KIND_SERVER, &p[CA], -HOUR, DAY)
         && make_pair(pki, &p[SELFSIGNED], "selfsigned", &pub->selfsigned_cert,
                      &pub->selfsigned_key, "localhost", LOCALHOST_SAN, KIND_SERVER, NULL,
                      -HOUR, DAY)
         && make_pair(pki, &p[CLIENT], "client", &pub->client_cert, &pub->client_key,
                      "poolev test client", NULL, KIND_CLIENT, &p[CA], -HOUR, DAY)
         && write_pem(pub->server_chain = pki_path(pki, "server-chain.crt"),
                      p[SERVER].cert, p[CA].cert, NULL)
         && (pub->garbage = pki_path(pki, "garbage.crt")) != NULL;
    if (ok) {
        ok = (f = fopen(pub->garbage, "wb")) != NULL;
        ok = ok && fwrite(garbage, sizeof garbage, 1, f) == 1;
        ok = (f && fclose(f) == 0) && ok;
        if (!ok)
            fprintf(stderr, "pt_pki_create: %s: %s\n", pub->garbage, strerror(errno));
    }
    if (!ok)
        ERR_print_errors_fp(stderr);
done:
    for (i = 0; i < NPAIRS; i++) {
        X509_free(p[i].cert);
        EVP_PKEY_free(p[i].key);
    }
    if (ok)
        return pub;
    pt_pki_destroy(pub);
    return NULL;
}

#endif /* HAVE_OPENSSL */
